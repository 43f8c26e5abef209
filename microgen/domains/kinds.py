"""Material kinds: which label codes exist and which of them are particles (channels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaterialKind:
    """A family of segmented images.

    Attributes
    ----------
    name : str
    phases : dict label code -> phase name
    particle_labels : tuple of label codes that become particle channels, in channel order;
        the remaining code is the background (what is left when particles are placed).
    """

    name: str
    phases: dict
    particle_labels: tuple[int, ...]

    @property
    def background(self) -> int:
        (code,) = [c for c in self.phases if c not in self.particle_labels]
        return code

    @property
    def transport_phase(self) -> int:
        """The phase whose relative diffusivity validation reports: the pore phase."""
        (code,) = [c for c, name in self.phases.items() if name == "pore"]
        return code

    @property
    def channel_names(self) -> list[str]:
        return [self.phases[c] for c in self.particle_labels]

    def to_labels(self, engine_labels: np.ndarray) -> np.ndarray:
        """Engine label images (0 = no particle, ``c + 1`` = channel ``c``) -> this kind's codes."""
        lut = np.array([self.background, *self.particle_labels], dtype=np.uint8)
        return lut[engine_labels]


KINDS = {
    "rock": MaterialKind("rock", {0: "grain", 1: "pore"}, (1,)),
    "cathode": MaterialKind("cathode", {0: "pore", 1: "active", 2: "binder"}, (1, 2)),
}


def get_kind(name: str) -> MaterialKind:
    if name not in KINDS:
        raise ValueError(f"unknown material kind {name!r}; choose one of {sorted(KINDS)}")
    return KINDS[name]
