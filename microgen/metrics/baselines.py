"""A procedural baseline for two-phase media: Gaussian blobs at an exact porosity.

The recipe is that of ``porespy.generators.blobs`` (Gostick et al. 2019, J. Open Source Softw. 4,
1296): uniform noise smoothed by a Gaussian of width ``mean(shape) / (40 * blobiness)`` (periodic),
thresholded so that the requested fraction of voxels is pore. Here the threshold is a rank, so the
pore count is exactly ``floor(porosity * voxels + 0.5)`` like microgen's own samples, and nothing
beyond numpy/scipy is needed. A learned model is worth shipping only if it is closer to the real
data than this baseline with its one parameter tuned to the data (issue 4).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .fidelity import describe, distance, random_crops

BLOBINESS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def blobs(shape, porosity: float, blobiness: float, rng: np.random.Generator) -> np.ndarray:
    """One blob image, uint8 with 1 = pore, 0 = grain, exactly ``floor(porosity * N + 0.5)`` pores."""
    if not 0.0 <= porosity <= 1.0:
        raise ValueError(f"porosity must be in [0, 1], got {porosity}")
    if not blobiness > 0:
        raise ValueError(f"blobiness must be > 0, got {blobiness}")
    shape = tuple(int(s) for s in shape)
    sigma = float(np.mean(shape)) / (40.0 * blobiness)
    field = ndimage.gaussian_filter(rng.random(shape), sigma, mode="wrap")
    out = np.zeros(field.size, dtype=np.uint8)
    count = int(math.floor(porosity * field.size + 0.5))
    out[np.argsort(field, axis=None, kind="stable")[:count]] = 1
    return out.reshape(shape)


def blobs_like(images, blobiness: float, rng: np.random.Generator) -> list[np.ndarray]:
    """One blob image per binary label image (1 = pore), with the same shape and pore count."""
    return [blobs(im.shape, float(np.mean(np.asarray(im) == 1)), blobiness, rng) for im in images]


def tune_blobiness(images, rng: np.random.Generator, candidates=BLOBINESS) -> tuple[float, dict]:
    """The blobiness whose blobs (at the porosities of ``images``) have the two-point curve of the
    pore phase closest to that of ``images``; returns it and the distance for every candidate.
    Tune on training crops, not on the held-out ones the baseline is then judged against."""
    target = describe(images, [1], thickness=False)["two_point[1]"][1]
    scores = {}
    for b in candidates:
        curves = describe(blobs_like(images, b, rng), [1], thickness=False)["two_point[1]"][1]
        scores[float(b)] = distance("curve", curves, target)
    return min(scores, key=scores.get), scores


def tuned_blobs(train, counts, size: int, pore: int, background: int, n_tune: int, rng) -> tuple[list, float, dict]:
    """Issue 4's baseline as label images: one ``size x size`` blob image per entry of ``counts``
    (its first value the pore count), with the blobiness tuned (:func:`tune_blobiness`) on ``n_tune``
    crops of the training volume ``train``; returns the images (``pore`` / ``background`` codes),
    the blobiness and the tuning distances."""
    tuning = [(c == pore).astype(np.uint8) for c in random_crops(train, n_tune, size, rng)]
    blobiness, scores = tune_blobiness(tuning, rng)
    images = [
        np.where(blobs((size, size), c[0] / size**2, blobiness, rng) == 1, pore, background).astype(np.uint8)
        for c in counts
    ]
    return images, blobiness, scores


__all__ = ["BLOBINESS", "blobs", "blobs_like", "tune_blobiness", "tuned_blobs"]
