"""Dedicated inpainting models (trained with --holes): chosen by inpaint, refused by generate,
exported with an inpainting card. Tiny models on CPU."""

import json

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import microgen
from microgen.cli import main
from microgen.domains import registry
from tests.helpers import tiny_model


@pytest.fixture
def shelf(tmp_path, monkeypatch):
    """A pretrained folder holding a generation model 'rocky' and its companion 'rocky-inpaint'."""
    gen = tiny_model(channels=1)
    gen.meta.update({"kind": "rock", "sampling": {"sharpness": 1.3, "polish": 1}})
    gen.save(tmp_path / "rocky")
    inp = tiny_model(channels=1, seed=1)
    inp.meta.update({"kind": "rock", "inpainting": {"holes": [4, 8]}, "sampling": {"sharpness": 1.1, "polish": 0}})
    inp.save(tmp_path / "rocky-inpaint")
    monkeypatch.setattr(registry, "pretrained_root", lambda: tmp_path)
    return tmp_path


def _hole(shape=(16, 16)):
    scan = np.random.default_rng(0).integers(0, 2, shape).astype(np.uint8)
    mask = np.zeros(shape, bool)
    mask[4:12, 4:12] = True
    return scan, mask


def test_inpaint_prefers_the_dedicated_companion_and_its_calibration(shelf):
    scan, mask = _hole()
    assert registry.inpainting_companion("rocky") == "rocky-inpaint"
    assert registry.inpainting_companion("rocky-inpaint") is None
    assert registry.inpainting_companion(shelf / "rocky") is None  # a directory is taken as given
    res = microgen.inpaint(scan, mask, model="rocky", porosity=0.25, seed=0, steps=4, device="cpu")
    assert (res.model, res.sharpness, res.polish) == ("rocky-inpaint", 1.1, 0)
    assert int((res.images[mask] == 1).sum()) == 16 and np.array_equal(res.images[~mask], scan[~mask])
    # the generation model fills with sharpness 1 and the default sweeps, not its generation calibration
    res = microgen.inpaint(scan, mask, model="rocky", porosity=0.25, seed=0, steps=4, device="cpu", dedicated=False)
    assert (res.model, res.sharpness, res.polish) == ("rocky", 1.0, 2)
    tasks = {m["name"]: m["task"] for m in microgen.list_models()}
    assert tasks == {"rocky": "generation", "rocky-inpaint": "inpainting"}


def test_generation_refuses_an_inpainting_model(shelf):
    with pytest.raises(ValueError, match="dedicated inpainting model: use microgen.inpaint"):
        microgen.generate("rocky-inpaint", {"pore": 0.2}, shape=(16, 16), steps=2, device="cpu")
    with pytest.raises(ValueError, match="dedicated inpainting model"):
        microgen.generate_counts("rocky-inpaint", [30], shape=(16, 16), steps=2, device="cpu")


def test_inpaint_cli_generic_flag_and_metadata(shelf, tmp_path):
    scan, mask = _hole()
    tifffile.imwrite(tmp_path / "scan.tif", scan)
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(np.uint8))
    base = ["inpaint", str(tmp_path / "scan.tif"), "--mask", str(tmp_path / "mask.tif"), "--model", "rocky"]
    base += ["--steps", "4", "--seed", "1"]
    for extra, used in (([], "rocky-inpaint"), (["--generic"], "rocky")):
        out = tmp_path / f"out{len(extra)}.tif"
        res = CliRunner().invoke(main, base + extra + ["-o", str(out)])
        assert res.exit_code == 0 and f"filled by {used}," in res.output, res.output
        with tifffile.TiffFile(out) as tif:
            assert used in tif.pages[0].description


def test_train_and_export_an_inpainting_model(tmp_path):
    rng = np.random.default_rng(0)
    vol = np.zeros((20, 32, 32), np.uint8)
    vol[:, :, ::4] = 1
    vol[rng.random(vol.shape) < 0.1] = 1
    tifffile.imwrite(tmp_path / "v.tif", vol)
    runner = CliRunner()
    train = ["train", "--data", str(tmp_path / "v.tif"), "--kind", "rock", "--crop", "16", "--batch", "2"]
    train += ["--width", "8", "--mults", "1,2", "--r", "20", "--threads", "1"]
    res = runner.invoke(main, train + ["--steps", "3", "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, train + ["--steps", "3", "--holes", "4", "8", "--out", str(tmp_path / "h")])
    assert res.exit_code == 0, res.output
    bad = runner.invoke(main, train + ["--steps", "3", "--holes", "8", "4", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "smallest" in bad.output and not (tmp_path / "x").exists()
    export = ["export", str(tmp_path / "h"), "--data", str(tmp_path / "v.tif"), "--kind", "rock", "--name", "v-inp"]
    export += ["--out", str(tmp_path / "e"), "--size", "16", "--n-gen", "2", "--steps", "4"]
    export += ["--calibration-grid", "1,1.2", "--calibration-n", "2", "--compare", str(tmp_path / "g")]
    for option in (["--range-crops", "8"], ["--tail", "2"]):
        res = runner.invoke(main, [*export, *option])
        assert res.exit_code == 2 and "generation runs" in res.output and not (tmp_path / "e").exists()
    res = runner.invoke(main, export)
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "e" / "card.json").read_text())
    assert card["task"] == "inpainting" and card["holes"] == [4, 8]
    assert {r["metric"] for r in card["fidelity"]["rows"]} >= {"fraction[1]", "two_point[1]", "euler_density[1]"}
    assert card["fidelity"]["hole"] == 8 and card["baseline"]["model"] == str(tmp_path / "g")
    assert set(card["sampling"]["calibration"]["scores"]) == {"1", "1.2"} and card["sampling"]["calibration"]["n"] == 2
    md = (tmp_path / "e" / "card.md").read_text()
    assert "dedicated inpainting model" in md
    assert "| finish | s 1 | s 1.2 |" in md and "| p0 i2 h4 | " in md and "| p1 h8 | " in md
    assert set(card["sampling"]["calibration"]["scores"]["1"]) == {
        f"{p}{k}{h}" for p in "012" for k in ("", "+i2", "+i4", "+i8") for h in ("", "+h2", "+h4", "+h8")
    }
    # the exported model fills with its calibrated values
    scan, mask = _hole()
    res = microgen.inpaint(scan, mask, model=tmp_path / "e", porosity=0.3, seed=0, steps=4, device="cpu")
    assert res.sharpness == card["sampling"]["sharpness"] and res.polish == card["sampling"]["polish"]
    assert res.islands == card["sampling"]["islands"]
    # --compare is for inpainting runs only
    generation = ["export", str(tmp_path / "g"), "--data", str(tmp_path / "v.tif"), "--kind", "rock"]
    res = runner.invoke(main, generation + ["--name", "g", "--out", str(tmp_path / "e2"), "--compare", "berea"])
    assert res.exit_code == 2 and "inpainting runs" in res.output and not (tmp_path / "e2").exists()


def test_inpaint_samples_on_the_finer_early_grid(rock_dir, monkeypatch):
    """Inpainting takes INPAINT_GRID_POWER (finer steps at large t), generation the default."""
    import importlib

    from microgen.engine.sampler import DEFAULT_GRID_POWER, INPAINT_GRID_POWER, make_sampler, model_sampler

    used = []

    def spying(make):
        def spy(*args, **kw):
            rule = make(*args, **kw)
            used.append(rule.power)
            return rule

        return spy

    # microgen.inpaint is also the function's name
    monkeypatch.setattr(importlib.import_module("microgen.inpaint"), "make_sampler", spying(make_sampler))
    monkeypatch.setattr(importlib.import_module("microgen.api"), "model_sampler", spying(model_sampler))
    scan, mask = _hole()
    microgen.inpaint(scan, mask, model=rock_dir, porosity=0.25, seed=0, steps=4, device="cpu")
    microgen.generate(rock_dir, {"pore": 0.2}, shape=(16, 16), steps=4, device="cpu")
    assert used == [INPAINT_GRID_POWER, DEFAULT_GRID_POWER] and INPAINT_GRID_POWER < DEFAULT_GRID_POWER
