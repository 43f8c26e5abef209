"""Segmentation cost on a large synthetic 16-bit volume: seconds and peak memory.

python benchmarks/segment.py [--size 512] [--phases 3] [--denoise median]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from scipy import ndimage

from microgen.segment import segment


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--phases", type=int, default=3)
    p.add_argument("--denoise", default="median")
    p.add_argument("--min-size", type=int, default=10)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n = args.size
    field = ndimage.gaussian_filter(rng.random((n, n, n), dtype=np.float32), 4)
    levels = np.quantile(field[:: max(1, n // 64)], [0.4, 0.9])
    truth = np.digitize(field, levels).astype(np.uint8)
    del field
    grey = np.array([20000, 30000, 40000], np.float32)[truth] + rng.normal(0, 3000, truth.shape).astype(np.float32)
    grey = grey.clip(0, 65535).astype(np.uint16)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    res = segment(grey, args.phases, denoise_method=args.denoise, min_size=args.min_size)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    acc = float(np.mean(res.labels == truth))
    print(
        f"{n}^3 uint16, {args.phases} phases, denoise {args.denoise}, min-size {args.min_size}: "
        f"{seconds:.1f} s, peak RSS {peak:.2f} GiB (input + phantom {before:.2f} GiB), accuracy {acc:.4f}"
    )


if __name__ == "__main__":
    main()
