"""Large-scale prior: where the particles start at ``t = 1`` on lattices larger than a training crop.

The hop rate ``r`` of a model is chosen so that one *training crop* is mixed by ``t = 1``
(:func:`microgen.engine.kernels.mixing_rate`). On a larger lattice the long waves of the data are
not: a Fourier mode of frequency ``f`` (cycles per voxel, per axis) keeps the factor

    K(f) = exp(-r t sum_a (2 - 2 cos 2 pi f_a))

of its amplitude (the eigenvalue of the lattice random walk). Starting the reverse process from
the uniform law (the ``t -> infinity`` limit) therefore removes the data's large-scale density
fluctuations, and the model, which never saw waves longer than its crop, cannot rebuild them:
particles only travel about ``sqrt(2 r)`` voxels during sampling, so pores that gather in one place
must be taken from their neighbourhood and the image is too regular (a negative dip of the
two-point function at 2-4 correlation lengths; ``docs/method.md``, "Large-scale prior").

:class:`SpectralPrior` approximates the law at ``t = 1`` instead: the expected density of each
channel is the data's indicator filtered by ``K``; it is drawn as a Gaussian random field with the
data's (cross-)spectrum times ``K**2`` around the requested fractions, and the particles are placed
independently in proportion to it (a Cox process). The exact count per channel is kept. At the
training crop size ``K**2`` is negligible at every frequency the crop holds, so this prior reduces
to the uniform one there, which is what the network was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

#: the prior ignores modes whose squared filter factor is below this (keeps the draw cheap and
#: the spectrum table short)
NEGLIGIBLE = 1e-8
PRIORS = ("auto", "spectral", "uniform")


@dataclass
class SpectralPrior:
    """Normalised radial (cross-)spectra of a material's phase indicators.

    Parameters
    ----------
    freqs : bin centres, cycles per voxel (radial ``|f|``), increasing
    spectra : ``spectra[i][a][b]``: the cross-spectrum of channels ``a`` and ``b`` in bin ``i``,
        per voxel, divided by ``sqrt(v_a v_b)`` with ``v = phi (1 - phi)`` (so white noise is 1 on
        the diagonal)
    ndim : spatial dimension of the images it was measured on
    crop : side of the crops it was measured on (voxels)
    """

    freqs: list
    spectra: list
    ndim: int = 2
    crop: int = 0

    def __post_init__(self) -> None:
        self.freqs = [float(f) for f in self.freqs]
        s = np.asarray(self.spectra, dtype=np.float64)
        if s.ndim != 3 or s.shape[0] != len(self.freqs) or s.shape[1] != s.shape[2] or not len(self.freqs):
            raise ValueError("spectra must have shape (bins, channels, channels) matching freqs")
        if np.any(np.diff(self.freqs) <= 0):
            raise ValueError("freqs must increase")
        self.spectra = s.tolist()

    @property
    def channels(self) -> int:
        return len(self.spectra[0])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SpectralPrior:
        return cls(**data)

    @classmethod
    def estimate(cls, images: Sequence[np.ndarray], labels: Sequence[int], *, r: float | None = None) -> SpectralPrior:
        """Measure the spectra from square label crops (2D, all the same size).

        Hann-windowed periodograms of each indicator minus its crop mean, averaged over crops and
        radially binned (bin width ``1 / crop``; the zero frequency, which the mean subtraction
        removes, is left out: below the lowest bin the spectrum is taken as flat). With ``r`` only
        the bins the filter ``K**2`` of that hop rate does not make negligible are kept.
        """
        images = [np.asarray(im) for im in images]
        if not images or any(im.shape != images[0].shape for im in images):
            raise ValueError("need one or more crops of one shape")
        shape = images[0].shape
        if len(set(shape)) != 1:
            raise ValueError(f"crops must be square (cubic), got {shape}")
        n, ndim = shape[0], len(shape)
        window = _hann(shape)
        norm = float((window**2).sum())
        channels = len(labels)
        total = np.zeros((channels, channels, *shape))
        var = np.zeros(channels)
        for im in images:
            ind = [(im == c).astype(np.float64) for c in labels]
            var += [x.mean() * (1 - x.mean()) for x in ind]
            fts = [np.fft.fftn((x - x.mean()) * window) for x in ind]
            for a in range(channels):
                for b in range(channels):
                    total[a, b] += np.real(fts[a] * np.conj(fts[b])) / norm
        total /= len(images)
        var /= len(images)
        if np.any(var <= 0):
            raise ValueError("every phase must occur in the crops")
        total /= np.sqrt(np.outer(var, var))[(...,) + (None,) * ndim]
        radius = _radius(shape).ravel()
        total = total.reshape(channels, channels, -1)
        edges = np.arange(0.0, 0.5 + 1e-12, 1.0 / n)
        index = np.where(radius > 0, np.digitize(radius, edges) - 1, -1)
        freqs, spectra = [], []
        for i in range(len(edges) - 1):
            inside = index == i
            if not inside.any() or (r is not None and axis_filter(edges[i], r) < NEGLIGIBLE):
                continue
            freqs.append(float(radius[inside].mean()))
            spectra.append(total[:, :, inside].mean(axis=2))
        return cls(freqs, np.stack(spectra), ndim=ndim, crop=n)

    def field(
        self,
        fractions: torch.Tensor,
        shape: Sequence[int],
        r: float,
        generator: torch.Generator | None = None,
        *,
        t: float = 1.0,
        boundary: str = "periodic",
    ) -> torch.Tensor:
        """Expected density of each channel at time ``t``: ``(B, C, *shape)`` float64, >= 0.

        ``fractions`` ``(B, C)`` are the mean densities. The Gaussian field is drawn on the
        periodic lattice of ``shape`` (twice each side for the no-flux boundary, then cropped)."""
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.ndim:
            raise ValueError(f"this prior was measured on {self.ndim}D images; got shape {shape}")
        fractions = torch.as_tensor(fractions, dtype=torch.float64)
        batch, channels = fractions.shape
        if channels != self.channels:
            raise ValueError(f"the prior has {self.channels} channels; got fractions for {channels}")
        device = fractions.device
        grid = shape if boundary == "periodic" else tuple(2 * s for s in shape)
        axes = tuple(range(1, 1 + len(grid)))
        mesh = torch.meshgrid(*[torch.fft.fftfreq(s, dtype=torch.float64, device=device) for s in grid], indexing="ij")
        decay = torch.exp(-float(r) * t * sum(2 - 2 * torch.cos(2 * np.pi * f) for f in mesh))
        table = torch.as_tensor(np.asarray(self.spectra), dtype=torch.float64, device=device)
        xp = torch.tensor(self.freqs, dtype=torch.float64, device=device)
        spec = _interp(torch.sqrt(sum(f**2 for f in mesh)), xp, table)
        # covariance per mode: D S D with D = diag(sqrt(phi (1 - phi))), so D S^(1/2) is a square root
        vals, vecs = torch.linalg.eigh(spec.movedim(0, -1).movedim(0, -1))  # (*grid, C, C)
        root = (vecs * torch.sqrt(vals.clamp_min(0.0)).unsqueeze(-2)) * decay[..., None, None]
        noise = torch.randn((batch, *grid, channels), generator=generator, dtype=torch.float64, device=device)
        coloured = (root.to(torch.complex128) @ torch.fft.fftn(noise, dim=axes).unsqueeze(-1)).squeeze(-1)
        coloured[(slice(None),) + (0,) * len(grid)] = 0  # the totals are fixed: no mean shift
        out = torch.fft.ifftn(coloured, dim=axes).real[(slice(None), *(slice(0, s) for s in shape))]
        out = out.movedim(-1, 1) * torch.sqrt(fractions * (1 - fractions))[(...,) + (None,) * len(shape)]
        return (fractions[(...,) + (None,) * len(shape)] + out).clamp_min(0.0)


def check_prior(prior: str) -> str:
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    return prior


def _hann(shape) -> np.ndarray:
    out = np.ones(shape)
    for axis, n in enumerate(shape):
        w = np.hanning(n).reshape([n if a == axis else 1 for a in range(len(shape))])
        out = out * w
    return out


def _radius(shape) -> np.ndarray:
    mesh = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij")
    return np.sqrt(sum(f**2 for f in mesh))


def axis_filter(f, r: float, t: float = 1.0):
    """``K**2`` for a wave of frequency ``f`` along one axis (the least damped direction of that
    radial frequency)."""
    return np.exp(-2.0 * r * t * (2 - 2 * np.cos(2 * np.pi * np.asarray(f, dtype=np.float64))))


def _interp(x: torch.Tensor, xp: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``table`` (bins, C, C) at ``x`` (any shape), flat beyond the ends:
    returns (C, C, *x.shape)."""
    flat = x.reshape(-1).clamp(xp[0], xp[-1])
    if len(xp) == 1:
        vals = table[0].unsqueeze(0).expand(flat.numel(), -1, -1)
    else:
        hi = torch.searchsorted(xp, flat).clamp(1, len(xp) - 1)
        lo = hi - 1
        w = ((flat - xp[lo]) / (xp[hi] - xp[lo])).clamp(0, 1)[:, None, None]
        vals = table[lo] * (1 - w) + table[hi] * w
    return vals.permute(1, 2, 0).reshape(*table.shape[1:], *x.shape)


__all__ = ["PRIORS", "SpectralPrior", "check_prior"]
