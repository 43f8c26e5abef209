"""Validation during training: generate images matched in phase fractions to held-out crops and
compare them with the held-out block, next to the natural spread between real blocks."""

from __future__ import annotations

import time

import numpy as np
import torch

from microgen.engine import sample
from microgen.engine.sampler import make_sampler
from microgen.metrics import fidelity_table, reference_sets


def channels_to_labels(volume: np.ndarray) -> np.ndarray:
    """Channel volume ``(C, ...)`` -> label volume: 0 = background, ``c + 1`` = channel ``c``."""
    labels = np.zeros(volume.shape[1:], dtype=np.uint8)
    for c in range(volume.shape[0]):
        labels[volume[c] > 0] = c + 1
    return labels


class Validator:
    """Callable ``(model, val_volumes, step) -> dict`` used by :class:`Trainer`.

    Parameters
    ----------
    train_volumes, val_volumes : channel volumes (training block and held-out block)
    n : images per set; size : crop/generation size; sampler : step rule for generation
    """

    def __init__(self, train_volumes, val_volumes, *, n: int = 8, size: int = 64, sampler=None, seed: int = 0):
        if not val_volumes:
            raise ValueError("validation needs a held-out block (holdout > 0)")
        rng = np.random.default_rng(seed)
        self.size = size
        self.channels = train_volumes[0].shape[0]
        self.phases = list(range(1, self.channels + 1))
        val_labels = [channels_to_labels(v) for v in val_volumes]
        train_labels = [channels_to_labels(v) for v in train_volumes]
        self.real, self.other = reference_sets(val_labels, train_labels, n, size, self.phases, rng)
        self.totals = [[int((im == p).sum()) for p in self.phases] for im in self.real]
        self.sampler = sampler or make_sampler()
        self.seed = seed

    def generate(self, model) -> tuple[np.ndarray, dict]:
        start = time.time()
        gen = torch.Generator(device=model.device).manual_seed(self.seed)
        res = sample(
            model,
            self.totals,
            (self.size, self.size),
            sampler=self.sampler,
            generator=gen,
            label=model.default_label(len(self.totals)),
        )
        info = {
            "seconds": round(time.time() - start, 2),
            "evaluations": res.evaluations,
            "moved_fraction": float(res.moved.sum() / max(1, np.sum(self.totals))),
        }
        return res.labels, info

    def __call__(self, model, val_volumes=None, step: int | None = None) -> dict:
        labels, info = self.generate(model)
        rows = fidelity_table(list(labels), self.real, self.other, self.phases)
        info["metrics"] = {r["metric"]: {k: r[k] for k in ("distance", "spread", "ratio")} for r in rows}
        info["worst_ratio"] = max(r["ratio"] for r in rows)
        return info
