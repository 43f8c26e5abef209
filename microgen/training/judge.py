"""Shipping rules: a candidate model's protocol medians against the shipped model's.

Every model change is judged by a rule written down before the run it judges
(``docs/model-history.md``): the candidate replaces the shipped model iff its protocol medians over
the reference draws (a) are within 1.5 on at least as many metrics, (b) have a worst median not
higher and (c) a lower mean (optionally "not higher than the shipped mean plus a slack", for rules
over several generated sets). This module computes those figures from exported cards, so that a
verdict is a command, not arithmetic by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microgen.metrics import PASS_RATIO
from microgen.training.export import draw_medians


@dataclass(frozen=True)
class ProtocolScore:
    """The median ratio per metric of one generated set over its reference draws."""

    medians: dict[str, float]

    @property
    def within(self) -> int:
        return sum(v <= PASS_RATIO for v in self.medians.values())

    @property
    def worst(self) -> float:
        return max(self.medians.values())

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.medians.values())))

    def summary(self) -> str:
        return f"{self.within} of {len(self.medians)} within {PASS_RATIO}, worst {self.worst:.2f}, mean {self.mean:.3f}"


def protocol_score(card: dict, *, transport: bool = False) -> ProtocolScore:
    """A card's protocol medians (``fidelity_issue_protocol``: the median over its reference draws
    per metric; a single-draw card: its table's ratios). Phase fractions are left out (exact by
    construction) and so, unless ``transport``, is the relative diffusivity, which the rules of
    ``docs/model-history.md`` count apart."""
    protocol = card.get("fidelity_issue_protocol")
    if not protocol:
        raise ValueError(f"card of {card.get('name')!r} has no protocol table (export with --protocol 256 32)")
    if protocol.get("draws", {}).get("ratios"):
        ratios = draw_medians(protocol["draws"])
    else:
        ratios = {r["metric"]: float(r["ratio"]) for r in protocol["rows"] if not r["metric"].startswith("fraction")}
    medians = {m: v for m, v in ratios.items() if transport or not m.startswith("relative_diffusivity")}
    if not medians:
        raise ValueError(f"card of {card.get('name')!r} has no fidelity metrics in its protocol table")
    return ProtocolScore(medians)


def median_of_sets(scores: list[ProtocolScore]) -> ProtocolScore:
    """Per metric, the median over several generated sets (e.g. generation seeds 0-2) of each
    set's median: the figure rules over several sets judge by."""
    if not scores:
        raise ValueError("need at least one score")
    metrics = list(scores[0].medians)
    if any(list(s.medians) != metrics for s in scores):
        raise ValueError("the scores measure different metrics")
    return ProtocolScore({m: float(np.median([s.medians[m] for s in scores])) for m in metrics})


@dataclass(frozen=True)
class Verdict:
    """Conditions (a)-(c) of a shipping rule for ``candidate`` against ``shipped``; ``passes`` iff
    all hold. Made by :func:`verdict`."""

    candidate: ProtocolScore
    shipped: ProtocolScore
    slack: float = 0.0

    @property
    def as_many_within(self) -> bool:  # (a)
        return self.candidate.within >= self.shipped.within

    @property
    def worst_not_higher(self) -> bool:  # (b)
        return self.candidate.worst <= self.shipped.worst

    @property
    def mean_lower(self) -> bool:  # (c)
        if self.slack:
            return self.candidate.mean <= self.shipped.mean + self.slack
        return self.candidate.mean < self.shipped.mean

    @property
    def passes(self) -> bool:
        return self.as_many_within and self.worst_not_higher and self.mean_lower

    def lines(self) -> list[str]:
        def met(ok: bool) -> str:
            return "met" if ok else "NOT met"

        c, s = self.candidate, self.shipped
        bound = f"{s.mean:.3f}" + (f" + {self.slack:g}" if self.slack else "")
        return [
            f"(a) {c.within} within {PASS_RATIO} against {s.within}: {met(self.as_many_within)}",
            f"(b) worst {c.worst:.2f} against {s.worst:.2f}: {met(self.worst_not_higher)}",
            f"(c) mean {c.mean:.3f} against {bound}: {met(self.mean_lower)}",
            "verdict: " + ("replaces the shipped model" if self.passes else "not shipped"),
        ]


def verdict(candidate: ProtocolScore, shipped: ProtocolScore, *, slack: float = 0.0) -> Verdict:
    """The rule of ``docs/model-history.md``: (a) at least as many metrics within 1.5, (b) a worst
    median not higher, (c) a lower mean (with ``slack`` > 0: a mean at most the shipped mean plus
    ``slack``, the form session 29 declared for rules over three generated sets). Both scores must
    measure the same metrics."""
    if set(candidate.medians) != set(shipped.medians):
        raise ValueError(
            f"the scores measure different metrics: {sorted(candidate.medians)} vs {sorted(shipped.medians)}"
        )
    if slack < 0:
        raise ValueError(f"slack must be >= 0, got {slack}")
    return Verdict(candidate, shipped, slack)
