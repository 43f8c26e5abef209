"""Cathode sweep: active fraction varied at fixed binder fraction, exact counts, measured
triple-phase boundary and pore relative diffusivity (TauFactor).

    python examples/cathode_sweep.py [--model nmc] [--binder 0.1] [--fast] [--figure docs/figures/nmc_sweep.png]

With --figure, the first sample of every active fraction is drawn in a row (pore, active and
binder in distinct colours).
"""

from __future__ import annotations

import argparse

import numpy as np

import microgen
from microgen.metrics import tortuosity, triple_phase_boundary_density


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="nmc")
    p.add_argument("--binder", type=float, default=0.1)
    p.add_argument("--fast", action="store_true")
    p.add_argument("--figure", default=None, help="PNG with one sample per active fraction")
    args = p.parse_args()
    panels = []
    size, n, steps = (32, 1, 10) if args.fast else (128, 4, 100)
    for active in np.linspace(0.4, 0.6, 3 if args.fast else 5):
        fr = {"active": float(active), "binder": args.binder}
        imgs = microgen.generate_cathode(fr, model=args.model, shape=(size, size), n=n, seed=0, steps=steps)
        tpb = np.mean([triple_phase_boundary_density(im) for im in imgs])
        d = [tortuosity(im, 0, axis=0) for im in imgs]
        d_rel = np.mean([r.relative_diffusivity for r in d])
        conv = all(r.converged for r in d)
        counts = [(int((im == 1).sum()), int((im == 2).sum())) for im in imgs]
        panels.append((fr, imgs[0], tpb, d_rel))
        print(
            f"active {active:.3f} binder {args.binder:.3f}: counts (active, binder) {counts}, TPB density {tpb:.4f}, "
            f"pore D_eff/D0 {d_rel:.4f} ({'converged' if conv else 'NOT converged'})"
        )
    if args.figure:
        _figure(panels, args.figure)


def _figure(panels, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from microgen.io import colourise

    fig, ax = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), constrained_layout=True)
    for a, (fr, im, tpb, d_rel) in zip(np.atleast_1d(ax), panels):
        a.imshow(colourise(im), interpolation="nearest")
        a.set_title(
            f"active {fr['active']:.2f}, binder {fr['binder']:.2f}\nTPB {tpb:.3f}, pore D/D0 {d_rel:.3f}", fontsize=8
        )
        a.axis("off")
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
