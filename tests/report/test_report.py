import json
import re

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from scipy import ndimage

import microgen
from microgen.cli import main


def _blobs(shape, seed, sigma=2.0, fraction=0.3):
    field = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return (field > np.quantile(field, 1 - fraction)).astype(np.uint8)


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.tif"
    tifffile.imwrite(path, _blobs((16, 48, 48), 0))
    return path


def test_report_html_and_json_agree(tmp_path, volume):
    gen = np.stack([_blobs((32, 32), s) for s in range(1, 5)])
    report = microgen.validate(gen, volume, n_reference=6)
    report.save(tmp_path / "r")
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    html = (tmp_path / "r" / "report.html").read_text()
    assert data["passed"] == report.passed
    for row in data["rows"]:
        cells = re.search(rf"<td>{re.escape(row['metric'])}</td><td>[^<]+</td>" + "<td>([^<]+)</td>" * 4, html)
        assert cells, row["metric"]
        for value, key in zip(cells.groups(), ("generated", "real", "distance", "spread")):
            assert float(value) == pytest.approx(row[key], rel=1e-3, nan_ok=True), (row["metric"], key)
    assert "data:image/png;base64," in html and (tmp_path / "r" / "figures.png").stat().st_size > 1000
    assert "two_point[1]" in data["curves"]


def test_one_fraction_for_all_images_is_flagged(volume):
    same = np.stack([_blobs((32, 32), s) for s in range(1, 5)])  # every image 30 % pore
    assert "one image at each reference" in microgen.validate(same, volume, n_reference=6).info["phase fractions"]
    spread = np.stack([_blobs((32, 32), s, fraction=f) for s, f in zip(range(1, 5), (0.15, 0.25, 0.35, 0.45))])
    assert "phase fractions" not in microgen.validate(spread, volume, n_reference=6).info


def test_noise_fails_and_blobs_do_better(volume):
    noise = (np.random.default_rng(9).random((4, 32, 32)) < 0.3).astype(np.uint8)
    bad = {r["metric"]: r for r in microgen.validate(noise, volume, n_reference=6).rows}
    good = {
        r["metric"]: r
        for r in microgen.validate(np.stack([_blobs((32, 32), s) for s in range(1, 5)]), volume, n_reference=6).rows
    }
    assert not bad["two_point[1]"]["passed"]
    assert good["two_point[1]"]["ratio"] < bad["two_point[1]"]["ratio"]
    assert good["chord_length[1]"]["ratio"] < bad["chord_length[1]"]["ratio"]


def test_cathode_report_has_tpb_and_diffusivity(tmp_path):
    pytest.importorskip("taufactor")
    vol = _blobs((12, 32, 32), 1, fraction=0.5) + (_blobs((12, 32, 32), 2, fraction=0.15) * 2)
    vol[vol == 3] = 1
    gen = np.stack([vol[0], vol[1]])
    report = microgen.validate(gen, vol, n_reference=4, transport=True)
    names = {r["metric"] for r in report.rows}
    assert {"tpb_density", "relative_diffusivity[0]", "interface[1-2]"} <= names


def test_validate_cli(tmp_path, volume):
    gen = np.stack([_blobs((32, 32), s) for s in range(1, 4)])
    tifffile.imwrite(tmp_path / "gen.tif", gen, photometric="minisblack")
    res = CliRunner().invoke(
        main,
        [
            "validate",
            str(tmp_path / "gen.tif"),
            "--reference",
            str(volume),
            "-o",
            str(tmp_path / "rep"),
            "--n-reference",
            "5",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rep" / "report.html").is_file() and "report in" in res.output
    res = CliRunner().invoke(
        main, ["validate", str(tmp_path / "gen.tif"), "--reference", "granite", "-o", str(tmp_path / "rep2")]
    )
    assert res.exit_code == 2 and "neither a pretrained model" in res.output


def test_report_renders_in_headless_chromium(tmp_path, volume):
    import importlib.util
    import shutil
    from pathlib import Path

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("Chromium is not installed (Debian package: chromium)")
    spec = importlib.util.spec_from_file_location(
        "render_report", Path(__file__).resolve().parents[2] / "examples" / "render_report.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    gen = np.stack([_blobs((32, 32), s) for s in range(1, 4)])
    microgen.validate(gen, volume, n_reference=5).save(tmp_path / "r")
    shot = mod.render(tmp_path / "r" / "report.html", tmp_path / "shot.png", 1000, 1400)
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (1400, 1000)
    assert pixels[..., :3].std() > 0.05  # not a blank page: text, table and figures drew


@pytest.mark.parametrize(
    "generated, match",
    [
        (np.zeros((0, 8, 8), np.uint8), "empty"),
        (np.full((2, 32, 32), 0.5), "integer"),
        (np.full((2, 32, 32), 7, np.uint8), "outside 0..2"),
        ([np.zeros((32, 32), np.uint8), np.zeros((4, 32, 32), np.uint8)], "same shape"),
        (np.random.default_rng(0).integers(0, 3, (2, 32, 32)).astype(np.uint8), "compare like with like"),
    ],
)
def test_bad_validation_input(tmp_path, volume, generated, match):
    with pytest.raises(ValueError, match=match):
        microgen.validate(generated, volume, n_reference=4)


def test_stored_statistics_per_size_with_diffusivity(tmp_path, monkeypatch):
    """A model directory's reference.json (as `microgen export` writes it) serves validation at
    each stored size, with the pore diffusivity compared without any reference images."""
    from microgen.domains import registry
    from microgen.training.export import reference_statistics

    vol = _blobs((24, 48, 48), 3, fraction=0.6)  # label 1 = pore, connected
    rng = np.random.default_rng(0)
    sets = [reference_statistics(vol[12:], vol[:12], [1], s, 6, rng, diffusivity=1) for s in (24, 32)]
    model = tmp_path / "models" / "toyrock"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "reference.json").write_text(json.dumps({"sets": sets}))
    monkeypatch.setattr(registry, "pretrained_root", lambda: tmp_path / "models")
    assert registry.reference("toyrock", 32)["size"] == 32
    gen = np.stack([_blobs((32, 32), s, fraction=0.6) for s in range(4)])
    rows = {r["metric"]: r for r in microgen.validate(gen, "toyrock").rows}
    assert rows["relative_diffusivity[1]"]["spread"] > 0
    assert np.isfinite(rows["relative_diffusivity[1]"]["ratio"])
    with pytest.raises(ValueError, match="24x24 or 32x32"):
        microgen.validate(gen[:, :16, :16], "toyrock")
