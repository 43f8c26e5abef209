"""Morphological descriptors of label images, 2D and 3D, with NumPy/SciPy only.

Each function takes one image (a 2D or 3D integer array) and returns numbers or a curve. None
assumes periodic boundaries: statistics use only pairs/runs that lie inside the image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def phase_fractions(labels: np.ndarray, phases=None) -> dict[int, float]:
    """Volume fraction of every label code (or of the given ``phases``)."""
    labels = np.asarray(labels)
    codes = np.unique(labels) if phases is None else phases
    return {int(c): float(np.mean(labels == c)) for c in codes}


def two_point_autocovariance(mask: np.ndarray, r_max: int | None = None, axis: int | None = None) -> np.ndarray:
    """Normalised two-point autocovariance of a phase, radially averaged.

    ``C(r) = (S2(r) - phi^2) / (phi - phi^2)``, with ``S2`` the probability that two points at
    distance ``r`` both lie in the phase; ``C(0) = 1`` and ``C -> 0`` at long range. Computed by
    zero-padded FFT with the exact number of in-image pairs per lag (no periodic wrap).

    With ``axis`` given, only pairs along that axis are used (directional function).

    Returns ``C(r)`` for integer ``r = 0 .. r_max`` (default: a quarter of the smallest side).
    """
    mask = np.asarray(mask, dtype=np.float64)
    if r_max is None:
        r_max = min(mask.shape) // 4
    phi = mask.mean()
    if phi in (0.0, 1.0):
        return np.full(r_max + 1, np.nan)
    if axis is not None:
        n = mask.shape[axis]
        s2_r = np.array(
            [
                np.mean(np.take(mask, range(n - k), axis=axis) * np.take(mask, range(k, n), axis=axis))
                for k in range(min(r_max, n - 1) + 1)
            ]
        )
        return (s2_r - phi**2) / (phi - phi**2)
    padded = [2 * s for s in mask.shape]
    axes = list(range(mask.ndim))
    f = np.fft.rfftn(mask, padded, axes=axes)
    pairs = np.fft.irfftn(f * np.conj(f), padded, axes=axes)
    ones = np.fft.rfftn(np.ones_like(mask), padded, axes=axes)
    norm = np.fft.irfftn(ones * np.conj(ones), padded, axes=axes)
    valid = norm > 0.5
    s2 = np.where(valid, pairs / np.where(valid, norm, 1.0), 0.0)
    grids = np.meshgrid(*[np.minimum(np.arange(p), p - np.arange(p)) for p in padded], indexing="ij")
    dist = np.sqrt(sum(g.astype(np.float64) ** 2 for g in grids))
    rbin = np.rint(dist).astype(np.int64)
    keep = valid & (rbin <= r_max)
    weight = norm * keep
    sums = np.bincount(rbin[keep], weights=(s2 * weight)[keep], minlength=r_max + 1)
    counts = np.bincount(rbin[keep], weights=weight[keep], minlength=r_max + 1)
    s2_r = sums / np.maximum(counts, 1e-12)
    return (s2_r - phi**2) / (phi - phi**2)


def chord_lengths(mask: np.ndarray) -> np.ndarray:
    """Lengths of all runs of the phase along every axis, excluding runs that touch the border."""
    mask = np.asarray(mask, dtype=bool)
    out = []
    for axis in range(mask.ndim):
        m = np.moveaxis(mask, axis, -1).reshape(-1, mask.shape[axis]).astype(np.int8)
        edges = np.diff(np.pad(m, ((0, 0), (1, 1))), axis=1)
        row_s, start = np.nonzero(edges == 1)
        _, end = np.nonzero(edges == -1)
        length = end - start
        interior = (start > 0) & (end < m.shape[1])
        out.append(length[interior])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def local_thickness(mask: np.ndarray, radii=None) -> np.ndarray:
    """Local thickness (diameter of the largest inscribed ball covering each phase voxel).

    Ball centres are phase voxels with Euclidean distance ``>= R`` to the other phase; a voxel's
    thickness is ``2 R`` for the largest such ``R`` whose ball reaches it (Hildebrand & Ruegsegger,
    1997). Radii are tested on a grid (default: every half voxel up to the largest distance).

    Returns the thickness of every phase voxel (float array, empty if the phase is absent).
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(0)
    dist = ndimage.distance_transform_edt(mask)
    if radii is None:
        radii = np.arange(1.0, dist.max() + 0.5, 0.5)
    thick = np.where(mask, 1.0, 0.0)
    for radius in radii:
        seeds = dist >= radius
        if not seeds.any():
            break
        reach = ndimage.distance_transform_edt(~seeds) <= radius
        thick[reach & mask] = 2.0 * radius
    return thick[mask]


def interface_density(labels: np.ndarray, a: int, b: int) -> float:
    """Faces between phase ``a`` and phase ``b`` voxels per voxel (interface length per area in
    2D, area per volume in 3D, in voxel units; faces between nearest neighbours)."""
    labels = np.asarray(labels)
    faces = 0
    for axis in range(labels.ndim):
        lo = np.take(labels, np.arange(labels.shape[axis] - 1), axis=axis)
        hi = np.take(labels, np.arange(1, labels.shape[axis]), axis=axis)
        faces += int(np.sum((lo == a) & (hi == b)) + np.sum((lo == b) & (hi == a)))
    return faces / labels.size


def euler_number(mask: np.ndarray) -> int:
    """Euler characteristic of the phase as a union of closed pixels/voxels (8-connectivity in 2D,
    26 in 3D): ``chi = sum over cells of (-1)^dim`` of the cubical complex."""
    mask = np.asarray(mask, dtype=bool)
    grid = np.zeros([2 * s + 1 for s in mask.shape], dtype=bool)
    grid[tuple(slice(1, None, 2) for _ in mask.shape)] = mask
    closed = ndimage.maximum_filter(grid, size=3, mode="constant")
    parity = sum(np.meshgrid(*[np.arange(2 * s + 1) % 2 for s in mask.shape], indexing="ij"))
    signs = np.where(parity % 2 == 0, 1, -1)
    return int(np.sum(signs[closed]))


def euler_density(mask: np.ndarray) -> float:
    """Euler characteristic per voxel."""
    return euler_number(mask) / np.asarray(mask).size
