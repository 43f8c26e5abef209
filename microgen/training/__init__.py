"""Training DSD models on label volumes (library side of ``microgen train``)."""

from .data import CropSampler, split_holdout, to_channels
from .trainer import TrainConfig, Trainer

__all__ = ["CropSampler", "TrainConfig", "Trainer", "split_holdout", "to_channels"]
