"""The segmentation pipeline: grey scan -> labels in microgen's conventions, chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .steps import apply_thresholds, check_grey, denoise, find_thresholds, multi_otsu, remove_small

DENOISERS = ("nlm", "median", "gaussian", "none")
METHODS = ("otsu", "multiotsu", "manual")


@dataclass
class SegmentResult:
    labels: np.ndarray
    thresholds: list
    fractions: dict
    changed_by_cleanup: int = 0
    notes: list = field(default_factory=list)


def _class_to_label(kind: str | None, phases: int, bright_pore: bool) -> np.ndarray:
    """Map grey classes (0 = darkest) to label codes of ``kind``."""
    if kind is None:
        return np.arange(phases, dtype=np.uint8)
    if kind == "rock":
        if phases != 2:
            raise ValueError("a rock is segmented into 2 phases (pore, grain)")
        return np.array([0, 1] if bright_pore else [1, 0], dtype=np.uint8)
    if kind == "cathode":
        if phases != 3:
            raise ValueError("a cathode is segmented into 3 phases (pore, binder, active)")
        # darkest = pore (0), middle = carbon-binder domain (2), brightest = active material (1)
        return np.array([0, 2, 1], dtype=np.uint8)
    raise ValueError(f"kind must be 'rock', 'cathode' or None, got {kind!r}")


def segment(
    volume: np.ndarray,
    phases: int = 2,
    *,
    kind: str | None = None,
    denoise_method: str = "median",
    strength: float = 1.0,
    method: str = "otsu",
    thresholds=None,
    min_size: int = 0,
    bright_pore: bool = False,
    chunk: int = 16,
) -> SegmentResult:
    """Segment a grey-level 2D image or 3D volume.

    Denoising is slice-wise along axis 0 for 3D volumes (``chunk`` slices at a time, so a 512^3
    16-bit volume needs about 4 bytes per voxel for the denoised copy plus one label byte);
    thresholds come from the histogram of the whole denoised volume; small islands and holes
    (< ``min_size`` voxels, per phase, 3D connectivity) are reassigned to their nearest phase.

    Parameters
    ----------
    phases : 2 or 3
    kind : ``"rock"`` (1 = pore = darkest unless ``bright_pore``), ``"cathode"`` (0 = pore, 1 =
        active, 2 = binder, by increasing grey: pore, binder, active) or None (class indices by
        increasing grey).
    denoise_method : one of ``DENOISERS``; method : one of ``METHODS`` (``thresholds`` for manual)
    """
    if denoise_method not in DENOISERS:
        raise ValueError(f"denoise must be one of {DENOISERS}, got {denoise_method!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    volume = check_grey(volume, phases)
    mapping = _class_to_label(kind, phases, bright_pore)
    stack = volume[None] if volume.ndim == 2 else volume
    smooth = np.empty(stack.shape, dtype=np.float32)
    for start in range(0, stack.shape[0], chunk):
        for z in range(start, min(start + chunk, stack.shape[0])):
            smooth[z] = denoise(stack[z], denoise_method, strength)
    if method == "manual":
        cuts = find_thresholds(None, phases, "manual", thresholds)
    else:
        lo, hi = float(smooth.min()), float(smooth.max())
        hist = np.zeros(256)
        for start in range(0, smooth.shape[0], chunk):
            hist += np.histogram(smooth[start : start + chunk], bins=256, range=(lo, hi))[0]
        edges = np.linspace(lo, hi, 257)
        cuts = multi_otsu(None, phases, hist=(hist, 0.5 * (edges[:-1] + edges[1:])))
    labels = np.empty(stack.shape, dtype=np.uint8)
    for start in range(0, stack.shape[0], chunk):
        labels[start : start + chunk] = mapping[apply_thresholds(smooth[start : start + chunk], cuts)]
    del smooth
    labels, changed = remove_small(labels, min_size)
    labels = labels[0] if volume.ndim == 2 else labels
    fractions = {int(c): float(np.mean(labels == c)) for c in np.unique(mapping)}
    return SegmentResult(labels, [float(c) for c in cuts], fractions, changed)
