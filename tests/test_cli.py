import json

import numpy as np
import tifffile
from click.testing import CliRunner

from microgen import __version__
from microgen.cli import main


def _volume(path, shape=(12, 32, 32)):
    rng = np.random.default_rng(0)
    vol = (rng.random(shape) < 0.3).astype(np.uint8)
    tifffile.imwrite(path, vol)
    return path


def test_version_and_help():
    runner = CliRunner()
    assert __version__ in runner.invoke(main, ["--version"]).output
    out = runner.invoke(main, ["--help"]).output
    assert "train" in out and "export" in out


def test_train_resume_and_export(tmp_path):
    runner = CliRunner()
    data = _volume(tmp_path / "scan.tif")
    args = [
        "train",
        "--data",
        str(data),
        "--kind",
        "rock",
        "--out",
        str(tmp_path / "run"),
        "--crop",
        "16",
        "--steps",
        "4",
        "--batch",
        "2",
        "--width",
        "8",
        "--checkpoint-every",
        "2",
        "--validate-every",
        "4",
        "--val-samples",
        "2",
    ]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "model.safetensors").is_file()
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert any("validation" in rec for rec in log)
    res = runner.invoke(main, args)  # again without --resume: refused, nothing overwritten
    assert res.exit_code == 2 and "already holds a training checkpoint" in res.output
    res = runner.invoke(
        main,
        [
            *args[:-10],
            "--steps",
            "6",
            "--batch",
            "2",
            "--width",
            "8",
            "--checkpoint-every",
            "2",
            "--validate-every",
            "4",
            "--val-samples",
            "2",
            "--resume",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main,
        [
            "export",
            str(tmp_path / "run"),
            "--data",
            str(data),
            "--kind",
            "rock",
            "--name",
            "tiny",
            "--out",
            str(tmp_path / "tiny"),
            "--size",
            "16",
            "--n-gen",
            "2",
            "--steps",
            "5",
        ],
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "tiny" / "card.json").read_text())
    assert card["training"]["steps"] == 6 and card["fidelity"]["rows"]


def test_bad_training_input_exits_2(tmp_path):
    runner = CliRunner()
    tifffile.imwrite(tmp_path / "bad.tif", np.full((4, 8, 8), 255, np.uint8), photometric="minisblack")
    res = runner.invoke(
        main, ["train", "--data", str(tmp_path / "bad.tif"), "--kind", "rock", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "unknown phase labels [255]" in res.output
    res = runner.invoke(
        main, ["train", "--data", str(tmp_path / "none.tif"), "--kind", "rock", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "no such file" in res.output
    res = runner.invoke(main, ["train", "--data", str(tmp_path / "bad.tif"), "--kind", "granite", "--out", "x"])
    assert res.exit_code == 2
