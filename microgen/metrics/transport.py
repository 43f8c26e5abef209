"""Connectivity and transport: percolation, triple-phase boundary, tortuosity / relative diffusivity."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)


def percolates(mask: np.ndarray, axis: int = 0) -> bool:
    """True if one face-connected cluster of ``mask`` touches both faces normal to ``axis``."""
    mask = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(mask)
    if n == 0:
        return False
    first = np.unique(np.take(labels, 0, axis=axis))
    last = np.unique(np.take(labels, -1, axis=axis))
    return bool(np.intersect1d(first[first > 0], last[last > 0]).size)


def triple_phase_boundary_density(labels: np.ndarray, phases=(0, 1, 2)) -> float:
    """Triple-phase boundary density (our definition, stated).

    2D: the fraction of interior pixel-grid vertices whose four surrounding pixels hold all three
    ``phases`` (TPB points per vertex). 3D: the fraction of interior voxel edges whose four
    surrounding voxels hold all three phases (TPB length per edge, in voxel units).
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        corners = [labels[:-1, :-1], labels[:-1, 1:], labels[1:, :-1], labels[1:, 1:]]
        return float(np.mean(_has_all(corners, phases)))
    if labels.ndim != 3:
        raise ValueError(f"expected a 2D or 3D label array, got shape {labels.shape}")
    total, count = 0, 0
    for axis in range(3):  # edges parallel to `axis`: 4 voxels around them in the other two axes
        a, b = [d for d in range(3) if d != axis]
        lab = np.moveaxis(labels, (a, b), (0, 1))
        corners = [lab[:-1, :-1], lab[:-1, 1:], lab[1:, :-1], lab[1:, 1:]]
        hit = _has_all(corners, phases)
        total += hit.size
        count += int(hit.sum())
    return count / total


def _has_all(corners, phases) -> np.ndarray:
    present = [np.zeros(corners[0].shape, dtype=bool) for _ in phases]
    for c in corners:
        for k, p in enumerate(phases):
            present[k] |= c == p
    out = present[0]
    for pk in present[1:]:
        out = out & pk
    return out


@dataclass
class TransportResult:
    """Tortuosity factor and relative diffusivity ``D_eff / D0 = volume fraction / tau`` of a phase."""

    axis: int
    volume_fraction: float
    percolates: bool
    tortuosity: float
    relative_diffusivity: float
    converged: bool
    iterations: int
    solver: str

    def to_dict(self) -> dict:
        return asdict(self)


def tortuosity(
    labels: np.ndarray,
    phase: int,
    *,
    axis: int = 0,
    device: str = "cpu",
    conv_crit: float = 1e-2,
    iter_limit: int = 20000,
) -> TransportResult:
    """Steady-state diffusion through ``phase`` along ``axis`` with TauFactor's solver (Kench &
    Cooper 2021). A phase that does not percolate along the axis gets tau = inf and D_rel = 0
    without a solve; an unconverged solve is reported as such (``converged=False``), never hidden.
    """
    mask = np.asarray(labels) == phase
    vf = float(mask.mean())
    if not percolates(mask, axis):
        return TransportResult(axis, vf, False, float("inf"), 0.0, True, 0, "none (does not percolate)")
    from importlib.metadata import version

    import taufactor

    img = np.moveaxis(mask.astype(np.float32), axis, 0)
    if img.ndim == 2:  # TauFactor works on volumes: a 2D image is one voxel thick
        img = img[:, :, None]
    solver = taufactor.Solver(img, device=device)
    tau = solver.solve(iter_limit=iter_limit, verbose=False, conv_crit=conv_crit)
    tau = float(np.asarray(tau.cpu() if hasattr(tau, "cpu") else tau).ravel()[0])
    d_rel = float(np.asarray(solver.D_rel.cpu() if hasattr(solver.D_rel, "cpu") else solver.D_rel).ravel()[0])
    converged = bool(solver.converged)
    if not converged:
        log.warning("TauFactor did not converge in %d iterations (tau %.4f)", solver.iter, tau)
    return TransportResult(axis, vf, True, tau, d_rel, converged, int(solver.iter), f"taufactor {version('taufactor')}")
