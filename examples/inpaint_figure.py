"""Figure for docs/capabilities.md: a rock image with a square hole, filled at three porosities.

    python examples/inpaint_figure.py --out docs/figures/inpaint.png [--scan SCAN.tif]

The committed figure uses a generated Berea image as the "scan" (the real scans are training data
only and are not redrawn into the docs); pass --scan with a local label file (2D, or a 3D volume
whose middle slice is used) to see the same on real data.
"""

from __future__ import annotations

import argparse

import numpy as np

import microgen
from microgen.io import colourise


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="berea")
    p.add_argument("--scan", default=None)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--hole", type=int, default=56)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if args.scan:
        from microgen.io import read_volume

        vol = read_volume(args.scan)
        scan = (vol[vol.shape[0] // 2] if vol.ndim == 3 else vol)[: args.size, : args.size].astype(np.uint8)
        source = "real scan (local)"
    else:
        scan = microgen.generate_rock(0.2, rock=args.model, shape=(args.size, args.size), seed=args.seed, device="cpu")[
            0
        ]
        source = f"generated {args.model} image standing in for a scan"
    lo = (args.size - args.hole) // 2
    mask = np.zeros(scan.shape, bool)
    mask[lo : lo + args.hole, lo : lo + args.hole] = True
    holed = colourise(scan)
    holed[mask] = (255, 60, 60)
    panels = [("scan with a hole (red)", holed)]
    used = args.model
    for porosity in (None, 0.1, 0.35):
        res = microgen.inpaint(scan, mask, model=args.model, porosity=porosity, seed=args.seed, steps=args.steps)
        pore = int((res.images[mask] == 1).sum())
        assert np.array_equal(res.images[~mask], scan[~mask])
        used = res.model or used
        what = "surrounding porosity" if porosity is None else f"porosity {porosity}"
        panels.append((f"filled, {what}:\n{pore} of {int(mask.sum())} pore voxels (exact)", colourise(res.images)))
    fig, ax = plt.subplots(1, 4, figsize=(13, 3.8), constrained_layout=True)
    for a, (title, img) in zip(ax, panels):
        a.imshow(img, interpolation="nearest")
        a.plot(
            [lo - 0.5, lo + args.hole - 0.5, lo + args.hole - 0.5, lo - 0.5, lo - 0.5],
            [lo - 0.5, lo - 0.5, lo + args.hole - 0.5, lo + args.hole - 0.5, lo - 0.5],
            "y--",
            lw=0.8,
        )
        a.set_title(title, fontsize=9)
        a.axis("off")
    fig.suptitle(f"microgen.inpaint, filled by {used}, {args.steps} steps; context: {source}", fontsize=9)
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
