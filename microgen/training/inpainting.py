"""Inpainting fidelity on real data, and packaging of a dedicated inpainting model.

Protocol (:func:`inpainting_fidelity`): ``n`` crops of ``size x size`` from the held-out block
each lose their central ``hole x hole`` square, which :func:`microgen.inpaint` refills with
exactly the real square's phase counts. The filled squares are compared with the real squares
(set A) next to the natural spread: fraction-matched ``hole x hole`` crops of the training block
(set B). The ratios are those of every other fidelity table (``<= 1.5`` is the target).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import torch

from microgen.domains import get_kind
from microgen.engine import DSDModel
from microgen.engine.sampler import DEFAULT_EVALUATIONS, check_sharpness, format_sharpness
from microgen.io import read_volume
from microgen.metrics import PASS_RATIO, fidelity_table, match_by_fraction, random_crops
from microgen.metrics.fidelity import held_axes

from .calibrate import HOLE_GRID, ISLAND_GRID, POLISH_GRID, best_pair, check_grids, finishes, mean_ratio, parse_finish
from .data import split_holdout
from .export import FINISH_LEGEND, calibration_table, finish_text, fraction_stats, training_summary

#: candidate sharpness values for a dedicated inpainting model
INPAINT_SHARPNESS_GRID = (1.0, 1.04, 1.08, 1.12)


def inpainting_fidelity(
    model,
    held: np.ndarray,
    train: np.ndarray,
    *,
    size: int = 128,
    hole: int = 64,
    n: int = 16,
    steps: int = DEFAULT_EVALUATIONS,
    seed: int = 0,
    polish: int | None = None,
    sharpness: float | None = None,
    islands: int | None = None,
    holes: int | None = None,
    offsets: str = "auto",
) -> dict:
    """Fill the central ``hole`` square of ``n`` held-out crops and score it (module docstring;
    ``offsets`` as for :func:`microgen.inpaint`).

    Returns ``{rows, seconds_per_image, evaluations, polish, islands, holes, sharpness, model, size,
    hole, n}``; every fill is checked: exact counts inside the hole, context unchanged."""
    case = _Holes(model, held, train, size, hole, n, seed)
    filled, res = case.fill(
        model, steps=steps, polish=polish, sharpness=sharpness, islands=islands, holes=holes, offsets=offsets
    )
    return {
        "rows": case.score(filled),
        "seconds_per_image": res["seconds"] / n,
        "evaluations": res["evaluations"] // n,
        "polish": res["polish"],
        "islands": res["islands"],
        "holes": res["holes"],
        "sharpness": res["sharpness"],
        "model": res["model"],
        "size": size,
        "hole": hole,
        "n": n,
    }


def calibrate_inpainting(
    model,
    train: np.ndarray,
    *,
    size: int = 128,
    hole: int = 64,
    n: int = 16,
    steps: int = DEFAULT_EVALUATIONS,
    seed: int = 0,
    grid=INPAINT_SHARPNESS_GRID,
    polish_grid=POLISH_GRID,
    island_grid=ISLAND_GRID,
    hole_grid=HOLE_GRID,
) -> dict:
    """Choose the sharpness, polish sweeps, island and hole sizes of a dedicated inpainting model on the
    training block, both ways: holes in crops of one half scored against the other half as the natural
    spread, and the reverse; the held-out block plays no part. (Both ways, because a scan need
    not be stationary: Berea's two training halves differ by 18 % in the correlation length of
    64² squares, and one half alone picked too coarse a fill.) Each sharpness fills the same
    holes once; every finish (polish count, island size, hole size) is applied to those fills (inside
    the hole only). Score: the mean fidelity ratio, fractions excluded, averaged over the two
    directions.

    Returns ``{"sharpness", "polish", "islands", "holes", "scores", "size", "hole", "n", "steps",
    "data"}``."""
    check_grids(grid, polish_grid, island_grid, hole_grid)
    half = train.shape[0] // 2
    folds = [
        _Holes(model, train[half:], train[:half], size, hole, n, seed),
        _Holes(model, train[:half], train[half:], size, hole, n, seed),
    ]
    scores: dict[str, dict[str, float]] = {}
    boundary = model.process.boundary
    for value in grid:
        raws = [
            fold.fill(model, steps=steps, polish=0, sharpness=value, islands=0, holes=0, whole=True)[0]
            for fold in folds
        ]
        per_fold: dict[str, list[float]] = {}
        for fold, raw in zip(folds, raws):
            grids = (fold.phases, polish_grid, island_grid, boundary, seed, ~fold.mask)
            for key, images in finishes(raw, *grids, hole_grid=hole_grid, kind=fold.kind):
                per_fold.setdefault(key, []).append(mean_ratio(fold.score([im[fold.square] for im in images])))
        scores[format_sharpness(value)] = {key: float(np.mean(v)) for key, v in per_fold.items()}
    best_s, best_f = best_pair(scores)
    sweeps, islands, holes = parse_finish(best_f)
    return {
        "sharpness": check_sharpness(best_s),
        "polish": sweeps,
        "islands": islands,
        "holes": holes,
        "scores": scores,
        "size": size,
        "hole": hole,
        "n": n,
        "steps": steps,
        "data": "holes in crops of each half of the training block, scored against the other half (both ways)",
    }


class _Holes:
    """``n`` crops of ``size`` from ``held`` with their central ``hole`` square cut out, and
    fraction-matched ``hole`` crops of ``train``, sliced along the axes the held-out crops are, as
    the natural spread."""

    def __init__(self, model, held, train, size: int, hole: int, n: int, seed: int) -> None:
        if not 0 < hole < size:
            raise ValueError(f"the hole ({hole}) must be smaller than the crops ({size})")
        self.kind = get_kind(model.meta["kind"])
        self.phases = list(self.kind.particle_labels)
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.crops = random_crops(held, n, size, rng)
        lo = (size - hole) // 2
        self.square = (slice(lo, lo + hole), slice(lo, lo + hole))
        self.mask = np.zeros((size, size), bool)
        self.mask[self.square] = True
        self.real = [c[self.square] for c in self.crops]
        axes = held_axes(held, train, size)  # the holes lie in such slices: the spread too
        self.other = match_by_fraction(self.real, random_crops(train, 4 * n, hole, rng, axes), self.phases)

    def fill(
        self, model, *, steps, polish, sharpness, islands=None, holes=None, whole=False, offsets="auto"
    ) -> tuple[list, dict]:
        """Refill every hole with the real square's counts: the filled squares (or whole crops)."""
        from microgen.inpaint import inpaint

        out, info = [], {"seconds": 0.0, "evaluations": 0}
        for i, crop in enumerate(self.crops):
            frac = {name: float(np.mean(self.real[i] == c)) for name, c in zip(self.kind.channel_names, self.phases)}
            res = inpaint(
                crop,
                self.mask,
                model=model,
                fractions=frac,
                seed=self.seed + i,
                steps=steps,
                polish=polish,
                sharpness=sharpness,
                islands=islands,
                holes=holes,
                offsets=offsets,
            )
            if not np.array_equal(res.images[~self.mask], crop[~self.mask]) or any(
                (res.images[self.square] == c).sum() != (self.real[i] == c).sum() for c in self.phases
            ):
                raise RuntimeError("internal error: an inpainted crop broke its counts or its context")
            out.append(res.images if whole else res.images[self.square])
            info["seconds"] += res.seconds
            info["evaluations"] += res.evaluations
            info.update(
                polish=res.polish, islands=res.islands, holes=res.holes, sharpness=res.sharpness, model=res.model
            )
        return out, info

    def score(self, filled) -> list[dict]:
        return fidelity_table(filled, self.real, self.other, self.phases)


def export_inpainting_model(
    run: Path,
    data: list[Path],
    kind: str,
    out: Path,
    *,
    name: str,
    holdout: float = 0.2,
    size: int = 128,
    hole: int = 64,
    n: int = 16,
    steps: int = DEFAULT_EVALUATIONS,
    seed: int = 0,
    source: str = "",
    notes: str = "",
    compare: str | None = None,
    calibrate: bool = True,
    calibration_grid=INPAINT_SHARPNESS_GRID,
    calibration_n: int | None = None,
) -> dict:
    """Write ``out`` (model + ``card.json``/``card.md``) from an inpainting run (``--holes``), with
    the :func:`inpainting_fidelity` table measured on the held-out block of ``data[0]``, and the
    same table for the generation model ``compare`` (e.g. the one it was initialised from).

    With ``calibrate``, the sharpness, polish sweeps, island and hole sizes are first chosen on
    ``calibration_n`` holes (default ``n``) per half of the training block
    (:func:`calibrate_inpainting`) and stored: :func:`microgen.inpaint` uses them by default."""
    mat = get_kind(kind)
    model = DSDModel.load(run)
    if not model.meta.get("inpainting"):
        raise ValueError(f"{run} is not an inpainting run (train it with --holes)")
    train, held = split_holdout(read_volume(data[0]), holdout)
    if held is None:
        raise ValueError("inpainting fidelity needs a held-out block: holdout must be > 0")
    stats = fraction_stats(train, mat.particle_labels, size, 1000, np.random.default_rng(seed))
    model.meta.update({"name": name, "kind": mat.name})
    model.meta["fractions_range"] = {mat.phases[c]: [s["min"], s["max"]] for c, s in stats.items()}
    kw = dict(size=size, hole=hole, n=n, steps=steps, seed=seed)
    if calibrate:
        cal = calibrate_inpainting(model, train, grid=calibration_grid, **{**kw, "n": calibration_n or n})
        model.meta["sampling"] = {
            "sharpness": cal["sharpness"],
            "polish": cal["polish"],
            "islands": cal["islands"],
            "holes": cal["holes"],
            "calibration": cal,
        }
    fidelity = inpainting_fidelity(model, held, train, **kw)
    baseline = None
    if compare:
        from microgen.api import load_model

        baseline = inpainting_fidelity(load_model(compare, "cpu"), held, train, **kw)
        baseline["model"] = str(compare)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    training = model.meta.get("training", {})
    card = {
        "name": name,
        "kind": mat.name,
        "task": "inpainting",
        "phases": {str(k): v for k, v in mat.phases.items()},
        "source": source,
        "data": model.meta.get("data"),
        "notes": notes,
        "holes": model.meta["inpainting"]["holes"],
        "training": training_summary(training),
        "training_config": training.get("config"),
        "fractions_training_crops": {mat.phases[c]: s for c, s in stats.items()},
        "fractions_range": model.meta["fractions_range"],
        "sampling": model.meta.get("sampling"),
        "fidelity": fidelity,
        "baseline": baseline,
        "speed": {"device": f"CPU {platform.machine()} x{torch.get_num_threads()} threads"},
        "weights_mb": round((out / "model.safetensors").stat().st_size / 2**20, 2),
    }
    (out / "card.json").write_text(json.dumps(card, indent=2))
    (out / "card.md").write_text(inpainting_card_markdown(card))
    return card


def inpainting_card_markdown(card: dict) -> str:
    tr, f, base = card["training"], card["fidelity"], card.get("baseline")
    lines = [
        f"# Model card: {card['name']} (dedicated inpainting model)",
        "",
        card.get("notes", ""),
        "",
        f"- Kind: {card['kind']}; phases: {card['phases']}",
        f"- Training data: {card['source']}",
        f"- Training: {tr['steps']} steps in all, {tr['wall_time_s']} s on {tr['hardware']}"
        + (f" ({tr['precision']})" if tr.get("precision") else "")
        + (f"; initialised from {tr['initialised_from']['path']}" if tr.get("initialised_from") else ""),
        f"- Holes seen in training: rectangles with sides {card['holes'][0]}-{card['holes'][1]} voxels at random "
        "places in the crops; only the hole is corrupted (no-flux at its edge), the rest is clean context",
        f"- Weights: {card['weights_mb']} MB (safetensors)",
        "",
        f"## Inpainting fidelity ({f['n']} held-out {f['size']}² crops, central {f['hole']}² hole refilled "
        "with the real square's exact counts)",
        "",
        "Filled squares against the real squares they replaced, next to the natural spread (fraction-matched "
        f"{f['hole']}² crops of the training block); ratio <= {PASS_RATIO} passes. Sampling: "
        f"{f['evaluations']} network evaluations, sharpness {format_sharpness(f['sharpness'])}, "
        f"{finish_text(f)} inside the hole; "
        f"{f['seconds_per_image']:.2f} s per crop on {card['speed']['device']}."
        + (f" Last column: the generation model {base['model']} filling the same holes." if base else ""),
        "",
        "| metric | filled | real | distance | spread | ratio | pass |" + (" generation model ratio |" if base else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if base else ""),
    ]
    other = {r["metric"]: r for r in base["rows"]} if base else {}
    for r in f["rows"]:
        line = (
            f"| {r['metric']} | {r['generated']:.4g} | {r['real']:.4g} | {r['distance']:.4g} | {r['spread']:.4g} | "
            f"{r['ratio']:.2f} | {'yes' if r['passed'] else 'no'} |"
        )
        if r["metric"] in other:
            line += f" {other[r['metric']]['ratio']:.2f} |"
        lines.append(line)
    cal = (card.get("sampling") or {}).get("calibration")
    if cal:
        sampling = card["sampling"]
        lines += [
            "",
            "## Sampling defaults",
            "",
            f"Sharpness {format_sharpness(sampling['sharpness'])}, "
            + finish_text(sampling)
            + f": chosen on {cal['n']} {cal['hole']}² holes in {cal['size']}² crops ({cal['steps']} evaluations), "
            f"{cal['data']}; mean fidelity ratio of each combination (lower is better; {FINISH_LEGEND}):",
            "",
            *calibration_table(cal["scores"]),
        ]
    lines.append("")
    return "\n".join(lines)


__all__ = ["calibrate_inpainting", "export_inpainting_model", "inpainting_card_markdown", "inpainting_fidelity"]
