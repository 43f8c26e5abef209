import json

import numpy as np
import pytest
import torch

from microgen.engine import DSDModel, DSDProcess
from microgen.training import TrainConfig, Trainer, to_channels
from microgen.training.holes import check_holes, corrupt_holes


def _crops(batch=5, channels=2, size=24, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, channels + 1, size=(batch, size, size))
    return torch.as_tensor(np.stack([labels == c + 1 for c in range(channels)], 1).astype(np.int64))


def _hole_boxes(moves):
    """(y0, y1, x0, x1) of each image's hole, from the open-move mask."""
    boxes = []
    for m in moves[:, 0].amax(1):
        ys, xs = np.nonzero(m.numpy())
        boxes.append((ys.min(), ys.max() + 1, xs.min(), xs.max() + 1))
    return boxes


def test_only_the_hole_is_corrupted_and_its_particles_are_conserved():
    crops = _crops()
    t = torch.tensor([0.05, 0.2, 0.5, 1.0, 3.0], dtype=torch.float64)
    out = corrupt_holes(crops, t, 40.0, [4, 12], torch.Generator().manual_seed(1))
    boxes = _hole_boxes(out.open_moves)
    assert len({(y1 - y0, x1 - x0) for y0, y1, x0, x1 in boxes}) == 1  # one hole size per batch
    for b, (y0, y1, x0, x1) in enumerate(boxes):
        h, w = y1 - y0, x1 - x0
        assert 4 <= h <= 12 and 4 <= w <= 12
        inside = np.zeros(crops.shape[2:], bool)
        inside[y0:y1, x0:x1] = True
        noisy, clean = out.noisy[b].numpy(), crops[b].numpy()
        np.testing.assert_array_equal(noisy[:, ~inside], clean[:, ~inside])  # context bit for bit
        np.testing.assert_array_equal(noisy[:, inside].sum(1), clean[:, inside].sum(1))  # exact mass
        assert out.particles[b] == clean[:, inside].sum()
        assert (out.rates[b][:, :, torch.as_tensor(~inside)] == 0).all()
        # hops inside the hole only: 4 h w directions minus the 2 (h + w) that would leave it
        assert int(out.open_moves[b].sum()) == 4 * h * w - 2 * (h + w)
        assert (out.rates[b] * (1 - out.open_moves[b]) == 0).all()


def test_hole_rates_are_those_of_the_no_flux_sub_lattice():
    """Replaying the same random draws: the hole's content and rates are what the no-flux process
    gives for the cut-out sub-image (so the indexing puts everything in its place)."""
    crops = _crops(batch=3, channels=1, size=16, seed=2)
    t = torch.tensor([0.1, 0.4, 0.9], dtype=torch.float64)
    out = corrupt_holes(crops, t, 25.0, [5, 9], torch.Generator().manual_seed(7))
    gen = torch.Generator().manual_seed(7)
    h, w = (int(v) for v in torch.randint(5, 10, (2,), generator=gen))
    ys = torch.randint(0, 16 - h + 1, (3,), generator=gen)
    xs = torch.randint(0, 16 - w + 1, (3,), generator=gen)
    sub = torch.stack([crops[b, :, y : y + h, x : x + w] for b, (y, x) in enumerate(zip(ys.tolist(), xs.tolist()))])
    noisy, rates = DSDProcess(25.0, "noflux", 2).corrupt(sub, t, gen)
    for b, (y, x) in enumerate(zip(ys.tolist(), xs.tolist())):
        torch.testing.assert_close(out.noisy[b, :, y : y + h, x : x + w], noisy[b])
        torch.testing.assert_close(out.rates[b, :, :, y : y + h, x : x + w], rates[b])


def test_check_holes_names_the_allowed_range():
    assert check_holes([], 32) == []
    assert check_holes([4, 8], 32) == [4, 8]
    for bad in ([8, 4], [1, 4], [4, 31], [4]):
        with pytest.raises(ValueError, match="smallest"):
            check_holes(bad, 32)
    with pytest.raises(ValueError, match="crop - 2"):
        TrainConfig(crop=16, mults=[1, 2], holes=[4, 20])
    with pytest.raises(ValueError, match="leave validate_every at 0"):
        TrainConfig(crop=16, mults=[1, 2], holes=[4, 8], validate_every=10)


def test_inpainting_training_lowers_the_loss_and_marks_the_model(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    vol = np.zeros((6, 32, 32), np.uint8)
    vol[:, :, ::4] = 1  # vertical pore stripes: the context tells where the hole's pores go
    vol[:, rng.integers(0, 32, 40), rng.integers(0, 32, 40)] = 1
    cfg = TrainConfig(
        crop=16, batch=4, steps=60, width=8, mults=[1, 2], r=30.0, schedule_steps=50, warmup=2, lr=3e-3,
        checkpoint_every=60, log_every=10, holdout=0.0, augment=False, holes=[4, 8],
    )  # fmt: skip
    trainer = Trainer(cfg, [to_channels(vol, [1])], tmp_path / "m", device="cpu")
    losses = []
    trainer.fit(lambda step, rec: losses.append(rec["loss"]))
    assert losses[-1] < 0.8 * losses[0]
    model = DSDModel.load(tmp_path / "m")
    assert model.meta["inpainting"] == {"holes": [4, 8]}
    assert json.loads((tmp_path / "m" / "train_config.json").read_text())["holes"] == [4, 8]
