"""Fidelity versus network evaluations: the paper's binomial rule against Poisson leaping.

    python benchmarks/sampler.py --model runs/berea --data ../shared/data/berea/berea_train.tif \
        [--size 64] [--n 16] [--eps 0.05 0.1 0.2] [--steps 10 20 50 100 200] [--figure docs/figures/sampler.png]

Every sampler runs on the same model, the same seed and the same per-image porosities (those of
held-out crops of the scan). For each it prints network evaluations per sample, seconds per
sample, the share of particles moved by collision resolution, and the fidelity ratio
(distance to held-out crops / natural spread) of every metric of microgen.metrics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from microgen.domains import get_kind
from microgen.engine import BinomialTauLeaping, DSDModel, PoissonLeaping, sample
from microgen.io import read_volume
from microgen.metrics import describe, fidelity_table, reference_sets
from microgen.training.data import split_holdout


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--eps", type=float, nargs="*", default=[0.05, 0.1, 0.2])
    p.add_argument("--steps", type=int, nargs="*", default=[10, 20, 50, 100, 200])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--json",
        default=None,
        help="write the results as JSON after every sampler; samplers already in the file are not run again",
    )
    p.add_argument("--figure", default=None, help="write the fidelity-vs-evaluations figure (PNG)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = DSDModel.load(args.model)
    kind = get_kind(model.meta.get("kind", "rock"))
    phases = list(kind.particle_labels)
    train, held = split_holdout(read_volume(args.data), 0.2)
    rng = np.random.default_rng(args.seed)
    real, other = reference_sets(held, train, args.n, args.size, phases, rng)
    ref_a, ref_b = describe(real, phases), describe(other, phases)
    totals = [[int((im == c).sum()) for c in phases] for im in real]
    rules = [BinomialTauLeaping(e) for e in args.eps] + [PoissonLeaping(s) for s in args.steps]
    done = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).is_file() else []
    results = list(done)
    print(f"model {args.model} (r = {model.r}), {args.n} images of {args.size}^2, threads {torch.get_num_threads()}")
    for rule in rules:
        if any(r["sampler"] == repr(rule) for r in results):
            _print(next(r for r in results if r["sampler"] == repr(rule)))
            continue
        start = time.perf_counter()
        res = sample(
            model, totals, (args.size, args.size), sampler=rule, generator=torch.Generator().manual_seed(args.seed)
        )
        seconds = time.perf_counter() - start
        images = kind.to_labels(res.labels)
        rows = fidelity_table(list(images), ref_a, ref_b, phases)
        rec = {
            "sampler": repr(rule),
            "evaluations": res.evaluations,
            "seconds_per_sample": seconds / args.n,
            "moved_fraction": float(res.moved.sum() / max(1, np.sum(totals))),
            "ratios": {r["metric"]: r["ratio"] for r in rows},
        }
        results.append(rec)
        _print(rec)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
        metrics = [k for k in results[0]["ratios"] if not k.startswith("fraction")]
        for family, marker in (("Binomial", "s"), ("Poisson", "o")):
            sel = [r for r in results if r["sampler"].startswith(family)]
            if not sel:
                continue
            for m in metrics:
                ax.plot(
                    [r["evaluations"] for r in sel],
                    [r["ratios"][m] for r in sel],
                    marker=marker,
                    label=f"{family}: {m}",
                    ls="-" if family == "Poisson" else ":",
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(1.5, color="k", lw=0.8)
        ax.set_xlabel("network evaluations per sample")
        ax.set_ylabel("distance / natural spread")
        ax.legend(fontsize=6, ncol=2)
        fig.savefig(args.figure, dpi=90)


def _print(rec: dict) -> None:
    worst = max(v for k, v in rec["ratios"].items() if not k.startswith("fraction"))
    print(
        f"{rec['sampler']:52s} evals {rec['evaluations']:6d}  {rec['seconds_per_sample']:7.2f} s/sample  "
        f"moved {100 * rec['moved_fraction']:5.2f} %  worst ratio {worst:6.2f}  "
        + " ".join(f"{k}={v:.2f}" for k, v in rec["ratios"].items() if not k.startswith("fraction")),
        flush=True,
    )


if __name__ == "__main__":
    main()
