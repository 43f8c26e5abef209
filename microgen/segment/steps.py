"""The individual segmentation steps, each a pure function on NumPy arrays."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DENOISE = ("none", "gaussian", "median", "nlm")


def check_grey(volume: np.ndarray, phases: int) -> np.ndarray:
    """Refuse what cannot be a grey-level scan for ``phases`` phases; return the array."""
    volume = np.asarray(volume)
    if volume.dtype.kind not in "uif":
        raise ValueError(f"unsupported dtype {volume.dtype}: grey-level scans are integer or float arrays")
    if volume.ndim == 3 and volume.shape[-1] in (3, 4) and min(volume.shape[:2]) > 8:
        raise ValueError(
            f"array of shape {volume.shape} looks like a colour (RGB/RGBA) image; convert it to grey first"
        )
    if volume.ndim not in (2, 3):
        raise ValueError(f"expected a 2D image or 3D volume, got shape {volume.shape}")
    if volume.dtype.kind == "f" and not np.all(np.isfinite(volume)):
        raise ValueError("the scan contains NaN or infinite values")
    if phases not in (2, 3):
        raise ValueError(f"phases must be 2 or 3, got {phases}")
    levels = grey_levels(volume)
    if levels == 1:
        raise ValueError("the image is constant: nothing to segment")
    if levels < phases:
        raise ValueError(f"only {levels} grey levels: too few for {phases} phases")
    return volume


def grey_levels(volume: np.ndarray) -> int:
    """Number of distinct grey values (exact for integer scans, by bincount; sampled for floats)."""
    lo, hi = volume.min(), volume.max()
    if volume.dtype.kind in "ui" and int(hi) - int(lo) < 2**24:
        present = np.zeros(int(hi) - int(lo) + 1, dtype=bool)
        for block in np.array_split(volume.reshape(-1), max(1, volume.size // 2**24)):
            present[block.astype(np.int64) - int(lo)] = True
        return int(present.sum())
    return int(np.unique(volume.reshape(-1)[:: max(1, volume.size // 2**22)]).size)


def denoise(image: np.ndarray, method: str = "median", strength: float = 1.0) -> np.ndarray:
    """Denoise one 2D image (or a 3D block volumetrically for gaussian/median).

    ``strength``: gaussian sigma (voxels); median window radius; NLM filter strength in units of the
    estimated noise sigma (scikit-image ``denoise_nl_means``).
    """
    if method not in DENOISE:
        raise ValueError(f"denoise method must be one of {DENOISE}, got {method!r}")
    image = np.asarray(image, dtype=np.float32)
    if method == "none":
        return image
    if method == "gaussian":
        return ndimage.gaussian_filter(image, strength)
    if method == "median":
        return ndimage.median_filter(image, size=2 * max(1, int(round(strength))) + 1)
    from skimage.restoration import denoise_nl_means

    sigma = noise_sigma(image)
    if sigma == 0:
        return image
    return denoise_nl_means(
        image, h=0.8 * strength * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True
    ).astype(np.float32)


def noise_sigma(image: np.ndarray) -> float:
    """Gaussian noise sigma of a 2D image by Immerkaer's (1996) Laplacian-difference estimator."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    resp = ndimage.convolve(np.asarray(image, dtype=np.float64), kernel, mode="nearest")[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(resp).mean() / 6.0)


def _histogram(values: np.ndarray, bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = float(values.min()), float(values.max())
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return hist.astype(np.float64), 0.5 * (edges[:-1] + edges[1:])


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximum between-class variance)."""
    return multi_otsu(values, 2, bins)[0]


def multi_otsu(values: np.ndarray, classes: int = 3, bins: int = 256, hist=None) -> list[float]:
    """Thresholds maximising the between-class variance for 2 or 3 classes (exhaustive search on a
    histogram; Otsu 1979, Liao et al. 2001)."""
    if hist is None:
        hist, centres = _histogram(np.asarray(values).ravel(), bins)
    else:
        hist, centres = hist
    p = hist / hist.sum()
    w = np.concatenate([[0.0], np.cumsum(p)])
    mu = np.concatenate([[0.0], np.cumsum(p * centres)])
    total = mu[-1]

    def between(i, j):  # bins i+1 .. j (i = -1: from the first bin): m^2 / w of that class
        wk = w[np.add(j, 1)] - w[np.add(i, 1)]
        mk = mu[np.add(j, 1)] - mu[np.add(i, 1)]
        return np.where(wk > 0, mk**2 / np.where(wk > 0, wk, 1), 0.0)

    n = len(p)
    if classes == 2:
        k = np.arange(n - 1)
        score = between(-1, k) + between(k, n - 1)
        best = int(np.argmax(score))
        return [float(0.5 * (centres[best] + centres[best + 1]))]
    if classes != 3:
        raise ValueError("multi_otsu supports 2 or 3 classes")
    i, j = np.meshgrid(np.arange(n - 2), np.arange(1, n - 1), indexing="ij")
    valid = j > i
    score = between(-1, i) + between(i, j) + between(j, n - 1) - total**2
    score = np.where(valid, score, -np.inf)
    a, b = np.unravel_index(int(np.argmax(score)), score.shape)
    b = b + 1
    return [float(0.5 * (centres[a] + centres[a + 1])), float(0.5 * (centres[b] + centres[b + 1]))]


def find_thresholds(values: np.ndarray, phases: int, method: str = "otsu", manual=None) -> list[float]:
    """``phases - 1`` increasing thresholds by ``"otsu"`` (Otsu / multi-Otsu) or ``"manual"``."""
    if method == "manual":
        if manual is None or len(manual) != phases - 1:
            raise ValueError(f"manual thresholding needs {phases - 1} threshold value(s), got {manual}")
        return sorted(float(v) for v in manual)
    if method not in ("otsu", "multiotsu"):
        raise ValueError(f"threshold method must be one of ('otsu', 'multiotsu', 'manual'), got {method!r}")
    return multi_otsu(values, phases)


def apply_thresholds(image: np.ndarray, thresholds) -> np.ndarray:
    """Class index per voxel: 0 below the first threshold, 1 between, ... (darkest class = 0)."""
    return np.digitize(image, np.asarray(thresholds, dtype=np.float64)).astype(np.uint8)


def remove_small(labels: np.ndarray, min_size: int) -> tuple[np.ndarray, int]:
    """Reassign connected components (islands and holes of every phase) smaller than ``min_size``
    voxels to the nearest voxel of a kept component. Returns the cleaned labels and the number of
    voxels changed."""
    if min_size <= 1:
        return labels, 0
    small = np.zeros(labels.shape, dtype=bool)
    for code in np.unique(labels):
        comp, n = ndimage.label(labels == code)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())
        tiny = sizes < min_size
        tiny[0] = False
        small |= tiny[comp]
    if not small.any() or small.all():
        return labels, 0
    _, nearest = ndimage.distance_transform_edt(small, return_indices=True)
    out = labels[tuple(nearest)]
    return out.astype(labels.dtype), int(small.sum())
