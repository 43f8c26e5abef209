"""The examples run end to end in their fast mode (tiny sizes) with the shipped models."""

import subprocess
import sys
from pathlib import Path

import pytest

from microgen.domains import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "script, model",
    [("porosity_sweep.py", "berea"), ("cathode_sweep.py", "nmc"), ("use_with_porespy_taufactor.py", "berea")],
)
def test_example_runs_fast(tmp_path, script, model):
    if model not in registry.available():
        pytest.skip(f"pretrained model {model!r} is not installed")
    pytest.importorskip("taufactor")
    cmd = [sys.executable, str(ROOT / "examples" / script), "--fast"]
    figure = tmp_path / "sweep.png"
    if script == "porosity_sweep.py":
        cmd += ["--out", str(figure)]
    if script == "cathode_sweep.py":
        cmd += ["--figure", str(figure)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip()
    if script != "use_with_porespy_taufactor.py":
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
