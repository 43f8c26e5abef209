import json

import numpy as np
import pytest
import torch

from microgen.engine import DSDModel, rate_loss
from tests.helpers import tiny_model


def _perturb(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("channels, boundary, ndim", [(1, "periodic", 2), (2, "noflux", 2), (1, "noflux", 3)])
def test_save_load_gives_identical_rates(tmp_path, channels, boundary, ndim):
    model = _perturb(tiny_model(channels, boundary, ndim))
    shape = (8,) * ndim
    counts = torch.randint(0, 2, (2, channels, *shape), generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.01, 0.5])
    before = model.rates(counts, t)
    model.save(tmp_path / "m")
    loaded = DSDModel.load(tmp_path / "m")
    assert torch.equal(before, loaded.rates(counts, t))
    assert loaded.config_dict() == model.config_dict()


def test_rates_are_zero_on_empty_voxels_and_across_noflux_faces():
    model = _perturb(tiny_model(2, "noflux"))
    counts = torch.randint(0, 2, (2, 2, 8, 8), generator=torch.Generator().manual_seed(1))
    rates = model.rates(counts, torch.tensor([0.1, 0.9]))
    assert (rates >= 0).all()
    assert (rates.sum(2)[counts == 0] == 0).all()
    assert (rates[:, :, 0, -1] == 0).all() and (rates[:, :, 1, 0] == 0).all()


def test_periodic_network_is_translation_equivariant():
    model = _perturb(tiny_model(1, "periodic"))
    counts = torch.randint(0, 2, (1, 1, 8, 8), generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0.3])
    shifted = model.rates(torch.roll(counts, (2, 4), (2, 3)), t)
    torch.testing.assert_close(shifted, torch.roll(model.rates(counts, t), (2, 4), (3, 4)), rtol=1e-5, atol=1e-6)


def test_tampered_weights_are_refused(tmp_path):
    tiny_model().save(tmp_path)
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        DSDModel.load(tmp_path)


def test_mismatched_config_is_refused(tmp_path):
    tiny_model().save(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["network"]["width"] = 16
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not match"):
        DSDModel.load(tmp_path)
    with pytest.raises(ValueError, match="not a model directory"):
        DSDModel.load(tmp_path / "nowhere")


def test_likelihood_loss_is_zero_at_the_exact_rates_and_positive_elsewhere():
    gen = torch.Generator().manual_seed(0)
    target = torch.rand((3, 1, 4, 8, 8), generator=gen) * (torch.rand((3, 1, 1, 8, 8), generator=gen) < 0.3)
    particles = torch.tensor([10.0, 20.0, 30.0])
    zero = rate_loss(target, target, particles=particles)
    np.testing.assert_allclose(zero.numpy(), 0.0, atol=1e-6)
    for scale in (0.5, 2.0):
        assert (rate_loss(target * scale, target, particles=particles) > 1e-3).all()
    # the minimum over a constant factor is at factor 1
    losses = [rate_loss(target * s, target, particles=particles).sum().item() for s in (0.9, 1.0, 1.1)]
    assert losses[1] < losses[0] and losses[1] < losses[2]
    l1 = rate_loss(target + 0.1, target, particles=particles, kind="l1")
    np.testing.assert_allclose(l1.numpy(), (0.1 * target[0].numel()) / particles.numpy(), rtol=1e-4)
    with pytest.raises(ValueError, match="likelihood"):
        rate_loss(target, target, particles=particles, kind="l2")
