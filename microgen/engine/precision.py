"""Network arithmetic: which floating-point type the rate network runs in, on which device.

``"auto"`` picks bfloat16 where the device computes it natively (CUDA with bf16 support; CPUs with
AVX512-BF16/AMX, as oneDNN reports) and float32 elsewhere. Sampling and training share this choice;
particle counts and rates outside the network stay integer and float64/float32 respectively.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """Turn ``"auto"`` into ``"bfloat16"`` where ``device`` computes it natively, else ``"float32"``;
    check any other value against :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision != "auto":
        if precision == "float16" and device.type == "cpu":
            raise ValueError("precision 'float16' needs a CUDA device; use 'bfloat16' or 'float32' on CPU")
        return precision
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    if device.type == "cpu":
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        return "bfloat16" if native else "float32"
    return "float32"


def autocast(device: torch.device | str, precision: str):
    """Context in which the network runs at ``precision`` (a resolved value, not ``"auto"``)."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, precision))


__all__ = ["PRECISIONS", "autocast", "resolve_precision"]
