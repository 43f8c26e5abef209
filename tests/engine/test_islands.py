import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from microgen.engine.islands import check_max_size, dissolve, is_simple
from microgen.metrics.morphology import euler_number


def _components(mask, connectivity):
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    lab, n = ndimage.label(mask, structure=structure)
    return lab, n


def _small_inner(mask, connectivity, max_size):
    """Components of ``mask`` (labels, count, sizes), the no-flux border, and the components of at
    most ``max_size`` voxels that do not touch it."""
    lab, n = _components(mask, connectivity)
    sizes = np.bincount(lab.ravel())[1:]
    border = np.zeros(mask.shape, bool)
    for axis in range(mask.ndim):
        border[(slice(None),) * axis + (0,)] = border[(slice(None),) * axis + (-1,)] = True
    touching = set(np.unique(lab[border])) - {0}
    small = [i + 1 for i, s in enumerate(sizes) if s <= max_size and i + 1 not in touching]
    return n, sizes, border, small


def _blobs(shape, seed, noise=0.02):
    rng = np.random.default_rng(seed)
    im = (ndimage.gaussian_filter(rng.random(shape), 1.5) > 0.5).astype(np.uint8)
    im[rng.random(shape) < noise] ^= 1
    return im


@settings(max_examples=30, deadline=None)
@given(
    shape=st.sampled_from([(24, 24), (17, 30), (10, 12, 9), (8, 8, 8)]),
    max_size=st.integers(0, 9),
    seed=st.integers(0, 2**31 - 1),
)
@example(shape=(17, 30), max_size=7, seed=84379)  # a 7-voxel ring island around a 1-voxel hole
def test_dissolve_removes_exactly_the_small_islands_and_keeps_all_else(shape, max_size, seed):
    """No-flux: counts exact; the phase loses exactly its small inner islands, and its topology
    (components, Euler number) and the complement's components (4/6-connected) are those of the
    image with the islands erased; the border is untouched. An island is not always a plain speck:
    a ring encloses a hole (its Euler number is 0) that joins the rest of the complement."""
    im = _blobs(shape, seed)
    out, moved = dissolve(im, 1, max_size, boundary="noflux")
    assert (out == 1).sum() == (im == 1).sum() and out.dtype == im.dtype
    full = im.ndim  # full connectivity for the phase
    n, sizes, border, small = _small_inner(im == 1, full, max_size)
    assert moved == sum(sizes[i - 1] for i in small)
    erased = (im == 1) & ~np.isin(_components(im == 1, full)[0], small)
    assert _components(out == 1, full)[1] == n - len(small)
    assert euler_number(out == 1) == euler_number(erased)
    assert _components(out != 1, 1)[1] == _components(~erased, 1)[1]
    assert np.array_equal(out[border], im[border])


@settings(max_examples=30, deadline=None)
@given(
    shape=st.sampled_from([(24, 24), (17, 30), (10, 12, 9), (8, 8, 8)]),
    max_size=st.integers(0, 9),
    seed=st.integers(0, 2**31 - 1),
)
@example(shape=(8, 8, 8), max_size=5, seed=213)  # the surface ran out of simple points before it was re-read
def test_face_connectivity_fills_exactly_the_small_holes_of_the_other_phase(shape, max_size, seed):
    """No-flux, background islands face-connected: they are the holes (2D) or cavities (3D) of the
    fully connected pore, so the pore's Euler number and components become those of the pore with
    the holes filled (a hole that itself encloses pore takes it along); the counts are exact and
    the border untouched."""
    im = _blobs(shape, seed, noise=0.04)
    out, moved = dissolve(im, 0, max_size, boundary="noflux", connectivity="face")
    assert (out == 1).sum() == (im == 1).sum()
    n, sizes, border, small = _small_inner(im == 0, 1, max_size)
    assert moved == sum(sizes[i - 1] for i in small)
    assert _components(out == 0, 1)[1] == n - len(small)
    filled = (im == 1) | np.isin(_components(im == 0, 1)[0], small)
    assert euler_number(out == 1) == euler_number(filled)
    assert _components(out == 1, im.ndim)[1] == _components(filled, im.ndim)[1]
    assert np.array_equal(out[border], im[border])


def test_a_ring_island_takes_its_hole_along():
    """A ring of the phase is one island whose Euler number is 0; dissolving it leaves no trace of
    the ring or of the hole it enclosed, and its voxels go back onto the large body."""
    im = np.zeros((12, 12), np.uint8)
    im[2:10, 7:10] = 1  # the large body, away from the border
    im[3:6, 2:5] = 1
    im[4, 3] = 0  # ring of 8 around a one-voxel hole
    assert euler_number(im[1:8, 1:6] == 1) == 0
    out, moved = dissolve(im, 1, 8, boundary="noflux")
    assert moved == 8 and (out == 1).sum() == (im == 1).sum()
    assert not out[1:8, 1:6].any()
    assert euler_number(out == 1) == 1 and _components(out != 1, 1)[1] == 1


def test_bad_connectivity_is_refused():
    with pytest.raises(ValueError, match="full"):
        dissolve(np.zeros((4, 4), np.uint8), 0, 2, connectivity="diagonal")


@settings(max_examples=20, deadline=None)
@given(
    shape=st.sampled_from([(20, 20), (9, 14), (6, 7, 8)]),
    phases=st.integers(2, 4),
    boundary=st.sampled_from(["periodic", "noflux"]),
    max_size=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    connectivity=st.sampled_from(["full", "face"]),
)
def test_dissolve_keeps_every_count_and_the_frozen_voxels(shape, phases, boundary, max_size, seed, connectivity):
    rng = np.random.default_rng(seed)
    im = rng.integers(0, phases, shape).astype(np.uint8)
    frozen = rng.random(shape) < 0.3
    out, _ = dissolve(im, 1, max_size, boundary=boundary, frozen=frozen, connectivity=connectivity)
    assert np.array_equal(np.bincount(out.ravel(), minlength=phases), np.bincount(im.ravel(), minlength=phases))
    assert np.array_equal(out[frozen], im[frozen])


def test_an_island_with_a_frozen_voxel_is_kept():
    im = np.zeros((12, 12), np.uint8)
    im[2:7, 2:7] = 1  # the body that takes the voxels back
    im[5, 9] = im[5, 10] = 1  # an island of two
    frozen = np.zeros(im.shape, bool)
    frozen[5, 10] = True
    out, moved = dissolve(im, 1, 3, boundary="periodic", frozen=frozen)
    assert moved == 0 and np.array_equal(out, im)
    frozen[5, 10], frozen[5, 11] = False, True  # frozen grain next to the island: it goes
    out, moved = dissolve(im, 1, 3, boundary="periodic", frozen=frozen)
    assert moved == 2 and out[5, 9] == out[5, 10] == 0 and (out == 1).sum() == (im == 1).sum()


def test_periodic_islands_are_joined_across_the_wrap():
    """Two voxels on opposite edges form one island of two on a torus: size 1 keeps it."""
    im = np.zeros((10, 10), np.uint8)
    im[3:7, 3:7] = 1
    im[0, 5] = im[9, 5] = 1
    assert dissolve(im, 1, 1, boundary="periodic")[1] == 0
    out, moved = dissolve(im, 1, 2, boundary="periodic")
    assert moved == 2 and out[0, 5] == 0 and out[9, 5] == 0


def test_simple_points_in_2d_are_the_flips_that_keep_the_topology():
    """Brute force over all 512 3x3 configurations, each set in a 5x5 picture with a ring of the
    complement: the centre is simple exactly when flipping it keeps the number of components of
    the phase (8-connected) and of the complement (4-connected) and the Euler number."""
    n_simple = 0
    for code in range(512):
        block = np.array([(code >> i) & 1 for i in range(9)], bool).reshape(3, 3)
        flipped = block.copy()
        flipped[1, 1] = ~flipped[1, 1]
        a, b = np.pad(block, 1), np.pad(flipped, 1)
        keeps = (
            _components(a, 2)[1] == _components(b, 2)[1]
            and _components(~a, 1)[1] == _components(~b, 1)[1]
            and euler_number(a) == euler_number(b)
        )
        assert is_simple(block) == keeps, block.astype(int)
        n_simple += keeps
    assert 0 < n_simple < 512


def test_an_image_with_only_islands_is_left_as_it_is():
    im = np.zeros((8, 8), np.uint8)
    im[1, 1] = im[4, 5] = im[4, 6] = 1
    out, moved = dissolve(im, 1, 2, boundary="periodic")
    assert moved == 0 and np.array_equal(out, im)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", None])
def test_bad_island_size_is_refused(bad):
    with pytest.raises(ValueError, match="island size"):
        check_max_size(bad)
