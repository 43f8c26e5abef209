import numpy as np
import pytest

from microgen.metrics import two_point_autocovariance
from microgen.metrics.baselines import blobs, blobs_like, tune_blobiness


@pytest.mark.parametrize("shape", [(32, 32), (20, 36), (12, 12, 12)])
@pytest.mark.parametrize("porosity", [0.0, 0.07, 0.3, 0.5, 1.0])
def test_blobs_have_the_exact_pore_count(shape, porosity):
    im = blobs(shape, porosity, 1.5, np.random.default_rng(0))
    assert im.shape == shape and im.dtype == np.uint8 and set(np.unique(im)) <= {0, 1}
    assert int(im.sum()) == int(np.floor(porosity * np.prod(shape) + 0.5))


def test_blobiness_sets_the_feature_size():
    rng = np.random.default_rng(1)
    coarse, fine = (blobs((96, 96), 0.3, b, rng) for b in (0.5, 4.0))
    # the autocovariance of coarse blobs decays more slowly (larger features)
    assert two_point_autocovariance(coarse == 1, 12)[6] > two_point_autocovariance(fine == 1, 12)[6] + 0.02


def test_tuning_recovers_the_blobiness_of_blob_data():
    rng = np.random.default_rng(2)
    data = [blobs((64, 64), p, 3.0, rng) for p in (0.2, 0.25, 0.3, 0.35) * 2]
    best, scores = tune_blobiness(data, rng, candidates=(0.5, 1.0, 3.0, 6.0))
    assert best == 3.0 and set(scores) == {0.5, 1.0, 3.0, 6.0}
    like = blobs_like(data, best, rng)
    assert [int(a.sum()) for a in like] == [int(a.sum()) for a in data]


@pytest.mark.parametrize("kwargs, match", [({"porosity": 1.5}, r"\[0, 1\]"), ({"blobiness": 0}, "> 0")])
def test_bad_blob_parameters(kwargs, match):
    args = {"shape": (8, 8), "porosity": 0.3, "blobiness": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        blobs(rng=np.random.default_rng(0), **args)
