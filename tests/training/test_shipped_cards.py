"""The shipped models' cards: card.md is exactly what the exporter renders from card.json (no
hand-edited figures), and every model stays under the size budget with its training and fidelity
stated."""

import json

import pytest

from microgen.domains import registry
from microgen.engine import DSDModel
from microgen.training.export import card_markdown
from microgen.training.inpainting import inpainting_card_markdown

ROOT = registry.pretrained_root()
SHIPPED = sorted(p.name for p in ROOT.iterdir() if (p / "card.json").is_file()) if ROOT.is_dir() else []


def test_models_are_shipped():
    assert {"berea", "ketton", "nmc"} <= set(SHIPPED), f"pretrained models under {ROOT}: {SHIPPED}"


@pytest.mark.parametrize("name", SHIPPED)
def test_card_markdown_is_the_rendering_of_card_json(name):
    card = json.loads((ROOT / name / "card.json").read_text())
    render = inpainting_card_markdown if card.get("task") == "inpainting" else card_markdown
    assert (ROOT / name / "card.md").read_text() == render(card)
    assert card["training"]["steps"] > 0 and card["fidelity"]["rows"] and card["source"]
    assert (ROOT / name / "model.safetensors").stat().st_size <= 25 * 2**20
    # the model samples with the grid offsets its figures were measured with
    model = DSDModel.load(ROOT / name)
    assert model.meta.get("sampling", {}).get("offsets") == card.get("sampling", {}).get("offsets")
