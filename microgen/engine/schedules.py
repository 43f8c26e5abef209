"""Observation-time schedules ``0 < t_1 < ... < t_T = 1`` for training and sampling."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SCHEDULES = ("logit", "power")


@dataclass(frozen=True)
class Schedule:
    """A schedule of ``steps`` observation times.

    Parameters
    ----------
    kind : {"logit", "power"}
        ``"logit"`` is Eq. (2) of Santos et al. (2025) with parameters ``tau1``, ``tau2``;
        ``"power"`` is ``t_k = (k / T) ** power``.
    steps : int
        Number of observation times ``T`` (>= 2).
    """

    kind: str = "power"
    steps: int = 1000
    power: float = 4.0
    tau1: float = 7.5
    tau2: float = 2.5

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"schedule kind must be one of {SCHEDULES}, got {self.kind!r}")
        if int(self.steps) < 2:
            raise ValueError(f"a schedule needs at least 2 steps, got {self.steps}")
        if self.kind == "power" and not self.power > 0:
            raise ValueError(f"power must be > 0, got {self.power}")
        if self.kind == "logit" and not (self.tau1 > 0 and self.tau2 > 0):
            raise ValueError("tau1 and tau2 must be > 0")

    def times(self) -> np.ndarray:
        """The ``T + 1`` times ``t_0 = 0, t_1, ..., t_T = 1`` (float64)."""
        k = np.arange(1, self.steps + 1, dtype=np.float64)
        big_t = float(self.steps)
        if self.kind == "power":
            tk = (k / big_t) ** self.power
        else:
            lo = _logit(np.exp(-self.tau1))
            hi = _logit(np.exp(-self.tau2))
            y = ((k - 1) * hi - (big_t - k) * lo) / (big_t - 1)
            p = 1.0 / (1.0 + np.exp(-y))
            tk = -np.log(p) / self.tau2
        tk[-1] = 1.0
        return np.concatenate([[0.0], tk])

    @property
    def t_min(self) -> float:
        """The smallest positive observation time ``t_1``."""
        return float(self.times()[1])

    def to_dict(self) -> dict:
        return asdict(self)


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))
