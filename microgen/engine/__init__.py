"""Discrete Spatial Diffusion engine: lattices, kernels, the forward process, the rate network,
losses, samplers and model persistence. Imports only torch, numpy and scipy."""

from . import kernels
from .lattice import BOUNDARIES, Lattice, directions
from .losses import rate_loss
from .model import DSDModel, ProcessConfig
from .network import NetworkConfig, RateUNet
from .precision import PRECISIONS, autocast, resolve_precision
from .process import DSDProcess
from .sampler import (
    BinomialTauLeaping,
    MultistepLeaping,
    PoissonLeaping,
    RestartLeaping,
    SampleResult,
    TrapezoidalLeaping,
    default_t_end,
    resolve_collisions,
    sample,
    sharpen,
)
from .schedules import Schedule

__all__ = [
    "BOUNDARIES",
    "PRECISIONS",
    "BinomialTauLeaping",
    "DSDModel",
    "DSDProcess",
    "Lattice",
    "MultistepLeaping",
    "NetworkConfig",
    "PoissonLeaping",
    "RestartLeaping",
    "ProcessConfig",
    "RateUNet",
    "SampleResult",
    "Schedule",
    "autocast",
    "TrapezoidalLeaping",
    "default_t_end",
    "directions",
    "kernels",
    "rate_loss",
    "resolve_collisions",
    "resolve_precision",
    "sample",
    "sharpen",
]
