"""Porosity sweep with a pretrained rock model: exact porosity in, measured morphology out.

    python examples/porosity_sweep.py [--model berea] [--out sweep.png] [--fast]

For porosities across the model's training range it generates images, checks the pore count is
exactly floor(porosity * voxels + 0.5), and plots measured quantities against porosity: interface
density, mean chord length of the pores and Euler density.
"""

from __future__ import annotations

import argparse

import numpy as np

import microgen
from microgen.api import exact_count
from microgen.metrics import chord_lengths, euler_density, interface_density


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="berea")
    p.add_argument("--out", default="porosity_sweep.png")
    p.add_argument("--fast", action="store_true", help="tiny run (CI)")
    args = p.parse_args()
    size, n, steps = (32, 2, 10) if args.fast else (128, 8, 100)
    lo, hi = next(m["training_range"]["pore"] for m in microgen.list_models() if m["name"] == args.model)
    porosities = np.linspace(max(lo, 0.05), min(hi, 0.45), 3 if args.fast else 7)
    rows = []
    for phi in porosities:
        imgs = microgen.generate_rock(float(phi), rock=args.model, shape=(size, size), n=n, seed=0, steps=steps)
        assert all(int(im.sum()) == exact_count(float(phi), size * size) for im in imgs)
        rows.append(
            (
                phi,
                np.mean([interface_density(im, 0, 1) for im in imgs]),
                np.mean(np.concatenate([chord_lengths(im == 1) for im in imgs])),
                np.mean([euler_density(im == 1) for im in imgs]),
            )
        )
        print(
            f"porosity {phi:.3f}: interface {rows[-1][1]:.4f}/voxel, mean pore chord {rows[-1][2]:.2f}, "
            f"Euler density {rows[-1][3]:.5f}"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = np.array(rows)
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.2), constrained_layout=True)
    for a, k, label in zip(
        ax, (1, 2, 3), ("interface density (1/voxel)", "mean pore chord (voxels)", "Euler density (1/voxel)")
    ):
        a.plot(rows[:, 0], rows[:, k], "o-")
        a.set_xlabel("porosity (exact)")
        a.set_ylabel(label)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
