"""The cheap benchmark scripts run end to end at tiny sizes (they print figures, nothing is timed here)."""

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
