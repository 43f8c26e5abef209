"""A shipping rule's verdict from exported cards: protocol medians, and (a)-(c) against a model.

    python benchmarks/judge.py CANDIDATE [CANDIDATE ...] [--against SHIPPED] [--transport] [--slack S]

CANDIDATE and SHIPPED are model names (`microgen models`) or exported model directories (a
`microgen export --protocol 256 32` output). Prints, per model, the median ratio of every
protocol metric over the card's reference draws, how many are within 1.5, the worst and the mean;
with --against, the conditions of the rule that `docs/model-history.md` declares before every run:
(a) at least as many within 1.5, (b) a worst median not higher, (c) a lower mean (--slack S: at
most the shipped mean + S). The relative diffusivity is left out unless --transport, as the
cathode rules count it apart. Reads cards only; nothing is generated or timed.
"""

from __future__ import annotations

import argparse

from microgen.domains import registry
from microgen.training.judge import protocol_score, verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("candidates", nargs="+")
    ap.add_argument("--against", help="the shipped model the rule compares with")
    ap.add_argument("--transport", action="store_true", help="count the relative diffusivity too")
    ap.add_argument("--slack", type=float, default=0.0, help="(c) as: mean <= shipped mean + SLACK")
    args = ap.parse_args()
    names = [*args.candidates, *([args.against] if args.against else [])]
    cards = {}
    for name in names:
        try:
            card = registry.card(name)
        except ValueError as e:
            ap.error(str(e))
        if not card:
            ap.error(f"{name!r} has no card.json (give a model name or an exported model directory)")
        cards[name] = card
    scores = {}
    for name in names:
        try:
            scores[name] = protocol_score(cards[name], transport=args.transport)
        except ValueError as e:
            ap.error(str(e))
        s = cards[name].get("sampling", {})
        print(f"{name}: sharpness {s.get('sharpness')}, polish {s.get('polish')}, {s.get('steps')} evaluations")
        for metric, value in scores[name].medians.items():
            print(f"  {metric:24s} {value:6.2f}" + ("" if value <= 1.5 else "  (over 1.5)"))
        print(f"  {scores[name].summary()}")
    if args.against:
        shipped = scores[args.against]
        for name in args.candidates:
            print(f"\n{name} against {args.against}:")
            try:
                v = verdict(scores[name], shipped, slack=args.slack)
            except ValueError as e:
                ap.error(str(e))
            for line in v.lines():
                print(f"  {line}")


if __name__ == "__main__":
    main()
