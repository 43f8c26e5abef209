"""How much a card's fidelity ratios depend on which held-out crops were drawn.

    python benchmarks/reference_draws.py --model berea --data ../shared/data/berea/berea_train.tif
        [--size 256] [--n 32] [--draws 8] [--seed 0] [--holdout 0.2] [--steps N] [--sharpness S]
        [--offsets model|stride|cells] [--sampler binomial --eps 0.1] [--restart T_LOW,T_HIGH[,REPEATS]]
        [--json OUT.json] [--against RUN.json ...]
    python benchmarks/reference_draws.py --real --data ../shared/data/ketton/ketton_train.tif [--kind rock]
    python benchmarks/reference_draws.py --blobs --data ../shared/data/berea/berea_train.tif [--json OUT.json]

Generates --n images once, as the export's protocol does (the model's sampling defaults, at the
phase counts of the first draw of held-out crops, which is the draw `microgen export` makes with
the same seed), then scores that one generated set against --draws independent draws of --n
held-out crops (set A) and --n training crops (set B, the natural spread), the draws `microgen
export --protocol` makes (`reference_rng`; without the relative diffusivity). Prints every draw's
ratios (distance / natural spread), the first draw's generated and real summaries (correlation
length, mean length or mean: which way the generated set is off) and, per metric, the median and
range over the draws: the part of a card's figure that comes from the reference draw alone, not
from the model. --offsets stride samples with every offset of the network's stride cell in turn
(as models exported since session 21 do), cells with the stride grid held still (a patch
network's cell offsets only, as models exported before), model (default) as the model says
(``DSDModel.stride_offsets``). --sampler picks the step rule (default: the model's, trapezoidal
leaping at --steps evaluations); ``--sampler binomial --eps 0.1`` is the paper's rule (Algorithm 2,
its evaluation count set by the rates), the reference of issue 9's "within 1.1x" target.
--restart wraps the (grid) rule in ``RestartLeaping``: --steps is then the base rule's budget and
the retraced steps come on top (the run prints the total). --json
writes the run's figures (evaluations, seconds, per-draw ratios, medians); --against prints, per
metric, this run's median over the medians of each earlier run's file (same --size, --n, --draws
and --seed, so the same reference draws and counts; --generation-seed changes the generated set
alone): the ratio the 1.1x target is about.

--real scores real crops instead of a model's images: --n training-block crops, drawn from their
own stream and matched one-to-one in phase fractions to the first draw's held-out crops (as the
generated images are matched in counts). They stand for a generator that had learnt the training
block exactly, so their ratios are the floor that training on this block can reach under the
protocol: near 1 where the held-out block is like the training block, higher where it differs.

--blobs scores issue 4's baseline instead: Gaussian blobs (porespy's recipe) at the first draw's
pore counts, blobiness tuned on training crops, against the same --draws (two-phase scans); its
--json can stand beside a model run's (--against prints the model's medians over the blobs').
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import microgen
from microgen.domains import get_kind
from microgen.engine import sample
from microgen.engine.precision import resolve_precision
from microgen.engine.sampler import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    RestartLeaping,
    check_sharpness,
    format_sharpness,
    make_sampler,
    model_sampler,
)
from microgen.engine.smooth import check_widths, parse_widths
from microgen.io import read_volume
from microgen.metrics.baselines import tuned_blobs
from microgen.metrics.fidelity import (
    describe,
    descriptors_from_json,
    fidelity_table,
    held_axes,
    match_by_fraction,
    random_crops,
)
from microgen.training.calibrate import finishes
from microgen.training.data import split_holdout
from microgen.training.export import reference_rng, reference_statistics


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="berea", help="pretrained name or model directory")
    p.add_argument("--data", required=True, help="the model's training scan (label volume)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--n", type=int, default=32, help="generated images and crops per reference set")
    p.add_argument("--draws", type=int, default=8, help="independent reference draws")
    p.add_argument("--seed", type=int, default=0, help="seed of the reference draws (and of generation)")
    p.add_argument(
        "--generation-seed",
        type=int,
        default=None,
        help="seed of the generated set alone [--seed]: other images scored against the same draws",
    )
    p.add_argument("--steps", type=int, default=None, help="network evaluations per sample [the model's]")
    p.add_argument("--holdout", type=float, default=0.2)
    p.add_argument("--sharpness", default=None, help="rate exponent, or one per phase (1.15/1) [the model's]")
    p.add_argument("--offsets", choices=("model", "stride", "cells"), default="model", help="grid offsets per step")
    p.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER, help="step rule [%(default)s]")
    p.add_argument("--eps", type=float, default=0.1, help="with --sampler binomial: the CFL number [0.1]")
    p.add_argument(
        "--tail",
        type=int,
        default=None,
        help="with the trapezoidal rule: one-hop steps at the end, one evaluation each [the model's]",
    )
    p.add_argument(
        "--restart",
        default=None,
        help="T_LOW,T_HIGH[,REPEATS]: restart the grid rule between these times (RestartLeaping) [off]",
    )
    p.add_argument(
        "--finish",
        nargs=4,
        default=None,
        metavar=("POLISH", "ISLANDS", "HOLES", "SMOOTH"),
        help="the clean-up instead of the model's: polish sweeps, island and hole sizes, smoothing width(s) "
        "(0 0 8 0.7; SMOOTH may be 1/0 for a cathode) [the model's]",
    )
    p.add_argument("--save-raw", default=None, help="also save the unfinished sampled images (.npz) for --from-raw")
    p.add_argument(
        "--from-raw",
        default=None,
        help="score the images a --save-raw run sampled (same --model, --size, --n, --seed) instead of sampling: "
        "another --finish of the same sampler output, at no network cost",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads [torch's choice]")
    p.add_argument("--json", default=None, help="write this run's figures to this file")
    p.add_argument("--against", nargs="*", default=[], help="earlier --json files: print median over median")
    p.add_argument("--real", action="store_true", help="score fraction-matched training crops, not a model's images")
    p.add_argument(
        "--blobs",
        action="store_true",
        help="score issue 4's baseline (Gaussian blobs, blobiness tuned on training crops), not a model's images",
    )
    p.add_argument("--kind", default="rock", help="with --real or --blobs: the scan's kind (rock, cathode)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.real and args.blobs:
        raise SystemExit("--real and --blobs score different stand-ins; give one")
    if args.real:
        real_floor(args)
        return
    if args.blobs:
        blobs_baseline(args)
        return
    sampling = {
        "--sampler": args.sampler != DEFAULT_SAMPLER,
        "--steps": args.steps is not None,
        "--sharpness": args.sharpness is not None,
        "--restart": bool(args.restart),
        "--tail": args.tail is not None,
        "--offsets": args.offsets != "model",
        "--save-raw": bool(args.save_raw),
    }
    given = [name for name, on in sampling.items() if on]
    if args.from_raw and given:
        raise SystemExit(f"--from-raw scores images already sampled; {', '.join(given)} would not apply")
    earlier = earlier_runs(args)  # before the sampling, which may take hours
    model = microgen.load_model(args.model)
    sharpness = model.sharpness if args.sharpness is None else check_sharpness(args.sharpness, model.channels)
    steps = model.sampling_steps if args.steps is None else args.steps
    gen_seed = args.seed if args.generation_seed is None else args.generation_seed
    kind = get_kind(model.meta["kind"])
    phases = list(kind.particle_labels)
    train, held = split_holdout(read_volume(args.data), args.holdout)
    draw = reference_draws(train, held, phases, args)
    first = draw(0)
    polish, islands, holes, smooth = finish_of(args, model)
    if args.from_raw:
        raw, rule, evaluations, seconds, sharpness = load_raw(args, gen_seed, first["counts"][: args.n], phases)
    else:
        step_rule = rule_of(args, steps, model)
        start = time.perf_counter()
        res = sample(
            model,
            first["counts"][: args.n],
            (args.size, args.size),
            sampler=step_rule,
            precision=resolve_precision("auto", model.device),
            generator=torch.Generator(device=model.device).manual_seed(gen_seed),
            sharpness=sharpness,
            offsets={"model": "auto", "cells": "fixed"}.get(args.offsets, args.offsets),  # the engine's names
        )
        seconds = time.perf_counter() - start
        raw, evaluations = kind.to_labels(res.labels), res.evaluations
        rule = f"the paper's rule, eps {args.eps:g}" if args.sampler == "binomial" else args.sampler
        if getattr(step_rule, "tail", 0):
            rule += f" with a one-hop tail of {step_rule.tail}"
        if args.restart:
            rule += f" with restarts {args.restart}"
        if args.save_raw:
            save_raw(args, gen_seed, raw, rule, evaluations, seconds, sharpness)
    finish = ([polish], [islands], model.process.boundary, gen_seed)
    _, gen = next(finishes(list(raw), phases, *finish, hole_grid=[holes], kind=kind, smooth_grid=[smooth]))
    print(
        f"model {args.model}: {args.n} generated {args.size}² images in {seconds:.0f} s on "
        f"{torch.get_num_threads()} thread(s) ({rule}, {evaluations} evaluations, sharpness "
        f"{format_sharpness(sharpness)}, polish {polish}, islands {islands}, holes {holes}, "
        f"smoothing {list(smooth)}){' (read from ' + args.from_raw + ')' if args.from_raw else ''}; "
        f"{args.draws} draws of {args.n} held-out and {args.n} training crops"
    )
    table = score_draws(describe(gen, phases), first, draw, phases, args)
    run = {
        "model": args.model,
        "sampler": rule,
        "finish": {"polish": polish, "islands": islands, "holes": holes, "smooth": list(smooth)},
        "sharpness": format_sharpness(sharpness),
        "evaluations": evaluations,
        "seconds_per_sample": seconds / args.n,
        "threads": torch.get_num_threads(),
    }
    record(args, run, gen_seed, table, earlier)


def record(args, run: dict, gen_seed: int, table: dict, earlier: dict) -> None:
    """Complete ``run`` with the draws it was scored on and its ratios, write it to ``--json`` and
    print its medians over those of the ``--against`` runs."""
    run.update(
        size=args.size,
        n=args.n,
        draws=args.draws,
        seed=args.seed,
        generation_seed=gen_seed,
        ratios=table,
        medians={k: float(np.median(v)) for k, v in table.items()},
    )
    if args.json:
        Path(args.json).write_text(json.dumps(run, indent=1))
    for name, other in earlier.items():
        compare_runs(run, other, name)


def finish_of(args, model) -> tuple[int, int, int, tuple[float, ...]]:
    """The clean-up to apply: ``--finish``'s polish sweeps, island and hole sizes and smoothing
    widths, or the model's own."""
    if args.finish is None:
        return model.polish_sweeps, model.islands, model.holes, tuple(model.smooth)
    polish, islands, holes, smooth = args.finish
    try:
        counts = [int(v) for v in (polish, islands, holes)]
        widths = check_widths(parse_widths(smooth), model.channels)
    except ValueError as err:
        message = f"--finish takes POLISH ISLANDS HOLES SMOOTH (whole numbers >= 0, then widths): {err}"
        raise SystemExit(message) from None
    if min(counts) < 0:
        raise SystemExit(f"--finish: polish, islands and holes must be >= 0, got {counts}")
    return (*counts, widths)


def save_raw(args, gen_seed: int, raw, rule: str, evaluations: int, seconds: float, sharpness) -> None:
    """Keep the unfinished images of this run, with what made them, for ``--from-raw``."""
    meta = {
        "model": args.model,
        "size": args.size,
        "n": args.n,
        "seed": args.seed,
        "generation_seed": gen_seed,
        "rule": rule,
        "evaluations": int(evaluations),
        "seconds": seconds,
        "sharpness": format_sharpness(sharpness),
    }
    np.savez_compressed(args.save_raw, labels=np.asarray(raw, dtype=np.uint8), meta=json.dumps(meta))


def load_raw(args, gen_seed: int, counts, phases):
    """``(raw images, rule, evaluations, seconds, sharpness)`` of a ``--save-raw`` file; refuses one
    sampled for other arguments or at other counts than this run's first reference draw."""
    with np.load(args.from_raw) as f:
        raw, meta = f["labels"], json.loads(str(f["meta"]))
    want = {"model": args.model, "size": args.size, "n": args.n, "seed": args.seed, "generation_seed": gen_seed}
    if any(meta[k] != v for k, v in want.items()):
        raise SystemExit(f"{args.from_raw} was sampled for {meta}, not for {want}")
    if [[int((im == p).sum()) for p in phases] for im in raw] != [list(c) for c in counts]:
        raise SystemExit(f"{args.from_raw} does not hold the counts of this run's first reference draw")
    return list(raw), meta["rule"], meta["evaluations"], meta["seconds"], check_sharpness(meta["sharpness"])


def rule_of(args, steps: int, model):
    """The step rule the arguments name (``--tail`` or else the model's one-hop tail for the
    trapezoidal rule), wrapped in :class:`RestartLeaping` with ``--restart``."""
    try:
        if args.tail is None:
            rule = model_sampler(model, args.sampler, steps, args.eps)
        else:
            rule = make_sampler(args.sampler, steps, eps=args.eps, tail=args.tail)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    if not args.restart:
        return rule
    low, high, *repeats = args.restart.split(",")
    if len(repeats) > 1:
        raise SystemExit(f"--restart takes T_LOW,T_HIGH[,REPEATS], got {args.restart!r}")
    return RestartLeaping(rule, float(low), float(high), int(repeats[0]) if repeats else 1)


def earlier_runs(args) -> dict[str, dict]:
    """The ``--against`` runs by file name, each checked to be scored on this run's draws."""
    earlier = {name: json.loads(Path(name).read_text()) for name in args.against}
    for name, other in earlier.items():
        check_same_draws(args, other, name)
    return earlier


def check_same_draws(args, other: dict, name: str) -> None:
    """Refuse an earlier run that was scored on other reference draws than these ``args`` make."""
    same = ("size", "n", "draws", "seed")
    if any(getattr(args, k) != other[k] for k in same):
        raise SystemExit(f"{name} was scored on other reference draws ({', '.join(f'{k} {other[k]}' for k in same)})")


def compare_runs(run: dict, other: dict, name: str) -> None:
    """Print, per metric, ``run``'s median ratio over ``other``'s (both against the same draws)."""
    print(f"\nagainst {name} ({other['sampler']}, {other['evaluations']} evaluations): median / its median")
    for metric, median in run["medians"].items():
        theirs = other["medians"][metric]
        print(f"{metric:22s} {median:6.2f} / {theirs:6.2f} = {median / theirs:5.2f}")


def real_floor(args) -> None:
    """Score training crops matched to the first draw's held-out crops, as if a model made them."""
    kind = get_kind(args.kind)
    phases = list(kind.particle_labels)
    train, held = split_holdout(read_volume(args.data), args.holdout)
    draw = reference_draws(train, held, phases, args)
    first = draw(0)
    rng = np.random.default_rng([args.seed, args.size, 10**6])  # a stream no reference draw uses
    a0 = random_crops(held, args.n, args.size, reference_rng(args.seed, args.size, 0))  # draw 0's set A
    if [[int((im == p).sum()) for p in phases] for im in a0] != first["counts"]:
        raise RuntimeError("could not redraw the first reference draw's held-out crops")
    pool = random_crops(train, 4 * args.n, args.size, rng, held_axes(held, train, args.size))
    stand_in = match_by_fraction(a0, pool, phases)
    print(
        f"real floor: {args.n} training-block crops of {args.size}² (their own stream), matched in fractions "
        f"to draw 0's held-out crops, scored as a model's images; {args.draws} draws of {args.n} held-out and "
        f"{args.n} training crops"
    )
    score_draws(describe(stand_in, phases), first, draw, phases, args)


def blobs_baseline(args) -> None:
    """Score issue 4's baseline against the draws a model run makes: Gaussian blobs (porespy's
    recipe) at the pore counts of the first draw's held-out crops, the blobiness tuned on
    training-block crops as ``microgen export`` tunes it; --generation-seed draws other blobs."""
    kind = get_kind(args.kind)
    if len(kind.particle_labels) != 1:
        phases = len(kind.particle_labels)
        raise SystemExit(f"--blobs is a baseline for two-phase media; {kind.name} has {phases} particle phases")
    earlier = earlier_runs(args)
    pore = kind.particle_labels[0]
    train, held = split_holdout(read_volume(args.data), args.holdout)
    draw = reference_draws(train, held, [pore], args)
    first = draw(0)
    gen_seed = args.seed if args.generation_seed is None else args.generation_seed
    rng = np.random.default_rng([gen_seed, args.size, 2 * 10**6])  # a stream no reference draw uses
    images, blobiness, _ = tuned_blobs(train, first["counts"][: args.n], args.size, pore, kind.background, args.n, rng)
    print(
        f"blobs: {args.n} images of {args.size}² at draw 0's pore counts, blobiness {blobiness:g} (tuned on "
        f"{args.n} training crops); {args.draws} draws of {args.n} held-out and {args.n} training crops"
    )
    table = score_draws(describe(images, [pore]), first, draw, [pore], args)
    run = {"model": "blobs", "sampler": f"blobs, blobiness {blobiness:g}", "evaluations": 0, "blobiness": blobiness}
    record(args, run, gen_seed, table, earlier)


def reference_draws(train, held, phases, args):
    """``draw(d)``: the export protocol's reference draw ``d`` of held-out and training crops."""
    return lambda d: reference_statistics(
        train, held, phases, args.size, args.n, reference_rng(args.seed, args.size, d)
    )


def score_draws(got: dict, first: dict, draw, phases, args) -> dict[str, list[float]]:
    """Print ``got``'s ratios against every reference draw, then each metric's median and range;
    returns the ratios by metric."""
    table: dict[str, list[float]] = {}
    for d in range(args.draws):
        ref = first if d == 0 else draw(d)
        a, b = (descriptors_from_json(ref[k]) for k in ("A", "B"))
        rows = [r for r in fidelity_table(got, a, b, phases) if not r["metric"].startswith("fraction")]
        for r in rows:
            table.setdefault(r["metric"], []).append(r["ratio"])
        passed = sum(r["ratio"] <= 1.5 for r in rows)
        porosity = np.mean(ref["counts"], axis=0) / args.size**2
        if d == 0:  # which way the generated set is off: its summary beside the held-out crops'
            print(
                "draw 0, generated / real: "
                + "  ".join(f"{r['metric']} {r['generated']:.4g} / {r['real']:.4g}" for r in rows)
            )
        print(
            f"draw {d}: real fractions {np.round(porosity, 4).tolist()}, {passed} of {len(rows)} within 1.5: "
            + "  ".join(f"{r['metric']} {r['ratio']:.2f}" for r in rows)
        )
    print("\nmetric                  median   min    max   (ratio over the draws)")
    for metric, ratios in table.items():
        print(f"{metric:22s} {np.median(ratios):6.2f} {min(ratios):6.2f} {max(ratios):6.2f}")
    return table


if __name__ == "__main__":
    main()
