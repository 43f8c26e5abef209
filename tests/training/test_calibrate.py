import numpy as np
import pytest

from microgen.domains import get_kind
from microgen.training.calibrate import calibrate_sampling
from tests.helpers import tiny_model


def _blobs(shape, seed):
    from scipy import ndimage

    field = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), (0, 2, 2), mode="wrap")
    return (field > np.quantile(field, 0.7)).astype(np.uint8)


def test_calibration_scores_every_pair_and_keeps_the_best():
    model = tiny_model(channels=1)
    train = _blobs((8, 24, 24), 0)
    kw = dict(size=16, n=3, grid=(1.0, 1.3, 0.8), polish_grid=(0, 2), steps=6)
    cal = calibrate_sampling(model, train, get_kind("rock"), **kw)
    assert set(cal["scores"]) == {"1", "1.3", "0.8"} and all(set(v) == {"0", "2"} for v in cal["scores"].values())
    assert all(np.isfinite(x) for v in cal["scores"].values() for x in v.values())
    best = cal["scores"][f"{cal['sharpness']:g}"][str(cal["polish"])]
    assert best == min(x for v in cal["scores"].values() for x in v.values())
    assert cal["n"] == 3 and cal["size"] == 16 and "held-out" in cal["data"]
    assert model.sharpness == 1.0  # the model is not modified
    assert calibrate_sampling(model, train, get_kind("rock"), **kw) == cal  # same seed, same images, same choice


def test_calibration_needs_candidates():
    with pytest.raises(ValueError, match="empty"):
        calibrate_sampling(tiny_model(channels=1), _blobs((4, 16, 16), 0), get_kind("rock"), size=16, grid=())
