"""Cost of validation: per-metric timing on 32 images of 256² and the whole `microgen.validate`.

    python benchmarks/metrics.py [--n 32] [--size 256] [--reference VOLUME.tif]

Without --reference, a synthetic 3-phase volume stands in for the real one.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

import microgen
from microgen.metrics import morphology as mo
from microgen.metrics import transport as tr


def _synthetic(shape, seed):
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.random(shape, dtype=np.float32), 3)
    g = ndimage.gaussian_filter(rng.random(shape, dtype=np.float32), 2)
    out = np.zeros(shape, np.uint8)
    out[f > np.quantile(f, 0.6)] = 1  # 40 % "active", ~10 % "binder", ~50 % connected pore
    out[(out == 0) & (g > np.quantile(g, 0.83))] = 2
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--reference", default=None)
    args = p.parse_args()
    images = [_synthetic((args.size, args.size), s) for s in range(args.n)]
    timers = {
        "two_point (radial)": lambda im: mo.two_point_autocovariance(im == 1, args.size // 4),
        "chord_lengths": lambda im: mo.chord_lengths(im == 1),
        "local_thickness": lambda im: mo.local_thickness(im == 1),
        "interface_density": lambda im: mo.interface_density(im, 0, 1),
        "euler_density": lambda im: mo.euler_density(im == 1),
        "triple_phase_boundary": lambda im: tr.triple_phase_boundary_density(im),
        "tortuosity (direct, 2D)": lambda im: tr.tortuosity(im, 0, axis=0),
        "tortuosity (TauFactor)": lambda im: tr.tortuosity(im, 0, axis=0, solver="taufactor"),
    }
    solved = sum(tr.tortuosity(im, 0, axis=0).percolates for im in images)
    print(f"pore phase percolates (TauFactor solve needed) in {solved} of {args.n} images")
    print(f"{args.n} images of {args.size}^2, 3 phases; seconds for all images, one phase")
    for name, fn in timers.items():
        start = time.perf_counter()
        for im in images:
            fn(im)
        print(f"  {name:24s} {time.perf_counter() - start:7.2f} s")
    reference = args.reference or _synthetic((8, args.size * 2, args.size * 2), 99)
    start = time.perf_counter()
    report = microgen.validate(np.stack(images), reference, transport=True, n_reference=args.n)
    print(
        f"microgen.validate with tortuosity: {time.perf_counter() - start:.1f} s for {args.n} generated + "
        f"2 x {args.n} reference images ({len(report.rows)} metrics)"
    )


if __name__ == "__main__":
    main()
