import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tifffile
import torch
from click.testing import CliRunner

import microgen
from microgen import __version__
from microgen.cli import main
from microgen.domains import registry
from microgen.engine import DSDModel
from microgen.engine.polish import SWEEPS
from microgen.engine.sampler import format_sharpness
from microgen.io import read_volume
from microgen.training.calibrate import POLISH_GRID, best_pair, finish_smooth
from microgen.training.data import split_holdout
from microgen.training.export import card_markdown, reference_rng, reference_statistics, relabel


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
    threads_before = torch.get_num_threads()
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
    res = runner.invoke(main, [*args[:-10], "--steps", "6", "--batch", "4", "--resume"])
    assert res.exit_code == 2 and "batch: checkpoint 2 vs now 4" in res.output  # a change it cannot resume
    # options not given again are the run's own (batch 2, width 8, validation every 4 steps, ...)
    res = runner.invoke(main, [*args[:-10], "--steps", "6", "--resume"])
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert [saved[k] for k in ("steps", "batch", "width", "checkpoint_every", "validate_every")] == [6, 2, 8, 2, 4]
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert max(rec["step"] for rec in log) == 6
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
            "6",
            "--calibration-grid",
            "1,1.1",
            "--protocol",
            "16",
            "3",
            "--protocol-draws",
            "3",
            "--calibration-draws",
            "2",
            "--calibration-size",
            "16,32",
            "--range-crops",
            "8",
            "--min-side",
            "16",
            "--threads",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "tiny" / "card.json").read_text())
    # measured on the threads asked for; the caller's setting is back when the command ends
    assert card["speed"]["device"].endswith(" x1 threads") and torch.get_num_threads() == threads_before
    # the recommended smallest side: stored with the model, on the card, warned about below it
    assert card["min_side"] == 16 == DSDModel.load(tmp_path / "tiny").meta["min_side"]
    assert "every side >= 16 voxels" in (tmp_path / "tiny" / "card.md").read_text()
    with pytest.warns(UserWarning, match=r"recommended for images with every side >= 16 voxels; got shape \(16, 8\)"):
        microgen.generate(str(tmp_path / "tiny"), {"pore": 0.3}, shape=(16, 8), steps=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        microgen.generate(str(tmp_path / "tiny"), {"pore": 0.3}, shape=(16, 16), steps=2, seed=0)
    # relabelled without measuring again: renamed, the side removed, the card rewritten from its JSON
    weights = (tmp_path / "tiny" / "model.safetensors").read_bytes()
    again = relabel(tmp_path / "tiny", name="tiny2", min_side=0)
    assert again["name"] == "tiny2" and again["min_side"] is None and again["fidelity"] == card["fidelity"]
    relabelled = DSDModel.load(tmp_path / "tiny")
    assert relabelled.meta["name"] == "tiny2" and relabelled.meta["min_side"] is None
    assert (tmp_path / "tiny" / "model.safetensors").read_bytes() == weights
    assert (tmp_path / "tiny" / "card.md").read_text() == card_markdown(again) and "every side >=" not in card_markdown(
        again
    )
    for bad in (3, 16.0, True):
        with pytest.raises(ValueError, match="min side must be"):
            relabel(tmp_path / "tiny", min_side=bad)
    assert relabel(tmp_path / "tiny", min_side=np.int64(24))["min_side"] == 24  # numpy integers too
    card = relabel(tmp_path / "tiny", name="tiny", min_side=16)  # as exported, for the checks below
    assert card["fractions_range_crops"] == [8, 16]  # the given side and the run's own
    assert "the range over training crops of 8², 16²" in (tmp_path / "tiny" / "card.md").read_text()
    protocol = card["fidelity_issue_protocol"]  # the second table: 3 generated 16² images vs 3 held-out crops
    assert protocol["size"] == 16 and protocol["generated"] == 3 and card["speed_issue_protocol"]["batch"] == 3
    assert {r["metric"] for r in protocol["rows"]} == {r["metric"] for r in card["fidelity"]["rows"]}
    assert protocol["polish"] == card["fidelity"]["polish"] and protocol["baseline"]["rows"]
    assert card["training"]["steps"] == 6 and card["fidelity"]["rows"]
    baseline = card["fidelity"]["baseline"]
    assert baseline["name"] == "blobs" and str(baseline["blobiness"]) in baseline["tuning_two_point_distance"]
    assert {r["metric"] for r in baseline["rows"]} == {r["metric"] for r in card["fidelity"]["rows"]}
    md = (tmp_path / "tiny" / "card.md").read_text()
    assert "closer than blobs" in md
    net = card["network"]  # the architecture, with its parameter count
    assert net["parameters"] == sum(p.numel() for p in DSDModel.load(tmp_path / "tiny").parameters())
    assert f"- Network: rate UNet of width {net['width']}" in md and "space-to-depth" not in md
    sampling = card["sampling"]  # calibrated on training crops, stored with the model, used by default
    assert set(sampling["calibration"]["scores"]) == {"1", "1.1"}
    assert set(sampling["calibration"]["ratios"]) == {"1", "1.1"}  # per metric, in the card only
    assert sampling["calibration"]["draws"] == 2 and "the median over 2 draws" in md
    assert "ratios" not in DSDModel.load(tmp_path / "tiny").meta["sampling"]["calibration"]
    # calibrated at two sizes: each metric's ratio the mean of the two, per size in the card only
    assert sampling["calibration"]["size"] == [16, 32] and "16² and 32² (each)" in md
    assert set(sampling["calibration"]["ratios_by_size"]) == {"16", "32"} and "the mean over the sizes" in md
    assert "ratios_by_size" not in DSDModel.load(tmp_path / "tiny").meta["sampling"]["calibration"]
    exported = DSDModel.load(tmp_path / "tiny")
    # calibrated and measured with the stride cell's offsets, so sampled with them (session 21)
    assert exported.stride_offsets and sampling["offsets"] == "stride" and "stride cell in turn" in md
    assert exported.sharpness == sampling["sharpness"] in (1.0, 1.1)
    # a choice at an end of a grid says only that the best value may lie beyond it: card and CLI warn
    edge = "highest" if exported.sharpness == 1.1 else "lowest"
    assert sampling["calibration"]["edge"] == edge and f"is the {edge} value of the grid (1-1.1)" in md
    assert "warning: The chosen sharpness" in res.stderr and "--calibration-grid extended" in res.stderr
    assert exported.sampling_steps == sampling["steps"] == 6 and "6 network evaluations per sample" in md
    # the data's large-scale spectra, measured on training crops (32² is the largest that fits)
    assert exported.spectral_prior.crop == 32 and sampling["prior"]["crop"] == 32
    assert card["fidelity"]["sampler"].endswith("prior spectral, stride offsets") and "spectral prior" in md
    assert exported.meta["sampling"]["polish"] == sampling["polish"] == card["fidelity"]["polish"] in POLISH_GRID
    assert f"sharpness {sampling['sharpness']:g}" in card["fidelity"]["sampler"] and "## Sampling defaults" in md
    row = card["fidelity"]["rows"][0]  # generated and real summaries, side by side in the table
    assert f"| {row['metric']} | {row['generated']:.4g} | {row['real']:.4g} | {row['distance']:.4g} |" in md
    assert "## Fidelity at the issue's protocol (3 generated 16² images" in md and "## Speed at 16²" in md
    row = protocol["rows"][1]
    assert f"| {row['metric']} | {row['generated']:.4g} | {row['real']:.4g} | {row['distance']:.4g} |" in md
    # the protocol's images against 3 reference draws: the first is the table's, the others differ
    draws = protocol["draws"]
    assert draws["n"] == 3 and set(draws["ratios"]) == {r["metric"] for r in protocol["rows"]}
    for r in protocol["rows"]:
        assert len(draws["ratios"][r["metric"]]) == 3 and draws["ratios"][r["metric"]][0] == r["ratio"]
    assert any(len(set(v)) > 1 for v in draws["ratios"].values())
    assert "against 3 independent draws" in md and "| median ratio | min | max |" in md
    # each stored reference set has its own crop stream: the same crops whatever other sizes are stored
    stored = json.loads((tmp_path / "tiny" / "reference.json").read_text())["sets"]
    train, held = split_holdout(read_volume(data), 0.2)
    for ref in stored:
        rng = reference_rng(0, ref["size"])
        again = reference_statistics(train, held, [1], ref["size"], ref["n"], rng, diffusivity=1)
        assert again["counts"] == ref["counts"] and again["A"] == ref["A"]
    export = ["export", str(tmp_path / "run"), "--data", str(data), "--kind", "rock", "--name", "t", "--size", "16"]
    for bad, message in (
        (["64", "2"], "held-out block"),
        (["16", "0"], "N >= 1"),
        (["16", "2", "--protocol-draws", "0"], "draws must be >= 1"),
    ):
        res = runner.invoke(main, [*export, "--out", str(tmp_path / "bad"), "--protocol", *bad])
        assert res.exit_code == 2 and message in res.output, res.output
        assert not (tmp_path / "bad").exists()
    for option, value, message in (
        ("--calibration-draws", "0", "calibration draws must be >= 1"),
        ("--calibration-size", "16,1", "at least the network stride"),  # refused before any work
        ("--range-crops", "4096", "training block"),
        ("--range-crops", "8,x", "--range-crops"),
        ("--min-side", "2", "min side must be an integer >= the network stride"),
        ("--calibration-reference", "thirds", "'halves', 'slabs'"),
        ("--threads", "0", "x>=1"),
        ("--tail", "5", "steps + tail must be even"),  # with the default 100 evaluations
        ("--tail", "-2", "x>=0"),
    ):
        res = runner.invoke(main, [*export, "--out", str(tmp_path / "bad"), option, value])
        assert res.exit_code == 2 and message in res.output, res.output
        assert not (tmp_path / "bad").exists()


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
    for mults in ("1,two", "1,0,2"):
        res = runner.invoke(
            main, ["train", "--data", str(tmp_path / "bad.tif"), "--kind", "rock", "--out", "x", "--mults", mults]
        )
        assert res.exit_code == 2 and "--mults must be comma-separated positive integers" in res.output
    assert not (tmp_path / "o").exists()


def _tiny_train(data, out, *options):
    """``microgen train`` of a tiny rock run (crop 16, batch 2) with extra options."""
    args = ["train", "--data", str(data), "--kind", "rock", "--out", str(out), "--crop", "16", "--batch", "2"]
    return CliRunner().invoke(main, [*args, *options])


def test_train_teacher_errors_name_the_models_and_write_nothing(tmp_path):
    data = tmp_path / "rock.tif"
    tifffile.imwrite(
        data, (np.arange(4 * 32 * 32).reshape(4, 32, 32) % 7 < 2).astype(np.uint8), photometric="minisblack"
    )
    res = _tiny_train(data, tmp_path / "a", "--teacher", "nope")
    assert res.exit_code == 2 and "unknown model 'nope'" in res.output and "'berea'" in res.output
    res = _tiny_train(data, tmp_path / "b", "--teacher", "berea")
    assert res.exit_code == 2 and "cannot distil 'berea': process.r: teacher 311.1" in res.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_train_architecture_options(tmp_path):
    data = _volume(tmp_path / "scan.tif")
    out = tmp_path / "run"
    res = _tiny_train(data, out, "--steps", "2", "--width", "4", "--mults", "1,2,4,4", "--blocks", "2")
    assert res.exit_code == 0, res.output
    net = DSDModel.load(out).network_config
    assert net.width == 4 and net.mults == [1, 2, 4, 4] and net.blocks == 2
    res = _tiny_train(data, out, "--width", "4", "--mults", "1,2", "--steps", "3", "--resume")
    assert res.exit_code == 2 and "configuration differs" in res.output
    res = _tiny_train(data, out, "--steps", "3", "--resume")  # the run's architecture is kept
    assert res.exit_code == 0, res.output
    assert DSDModel.load(out).meta["training"]["steps"] == 3
    # --init-from without architecture options continues the source model's architecture
    res = _tiny_train(data, tmp_path / "more", "--steps", "2", "--init-from", str(out))
    assert res.exit_code == 0, res.output
    more = DSDModel.load(tmp_path / "more")
    assert more.network_config == DSDModel.load(out).network_config
    assert more.meta["training"]["total_steps"] == 5


def test_train_slice_axes_are_recorded_kept_on_resume_and_checked(tmp_path):
    data = _volume(tmp_path / "scan.tif")
    out = tmp_path / "run"
    res = _tiny_train(data, out, "--steps", "2", "--width", "4", "--mults", "1,2", "--slice-axes", "0")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "train_config.json").read_text())["slice_axes"] == [0]
    res = _tiny_train(data, out, "--steps", "3", "--resume")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "train_config.json").read_text())["slice_axes"] == [0]
    res = _tiny_train(data, out, "--steps", "4", "--resume", "--slice-axes", "all")
    assert res.exit_code == 2 and "slice_axes: checkpoint [0] vs now []" in res.output, res.output
    for bad in ("3", "0,0", "x"):
        res = _tiny_train(data, tmp_path / "bad", "--slice-axes", bad)
        assert res.exit_code == 2 and "must be all or distinct axes from 0,1,2" in res.output, res.output
        assert not (tmp_path / "bad").exists()


def test_train_patch_option_is_kept_on_resume_and_checked(tmp_path):
    data = _volume(tmp_path / "scan.tif")
    out = tmp_path / "run"
    res = _tiny_train(data, out, "--steps", "2", "--width", "4", "--mults", "1,2", "--patch", "2")
    assert res.exit_code == 0, res.output
    assert DSDModel.load(out).network_config.patch == 2
    res = _tiny_train(data, out, "--steps", "3", "--resume")
    assert res.exit_code == 0, res.output
    assert DSDModel.load(out).network_config.patch == 2
    for patch, message in (("0", "patch must be >= 1"), ("3", "multiple of the network stride 6")):
        res = _tiny_train(data, tmp_path / "bad", "--mults", "1,2", "--patch", patch)
        assert res.exit_code == 2 and message in res.output, res.output
        assert not (tmp_path / "bad").exists()


def test_train_head_option_is_kept_on_resume_and_checked(tmp_path):
    data = _volume(tmp_path / "scan.tif")
    out = tmp_path / "run"
    res = _tiny_train(data, out, "--steps", "2", "--width", "4", "--mults", "1,2", "--patch", "2", "--head", "3")
    assert res.exit_code == 0, res.output
    assert DSDModel.load(out).network_config.head == 3
    res = _tiny_train(data, out, "--steps", "3", "--resume")
    assert res.exit_code == 0, res.output
    assert DSDModel.load(out).network_config.head == 3
    res = _tiny_train(data, tmp_path / "bad", "--mults", "1,2", "--head", "-1")
    assert res.exit_code == 2 and "head must be >= 0" in res.output, res.output
    assert not (tmp_path / "bad").exists()


def _tiny_rock(tmp_path):
    from tests.helpers import tiny_model

    model = tiny_model(channels=1)
    model.meta.update({"kind": "rock", "name": "tiny-rock"})
    return model.save(tmp_path / "tiny-rock")


def test_rock_command_writes_exact_images_and_preview(tmp_path):
    import h5py

    model = _tiny_rock(tmp_path)
    out = tmp_path / "out.h5"
    res = CliRunner().invoke(
        main,
        [
            "rock",
            "--type",
            str(model),
            "--porosity",
            "0.19",
            "-o",
            str(out),
            "--shape",
            "15x23",  # odd sides, not multiples of the tiny network's stride 2
            "-n",
            "2",
            "--seed",
            "0",
            "--steps",
            "6",
            "--islands",
            "3",
            "--holes",
            "2",
            "--offsets",
            "stride",
            "--preview",
            str(tmp_path / "p.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        data = f["labels"][()]
        attrs = f["labels"].attrs
        assert attrs["seed"] == 0 and "model_sha256" in attrs and attrs["polish_sweeps"] == SWEEPS
        assert attrs["sampler"].endswith("prior uniform, stride offsets")
        assert attrs["islands_dissolved_up_to"] == 3 and attrs["holes_filled_up_to"] == 2
    assert data.shape == (2, 15, 23) and (data.sum(axis=(1, 2)) == 66).all()  # floor(0.19 * 345 + 0.5)
    assert (tmp_path / "p.png").stat().st_size > 0
    assert "66 voxels" in res.output and "network evaluations" in res.output


def test_cli_warnings_are_one_line(tmp_path):
    # a side below the model's recommended smallest side and a porosity outside its training range:
    # one `warning: ...` line each on stderr, the image still written with its exact count (a real
    # process: pytest would capture the warnings before they reach stderr)
    model = _tiny_rock(tmp_path)
    tiny = DSDModel.load(model)
    tiny.meta.update({"min_side": 32, "fractions_range": {"pore": [0.1, 0.3]}})
    tiny.save(model)
    args = [
        "rock",
        "--type",
        str(model),
        "--porosity",
        "0.5",
        "--size",
        "16",
        "--steps",
        "4",
        "-o",
        str(tmp_path / "o.tif"),
    ]
    res = subprocess.run([sys.executable, "-m", "microgen.cli", *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 2 and "every side >= 32 voxels; got shape (16, 16)" in lines[0], res.stderr
    assert "outside the training range [0.100, 0.300]" in lines[1] and "UserWarning" not in res.stderr
    assert (read_volume(tmp_path / "o.tif") == 1).sum() == 128


def test_cli_bad_generation_input_exits_2_without_output(tmp_path):
    model = _tiny_rock(tmp_path)
    runner = CliRunner()
    base = ["rock", "--type", str(model), "-o", str(tmp_path / "o.tif"), "--size", "16", "--steps", "4"]
    cases = [
        (["--porosity", "1.2"], "(0, 1)"),
        (["--porosity", "0"], "(0, 1)"),
        (["--porosity", "0.2", "-n", "0"], "-n must be"),
        (["--porosity", "0.2", "--shape", "1x16"], "at least the network stride"),
        (["--porosity", "0.2", "--shape", "abc"], "--shape"),
        (["--porosity", "0.2", "--steps", "7"], "even"),
        (["--porosity", "0.2", "--sampler", "euler"], "'trapezoidal', 'multistep', 'poisson', 'binomial'"),
        (["--porosity", "0.2", "--precision", "int8"], "'auto', 'float32', 'bfloat16'"),
        (["--porosity", "0.2", "--polish", "-1"], "x>=0"),
        (["--porosity", "0.2", "--holes", "-2"], "x>=0"),
        (["--porosity", "0.2", "--prior", "gauss"], "'auto', 'spectral', 'uniform'"),
        (["--porosity", "0.2", "--sharpness", "1.2/1"], "one value per particle channel (1), got 2"),
        (["--porosity", "0.2", "--sharpness", "sharp"], "finite number > 0"),
        (["--porosity", "0.2", "--smooth", "-1"], "finite numbers >= 0"),
        (["--porosity", "0.2", "--smooth", "wide"], "written 1.5 or 1.5/0"),
        (["--porosity", "0.2", "--smooth", "1/0"], "one width or one per particle phase (1)"),
    ]
    for extra, message in cases:
        res = runner.invoke(main, base + extra)
        assert res.exit_code == 2 and message in res.output, (extra, res.output)
        assert "Traceback" not in res.output
        assert not (tmp_path / "o.tif").exists()
    res = runner.invoke(main, ["rock", "--type", "savonnieres", "--porosity", "0.2", "-o", str(tmp_path / "o.tif")])
    assert res.exit_code == 2 and "microgen train" in res.output
    res = runner.invoke(main, ["rock", "--type", str(model), "-o", str(tmp_path / "o.png"), "--porosity", "0.2"])
    assert res.exit_code == 2 and "extension" in res.output
    res = runner.invoke(
        main,
        [
            "cathode",
            "--model",
            str(model),
            "--active",
            "0.5",
            "--binder",
            "0.1",
            "-o",
            str(tmp_path / "c.tif"),
            "--size",
            "16",
        ],
    )
    assert res.exit_code == 2 and "not a cathode model" in res.output
    assert not any(p.suffix in (".tif", ".png") for p in tmp_path.iterdir())
    (tmp_path / "exists.tif").write_bytes(b"keep")
    res = runner.invoke(
        main, ["rock", "--type", str(model), "--porosity", "0.2", "-o", str(tmp_path / "exists.tif"), "--size", "16"]
    )
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (tmp_path / "exists.tif").read_bytes() == b"keep"


def test_match_reference_gives_each_image_one_stored_crops_counts(tmp_path):
    import tifffile

    model = _tiny_rock(tmp_path)
    sets = [{"size": 16, "phases": [1], "n": 3, "A": {}, "B": {}, "counts": [[40], [51], [66]]}]
    (model / "reference.json").write_text(json.dumps({"sets": sets}))
    base = ["rock", "--type", str(model), "--size", "16", "--steps", "4", "--seed", "1", "--match-reference"]
    res = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "all.tif")])
    assert res.exit_code == 0, res.output
    assert (tifffile.imread(tmp_path / "all.tif") == 1).sum(axis=(1, 2)).tolist() == [40, 51, 66]
    assert "reference crops" in res.output
    res = CliRunner().invoke(main, [*base, "-n", "2", "-o", str(tmp_path / "two.tif")])
    assert (tifffile.imread(tmp_path / "two.tif") == 1).sum(axis=(1, 2)).tolist() == [40, 51]
    bad = [
        ([*base, "--porosity", "0.2"], "not both"),
        ([*base[:-1]], "missing --porosity"),
        ([*base, "--size", "32"], "are for 16x16"),
        ([*base, "-n", "4"], "from 1 to 3"),
        (["cathode", "--model", str(model), "--active", "0.5", "--size", "16"], "missing --binder"),
    ]
    for args, message in bad:
        res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "bad.tif")])
        assert res.exit_code == 2 and message in res.output, (args, res.output)
        assert not (tmp_path / "bad.tif").exists()


def test_models_command_lists_a_table():
    formatter = warnings.formatwarning
    res = CliRunner().invoke(main, ["models"])
    assert warnings.formatwarning is formatter  # the CLI's one-line warnings end with the command
    assert res.exit_code == 0 and "pretrained models" in res.output
    assert "within 1.5" in res.output and "{" not in res.output  # phases as "0 grain, 1 pore", not a dict
    sides = [m["min_side"] for m in microgen.list_models()]
    assert "sides" in res.output and all(f">= {side}" in res.output for side in sides if side)
    assert "any" in res.output or all(sides)
    names = {m["name"] for m in microgen.list_models()}
    for old, new in registry.ALIASES.items():
        assert (f"{old}: a former name of {new}" in res.output) == (new in names)


def test_list_models_summarises_each_card():
    import re

    import microgen

    for m in microgen.list_models():
        card = registry.card(m["name"])
        assert m["steps"] == card["training"]["steps"] > 0
        assert m["min_side"] == card.get("min_side") == microgen.load_model(m["name"]).meta.get("min_side")
        if "fidelity_issue_protocol" not in card:
            assert m["protocol"] == ""
            continue
        passed, total = map(int, re.fullmatch(r"(\d+) of (\d+)", m["protocol"]).groups())
        medians = {k: np.median(v) for k, v in card["fidelity_issue_protocol"]["draws"]["ratios"].items()}
        assert total == sum(not k.startswith("fraction") for k in medians)
        assert passed == sum(v <= 1.5 for k, v in medians.items() if not k.startswith("fraction"))
        assert m["evaluations"] == card["sampling"]["steps"]


def test_bad_calibration_grid_exits_2(tmp_path):
    runner = CliRunner()
    data = _volume(tmp_path / "scan.tif")
    for grid in ("a,b", "1,-1", "", "1,1", "1/0", "1.1/1,1.1/1"):
        args = ["export", str(tmp_path), "--data", str(data), "--kind", "rock", "--name", "x"]
        res = runner.invoke(main, [*args, "--out", str(tmp_path / "o"), "--calibration-grid", grid])
        assert res.exit_code == 2 and "comma-separated numbers > 0" in res.output, (grid, res.output)
        assert not (tmp_path / "o").exists()
    for sizes in ("a", "16,16", "0", ""):
        args = ["export", str(tmp_path), "--data", str(data), "--kind", "rock", "--name", "x"]
        res = runner.invoke(main, [*args, "--out", str(tmp_path / "o"), "--calibration-size", sizes])
        assert res.exit_code == 2 and "distinct whole numbers > 0" in res.output, (sizes, res.output)
        assert not (tmp_path / "o").exists()


def _tiny_cathode_export(tmp_path, seed: int) -> list[str]:
    """Train a tiny cathode run (2 steps) on a random 3-phase volume; the ``microgen export``
    arguments that package it as ``tmp_path / "tiny"``."""
    rng = np.random.default_rng(seed)
    vol = rng.choice(np.array([0, 1, 2], dtype=np.uint8), size=(12, 32, 32), p=[0.4, 0.5, 0.1])
    tifffile.imwrite(tmp_path / "nmc.tif", vol)
    args = ["train", "--data", str(tmp_path / "nmc.tif"), "--kind", "cathode", "--out", str(tmp_path / "run")]
    res = CliRunner().invoke(main, [*args, "--crop", "16", "--batch", "2", "--steps", "2", "--width", "4"])
    assert res.exit_code == 0, res.output
    export = ["export", str(tmp_path / "run"), "--data", str(tmp_path / "nmc.tif"), "--kind", "cathode"]
    return export + ["--name", "tiny", "--out", str(tmp_path / "tiny"), "--size", "16", "--n-gen", "2", "--steps", "4"]


def test_cathode_export_calibrates_a_sharpness_per_phase(tmp_path):
    export = _tiny_cathode_export(tmp_path, 1)
    grid = "1,1.3/1,1/1.3"  # one candidate for both phases, two with a phase of its own
    res = CliRunner().invoke(main, [*export, "--calibration-grid", grid, "--calibration-n", "2"])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "tiny" / "card.json").read_text())
    scores = card["sampling"]["calibration"]["scores"]
    assert set(scores) == {"1", "1.3/1", "1/1.3"}
    best = best_pair(scores)[0]
    model = DSDModel.load(tmp_path / "tiny")
    assert format_sharpness(model.sharpness) == best  # the choice, stored and read back
    md = (tmp_path / "tiny" / "card.md").read_text()
    assert f"Sharpness {best} (exponent on the rates; 1 = as trained" in md and "| s 1.3/1 |" in md
    assert f"sharpness {best}," in card["fidelity"]["sampler"]
    # the stored per-phase value is the default; one given on the command line wins
    out = ["cathode", "--model", str(tmp_path / "tiny"), "--active", "0.5", "--binder", "0.1", "--size", "16"]
    res = CliRunner().invoke(main, [*out, "--sharpness", "1.2/1", "-o", str(tmp_path / "c.tif"), "--steps", "4"])
    assert res.exit_code == 0, res.output
    labels = tifffile.imread(tmp_path / "c.tif")
    assert [(labels == p).sum() for p in (1, 2)] == [128, 26]  # exact: floor(f * 256 + 0.5)


def test_cathode_export_calibrates_a_smoothing_width_per_phase(tmp_path):
    export = _tiny_cathode_export(tmp_path, 2) + ["--calibration-grid", "1", "--calibration-n", "2"]
    for bad, message in [
        (["--calibration-smooth", "0,-1"], "distinct comma-separated widths >= 0"),
        (["--calibration-smooth", "1/1/1"], "one per particle phase (2)"),
        (["--calibration-finish", "0,x", "0", "0"], "polish values: distinct whole numbers >= 0"),
    ]:
        res = CliRunner().invoke(main, [*export, *bad])
        assert res.exit_code == 2 and message in res.output, (bad, res.output)
        assert not (tmp_path / "tiny").exists()
    grids = ["--calibration-smooth", "0,1.5/0", "--calibration-finish", "0,1", "0", "0"]
    res = CliRunner().invoke(main, [*export, *grids])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "tiny" / "card.json").read_text())
    scores = card["sampling"]["calibration"]["scores"]
    assert set(scores["1"]) == {"0", "1", "s1.5/0+0", "s1.5/0+1"}
    best = best_pair(scores)[1]
    model = DSDModel.load(tmp_path / "tiny")
    assert model.smooth == finish_smooth(best, 2) and card["sampling"]["smooth"] == list(model.smooth)
    assert card["fidelity"]["smooth"] == list(model.smooth)  # the card's table was measured with it
    assert "| s1.5/0 p1 |" in (tmp_path / "tiny" / "card.md").read_text()


def test_relabel_an_inpainting_model_keeps_its_card(tmp_path):
    # the shipped inpainting companion, copied: renamed, its card re-rendered by the inpainting renderer
    import shutil

    from microgen.training.inpainting import inpainting_card_markdown

    if "berea-inpaint" not in registry.available():
        pytest.skip("the pretrained berea-inpaint model is not installed")
    src = registry.resolve("berea-inpaint")
    shutil.copytree(src, tmp_path / "m")
    card = relabel(tmp_path / "m", name="renamed")
    assert card["name"] == "renamed" and (tmp_path / "m" / "card.md").read_text() == inpainting_card_markdown(card)
    assert DSDModel.load(tmp_path / "m").meta["name"] == "renamed"
    with pytest.raises(ValueError, match="inpainting models"):
        relabel(tmp_path / "m", min_side=64)
