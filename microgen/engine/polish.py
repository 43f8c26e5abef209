"""Count-preserving removal of voxel speckle from label images.

A model that is not fully trained leaves one-voxel defects at the end of the reverse process:
pinholes inside a phase, isolated voxels and one-voxel spikes. :func:`polish` removes them
without changing any phase count: it *swaps* pairs of voxels of two phases (a Kawasaki move,
as in zero-temperature conserved-order-parameter dynamics), and only where the swap removes at
least ``MIN_GAIN`` unlike faces. Swaps are non-local (a spike anywhere fills a pinhole anywhere),
so counts are exact and the interface area never grows.

Each pass considers one colour of a proper colouring of the lattice (no two neighbours share a
colour), so no two voxels changed in a pass touch and the face count falls by exactly the sum of
their gains: the checkerboard, or, on a periodic lattice with a side of odd length (whose
wrap-around joins two voxels of one checkerboard colour), three colours (:func:`colouring`).
"""

from __future__ import annotations

import numpy as np

from .lattice import check_boundary, check_count

#: smallest number of unlike faces a swap must remove (isolated voxel or pinhole: 2 * ndim each)
MIN_GAIN = 4
#: sweeps applied to generated images by default (the second sweep still helped the NMC model;
#: later ones change little, see docs/performance.md)
SWEEPS = 2


def neighbour_counts(labels: np.ndarray, phase: int, boundary: str = "periodic") -> np.ndarray:
    """Number of face neighbours of every voxel that hold ``phase`` (none outside a no-flux box)."""
    check_boundary(boundary)
    mask = (labels == phase).astype(np.int8)
    if boundary == "noflux":
        mask = np.pad(mask, 1)
    out = np.zeros(mask.shape, np.int8)
    for axis in range(mask.ndim):
        out += np.roll(mask, 1, axis)
        out += np.roll(mask, -1, axis)
    if boundary == "noflux":
        out = out[tuple(slice(1, -1) for _ in range(mask.ndim))]
    return out


def unlike_faces(labels: np.ndarray, boundary: str = "periodic") -> int:
    """Number of faces between voxels of different labels (the discrete interface area)."""
    check_boundary(boundary)
    total = 0
    for axis in range(labels.ndim):
        if boundary == "periodic":
            total += int((labels != np.roll(labels, 1, axis)).sum())
        else:
            total += int((np.diff(labels, axis=axis) != 0).sum())
    return total


def colouring(shape, boundary: str = "periodic") -> np.ndarray:
    """A proper colouring of the lattice's voxels: neighbours (across the wrap too, when
    periodic) never share a colour. The checkerboard (2 colours) where it is proper; on a periodic
    lattice with an odd side, 3 colours: along each axis ``i % 2``, with colour 2 for the last
    slice of an odd axis, summed over the axes modulo 3. A step to a neighbour changes one axis's
    term by 1 or 2 (never 0 or 3), so the sum modulo 3 always changes."""
    check_boundary(boundary)
    if boundary != "periodic" or not any(n % 2 for n in shape):
        return np.indices(shape).sum(0) % 2
    total = np.zeros(shape, np.int64)
    for axis, n in enumerate(shape):
        term = np.arange(n) % 2
        if n % 2:
            term[-1] = 2
        total += term.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return total % 3


def check_sweeps(sweeps) -> int:
    """Return ``sweeps`` if it is an integer >= 0 (not a bool), else raise ``ValueError``."""
    return check_count(sweeps, "polish sweeps")


def polish(
    labels: np.ndarray,
    *,
    sweeps: int = 1,
    boundary: str = "periodic",
    frozen: np.ndarray | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, int]:
    """Swap speckle voxels between phases, keeping every phase count exact.

    Parameters
    ----------
    labels : integer array ``(*shape)``
    sweeps : passes over all phase pairs and every colour of :func:`colouring` (0 returns a copy)
    boundary : ``"periodic"`` or ``"noflux"`` (faces on the box are not counted)
    frozen : boolean array ``(*shape)``; True voxels are never changed (inpainting: swaps stay
        inside the free region, so its counts stay exact too)
    seed : tie-break among equal gains

    Returns
    -------
    polished labels (same dtype) and the number of swaps made.
    """
    sweeps = check_sweeps(sweeps)
    check_boundary(boundary)
    out = np.array(labels, copy=True)
    free = np.ones(out.shape, bool) if frozen is None else ~np.asarray(frozen, dtype=bool)
    if free.shape != out.shape:
        raise ValueError(f"frozen must have the image's shape {out.shape}, got {free.shape}")
    colour = colouring(out.shape, boundary)
    rng = np.random.default_rng(seed)
    phases = [int(p) for p in np.unique(out)]
    swaps = 0
    for _ in range(sweeps):
        before = swaps
        for c in range(int(colour.max()) + 1):
            eligible = (free & (colour == c)).ravel()
            for p in phases:
                for q in phases:
                    if p != q:
                        swaps += _swap_pass(out, p, q, eligible, boundary, rng)
        if swaps == before:
            break
    return out, swaps


def _swap_pass(labels, p, q, eligible, boundary, rng) -> int:
    """Turn the best ``p`` voxels into ``q`` and as many ``q`` voxels into ``p`` (in place), pairing
    them by decreasing gain and keeping the pairs that remove at least ``MIN_GAIN`` faces."""
    flat = labels.reshape(-1)
    n_p = neighbour_counts(labels, p, boundary).reshape(-1).astype(np.int32)
    n_q = neighbour_counts(labels, q, boundary).reshape(-1).astype(np.int32)
    donors = np.flatnonzero(eligible & (flat == p))
    takers = np.flatnonzero(eligible & (flat == q))
    if not donors.size or not takers.size:
        return 0
    gain_d = n_q[donors] - n_p[donors]  # faces removed by p -> q
    gain_t = n_p[takers] - n_q[takers]  # faces removed by q -> p
    donors = donors[np.lexsort((rng.random(donors.size), -gain_d))]
    takers = takers[np.lexsort((rng.random(takers.size), -gain_t))]
    gain_d, gain_t = np.sort(gain_d)[::-1], np.sort(gain_t)[::-1]
    k = min(donors.size, takers.size)
    n = int(np.count_nonzero(gain_d[:k] + gain_t[:k] >= MIN_GAIN))  # gains are sorted: a prefix
    flat[donors[:n]] = q
    flat[takers[:n]] = p
    return n


__all__ = ["MIN_GAIN", "SWEEPS", "check_sweeps", "colouring", "neighbour_counts", "polish", "unlike_faces"]
