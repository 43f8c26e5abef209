import numpy as np
import pytest

from microgen.domains import get_kind
from microgen.training.calibrate import calibrate_sharpness
from tests.helpers import tiny_model


def _blobs(shape, seed):
    from scipy import ndimage

    field = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), (0, 2, 2), mode="wrap")
    return (field > np.quantile(field, 0.7)).astype(np.uint8)


def test_calibration_scores_every_candidate_and_keeps_the_best():
    model = tiny_model(channels=1)
    train = _blobs((8, 24, 24), 0)
    grid = (1.0, 1.3, 0.8)
    cal = calibrate_sharpness(model, train, get_kind("rock"), size=16, n=3, grid=grid, steps=6, polish=1)
    assert set(cal["scores"]) == {"1", "1.3", "0.8"} and all(np.isfinite(v) for v in cal["scores"].values())
    assert cal["scores"][f"{cal['sharpness']:g}"] == min(cal["scores"].values())
    assert cal["n"] == 3 and cal["size"] == 16 and "held-out" in cal["data"]
    assert model.sharpness == 1.0  # the model is not modified
    again = calibrate_sharpness(model, train, get_kind("rock"), size=16, n=3, grid=grid, steps=6, polish=1)
    assert again == cal  # same seed, same images, same choice


def test_calibration_needs_candidates():
    with pytest.raises(ValueError, match="empty"):
        calibrate_sharpness(tiny_model(channels=1), _blobs((4, 16, 16), 0), get_kind("rock"), size=16, grid=())
