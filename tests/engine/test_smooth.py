import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgen.engine.polish import unlike_faces
from microgen.engine.smooth import check_widths, format_widths, parse_widths, smooth


def _disk(shape, centre, radius):
    yy, xx = np.indices(shape)
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


@settings(max_examples=40, deadline=None)
@given(
    shape=st.sampled_from([(2, 2), (5, 7), (16, 16), (9, 6, 5), (12, 17)]),
    phases=st.integers(1, 3),
    widths=st.sampled_from([0.0, 0.7, 1.5, 3.0, (1.5, 0.0), (0.0, 2.0), (1.0, 1.0, 0.5)]),
    boundary=st.sampled_from(["periodic", "noflux"]),
    seed=st.integers(0, 2**31 - 1),
    frozen_share=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_smooth_keeps_every_count_and_every_frozen_voxel(shape, phases, widths, boundary, seed, frozen_share):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, phases + 1, shape).astype(np.uint8)
    frozen = rng.random(shape) < frozen_share
    if isinstance(widths, tuple):
        widths = (widths * phases)[:phases]
    out, changed = smooth(labels, list(range(1, phases + 1)), widths, boundary=boundary, frozen=frozen)
    assert out.dtype == labels.dtype and out.shape == labels.shape
    counts = np.bincount(out.ravel(), minlength=phases + 1)
    assert np.array_equal(counts, np.bincount(labels.ravel(), minlength=phases + 1))
    assert np.array_equal(out[frozen], labels[frozen])
    assert changed == int((out != labels).sum())
    assert labels.max() <= phases  # the input is not modified in place
    if not any(check_widths(widths, phases)):
        assert changed == 0


def test_a_ragged_disk_comes_out_rounder_with_its_count():
    rng = np.random.default_rng(0)
    shape = (64, 64)
    disk = _disk(shape, (32, 32), 16)
    ragged = disk ^ (rng.random(shape) < 0.15) & _disk(shape, (32, 32), 19) & ~_disk(shape, (32, 32), 13)
    labels = ragged.astype(np.uint8)
    out, _ = smooth(labels, [1], 1.5)
    assert (out == 1).sum() == (labels == 1).sum()
    assert unlike_faces(out) < 0.6 * unlike_faces(labels)
    # and lies where the disk was: one component, nearly the disk itself
    assert ((out == 1) ^ disk).sum() < 0.1 * disk.sum()


def test_a_round_disk_barely_moves_and_a_small_island_joins_the_large_one():
    shape = (64, 64)
    labels = _disk(shape, (32, 32), 14).astype(np.uint8)
    out, changed = smooth(labels, [1], 1.0)
    assert changed <= 0.05 * (labels == 1).sum()
    island = labels.copy()
    island[4:6, 4:6] = 1  # 4 voxels, far from the disk
    out, _ = smooth(island, [1], 2.0)
    assert not out[2:8, 2:8].any()  # dissolved: a 2x2 island shrinks under curvature flow
    assert (out == 1).sum() == (island == 1).sum()  # its voxels went to the disk's rim
    assert (out[_disk(shape, (32, 32), 17)] == 1).sum() == (island == 1).sum()


def test_a_phase_of_width_zero_changes_only_where_the_smoothed_phase_moves():
    rng = np.random.default_rng(3)
    shape = (48, 48)
    labels = np.zeros(shape, np.uint8)
    labels[_disk(shape, (24, 24), 12) ^ (rng.random(shape) < 0.1)] = 1
    labels[(labels == 0) & (rng.random(shape) < 0.2)] = 2
    out, changed = smooth(labels, [1, 2], (1.5, 0.0))
    assert changed > 0
    moved = (out == 1) != (labels == 1)
    assert np.array_equal(out[~moved], labels[~moved])
    for phase in (0, 1, 2):
        assert (out == phase).sum() == (labels == phase).sum()


def test_periodic_smoothing_commutes_with_a_shift():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, (20, 24)).astype(np.uint8)
    out, _ = smooth(labels, [1, 2], (1.2, 0.8))
    shifted, _ = smooth(np.roll(labels, (7, -5), (0, 1)), [1, 2], (1.2, 0.8))
    assert np.array_equal(shifted, np.roll(out, (7, -5), (0, 1)))


def test_any_memory_layout_gives_the_same_result():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, (18, 22)).astype(np.uint8)
    out, _ = smooth(labels, [1, 2], (1.4, 0.0))
    f_order, _ = smooth(np.asfortranarray(labels), [1, 2], (1.4, 0.0))
    assert np.array_equal(f_order, out)


def test_noflux_smoothing_mirrors_with_the_image():
    rng = np.random.default_rng(6)
    labels = (rng.random((20, 24)) < 0.4).astype(np.uint8)
    out, _ = smooth(labels, [1], 1.3, boundary="noflux")
    flipped, _ = smooth(labels[::-1], [1], 1.3, boundary="noflux")
    assert np.array_equal(flipped, out[::-1])


@pytest.mark.parametrize(
    "widths, phases, message",
    [
        (-1.0, 1, ">= 0"),
        (float("nan"), 1, ">= 0"),
        (True, 1, ">= 0"),
        ("1", 1, ">= 0"),
        ((1.0, 2.0), 3, "one per particle phase"),
    ],
)
def test_bad_widths_are_refused(widths, phases, message):
    with pytest.raises(ValueError, match=message):
        check_widths(widths, phases)


def test_widths_round_trip_through_text():
    assert parse_widths("1.5/0") == (1.5, 0.0) and parse_widths("2") == (2.0,)
    assert format_widths((1.5, 0.0)) == "1.5/0" and format_widths((2.0, 2.0)) == "2" and format_widths(1.0) == "1"
    with pytest.raises(ValueError, match="1.5/0"):
        parse_widths("wide")


def test_a_frozen_mask_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="frozen mask shape"):
        smooth(np.zeros((4, 4), np.uint8), [1], 1.0, frozen=np.zeros((3, 4), bool))
