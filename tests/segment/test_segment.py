import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from microgen.cli import main
from microgen.segment import multi_otsu, otsu, remove_small, segment


def phantom(phases=2, shape=(128, 128), noise=12.0, seed=0):
    """Disks (and, for 3 phases, rings of a middle grey) on a background, plus Gaussian noise.
    Grey levels 60 / 120 / 180 for classes 0 / 1 / 2 (darkest first)."""
    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, dtype=np.uint8)
    yy, xx = np.indices(shape)
    for _ in range(14):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(6, 14)
        d = np.hypot(yy - cy, xx - cx)
        if phases == 3:
            truth[(d <= r + 3) & (truth == 0)] = 1
            truth[d <= r] = 2
        else:
            truth[d <= r] = 1
    grey = np.array([60, 120, 180] if phases == 3 else [60, 180], dtype=np.float64)[truth]
    return (grey + rng.normal(0, noise, shape)).clip(0, 255).astype(np.uint8), truth


@pytest.mark.parametrize("denoise", ["median", "nlm", "gaussian"])
def test_two_phase_phantom_accuracy(denoise):
    gray, truth = phantom(2, noise=25.0)  # SNR 120 / 25
    res = segment(gray, 2, denoise_method=denoise, min_size=10)
    assert np.mean(res.labels == truth) >= 0.98


@pytest.mark.parametrize("denoise", ["median", "nlm"])
def test_three_phase_phantom_accuracy_and_cathode_mapping(denoise):
    gray, truth = phantom(3, noise=12.0)  # steps of 60 grey levels, sigma 12
    res = segment(gray, 3, kind="cathode", denoise_method=denoise, min_size=5)
    expected = np.array([0, 2, 1])[truth]  # darkest pore, middle binder, brightest active
    assert np.mean(res.labels == expected) >= 0.98


def test_rock_mapping_dark_pores_and_3d_volume():
    gray, truth = phantom(2, shape=(64, 64), noise=10.0)
    vol = np.stack([gray] * 4)
    res = segment(vol, 2, kind="rock", denoise_method="median")
    assert res.labels.shape == vol.shape
    assert np.mean(res.labels[0] == (truth == 0)) >= 0.98  # dark class -> 1 = pore
    bright = segment(vol, 2, kind="rock", denoise_method="median", bright_pore=True)
    assert np.array_equal(bright.labels, 1 - res.labels)


def test_otsu_thresholds_separate_two_gaussians():
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(50, 5, 5000), rng.normal(150, 5, 5000), rng.normal(250, 5, 5000)
    # the between-class variance is flat across an empty gap: any cut inside it separates the classes
    t = otsu(np.concatenate([a, b]))
    assert (a < t).mean() > 0.999 and (b > t).mean() > 0.999
    t1, t2 = multi_otsu(np.concatenate([a, b, c]), 3)
    assert (a < t1).mean() > 0.999 and ((b > t1) & (b < t2)).mean() > 0.999 and (c > t2).mean() > 0.999


def test_remove_small_islands_and_holes():
    labels = np.zeros((20, 20), dtype=np.uint8)
    labels[5:15, 5:15] = 1
    labels[9, 9] = 0  # a one-voxel hole
    labels[1, 1] = 1  # a one-voxel island
    out, changed = remove_small(labels, 4)
    assert changed == 2 and out[9, 9] == 1 and out[1, 1] == 0


@pytest.mark.parametrize(
    "image, phases, match",
    [
        (np.full((16, 16), 7, np.uint8), 2, "constant"),
        (np.tile(np.array([0, 1], np.uint8), (8, 4)), 3, "too few"),
        (np.zeros((32, 32, 3), np.uint8) + np.arange(3, dtype=np.uint8), 2, "colour"),
        (np.zeros((8, 8), bool), 2, "dtype"),
        (np.full((8, 8), np.nan), 2, "dtype|NaN"),
    ],
)
def test_bad_input(image, phases, match):
    with pytest.raises(ValueError, match=match):
        segment(image, phases)


def test_segment_cli(tmp_path):
    gray, truth = phantom(3, noise=12.0)
    tifffile.imwrite(tmp_path / "g.tif", gray)
    res = CliRunner().invoke(
        main,
        [
            "segment",
            str(tmp_path / "g.tif"),
            "-o",
            str(tmp_path / "l.tif"),
            "--phases",
            "3",
            "--denoise",
            "median",
            "--min-size",
            "5",
            "--preview",
            str(tmp_path / "l.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    labels = tifffile.imread(tmp_path / "l.tif")
    assert np.mean(labels == np.array([0, 2, 1])[truth]) >= 0.98
    assert "fractions" in res.output
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((16, 16), np.uint8))
    res = CliRunner().invoke(main, ["segment", str(tmp_path / "flat.tif"), "-o", str(tmp_path / "f.tif")])
    assert res.exit_code == 2 and "constant" in res.output and not (tmp_path / "f.tif").exists()


@pytest.mark.data
@pytest.mark.parametrize("name, phases", [("nmc_gray_slice.tif", 3), ("nmc1cal_gray.tif", 3)])
def test_real_grey_scans(data_dir, name, phases):
    gray = tifffile.imread(data_dir / "grayscale" / name)
    res = segment(gray, phases, kind="cathode", denoise_method="median", min_size=10)
    assert res.labels.shape == gray.shape
    assert all(0.05 < f < 0.9 for f in res.fractions.values())
    assert res.thresholds[0] < res.thresholds[1]


def test_train_from_grey_scan_with_segment(tmp_path):
    gray, _ = phantom(2, shape=(32, 32), noise=10.0)
    tifffile.imwrite(tmp_path / "g.tif", np.stack([gray] * 6))
    res = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(tmp_path / "g.tif"),
            "--kind",
            "rock",
            "--segment",
            "--out",
            str(tmp_path / "run"),
            "--crop",
            "16",
            "--steps",
            "2",
            "--batch",
            "2",
            "--width",
            "8",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "model.safetensors").is_file()
