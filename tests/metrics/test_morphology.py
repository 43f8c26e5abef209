import numpy as np
import pytest

from microgen.metrics import (
    chord_lengths,
    describe,
    euler_number,
    fidelity_table,
    interface_density,
    local_thickness,
    match_by_fraction,
    random_crops,
    reference_sets,
    summary,
    two_point_autocovariance,
)


def test_two_point_of_a_checkerboard_alternates():
    board = (np.indices((64, 64)).sum(0) % 2).astype(np.uint8)
    # along an axis, odd lags never match and even lags always do: C(k) = (-1)^k
    for axis in (0, 1):
        c = two_point_autocovariance(board == 1, r_max=6, axis=axis)
        np.testing.assert_allclose(c, [1, -1, 1, -1, 1, -1, 1], atol=1e-12)
    # radially, distance 2 collects the axis lags (+1) only: C(2) = 1 up to the rounding of sqrt(5)
    c = two_point_autocovariance(board == 1, r_max=3)
    np.testing.assert_allclose(c[0], 1.0)


def test_two_point_of_random_noise_is_flat():
    rng = np.random.default_rng(0)
    c = two_point_autocovariance(rng.random((128, 128)) < 0.3, r_max=10)
    np.testing.assert_allclose(c[0], 1.0)
    assert np.abs(c[1:]).max() < 0.02


def test_chord_lengths_of_stripes():
    img = np.zeros((20, 30), dtype=bool)
    img[:, 5:9] = True  # width 4 along axis 1, spans axis 0 (touching borders -> excluded)
    img[:, 15:22] = True
    assert sorted(chord_lengths(img).tolist()) == [4] * 20 + [7] * 20


def test_local_thickness_of_a_disk():
    yy, xx = np.mgrid[:61, :61]
    disk = (yy - 30) ** 2 + (xx - 30) ** 2 <= 15**2
    lt = local_thickness(disk)
    assert lt.shape == (disk.sum(),)
    # every voxel of a disk lies in the largest inscribed ball: its diameter
    assert np.median(lt) == pytest.approx(30.0, abs=1.01)
    assert lt.min() >= 28.0


def test_interface_and_euler():
    img = np.zeros((10, 10), dtype=np.uint8)
    img[2:5, 2:5] = 1
    assert interface_density(img, 0, 1) == pytest.approx(12 / 100)
    assert euler_number(img == 1) == 1
    ring = np.zeros((9, 9), dtype=bool)
    ring[2:7, 2:7] = True
    ring[4, 4] = False
    assert euler_number(ring) == 0
    two = np.zeros((6, 6, 6), dtype=bool)
    two[1, 1, 1] = two[4, 4, 4] = True
    assert euler_number(two) == 2


def test_fidelity_table_tells_real_from_noise():
    rng = np.random.default_rng(1)

    def blobs(n):
        from scipy import ndimage

        return [(ndimage.gaussian_filter(rng.random((48, 48)), 3) > 0.5).astype(np.uint8) for _ in range(n)]

    real_a, real_b = blobs(12), blobs(12)
    noise = [(rng.random((48, 48)) < im.mean()).astype(np.uint8) for im in real_a]
    rows = {r["metric"]: r for r in fidelity_table(noise, real_a, real_b, phases=[1])}
    assert not rows["two_point[1]"]["passed"] and not rows["chord_length[1]"]["passed"]
    rows = {r["metric"]: r for r in fidelity_table(blobs(12), real_a, real_b, phases=[1])}
    assert rows["two_point[1]"]["ratio"] < 5
    assert set(describe(real_a, [1])) >= {"fraction[1]", "interface[0-1]", "euler_density[1]", "local_thickness[1]"}


def test_summaries_in_the_metrics_units():
    r = np.arange(20.0)
    curves = [np.exp(-r / 4.5), np.exp(-r / 4.5)]
    assert summary("curve", curves) == pytest.approx(4.5, abs=0.05)  # 1/e crossing, interpolated
    assert np.isnan(summary("curve", [np.ones(8)]))  # never decorrelates within the range
    stripes = np.zeros((12, 12), np.uint8)
    stripes[:, 3:6] = stripes[:, 9:12] = 1
    hists = [np.bincount(chord_lengths(stripes))]
    assert summary("distribution", hists) == pytest.approx(3.0)  # every horizontal chord is 3 wide
    assert summary("scalar", [1.0, 2.0, float("nan"), 6.0]) == pytest.approx(3.0)


def test_fidelity_rows_say_which_way_a_metric_is_off():
    from scipy import ndimage

    rng = np.random.default_rng(5)

    def blobs(n, sigma):
        fields = [ndimage.gaussian_filter(rng.random((64, 64)), sigma, mode="wrap") for _ in range(n)]
        return [(f > np.quantile(f, 0.7)).astype(np.uint8) for f in fields]  # 30 % phase 1

    real_a, real_b = blobs(8, 3), blobs(8, 3)
    fine = {r["metric"]: r for r in fidelity_table(blobs(8, 1.5), real_a, real_b, phases=[1])}
    coarse = {r["metric"]: r for r in fidelity_table(blobs(8, 6), real_a, real_b, phases=[1])}
    for name in ("two_point[1]", "chord_length[1]", "local_thickness[1]"):
        assert fine[name]["generated"] < fine[name]["real"] < coarse[name]["generated"]
    assert fine["interface[0-1]"]["generated"] > fine["interface[0-1]"]["real"] > coarse["interface[0-1]"]["generated"]
    assert coarse["fraction[1]"]["real"] == pytest.approx(np.mean([im.mean() for im in real_a]))


def test_training_set_is_sliced_like_the_held_out_set():
    # sections perpendicular to axis 0 are a 2x2 checkerboard; slices along axes 1 and 2 are
    # stripes, constant along axis 0. Every 16² crop of either has the fraction 0.5, so matching by
    # fraction cannot tell them apart: only the slicing axes can.
    y, x = np.indices((24, 24))
    vol = np.broadcast_to(((y // 2 + x // 2) % 2)[None], (60, 24, 24)).astype(np.uint8)
    striped = lambda crops: [bool((c == c[:1]).all()) for c in crops]  # noqa: E731
    held, train = vol[50:], vol[:50]  # the held-out block is 10 thick: 16² crops are sections only
    a, b = reference_sets(held, train, 12, 16, [1], np.random.default_rng(1))
    assert not any(striped(a)) and not any(striped(b))
    mixed = striped(random_crops(train, 40, 16, np.random.default_rng(1)))
    assert any(mixed) and not all(mixed)  # slices along every axis
    assert all(striped(random_crops(train, 20, 16, np.random.default_rng(1), axes=[1, 2])))
    with pytest.raises(ValueError, match=r"too small for 16x16 crops along axes \[1\]"):
        random_crops(held, 1, 16, np.random.default_rng(1), axes=[1])


def test_match_by_fraction_pairs_closest():
    ims = [np.full((4, 4), v, dtype=np.uint8) for v in (0, 1)]
    half = np.zeros((4, 4), dtype=np.uint8)
    half[:2] = 1
    chosen = match_by_fraction([half, ims[1]], [ims[0], half.copy(), ims[1]], [1])
    assert chosen[0].mean() == 0.5 and chosen[1].mean() == 1.0


def test_descriptors_survive_json_and_give_the_same_table():
    import json

    from microgen.metrics import descriptors_from_json, descriptors_to_json

    rng = np.random.default_rng(3)
    sets = [[(rng.random((32, 32)) < 0.3).astype(np.uint8) for _ in range(4)] for _ in range(3)]
    direct = fidelity_table(*sets, phases=[1])
    stored = [descriptors_from_json(json.loads(json.dumps(descriptors_to_json(describe(s, [1]))))) for s in sets]
    assert fidelity_table(*stored, phases=[1]) == direct
