import numpy as np
import pytest
import torch

from microgen.domains import get_kind
from microgen.engine import sample
from microgen.engine.islands import dissolve
from microgen.engine.polish import polish
from microgen.engine.sampler import DEFAULT_SAMPLER, make_sampler
from microgen.engine.smooth import smooth
from microgen.metrics import describe, fidelity_table
from microgen.training.calibrate import (
    ISLAND_MIN_GAIN,
    best_pair,
    calibrate_sampling,
    calibration_references,
    finish_key,
    finish_smooth,
    finishes,
    grid_edge,
    parse_finish,
)
from tests.helpers import tiny_model


def _blobs(shape, seed):
    from scipy import ndimage

    field = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), (0, 2, 2), mode="wrap")
    return (field > np.quantile(field, 0.7)).astype(np.uint8)


def _ratios_per_draw(model, refs, n, seed):
    """Each reference draw's ratios for the images a 16² calibration generates at the counts of
    the first ``n`` target crops of draw 0 (sharpness 1, 6 evaluations, no finish)."""
    totals = [[int((im == 1).sum())] for im in refs[0][0][:n]]
    res = sample(
        model,
        totals,
        (16, 16),
        sampler=make_sampler(DEFAULT_SAMPLER, 6),
        precision="float32",
        generator=torch.Generator().manual_seed(seed),
        sharpness=1.0,
    )
    got = describe(list(get_kind("rock").to_labels(res.labels)), [1])
    return [
        {r["metric"]: r["ratio"] for r in fidelity_table(got, describe(a, [1]), describe(b, [1]), [1])} for a, b in refs
    ]


def test_calibration_scores_every_combination_and_keeps_the_best():
    model = tiny_model(channels=1)
    train = _blobs((8, 24, 24), 0)
    kw = dict(size=16, n=3, grid=(1.0, 1.3, 0.8), polish_grid=(0, 2), island_grid=(0, 3), hole_grid=(0, 2), steps=6)
    cal = calibrate_sampling(model, train, get_kind("rock"), **kw)
    finishes_ = {"0", "0+h2", "0+i3", "0+i3+h2", "2", "2+h2", "2+i3", "2+i3+h2"}
    assert set(cal["scores"]) == {"1", "1.3", "0.8"} and all(set(v) == finishes_ for v in cal["scores"].values())
    assert all(np.isfinite(x) for v in cal["scores"].values() for x in v.values())
    for s, by_finish in cal["ratios"].items():  # the score is the mean of the stored per-metric ratios
        for key, ratios in by_finish.items():
            assert set(ratios) == {
                "two_point[1]",
                "chord_length[1]",
                "euler_density[1]",
                "local_thickness[1]",
                "interface[0-1]",
            }
            assert np.mean(list(ratios.values())) == pytest.approx(cal["scores"][s][key])
    chosen = finish_key(cal["polish"], cal["islands"], cal["holes"])
    assert (f"{cal['sharpness']:g}", chosen) == best_pair(cal["scores"])
    assert cal["n"] == 3 and cal["size"] == 16 and "held-out" in cal["data"]
    assert cal["edge"] == grid_edge(cal["sharpness"], kw["grid"])
    assert model.sharpness == 1.0  # the model is not modified
    assert calibrate_sampling(model, train, get_kind("rock"), **kw) == cal  # same seed, same images, same choice


def test_calibration_draws_score_the_median_ratio_over_independent_crop_draws():
    model, train, rock = tiny_model(channels=1), _blobs((8, 24, 24), 5), get_kind("rock")
    kw = dict(size=16, n=3, grid=(1.0,), polish_grid=(0,), island_grid=(0,), hole_grid=(0,), steps=6, seed=3)
    one = calibrate_sampling(model, train, rock, **kw)
    three = calibrate_sampling(model, train, rock, draws=3, **kw)
    assert one["draws"] == 1 and three["draws"] == 3
    refs = calibration_references(train, [1], 3, 16, 3, 3)
    assert [len(a) for a, _ in refs] == [3, 3, 3]
    assert not np.array_equal(np.stack(refs[0][0]), np.stack(refs[1][0]))  # independent draws
    # the halves of the block take turns as targets: here the second half is 30 % pore, the first 20 %
    thinned = _blobs((4, 24, 24), 1) & (np.random.default_rng(0).random((4, 24, 24)) < 0.67)
    halves = np.concatenate([thinned, _blobs((4, 24, 24), 2)])
    turns = calibration_references(halves, [1], 3, 16, 3, 3)
    porosity = [np.mean(np.stack(t)) for t, _ in turns]
    assert porosity[0] > 0.25 and porosity[2] > 0.25 and porosity[1] < 0.25
    # draw 0 is the single-draw calibration's: the images are generated at its counts
    assert all(np.array_equal(x, y) for x, y in zip(refs[0][0], calibration_references(train, [1], 3, 16, 3, 1)[0][0]))
    # the stored ratio is the median over the draws of the ratio for the same generated images
    per_draw = _ratios_per_draw(model, refs, 3, seed=3)
    for metric, value in three["ratios"]["1"]["0"].items():
        assert value == pytest.approx(np.median([d[metric] for d in per_draw]))
    for metric, value in one["ratios"]["1"]["0"].items():
        assert value == pytest.approx(per_draw[0][metric])
    with pytest.raises(ValueError, match="draws must be >= 1"):
        calibrate_sampling(model, train, rock, draws=0, **kw)


def test_calibration_at_several_sizes_scores_the_mean_ratio_over_them():
    model, train, rock = tiny_model(channels=1), _blobs((8, 40, 40), 4), get_kind("rock")
    kw = dict(n=3, grid=(1.0, 1.2), polish_grid=(0, 1), island_grid=(0,), hole_grid=(0,), steps=6, seed=1, draws=2)
    both = calibrate_sampling(model, train, rock, size=(16, 32), **kw)
    alone = {side: calibrate_sampling(model, train, rock, size=side, **kw) for side in (16, 32)}
    assert both["size"] == [16, 32] and alone[16]["size"] == 16 and "ratios_by_size" not in alone[16]
    for side in (16, 32):  # each size's ratios are that size's own calibration's
        assert both["ratios_by_size"][str(side)] == alone[side]["ratios"]
    for s, by_finish in both["ratios"].items():
        for key, ratios in by_finish.items():
            for metric, value in ratios.items():
                at = [alone[side]["ratios"][s][key][metric] for side in (16, 32)]
                assert value == pytest.approx(np.mean(at))
            assert both["scores"][s][key] == pytest.approx(np.mean(list(ratios.values())))
    chosen = finish_key(both["polish"], both["islands"], both["holes"])
    assert (f"{both['sharpness']:g}", chosen) == best_pair(both["scores"])
    for bad, message in (((16, 16), "distinct"), ((), "distinct"), ((16, 1), "at least the network stride")):
        with pytest.raises(ValueError, match=message):
            calibrate_sampling(model, train, rock, size=bad, **kw)


def test_slab_references_span_the_block_and_take_turns():
    # 8 slabs of 3 slices: the even ones 40 % pore, the odd ones 10 %
    block = np.concatenate(
        [
            (np.random.default_rng(k).random((3, 16, 16)) < (0.4 if k % 2 == 0 else 0.1)).astype(np.uint8)
            for k in range(8)
        ]
    )
    refs = calibration_references(block, [1], 3, 16, 5, 3, "slabs")
    assert [(len(a), len(b)) for a, b in refs] == [(12, 3)] * 3  # 4x as many target crops as images
    porosity = [(np.mean(np.stack(a)), np.mean(np.stack(b))) for a, b in refs]
    assert porosity[0][0] > 0.3 and porosity[0][1] < 0.2  # draw 0: targets from the even slabs
    assert porosity[1][0] < 0.2 and porosity[1][1] > 0.3  # draw 1: the other way round
    assert porosity[2][0] > 0.3
    # every target crop is a slice of a target slab (slices 0-2, 6-8, ... in draw 0)
    even = [block[i] for i in range(24) if (i // 3) % 2 == 0]
    assert all(any(np.array_equal(c, s) for s in even) for c in refs[0][0])
    # the spread crops come from the other slabs
    odd = [block[i] for i in range(24) if (i // 3) % 2 == 1]
    assert all(any(np.array_equal(c, s) for s in odd) for c in refs[0][1])
    same = calibration_references(block, [1], 3, 16, 5, 3, "slabs")
    assert all(np.array_equal(x, y) for (a, _), (b, _) in zip(refs, same) for x, y in zip(a, b))  # reproducible
    with pytest.raises(ValueError, match="halves, slabs"):
        calibration_references(block, [1], 3, 16, 5, 1, "thirds")
    with pytest.raises(ValueError, match="too thin"):
        calibration_references(block[:3], [1], 3, 16, 5, 1, "slabs")


def test_slab_calibration_generates_at_the_first_targets_counts_and_says_so():
    model, train, rock = tiny_model(channels=1), _blobs((8, 24, 24), 6), get_kind("rock")
    kw = dict(size=16, n=3, grid=(1.0,), polish_grid=(0,), island_grid=(0,), hole_grid=(0,), steps=6, seed=2, draws=2)
    cal = calibrate_sampling(model, train, rock, reference="slabs", **kw)
    assert cal["reference"] == "slabs" and cal["n"] == 3 and "slabs" in cal["data"] and "held-out" in cal["data"]
    refs = calibration_references(train, [1], 3, 16, 2, 2, "slabs")
    per_draw = _ratios_per_draw(model, refs, 3, seed=2)
    for metric, value in cal["ratios"]["1"]["0"].items():
        assert value == pytest.approx(np.median([d[metric] for d in per_draw]))
    assert calibrate_sampling(model, train, rock, **kw)["reference"] == "halves"  # the default is unchanged


def test_calibration_needs_candidates():
    with pytest.raises(ValueError, match="empty"):
        calibrate_sampling(tiny_model(channels=1), _blobs((4, 16, 16), 0), get_kind("rock"), size=16, grid=())


def test_finish_keys_round_trip_and_finishes_apply_polish_then_islands():
    cases = [(0, 0, 0), (2, 0, 0), (1, 8, 0), (1, 0, 4), (3, 2, 8)]
    assert [parse_finish(finish_key(*c)) for c in cases] == cases
    assert finish_key(2, 8, 4) == "2+i8+h4" and finish_key(2, 0, 0) == "2"
    for bad in ("2+x4", "2+i", "2+h4b"):
        with pytest.raises(ValueError, match="finish key"):
            parse_finish(bad)
    images = list(_blobs((3, 20, 20), 1))
    for im in images:
        im[np.random.default_rng(2).random(im.shape) < 0.03] ^= 1
    frozen = np.zeros((20, 20), bool)
    frozen[:5] = True
    out = dict(finishes(images, [1], [0, 1], [0, 4], "periodic", 7, frozen))
    assert list(out) == ["0", "0+i4", "1", "1+i4"]
    assert all(np.array_equal(a, b) for a, b in zip(out["0"], images))
    for i, im in enumerate(images):
        polished = polish(im, sweeps=1, boundary="periodic", frozen=frozen, seed=7 + i)[0]
        assert np.array_equal(out["1"][i], polished)
        assert np.array_equal(out["1+i4"][i], dissolve(polished, 1, 4, boundary="periodic", frozen=frozen)[0])
        assert (out["1+i4"][i] == 1).sum() == (im == 1).sum() and np.array_equal(out["1+i4"][i][frozen], im[frozen])


def test_finishes_fill_holes_of_the_kind_background_after_the_islands():
    images = list(_blobs((2, 20, 20), 3))
    for im in images:
        im[np.random.default_rng(4).random(im.shape) < 0.05] ^= 1
    out = dict(finishes(images, [1], [0], [0, 3], "periodic", 0, hole_grid=[0, 3], kind=get_kind("rock")))
    assert list(out) == ["0", "0+h3", "0+i3", "0+i3+h3"]
    changed = []
    for i, im in enumerate(images):
        islands = dissolve(im, 1, 3, boundary="periodic")[0]
        assert np.array_equal(out["0+i3"][i], islands)
        filled = dissolve(islands, 0, 3, boundary="periodic", connectivity="face")[0]
        assert np.array_equal(out["0+i3+h3"][i], filled)
        changed.append(not np.array_equal(filled, islands))
        assert (out["0+h3"][i] == 1).sum() == (im == 1).sum()
    assert any(changed)  # the grain specks inside the pores were filled
    with pytest.raises(ValueError, match="kind"):
        next(finishes(images, [1], [0], [0], "periodic", 0, hole_grid=[2]))


def test_finishes_smooth_first_and_keys_name_the_widths():
    images = list(_blobs((2, 20, 20), 5))
    for im in images:
        im[np.random.default_rng(6).random(im.shape) < 0.05] ^= 1
    rock = get_kind("rock")
    out = dict(finishes(images, [1], [0, 1], [0], "periodic", 3, kind=rock, smooth_grid=[0.0, 1.5]))
    assert list(out) == ["0", "1", "s1.5+0", "s1.5+1"]
    for i, im in enumerate(images):
        smoothed = smooth(im, [1], 1.5, background=rock.background)[0]
        assert np.array_equal(out["s1.5+0"][i], smoothed)
        assert np.array_equal(out["s1.5+1"][i], polish(smoothed, sweeps=1, boundary="periodic", seed=3 + i)[0])
        assert (out["s1.5+1"][i] == 1).sum() == (im == 1).sum()
    assert finish_key(1, 4, 8, (1.5, 0.0)) == "s1.5/0+1+i4+h8" and finish_key(2, 0, 0, 0.0) == "2"
    assert parse_finish("s1.5/0+1+i4+h8") == (1, 4, 8) and finish_smooth("s1.5/0+1+i4+h8", 2) == (1.5, 0.0)
    assert finish_smooth("2+i4", 2) == (0.0, 0.0) and finish_smooth("s2+0", 2) == (2.0, 2.0)
    with pytest.raises(ValueError, match="kind"):
        next(finishes(images, [1], [0], [0], "periodic", 0, smooth_grid=[1.0]))


def test_calibration_can_choose_a_smoothing_width():
    model = tiny_model(channels=1)
    train = _blobs((8, 24, 24), 0)
    kw = dict(size=16, n=3, grid=(1.0,), polish_grid=(0,), island_grid=(0,), hole_grid=(0,), steps=6)
    cal = calibrate_sampling(model, train, get_kind("rock"), smooth_grid=(0.0, 1.0, 2.0), **kw)
    assert set(cal["scores"]["1"]) == {"0", "s1+0", "s2+0"}
    assert (f"{cal['sharpness']:g}", finish_key(0, 0, 0, cal["smooth"])) == best_pair(cal["scores"])
    plain = calibrate_sampling(model, train, get_kind("rock"), **kw)
    assert plain["smooth"] == [0.0] and set(plain["scores"]["1"]) == {"0"}  # the default grid: no smoothing


def test_smoothing_is_chosen_only_for_a_clear_gain():
    scores = {"1": {"0": 1.0, "s1.5+0": 0.99}}
    assert best_pair(scores) == ("1", "0")
    scores["1"]["s1.5+0"] = 0.9
    assert best_pair(scores) == ("1", "s1.5+0")


def test_islands_are_chosen_only_for_a_clear_gain():
    margin = 1 - ISLAND_MIN_GAIN
    scores = {"1": {"0": 2.0, "2": 1.0, "2+i4": 0.99}, "1.1": {"0": 1.5, "2": 1.2, "2+i4": 1.3}}
    assert best_pair(scores) == ("1", "2")  # 1 % better: not enough
    scores["1.1"]["2+i4"] = 0.99 * margin
    assert best_pair(scores) == ("1.1", "2+i4")
    assert best_pair({"1": {"0": 1.2, "1": 0.8}, "1.2": {"0": 0.7, "1": 0.9}}) == ("1.2", "0")  # plain: the minimum
    assert best_pair({"1": {"0+i2": 0.5, "0+i4": 0.4}}) == ("1", "0+i4")  # nothing to fall back to
    assert best_pair({"1": {"2": 1.0, "2+h4": 0.99}}) == ("1", "2")  # holes alone: the same rule
    assert best_pair({"1": {"2": 1.0, "2+h4": 0.9}}) == ("1", "2+h4")


def test_grid_edge_flags_a_choice_at_either_end_of_the_sharpness_grid():
    grid = (1.0, 1.3, 0.8)  # order does not matter
    assert grid_edge(1.3, grid) == "highest" and grid_edge(0.8, grid) == "lowest" and grid_edge(1.0, grid) is None
    assert grid_edge(1.0, (1.0,)) is None and grid_edge(1.0, (1.0, 1.0)) is None  # one value: no direction
    assert grid_edge(1.0, (1.0, 1.1)) == "lowest"


def test_grid_edge_judges_each_channel_of_a_per_channel_grid():
    grid = [1.0, (1.3, 1.0), (1.0, 1.3)]  # a scalar is that value for every channel
    assert grid_edge((1.3, 1.0), grid) == "highest" and grid_edge(1.0, grid) == "lowest"
    steps = [(1.1, 1.0), (1.15, 1.0), (1.2, 1.0)]  # the binder's value never varies: channel 0 decides
    assert grid_edge((1.15, 1.0), steps) is None and grid_edge((1.1, 1.0), steps) == "lowest"
    assert grid_edge((1.2, 1.0), steps) == "highest"


def test_export_refuses_an_unknown_calibration_reference(tmp_path):
    from microgen.training.export import export_model

    with pytest.raises(ValueError, match="halves, slabs"):  # before any work: the run need not exist
        export_model(tmp_path / "no-run", [], "rock", tmp_path / "out", name="t", calibration_reference="thirds")
    assert not (tmp_path / "out").exists()
