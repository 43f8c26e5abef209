"""The DSD forward process: exact corruption at any time and the exact reverse rates (Eq. 4).

Counts are integer tensors ``(B, C, *shape)``: ``counts[b, c, x]`` particles of channel ``c`` at
voxel ``x`` of image ``b``. Rates are ``(B, C, 2*ndim, *shape)``: the per-voxel rate at which one of
the particles of channel ``c`` at ``x`` hops in direction ``j`` (see :func:`lattice.directions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import kernels
from .lattice import check_boundary, directions


class DSDProcess:
    """Independent nearest-neighbour random walks of particles at rate ``r`` per direction.

    Parameters
    ----------
    r : float
        Hop rate per particle and direction.
    boundary : {"periodic", "noflux"}
        Boundary condition of every axis.
    ndim : int
        Number of spatial axes (1, 2 or 3).
    """

    def __init__(self, r: float, boundary: str = "periodic", ndim: int = 2) -> None:
        if not (np.isfinite(r) and r > 0):
            raise ValueError(f"the hop rate r must be a positive finite number, got {r}")
        if ndim not in (1, 2, 3):
            raise ValueError(f"ndim must be 1, 2 or 3, got {ndim}")
        self.r = float(r)
        self.boundary = check_boundary(boundary)
        self.ndim = int(ndim)
        self.directions = directions(self.ndim)

    def __repr__(self) -> str:
        return f"DSDProcess(r={self.r}, boundary={self.boundary!r}, ndim={self.ndim})"

    # ------------------------------------------------------------------ forward process
    def corrupt(
        self,
        counts: torch.Tensor,
        t: torch.Tensor | Sequence[float] | float,
        generator: torch.Generator | None = None,
        *,
        with_rates: bool = True,
        rates_dtype: torch.dtype = torch.float32,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the forward process from ``counts`` for time ``t`` (one time per image).

        Every particle is displaced independently along each axis by inverse-CDF sampling of the
        exact 1D kernel; the per-voxel reverse rates of Eq. (4) are then accumulated from each
        particle's own origin.

        Parameters
        ----------
        counts : integer tensor ``(B, C, *shape)``
        t : float or ``B`` floats in ``[0, +inf)``
        generator : torch.Generator, optional
            Source of randomness (on the device of ``counts``).
        with_rates : bool
            Skip the reverse rates when False (returns ``None`` for them).
        rates_dtype : torch.dtype
            Dtype of the returned rates. Kernel ratios are always computed in float64; the sum
            over the particles of a voxel is accumulated in this dtype (float32 by default, which
            halves memory traffic; use float64 to compare with brute-force sums).

        Returns
        -------
        noisy : tensor like ``counts``
            The corrupted counts; per image and channel the total is exactly conserved.
        rates : tensor ``(B, C, 2*ndim, *shape)`` of ``rates_dtype``, or None
            Exact reverse-time rates ``r * sum_i p_t(x + e | x0_i) / p_t(x | x0_i)``.
        """
        walk = self.displace(counts, t, generator)
        noisy = walk.counts()
        if not with_rates:
            return noisy, None
        return noisy, walk.reverse_rates(rates_dtype)

    def displace(
        self,
        counts: torch.Tensor,
        t: torch.Tensor | Sequence[float] | float,
        generator: torch.Generator | None = None,
    ) -> Walk:
        """Displace every particle of ``counts`` by the exact kernel at time ``t`` (per image).

        Returns a :class:`Walk` that knows each particle's origin and new position, from which the
        corrupted counts and the exact reverse rates follow.
        """
        counts = self._check_counts(counts)
        batch, channels = counts.shape[:2]
        shape = tuple(counts.shape[2:])
        times = _as_times(t, batch)
        volume = int(np.prod(shape))
        owner = _particle_sites(counts.reshape(-1))
        image_channel = owner // volume  # index b * C + c of each particle
        image = image_channel // channels
        origin = _unravel(owner % volume, shape)
        tables = [_AxisTables(self.r, times, n, self.boundary, counts.device) for n in shape]
        position = [tab.displace(x0, image, generator) for tab, x0 in zip(tables, origin)]
        return Walk(self, tuple(counts.shape), counts.dtype, image_channel, origin, position, tables)

    # ------------------------------------------------------------------ stationary law
    def prior(
        self,
        totals: torch.Tensor,
        shape: Sequence[int],
        generator: torch.Generator | None = None,
        *,
        free: torch.Tensor | None = None,
        intensity: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Place ``totals[b, c]`` particles independently and uniformly on the voxels.

        This is the stationary law of the process (the ``t -> infinity`` limit of corruption).
        With ``free`` (a boolean mask of shape ``shape``) particles go only to free voxels. With
        ``intensity`` (``(B, C, *shape)``, >= 0; e.g. :meth:`~microgen.engine.prior.SpectralPrior.
        field`) each particle lands on a voxel with probability proportional to it instead.
        """
        totals = torch.as_tensor(totals)
        if totals.ndim != 2:
            raise ValueError(f"totals must have shape (batch, channels), got {tuple(totals.shape)}")
        if (totals < 0).any():
            raise ValueError("particle totals must be >= 0")
        shape = tuple(int(s) for s in shape)
        device = totals.device
        volume = int(np.prod(shape))
        if free is None:
            allowed = torch.arange(volume, device=device)
        else:
            allowed = torch.nonzero(free.reshape(-1).to(device), as_tuple=False).squeeze(1)
            if allowed.numel() == 0:
                raise ValueError("no free voxel to place particles on")
        flat_totals = totals.reshape(-1).to(torch.long)
        if intensity is not None:
            return self._place(flat_totals, intensity, shape, generator, free).reshape(*totals.shape, *shape)
        owner = torch.repeat_interleave(torch.arange(flat_totals.numel(), device=device), flat_totals)
        pick = torch.randint(allowed.numel(), (owner.numel(),), generator=generator, device=device)
        index = owner * volume + allowed[pick]
        counts = torch.bincount(index, minlength=flat_totals.numel() * volume)
        return counts.reshape(*totals.shape, *shape)

    @staticmethod
    def _place(flat_totals, intensity, shape, generator, free) -> torch.Tensor:
        volume = int(np.prod(shape))
        weights = torch.as_tensor(intensity, dtype=torch.float64).to(flat_totals.device)
        if tuple(weights.shape[2:]) != shape or weights.shape[0] * weights.shape[1] != flat_totals.numel():
            raise ValueError(f"intensity must have shape (batch, channels, *{shape}), got {tuple(weights.shape)}")
        weights = weights.reshape(-1, volume)
        if free is not None:
            weights = weights * free.reshape(1, -1).to(weights)
        if (weights < 0).any() or not torch.isfinite(weights).all():
            raise ValueError("intensity must be finite and >= 0")
        out = torch.zeros((flat_totals.numel(), volume), dtype=torch.long, device=flat_totals.device)
        for i, n in enumerate(flat_totals.tolist()):
            if n == 0:
                continue
            if weights[i].sum() <= 0:
                raise ValueError("no voxel with positive intensity to place particles on")
            pick = torch.multinomial(weights[i], n, replacement=True, generator=generator)
            out[i] = torch.bincount(pick, minlength=volume)
        return out

    # ------------------------------------------------------------------ checks
    def _check_counts(self, counts: torch.Tensor) -> torch.Tensor:
        if not isinstance(counts, torch.Tensor):
            counts = torch.as_tensor(np.asarray(counts))
        if counts.dtype.is_floating_point or counts.dtype == torch.bool:
            if counts.dtype == torch.bool or bool((counts != counts.round()).any()):
                raise ValueError("counts must be non-negative integers")
            counts = counts.to(torch.long)
        if counts.ndim != 2 + self.ndim:
            raise ValueError(
                f"counts must have shape (batch, channels, {'x'.join('N' * self.ndim)}) for a "
                f"{self.ndim}D process, got {tuple(counts.shape)}"
            )
        if (counts < 0).any():
            raise ValueError("counts must be non-negative integers (found a negative count)")
        return counts.to(torch.long)


@dataclass
class Walk:
    """Particles of a batch after a forward displacement (the Lagrangian view of corruption).

    Attributes
    ----------
    image_channel : tensor ``(P,)``
        ``b * C + c`` for every particle.
    origin, position : list of ``ndim`` tensors ``(P,)``
        Coordinates before and after the displacement.
    """

    process: DSDProcess
    counts_shape: tuple[int, ...]
    dtype: torch.dtype
    image_channel: torch.Tensor
    origin: list[torch.Tensor]
    position: list[torch.Tensor]
    tables: list[_AxisTables]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.counts_shape[2:]

    def _voxel(self) -> torch.Tensor:
        return self.image_channel * int(np.prod(self.shape)) + _ravel(self.position, self.shape)

    def counts(self) -> torch.Tensor:
        """Corrupted counts ``(B, C, *shape)``."""
        total = int(np.prod(self.counts_shape))
        noisy = torch.bincount(self._voxel(), minlength=total)
        return noisy.reshape(self.counts_shape).to(self.dtype)

    def particle_ratios(self) -> torch.Tensor:
        """``(P, 2*ndim)`` kernel ratios ``p_t(x + e_j | x0) / p_t(x | x0)`` of every particle."""
        image = self.image_channel // self.counts_shape[1]
        cols = []
        for tab, x, x0 in zip(self.tables, self.position, self.origin):
            cols.extend(tab.ratios(x, x0, image))
        return torch.stack(cols, dim=1)

    def reverse_rates(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Exact per-voxel reverse rates of Eq. (4), ``(B, C, 2*ndim, *shape)``."""
        batch, channels = self.counts_shape[:2]
        volume = int(np.prod(self.shape))
        ratios = self.particle_ratios() * self.process.r
        n_dir = ratios.shape[1]
        rates = torch.zeros((batch * channels * volume, n_dir), dtype=dtype, device=ratios.device)
        rates.index_add_(0, self._voxel(), ratios.to(dtype))
        # (B*C*V, 2d) -> (B, C, 2d, *shape) as a strided view, no copy
        rates = rates.reshape(batch, channels, volume, n_dir).transpose(2, 3)
        return rates.reshape(batch, channels, n_dir, *self.shape)


class _AxisTables:
    """Per-image kernel tables for one axis: a displacement CDF and the ring kernel."""

    def __init__(self, r: float, times: np.ndarray, n: int, boundary: str, device) -> None:
        self.n = n
        self.boundary = boundary
        self.ring_len = n if boundary == "periodic" else 2 * n
        m = max(kernels.support(r, t) for t in times)
        self.m = m
        cdf = np.empty((len(times), 2 * m + 1))
        ring = np.empty((len(times), self.ring_len))
        for b, t in enumerate(times):
            q = kernels.free_kernel(r, t, m)
            c = np.cumsum(q)
            cdf[b] = c / c[-1]
            cdf[b, -1] = 1.0
            ring[b] = kernels.ring_kernel(r, t, self.ring_len)
        # offset each row by its image index so one 1D searchsorted serves the whole batch
        cdf += np.arange(len(times))[:, None]
        self.cdf = torch.as_tensor(cdf.reshape(-1), device=device)
        self.width = 2 * m + 1
        if boundary == "noflux":
            padded = np.concatenate([ring[:, -1:], ring, ring[:, :1]], axis=1)
            self.ring_padded = torch.as_tensor(padded.reshape(-1), device=device)
        if boundary == "periodic":
            # ratios depend only on the displacement d = x - x0 (mod n): tabulate them
            self.ratio_tables = [
                torch.as_tensor(_safe_ratio(np.roll(ring, -step, axis=1), ring).reshape(-1), device=device)
                for step in (1, -1)
            ]

    def displace(self, x0: torch.Tensor, image: torch.Tensor, generator) -> torch.Tensor:
        u = torch.rand(x0.shape, generator=generator, dtype=torch.float64, device=x0.device)
        pos = torch.searchsorted(self.cdf, u + image.to(torch.float64))
        pos = torch.minimum(pos - image * self.width, torch.tensor(self.width - 1, device=x0.device))
        return fold(x0 + (pos - self.m), self.n, self.boundary)

    def ratios(self, x, x0, image) -> tuple[torch.Tensor, torch.Tensor]:
        """``p_t(x + 1 | x0) / p_t(x | x0)`` and ``p_t(x - 1 | x0) / p_t(x | x0)`` per particle."""
        if self.boundary == "periodic":
            index = image * self.n + torch.remainder(x - x0, self.n)
            return self.ratio_tables[0][index], self.ratio_tables[1][index]
        # no-flux: p(y | x0) = R(y - x0) + R(y + x0 + 1) on the 2N ring; the padded ring (one extra
        # entry at each end) serves y = x - 1, x, x + 1 without further remainders
        width = self.ring_len + 2
        base = image * width + 1
        direct = torch.remainder(x - x0, self.ring_len).add_(base)
        mirror = torch.remainder(x + x0 + 1, self.ring_len).add_(base)
        ring = self.ring_padded
        # p_t(x | x0) > 0 for every sampled particle (its displacement was drawn where q_t > 0)
        inv_here = torch.reciprocal(ring[direct].add_(ring[mirror]))
        out = []
        for step, outside in ((1, x == self.n - 1), (-1, x == 0)):
            ratio = ring[direct + step].add_(ring[mirror + step]).mul_(inv_here)
            out.append(ratio.masked_fill_(outside, 0.0).clamp_(max=kernels.RATIO_CAP))
        return out[0], out[1]


def fold(x: torch.Tensor, n: int, boundary: str) -> torch.Tensor:
    """Map free-lattice positions onto an ``n``-site axis: wrap (periodic) or fold at the
    half-integer faces (no-flux: a hop out of the domain becomes a stay), the method of images."""
    if boundary == "periodic":
        return torch.remainder(x, n)
    x = torch.remainder(x, 2 * n)
    return torch.where(x < n, x, 2 * n - 1 - x)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` capped at ``RATIO_CAP``, and 0 where ``den`` underflowed to 0."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return np.minimum(out, kernels.RATIO_CAP)


def _particle_sites(flat: torch.Tensor) -> torch.Tensor:
    """Flat site index of every particle (a site with ``n`` particles appears ``n`` times)."""
    sites = torch.nonzero(flat, as_tuple=False).squeeze(1)
    n = flat[sites]
    if sites.numel() and int(n.max()) > 1:
        sites = torch.repeat_interleave(sites, n)
    return sites


def _as_times(t, batch: int) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().to("cpu", torch.float64).numpy()
    times = np.broadcast_to(np.asarray(t, dtype=np.float64), (batch,)).copy()
    if not np.all(np.isfinite(times)) or (times < 0).any():
        raise ValueError(f"times must be finite and >= 0, got {times}")
    return times


def _unravel(index: torch.Tensor, shape: tuple[int, ...]) -> list[torch.Tensor]:
    coords = []
    for n in reversed(shape):
        coords.append(index % n)
        index = index // n
    return coords[::-1]


def _ravel(coords: list[torch.Tensor], shape: tuple[int, ...]) -> torch.Tensor:
    index = torch.zeros_like(coords[0])
    for x, n in zip(coords, shape):
        index = index * n + x
    return index
