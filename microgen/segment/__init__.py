"""Grey-level CT -> label images: denoising, thresholding, clean-up, label conventions."""

from .pipeline import DENOISERS, METHODS, SegmentResult, segment
from .steps import apply_thresholds, check_grey, denoise, find_thresholds, multi_otsu, otsu, remove_small

__all__ = [
    "DENOISERS",
    "METHODS",
    "SegmentResult",
    "apply_thresholds",
    "check_grey",
    "denoise",
    "find_thresholds",
    "multi_otsu",
    "otsu",
    "remove_small",
    "segment",
]
