"""Lattices: shape, boundary condition and the hop directions of the DSD process."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

BOUNDARIES = ("periodic", "noflux")


def check_boundary(boundary: str) -> str:
    """Return ``boundary`` if it is a known boundary condition, else raise ``ValueError``."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    return boundary


def check_count(value, what: str) -> int:
    """Return ``value`` as an int if it is an integer >= 0 (not a bool), else raise ``ValueError``
    naming ``what``."""
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0):
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    return int(value)


def directions(ndim: int) -> list[tuple[int, int]]:
    """Hop directions as ``(axis, sign)`` pairs, in the order used for rate channels.

    Direction ``j`` is axis ``j // 2`` with sign ``+1`` for even ``j`` and ``-1`` for odd ``j``.
    """
    return [(axis, sign) for axis in range(ndim) for sign in (1, -1)]


@dataclass(frozen=True)
class Lattice:
    """A rectangular lattice of voxels with periodic or no-flux boundaries.

    Parameters
    ----------
    shape : tuple of int
        Number of voxels along each spatial axis (1, 2 or 3 axes).
    boundary : {"periodic", "noflux"}
        ``"periodic"`` wraps hops around the domain; ``"noflux"`` forbids hops out of it.
    """

    shape: tuple[int, ...]
    boundary: str = "periodic"

    def __post_init__(self) -> None:
        check_boundary(self.boundary)
        if not 1 <= len(self.shape) <= 3:
            raise ValueError(f"a lattice has 1, 2 or 3 axes, got shape {self.shape}")
        if any(int(n) < 2 for n in self.shape):
            raise ValueError(f"every lattice axis needs at least 2 voxels, got shape {self.shape}")
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def directions(self) -> list[tuple[int, int]]:
        return directions(self.ndim)

    def open_moves(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Boolean ``(2*ndim, *shape)`` mask: True where a hop in direction ``j`` stays inside.

        All True for periodic lattices; for no-flux lattices the hops across the faces are False.
        """
        mask = torch.ones((2 * self.ndim, *self.shape), dtype=torch.bool, device=device)
        if self.boundary == "noflux":
            for j, (axis, sign) in enumerate(self.directions):
                edge = self.shape[axis] - 1 if sign > 0 else 0
                mask[j].select(axis, edge).fill_(False)
        return mask
