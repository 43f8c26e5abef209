"""Images of any side: the network sees sides that are not multiples of its stride continued as the
lattice continues (wrapped or mirrored), the sampler moves the resulting seam at every step, and
counts stay exact."""

import numpy as np
import pytest
import torch

from microgen.engine import TrapezoidalLeaping, sample
from microgen.engine.model import SEAM_OFFSETS, extend_to, extension, spread_offsets
from tests.helpers import perturbed_tiny_model, tiny_model


@pytest.mark.parametrize("side, want", [(5, 8), (6, 8), (3, 8), (7, 16), (8, 8)])
def test_periodic_extension_walks_around_the_ring(side, want):
    index, start = extension(side, want, "periodic")
    assert len(index) == want
    assert index[start : start + side].tolist() == list(range(side))  # the real voxels, in order
    # every step along the extended axis is a step to the next voxel of the ring: no jump inside
    assert all((int(b) - int(a)) % side == 1 % side for a, b in zip(index[:-1], index[1:]))
    # the extra voxels are split between both ends, the far end taking the odd one
    assert start == (want - side) // 2


@pytest.mark.parametrize("side, want", [(5, 8), (6, 8), (8, 8), (3, 5)])
def test_noflux_extension_mirrors_at_the_far_wall(side, want):
    index, start = extension(side, want, "noflux")
    assert start == 0 and index[:side].tolist() == list(range(side))
    # beyond the wall the image comes back as in a mirror: voxel side + k is voxel side - 1 - k
    assert index[side:].tolist() == [side - 1 - k for k in range(want - side)]


def test_extend_to_keeps_the_real_voxels_at_the_returned_slices():
    counts = torch.arange(2 * 6 * 9).reshape(1, 2, 6, 9)
    extended, keep = extend_to(counts, (8, 16), "periodic")
    assert extended.shape == (1, 2, 8, 16)
    assert torch.equal(extended[(..., *keep)], counts)
    assert torch.equal(extended[0, 0, 0, keep[1]], counts[0, 0, -1])  # the row before the first is the last


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
def test_rates_of_any_side_are_the_network_on_the_continued_image(boundary):
    model = perturbed_tiny_model(channels=2, boundary=boundary, patch=2)  # stride 4
    counts = torch.randint(0, 2, (2, 2, 6, 9), generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.05, 0.4])
    rates = model.particle_rates(counts, t)
    assert rates.shape == (2, 2, 4, 6, 9)
    # by hand: numpy's modular / mirrored take, then the network, then the real voxels
    if boundary == "periodic":
        rows, cols = np.arange(-1, 7) % 6, np.arange(-1, 11) % 9
        keep = (slice(1, 7), slice(1, 10))
    else:
        rows, cols = [0, 1, 2, 3, 4, 5, 5, 4], [*range(9), 8, 7, 6]
        keep = (slice(0, 6), slice(0, 9))
    wide = torch.as_tensor(np.take(np.take(counts.numpy(), rows, axis=2), cols, axis=3))
    by_hand = model.net(wide, t).unflatten(1, (2, 4))[(..., *keep)]
    if boundary == "noflux":
        by_hand = by_hand * model.open_moves((6, 9), "cpu")
    torch.testing.assert_close(rates, by_hand)
    # sides that are multiples of the stride go to the network untouched
    square = counts[..., :4, :8]
    torch.testing.assert_close(model.particle_rates(square, t), _masked(model, model.net(square, t), (4, 8)))


def _masked(model, out, shape):
    out = out.unflatten(1, (model.channels, 2 * model.ndim))
    return out * model.open_moves(shape, "cpu") if model.process_config.boundary == "noflux" else out


def test_offsets_spread_the_seam_over_the_whole_image():
    model = tiny_model(patch=2)  # stride 4: the cells' offsets on multiples
    assert model.patch_offsets((8, 12)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert tiny_model(boundary="noflux", patch=2).patch_offsets((9, 10)) == [(0, 0)]  # no-flux: no seam moves
    offsets = model.patch_offsets((250, 250))
    assert offsets == spread_offsets((250, 250), SEAM_OFFSETS) and len(offsets) == SEAM_OFFSETS
    for axis in (0, 1):
        along = sorted(o[axis] for o in offsets)
        assert 0 <= along[0] and along[-1] < 250
        gaps = np.diff([*along, along[0] + 250])
        assert gaps.max() <= 2.5 * 250 / SEAM_OFFSETS  # no stretch of the image the seam never visits
    assert len(set(offsets)) == SEAM_OFFSETS
    # in 1D and 3D too
    assert all(0 <= o[0] < 37 for o in spread_offsets((37,), 10))
    assert len(set(spread_offsets((20, 20, 20), 30))) == 30


@pytest.mark.parametrize("shape", [(13, 10), (9, 9), (4, 21)])
@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
def test_any_side_samples_exact_reproducible_label_images(shape, boundary):
    model = perturbed_tiny_model(channels=2, boundary=boundary, patch=2)
    volume = shape[0] * shape[1]
    totals = [[volume // 3, volume // 10], [volume // 8, volume // 2]]
    runs = [
        sample(
            model, totals, shape, sampler=TrapezoidalLeaping(steps=5), generator=torch.Generator().manual_seed(7)
        ).labels
        for _ in range(2)
    ]
    assert np.array_equal(runs[0], runs[1])
    for labels, (a, b) in zip(runs[0], totals):
        assert labels.shape == shape
        assert (labels == 1).sum() == a and (labels == 2).sum() == b and set(np.unique(labels)) <= {0, 1, 2}
