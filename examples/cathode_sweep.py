"""Cathode sweep: active fraction varied at fixed binder fraction, exact counts, measured
triple-phase boundary and pore relative diffusivity (TauFactor).

    python examples/cathode_sweep.py [--model nmc] [--binder 0.1] [--fast]
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
    args = p.parse_args()
    size, n, steps = (32, 1, 10) if args.fast else (128, 4, 100)
    for active in np.linspace(0.4, 0.6, 3 if args.fast else 5):
        fr = {"active": float(active), "binder": args.binder}
        imgs = microgen.generate_cathode(fr, model=args.model, shape=(size, size), n=n, seed=0, steps=steps)
        tpb = np.mean([triple_phase_boundary_density(im) for im in imgs])
        d = [tortuosity(im, 0, axis=0) for im in imgs]
        d_rel = np.mean([r.relative_diffusivity for r in d])
        conv = all(r.converged for r in d)
        counts = [(int((im == 1).sum()), int((im == 2).sum())) for im in imgs]
        print(
            f"active {active:.3f} binder {args.binder:.3f}: counts (active, binder) {counts}, TPB density {tpb:.4f}, "
            f"pore D_eff/D0 {d_rel:.4f} ({'converged' if conv else 'NOT converged'})"
        )


if __name__ == "__main__":
    main()
