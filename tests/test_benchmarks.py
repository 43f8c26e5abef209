"""The cheap benchmark scripts run end to end at tiny sizes (they print figures, nothing is timed here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "script, args, expect",
    [
        ("train.py", ["--crop", "16", "--batch", "2", "--steps", "1", "--mults", "1,2"], "images/s"),
        (
            "network.py",
            ["--size", "16", "--repeat", "1", "--precision", "float32", "--upsampling", "both"],
            "plain upsampling",
        ),
        ("seams.py", ["--size", "12", "--n", "1", "--steps", "4"], "stride profile"),
    ],
)
def test_benchmark_runs(tmp_path, script, args, expect):
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert expect in res.stdout


def test_reference_draws_compares_step_rules(tmp_path, data_dir, rock_dir):
    """The issue-9 comparison: a trapezoidal run and the paper's rule on the same reference draws,
    the second printing its medians over the first's; another generated set against the same
    draws is compared, a run on other draws refused before it samples."""
    script = str(ROOT / "benchmarks" / "reference_draws.py")
    common = ["--model", str(rock_dir), "--data", str(data_dir / "berea" / "berea_train.tif"), "--size", "32"]
    common += ["--n", "2", "--draws", "2", "--threads", "1"]

    def run(*args):
        return subprocess.run(
            [sys.executable, script, *common, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )

    first = run("--steps", "4", "--json", "a.json")
    assert first.returncode == 0, first.stderr[-3000:]
    paper = run("--sampler", "binomial", "--eps", "0.5", "--json", "b.json", "--against", "a.json")
    assert paper.returncode == 0, paper.stderr[-3000:]
    assert "the paper's rule, eps 0.5" in paper.stdout
    against = paper.stdout.split("against a.json")[1].splitlines()[1:]
    assert len(against) == 5 and all("=" in line for line in against)
    regenerated = run("--generation-seed", "1", "--steps", "4", "--against", "a.json")
    assert regenerated.returncode == 0, regenerated.stderr[-3000:]
    other = run("--seed", "1", "--steps", "4", "--against", "a.json")
    assert other.returncode != 0 and "other reference draws" in other.stderr
    assert "generated" not in other.stdout  # refused before any sampling
    # a slow rule's raw output kept and finished again: the same finish scores the same
    kept = run("--steps", "4", "--finish", "0", "0", "0", "0", "--save-raw", "raw.npz", "--json", "c.json")
    assert kept.returncode == 0, kept.stderr[-3000:]
    again = run("--from-raw", "raw.npz", "--finish", "0", "0", "0", "0", "--json", "d.json")
    assert again.returncode == 0 and "read from raw.npz" in again.stdout, again.stderr[-3000:]
    c, d = (json.loads((tmp_path / f).read_text()) for f in ("c.json", "d.json"))
    assert c["ratios"] == d["ratios"] and c["evaluations"] == d["evaluations"]
    finished = run("--from-raw", "raw.npz", "--finish", "1", "2", "4", "0.7", "--json", "e.json")
    assert finished.returncode == 0, finished.stderr[-3000:]
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["finish"] == {"polish": 1, "islands": 2, "holes": 4, "smooth": [0.7]} and e["ratios"] != c["ratios"]
    tailed = run("--steps", "4", "--tail", "2", "--json", "t.json")  # 1 trapezoidal step and 2 one-hop steps
    assert tailed.returncode == 0 and "with a one-hop tail of 2" in tailed.stdout, tailed.stderr[-3000:]
    assert json.loads((tmp_path / "t.json").read_text())["evaluations"] == 4
    # issue 4's baseline scored on the same draws, the model's medians printed over the blobs'
    blobbed = run("--blobs", "--json", "blobs.json")
    assert blobbed.returncode == 0 and "blobiness" in blobbed.stdout, blobbed.stderr[-3000:]
    b = json.loads((tmp_path / "blobs.json").read_text())
    assert b["evaluations"] == 0 and set(b["medians"]) == set(c["medians"]) and b["ratios"] != c["ratios"]
    model_over_blobs = run("--from-raw", "raw.npz", "--finish", "0", "0", "0", "0", "--against", "blobs.json")
    assert model_over_blobs.returncode == 0 and "against blobs.json (blobs, blobiness" in model_over_blobs.stdout
    for bad, message in (
        (["--blobs", "--kind", "cathode"], "two-phase media"),
        (["--blobs", "--real"], "give one"),
        (["--blobs", "--seed", "1", "--against", "blobs.json"], "other reference draws"),
        (["--steps", "4", "--tail", "1"], "steps + tail must be even"),
        (["--from-raw", "raw.npz", "--tail", "2"], "--tail would not apply"),
        (["--from-raw", "raw.npz", "--generation-seed", "3"], "was sampled for"),
        (["--from-raw", "raw.npz", "--finish", "0", "-1", "0", "0"], "must be >= 0"),
        (["--from-raw", "raw.npz", "--finish", "0", "0", "0", "x"], "--finish takes"),
        (["--from-raw", "raw.npz", "--steps", "8"], "--steps would not apply"),
    ):
        res = run(*bad)
        assert res.returncode != 0 and message in res.stderr, res.stderr[-3000:]
