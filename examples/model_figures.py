"""Figures for docs/models.md: samples of a shipped model at mu - 2 sigma, mu and mu + 2 sigma of
the training fractions, and their two-point curves against the reference statistics stored with
the model. Real crops are NOT drawn into the committed docs (the scans are training data only);
pass --real-panel PATH to draw real crops beside generated ones into a local file for inspection.

    python examples/model_figures.py --model berea --out docs/figures/berea.png [--size 128 --steps N]

--size must be a side whose real-crop statistics the model stores (128 or 256 for the shipped
models): the two-point panel compares against them.
"""

from __future__ import annotations

import argparse

import numpy as np

import microgen
from microgen.domains import registry
from microgen.engine.smooth import format_widths
from microgen.io import colourise
from microgen.metrics import two_point_autocovariance


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="berea")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=None, help="network evaluations [default: the model's]")
    p.add_argument("--real-panel", default=None, help="local PNG with real crops beside generated (not for docs)")
    p.add_argument("--data", default=None, help="scan for --real-panel")
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    card = registry.card(args.model)
    ref = registry.reference(args.model, args.size)  # the real crops' statistics at the figure's size
    stats = card["fractions_training_crops"]
    names = list(stats)
    levels = {"mu - 2 sigma": -2, "mu": 0, "mu + 2 sigma": 2}
    fig, ax = plt.subplots(2, 4, figsize=(13, 6.5), constrained_layout=True)
    for col, (label, k) in enumerate(levels.items()):
        fr = {nm: float(np.clip(stats[nm]["mean"] + k * stats[nm]["std"], 0.01, 0.95)) for nm in names}
        imgs = microgen.generate(
            args.model, fr, shape=(args.size, args.size), n=2, seed=col, steps=args.steps, device="cpu"
        ).images
        for row in range(2):
            ax[row, col].imshow(colourise(imgs[row]), interpolation="nearest")
            ax[row, col].set_title(f"{label}: " + ", ".join(f"{n} {v:.3f}" for n, v in fr.items()), fontsize=8)
            ax[row, col].axis("off")
    # two-point curves at the reference crops' fractions vs the stored reference curves
    counts = ref["counts"][:8]
    fr_list = [{nm: c / ref["size"] ** 2 for nm, c in zip(names, cs)} for cs in counts]
    result = microgen.generate(
        args.model, fr_list, shape=(ref["size"], ref["size"]), seed=0, steps=args.steps, device="cpu"
    )
    gen = result.images
    axc = ax[0, 3]
    for phase in ref["phases"]:
        curves = np.array(ref["A"][f"two_point[{phase}]"]["values"])
        axc.plot(np.nanmean(curves, 0), "-", label=f"real, phase {phase}")
        r_max = curves.shape[1] - 1
        g = np.nanmean([two_point_autocovariance(im == phase, r_max) for im in gen], 0)
        axc.plot(g, "--", label=f"generated, phase {phase}")
    axc.set_xlabel("r (voxels)")
    axc.set_title("two-point autocovariance", fontsize=8)
    axc.legend(fontsize=7)
    ax[1, 3].axis("off")
    ax[1, 3].text(
        0,
        0.5,
        f"{card['name']}: {card['training']['steps']} training steps\n{result.evaluations} network evaluations,\n"
        + result.sampler.split(",")[0].split("(")[0]
        + f", {result.sampler.rsplit(', ', 1)[-1]}, polish {result.polish}"
        + (f",\nsmoothing width {format_widths(result.smooth)}" if any(result.smooth) else ""),
        fontsize=9,
    )
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")
    if args.real_panel and args.data:
        from microgen.io import read_volume
        from microgen.metrics import random_crops

        crops = random_crops(read_volume(args.data), 4, args.size, np.random.default_rng(0))
        fr_list = [{nm: float(np.mean(c == code)) for nm, code in zip(names, ref["phases"])} for c in crops]
        gen = microgen.generate(
            args.model, fr_list, shape=(args.size, args.size), seed=0, steps=args.steps, device="cpu"
        ).images
        fig, ax = plt.subplots(2, 4, figsize=(12, 6), constrained_layout=True)
        for i in range(4):
            ax[0, i].imshow(colourise(crops[i]))
            ax[1, i].imshow(colourise(gen[i]))
            ax[0, i].set_title("real")
            ax[1, i].set_title("generated, same fractions")
        for a in ax.ravel():
            a.axis("off")
        fig.savefig(args.real_panel, dpi=70)
        print(f"wrote {args.real_panel} (local only: contains training data)")


if __name__ == "__main__":
    main()
