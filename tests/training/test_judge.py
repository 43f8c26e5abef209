"""Shipping rules computed from cards: medians over reference draws, (a)-(c), several sets."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from microgen.training.judge import ProtocolScore, median_of_sets, protocol_score, verdict

ROOT = Path(__file__).resolve().parents[2]


def _card(ratios: dict[str, list[float]], name="m") -> dict:
    return {"name": name, "fidelity_issue_protocol": {"rows": [], "draws": {"n": 3, "ratios": ratios}}}


def test_protocol_score_takes_medians_and_leaves_out_fractions_and_transport():
    card = _card(
        {
            "fraction[1]": [0.0, 0.0, 0.0],
            "two_point[1]": [0.5, 3.0, 1.0],
            "chord_length[1]": [2.0, 1.6, 1.7],
            "relative_diffusivity[0]": [9.0, 9.0, 9.0],
        }
    )
    score = protocol_score(card)
    assert score.medians == {"two_point[1]": 1.0, "chord_length[1]": 1.7}
    assert (score.within, score.worst) == (1, 1.7)
    assert score.mean == pytest.approx(1.35)
    with_transport = protocol_score(card, transport=True)
    assert with_transport.medians["relative_diffusivity[0]"] == 9.0 and with_transport.within == 1


def test_protocol_score_single_draw_card_uses_its_rows():
    card = {
        "fidelity_issue_protocol": {"rows": [{"metric": "fraction[1]", "ratio": 0.0}, {"metric": "a", "ratio": 2.0}]}
    }
    assert protocol_score(card).medians == {"a": 2.0}


def test_protocol_score_refuses_card_without_protocol():
    with pytest.raises(ValueError, match="--protocol"):
        protocol_score({"name": "x", "fidelity": {}})


@pytest.mark.parametrize(
    "candidate, expected",
    [
        ({"a": 1.0, "b": 1.4, "c": 1.6}, (True, True, True)),  # better everywhere
        ({"a": 1.0, "b": 1.6, "c": 1.6}, (False, True, True)),  # one fewer within 1.5
        ({"a": 0.1, "b": 0.1, "c": 2.5}, (True, False, True)),  # a worse worst, lower mean
        ({"a": 1.2, "b": 1.5, "c": 1.9}, (True, True, False)),  # mean equal: not lower
    ],
)
def test_verdict_conditions(candidate, expected):
    shipped = ProtocolScore({"a": 1.2, "b": 1.5, "c": 1.9})  # 2 within, worst 1.9, mean 1.533
    v = verdict(ProtocolScore(candidate), shipped)
    assert (v.as_many_within, v.worst_not_higher, v.mean_lower) == expected
    assert v.passes == all(expected)


def test_verdict_slack_allows_a_mean_up_to_the_bound():
    shipped = ProtocolScore({"a": 0.8, "b": 1.2})  # mean 1.0
    close = ProtocolScore({"a": 1.0, "b": 1.04})  # mean 1.02
    assert not verdict(close, shipped).mean_lower
    assert verdict(close, shipped, slack=0.05).passes
    assert not verdict(close, shipped, slack=0.01).mean_lower
    with pytest.raises(ValueError, match="different metrics"):
        verdict(ProtocolScore({"a": 1.0}), shipped)


def test_median_of_sets_is_per_metric():
    sets = [
        ProtocolScore({"a": 0.67, "b": 1.52}),
        ProtocolScore({"a": 0.65, "b": 1.66}),
        ProtocolScore({"a": 1.11, "b": 1.59}),
    ]
    assert median_of_sets(sets).medians == {"a": 0.67, "b": 1.59}
    with pytest.raises(ValueError, match="different metrics"):
        median_of_sets([ProtocolScore({"a": 1.0}), ProtocolScore({"b": 1.0})])


def test_shipped_berea_card_scores_its_draw_medians():
    """The shipped berea card: every protocol metric's median equals numpy's over its draws."""
    from microgen.domains import registry

    card = registry.card("berea")
    score = protocol_score(card)
    ratios = card["fidelity_issue_protocol"]["draws"]["ratios"]
    assert score.medians == {m: float(np.median(v)) for m, v in ratios.items() if not m.startswith("fraction")}


def test_judge_script_prints_verdict(tmp_path):
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "judge.py"), "berea-fast", "--against", "berea"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "berea-fast against berea" in res.stdout and "verdict:" in res.stdout
    bad = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "judge.py"), "no-such-model"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "available pretrained models" in bad.stderr
