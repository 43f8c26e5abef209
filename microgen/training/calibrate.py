"""Calibrate a model's sampling defaults on training data (never on the held-out block).

A model that is not fully trained predicts reverse rates that are too even: hops towards where
material should gather are not likely enough, and the generated structure comes out finer than
the real one (smaller pores, more interface). :func:`microgen.engine.sharpen` raises the
per-particle rates to a power, and :func:`microgen.engine.polish.polish` removes one-voxel
speckle; the two interact (a sharper sampler leaves less speckle, and polishing a clean image
coarsens it), so this module picks them together. Each sharpness value generates the same images
(same seed, same counts: the counts of crops from one half of the training block); each number of
polish sweeps is applied to those images; every pair is scored against the crops, with crops of
the other half as the natural spread. The score is the mean fidelity ratio over the morphology
metrics (fractions excluded: they are exact by construction). The held-out block, on which
model cards report fidelity, plays no part.
"""

from __future__ import annotations

import numpy as np
import torch

from microgen.engine import DSDModel, sample
from microgen.engine.polish import polish as polish_labels
from microgen.engine.precision import resolve_precision
from microgen.engine.sampler import DEFAULT_EVALUATIONS, DEFAULT_SAMPLER, make_sampler
from microgen.metrics import describe, fidelity_table, reference_sets

#: candidate sharpness values (1 = the rates as trained)
SHARPNESS_GRID = (1.0, 1.03, 1.06, 1.09, 1.12, 1.15, 1.2, 1.25)
#: candidate polish sweeps (0 = the sampler's output)
POLISH_GRID = (0, 1, 2)


def calibrate_sampling(
    model: DSDModel,
    train: np.ndarray,
    kind,
    *,
    size: int = 128,
    n: int = 16,
    grid=SHARPNESS_GRID,
    polish_grid=POLISH_GRID,
    steps: int = DEFAULT_EVALUATIONS,
    seed: int = 0,
) -> dict:
    """Score every (sharpness, polish) pair of the grids on ``n`` images of ``size x size``.

    Parameters
    ----------
    model : the model to calibrate (not modified)
    train : the training label volume (3D) or image stack; split in two halves along axis 0
    kind : the material kind (``microgen.domains`` ``MaterialKind``) of its labels

    Returns ``{"sharpness", "polish", "scores", "size", "n", "steps", "data"}`` (JSON-ready;
    ``scores[sharpness][polish]`` is the mean ratio of that pair).
    """
    if not grid or not polish_grid:
        raise ValueError("the sharpness and polish grids must not be empty")
    rng = np.random.default_rng(seed)
    phases = list(kind.particle_labels)
    half = train.shape[0] // 2
    target, spread = reference_sets(train[half:], train[:half], n, size, phases, rng)
    want, other = describe(target, phases), describe(spread, phases)
    totals = [[int((im == p).sum()) for p in phases] for im in target]
    precision = resolve_precision("auto", model.device)
    scores: dict[str, dict[str, float]] = {}
    for value in grid:
        res = sample(
            model,
            totals,
            (size, size),
            sampler=make_sampler(DEFAULT_SAMPLER, steps),
            precision=precision,
            generator=torch.Generator(device=model.device).manual_seed(seed),
            sharpness=value,
        )
        raw = kind.to_labels(res.labels)
        scores[f"{value:g}"] = {}
        for sweeps in polish_grid:
            images = [
                polish_labels(im, sweeps=sweeps, boundary=model.process.boundary, seed=seed + i)[0]
                for i, im in enumerate(raw)
            ]
            scores[f"{value:g}"][str(sweeps)] = mean_ratio(
                fidelity_table(describe(images, phases), want, other, phases)
            )
    best_s, best_p = best_pair(scores)
    return {
        "sharpness": float(best_s),
        "polish": int(best_p),
        "scores": scores,
        "size": size,
        "n": len(totals),
        "steps": steps,
        "data": "crops of one half of the training block, scored against the other half (not the held-out block)",
    }


def mean_ratio(rows) -> float:
    """The calibration score of a fidelity table: the mean finite ratio, fractions left out
    (exact by construction); ``inf`` if none."""
    ratios = [r["ratio"] for r in rows if not r["metric"].startswith("fraction") and np.isfinite(r["ratio"])]
    return float(np.mean(ratios)) if ratios else float("inf")


def best_pair(scores: dict) -> tuple[str, str]:
    """The ``(sharpness, polish)`` keys of the lowest score in ``scores[sharpness][polish]``."""
    return min(((s, p) for s in scores for p in scores[s]), key=lambda sp: scores[sp[0]][sp[1]])


__all__ = ["POLISH_GRID", "SHARPNESS_GRID", "best_pair", "calibrate_sampling", "mean_ratio"]
