"""Calibrate a model's sampling sharpness on training data (never on the held-out block).

A model that is not fully trained predicts reverse rates that are too even: hops towards where
material should gather are not likely enough, and the generated structure comes out finer than
the real one (smaller pores, more interface). :func:`microgen.engine.sharpen` raises the
per-particle rates to a power; this module picks that power. Each candidate generates the same
images (same seed, same counts: the counts of crops from one half of the training block) and is
scored against those crops, with crops of the other half as the natural spread; the score is the
mean fidelity ratio over the morphology metrics (fractions excluded: they are exact by
construction). The held-out block, on which model cards report fidelity, plays no part.
"""

from __future__ import annotations

import numpy as np
import torch

from microgen.engine import DSDModel, sample
from microgen.engine.polish import SWEEPS
from microgen.engine.precision import resolve_precision
from microgen.engine.sampler import DEFAULT_EVALUATIONS, DEFAULT_SAMPLER, make_sampler
from microgen.metrics import describe, fidelity_table, reference_sets

#: candidate sharpness values (1 = the rates as trained)
SHARPNESS_GRID = (1.0, 1.03, 1.06, 1.09, 1.12, 1.15, 1.2)


def calibrate_sharpness(
    model: DSDModel,
    train: np.ndarray,
    kind,
    *,
    size: int = 128,
    n: int = 16,
    grid=SHARPNESS_GRID,
    steps: int = DEFAULT_EVALUATIONS,
    polish: int = SWEEPS,
    seed: int = 0,
) -> dict:
    """Score every ``grid`` value on ``n`` images of ``size x size`` and return the best.

    Parameters
    ----------
    model : the model to calibrate (not modified)
    train : the training label volume (3D) or image stack; split in two halves along axis 0
    kind : the material kind (``microgen.domains`` ``MaterialKind``) of its labels

    Returns ``{"sharpness", "scores", "size", "n", "steps", "polish", "data"}`` (JSON-ready).
    """
    if not grid:
        raise ValueError("the sharpness grid is empty")
    rng = np.random.default_rng(seed)
    phases = list(kind.particle_labels)
    half = train.shape[0] // 2
    target, spread = reference_sets(train[half:], train[:half], n, size, phases, rng)
    want, other = describe(target, phases), describe(spread, phases)
    totals = [[int((im == p).sum()) for p in phases] for im in target]
    precision = resolve_precision("auto", model.device)
    scores = {}
    for value in grid:
        res = sample(
            model,
            totals,
            (size, size),
            sampler=make_sampler(DEFAULT_SAMPLER, steps),
            precision=precision,
            generator=torch.Generator(device=model.device).manual_seed(seed),
            polish=polish,
            sharpness=value,
        )
        rows = fidelity_table(describe(list(kind.to_labels(res.labels)), phases), want, other, phases)
        ratios = [r["ratio"] for r in rows if not r["metric"].startswith("fraction") and np.isfinite(r["ratio"])]
        scores[float(value)] = float(np.mean(ratios)) if ratios else float("inf")
    best = min(scores, key=scores.get)
    return {
        "sharpness": best,
        "scores": {f"{g:g}": s for g, s in scores.items()},
        "size": size,
        "n": len(totals),
        "steps": steps,
        "polish": polish,
        "data": "crops of one half of the training block, scored against the other half (not the held-out block)",
    }


__all__ = ["SHARPNESS_GRID", "calibrate_sharpness"]
