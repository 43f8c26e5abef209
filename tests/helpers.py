"""Shared test helpers: tiny models and the location of the real scans."""

from pathlib import Path

import torch

from microgen.engine import DSDModel, NetworkConfig, ProcessConfig, Schedule

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny_model(
    channels: int = 1,
    boundary: str = "periodic",
    ndim: int = 2,
    r: float = 20.0,
    seed: int = 0,
    patch: int = 1,
    head: int = 0,
):
    torch.manual_seed(seed)
    net = NetworkConfig(
        channels=channels,
        ndim=ndim,
        width=8,
        mults=[1, 2],
        blocks=1,
        periodic=boundary == "periodic",
        patch=patch,
        head=head,
    )
    proc = ProcessConfig(r=r, boundary=boundary, schedule=Schedule("power", 50, 3.0))
    return DSDModel(net, proc).eval()


def perturbed_tiny_model(**kwargs):
    """:func:`tiny_model` with its weights nudged off their initialisation, so that the rates
    depend on the image (an untrained network's barely do)."""
    model = tiny_model(**kwargs)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model
