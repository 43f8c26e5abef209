"""Fidelity versus network evaluations: the paper's binomial rule against Poisson and trapezoidal leaping.

    python benchmarks/sampler.py --model pretrained/berea --data ../shared/data/berea/berea_train.tif \
        [--size 32] [--n 16] [--eps 0.05 0.1 0.2] [--poisson 10 20 50 100 200] \
        [--trapezoidal 20 40 60 100 200] [--tail 0 20] [--multistep 50 100] [--seeds 0 1 2 3] \
        [--precision float32] [--polish 0 2] [--islands 0 8] \
        [--json runs/study.json] [--include other.json ...] [--figure docs/figures/sampler.png]

Every sampler runs on the same model and the same per-image porosities (those of held-out crops of
the scan, drawn once with --reference-seed), once per generator seed. For each run it prints
network evaluations per sample, seconds per sample, the share of particles moved by collision
resolution, and the fidelity ratio (distance to held-out crops / natural spread between two real
sets) of every metric of microgen.metrics; then, per sampler, the mean and standard deviation of
each ratio over the seeds. Budgets are network evaluations per sample (trapezoidal: two per step).
With --polish 0 2, every sample is scored raw and after 2 sweeps of microgen.engine.polish (the
same samples; the polished rows are labelled "+ polish 2"); --islands 0 8 adds each polish level
with islands of up to 8 voxels dissolved ("+ islands 8", microgen.engine.islands).

With --json, results are written after every run and runs already in the file are skipped, so an
interrupted study resumes; --include adds other result files (read only) to the summary and figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from microgen.domains import get_kind
from microgen.engine import (
    BinomialTauLeaping,
    DSDModel,
    MultistepLeaping,
    PoissonLeaping,
    TrapezoidalLeaping,
    sample,
)
from microgen.engine.sampler import format_sharpness
from microgen.io import read_volume
from microgen.metrics import describe, fidelity_table, reference_sets
from microgen.training.calibrate import finishes as finish_images
from microgen.training.data import split_holdout

FAMILIES = {"Binomial": ("s", ":"), "Poisson": ("o", "--"), "Trapezoidal": ("D", "-"), "Multistep": ("^", "-.")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--eps", type=float, nargs="*", default=[0.05, 0.1, 0.2])
    p.add_argument("--poisson", type=int, nargs="*", default=[10, 20, 50, 100, 200])
    p.add_argument("--trapezoidal", type=int, nargs="*", default=[20, 40, 60, 100, 200])
    p.add_argument("--multistep", type=int, nargs="*", default=[], help="budgets of the multistep rule")
    p.add_argument(
        "--tail",
        type=int,
        nargs="*",
        default=[0],
        help="one-hop tails to run each trapezoidal budget with (0: none; budget + tail even)",
    )
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--reference-seed", type=int, default=0)
    p.add_argument("--precision", default="float32")
    p.add_argument("--polish", type=int, nargs="*", default=[0], help="polish sweeps to score (0: raw output)")
    p.add_argument(
        "--islands", type=int, nargs="*", default=[0], help="island sizes dissolved after each polish (0: none)"
    )
    p.add_argument(
        "--grids",
        nargs="*",
        default=["log:1"],
        help="time grids KIND:POWER of the Poisson and trapezoidal rules (log:1 is the default grid)",
    )
    p.add_argument(
        "--sharpness",
        type=float,
        nargs="*",
        default=[],
        help="sharpness values to run (default: the model's calibrated one); each labels its rows",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", default=None, help="results file: written after every run, finished runs skipped")
    p.add_argument("--include", nargs="*", default=[], help="more result files for the summary and figure")
    p.add_argument("--figure", default=None, help="write the fidelity-vs-evaluations figure (PNG)")
    p.add_argument("--markdown", action="store_true", help="also print the summary as Markdown table rows")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = DSDModel.load(args.model)
    kind = get_kind(model.meta.get("kind", "rock"))
    phases = list(kind.particle_labels)
    train, held = split_holdout(read_volume(args.data), 0.2)
    rng = np.random.default_rng(args.reference_seed)
    real, other = reference_sets(held, train, args.n, args.size, phases, rng)
    ref_a, ref_b = describe(real, phases), describe(other, phases)
    totals = [[int((im == c).sum()) for c in phases] for im in real]
    grids = [(kind_, float(power)) for kind_, power in (g.split(":") for g in args.grids)]
    odd = [(s, k) for s in args.trapezoidal for k in args.tail if (s + k) % 2 or not 0 <= k < s]
    if odd:
        raise SystemExit(f"each trapezoidal budget + tail must be even, with 0 <= tail < budget; got {odd}")
    rules = (
        [BinomialTauLeaping(e) for e in args.eps]
        + [PoissonLeaping(s, power=w, grid=g) for s in args.poisson for g, w in grids]
        + [
            TrapezoidalLeaping((s + k) // 2, power=w, grid=g, tail=k)
            for s in args.trapezoidal
            for k in args.tail
            for g, w in grids
        ]
        + [MultistepLeaping(s, power=w, grid=g) for s in args.multistep for g, w in grids]
    )
    path = Path(args.json) if args.json else None
    results = json.loads(path.read_text()) if path and path.is_file() else []
    print(
        f"model {args.model} (r = {model.r}, calibrated sharpness {format_sharpness(model.sharpness)}), "
        f"{args.n} images of "
        f"{args.size}^2, precision {args.precision}, "
        f"threads {torch.get_num_threads()}",
        flush=True,
    )
    for rule, sharpness in [(rule, s) for rule in rules for s in (args.sharpness or [None])]:
        label = repr(rule) + ("" if sharpness is None else f" sharpness {sharpness:g}")
        for seed in args.seeds:
            finishes = [(k, i) for k in args.polish for i in args.islands]
            names = [label + (f" + polish {k}" if k else "") + (f" + islands {i}" if i else "") for k, i in finishes]
            done = {(r["sampler"], r.get("seed", 0)) for r in results}
            if all((name, seed) in done for name in names):
                continue
            start = time.perf_counter()
            res = sample(
                model,
                totals,
                (args.size, args.size),
                sampler=rule,
                precision=args.precision,
                generator=torch.Generator(device=model.device).manual_seed(seed),
                sharpness=sharpness,
            )
            seconds = time.perf_counter() - start
            raw = kind.to_labels(res.labels)
            finished = finish_images(list(raw), phases, args.polish, args.islands, model.process.boundary, 0)
            for (sweeps, size), name, (_, images) in zip(finishes, names, finished):  # the same order
                rows = fidelity_table(images, ref_a, ref_b, phases)
                rec = {
                    "sampler": name,
                    "seed": seed,
                    "precision": args.precision,
                    "polish": sweeps,
                    "islands": size,
                    "sharpness": model.sharpness if sharpness is None else sharpness,
                    "evaluations": res.evaluations,
                    "seconds_per_sample": seconds / args.n,
                    "moved_fraction": float(res.moved.sum() / max(1, np.sum(totals))),
                    "ratios": {r["metric"]: r["ratio"] for r in rows if not r["metric"].startswith("fraction")},
                }
                results.append(rec)
                _print_run(rec)
            if path:
                path.write_text(json.dumps(results, indent=2))
    for extra in args.include:
        seen = {(r["sampler"], r.get("seed", 0)) for r in results}
        results += [r for r in json.loads(Path(extra).read_text()) if (r["sampler"], r.get("seed", 0)) not in seen]
    summary = _summarise(results)
    print("\nper sampler, mean ± sd of the ratio over seeds:")
    for row in summary:
        print(
            f"{row['sampler']:60s} evals {row['evaluations']:6d}  seeds {row['seeds']}  "
            f"{row['seconds_per_sample']:7.2f} s/sample  moved {100 * row['moved_fraction']:5.2f} %  "
            f"worst {max(m for m, _ in row['ratios'].values()):5.2f}  "
            + " ".join(f"{k}={m:.2f}±{s:.2f}" for k, (m, s) in row["ratios"].items())
        )
    if args.markdown:
        print()
        for row in summary:
            cells = [f"{m:.2f} ± {sd:.2f}" if row["seeds"] > 1 else f"{m:.2f}" for m, sd in row["ratios"].values()]
            print(
                f"| {row['sampler'].split('(')[0]} {_budget(row['sampler'])}{_finish(row['sampler'])}"
                + f" | {row['evaluations']:,} | "
                f"{row['seconds_per_sample']:.2f} | {100 * row['moved_fraction']:.1f} % | " + " | ".join(cells) + " |"
            )
    if args.figure:
        _figure(summary, args.figure)


def _finish(name: str) -> str:
    """What was done after sampling, as named in a row: ``" + polish 2 + islands 8"`` or ``""``."""
    return name[name.index(" + ") :] if " + " in name else ""


def _budget(name: str) -> str:
    """The defining argument of a step rule's repr, e.g. ``eps=0.1`` or ``steps=50``, with its time
    grid where it is not the default log grid of power 1."""
    name = name.split(" + ")[0]
    args = dict(a.split("=") for a in name.split("(")[1].split(")")[0].split(", "))
    budget = name.split("(")[1].split(",")[0].rstrip(")")
    if "tail" in args:
        budget += f", tail={args['tail']}"
    grid = (args.get("grid", "'log'").strip("'"), args.get("power", "1.0"))
    return budget if grid == ("log", "1.0") else f"{budget} ({grid[0]} grid, power {grid[1]})"


def _print_run(rec: dict) -> None:
    print(
        f"{rec['sampler']:60s} seed {rec['seed']}  evals {rec['evaluations']:6d}  "
        f"{rec['seconds_per_sample']:7.2f} s/sample  moved {100 * rec['moved_fraction']:5.2f} %  "
        f"worst {max(rec['ratios'].values()):5.2f}  " + " ".join(f"{k}={v:.2f}" for k, v in rec["ratios"].items()),
        flush=True,
    )


def _summarise(results: list[dict]) -> list[dict]:
    """One row per sampler: mean and sd of every ratio over its seeds."""
    out = []
    for name in dict.fromkeys(r["sampler"] for r in results):
        runs = [r for r in results if r["sampler"] == name]
        metrics = [k for k in runs[0]["ratios"] if not k.startswith("fraction")]
        out.append(
            {
                "sampler": name,
                "seeds": len(runs),
                "evaluations": int(np.mean([r["evaluations"] for r in runs])),
                "seconds_per_sample": float(np.mean([r["seconds_per_sample"] for r in runs])),
                "moved_fraction": float(np.mean([r["moved_fraction"] for r in runs])),
                "ratios": {
                    k: (float(np.mean([r["ratios"][k] for r in runs])), float(np.std([r["ratios"][k] for r in runs])))
                    for k in metrics
                },
            }
        )
    return sorted(out, key=lambda row: (row["sampler"].split("(")[0], _finish(row["sampler"]), row["evaluations"]))


def _figure(summary: list[dict], filename: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(summary[0]["ratios"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.1 * len(metrics), 3.2), constrained_layout=True, sharey=True)
    levels = sorted({_finish(r["sampler"]) for r in summary})
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        for (family, (marker, style)), level in ((f, lv) for f in FAMILIES.items() for lv in levels):
            rows = [r for r in summary if r["sampler"].startswith(family) and _finish(r["sampler"]) == level]
            if rows:
                ax.errorbar(
                    [r["evaluations"] for r in rows],
                    [r["ratios"][metric][0] for r in rows],
                    yerr=[r["ratios"][metric][1] for r in rows],
                    marker=marker,
                    ls=style,
                    capsize=2,
                    label=family + level,
                    mfc="none" if level else None,
                )
        ax.set_xscale("log")
        ax.axhline(1.5, color="k", lw=0.6)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("network evaluations / sample")
    np.atleast_1d(axes)[0].set_ylabel("distance / natural spread")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.savefig(filename, dpi=90)


if __name__ == "__main__":
    main()
