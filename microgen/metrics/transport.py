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


SOLVERS = ("auto", "direct", "taufactor")


def tortuosity(
    labels: np.ndarray,
    phase: int,
    *,
    axis: int = 0,
    solver: str = "auto",
    device: str = "cpu",
    conv_crit: float = 1e-2,
    iter_limit: int = 20000,
) -> TransportResult:
    """Steady-state diffusion through ``phase`` along ``axis``: tortuosity factor and ``D_eff/D0``.

    Both solvers use TauFactor's finite-volume model (Kench & Cooper 2021, SoftwareX 14, 100683):
    unit conductance between face neighbours of the phase, Dirichlet faces half a voxel outside
    the two ends of ``axis``, no flux across the other faces.

    * ``"taufactor"``: TauFactor's over-relaxed iterative solver; stops when the flux through every
      layer agrees to ``conv_crit``; an unconverged solve is reported (``converged=False``).
    * ``"direct"``: the same linear system, restricted to the clusters joining both ends, solved by
      sparse LU (SciPy/SuperLU): exact to round-off; converged means every layer's flux agrees
      to 1e-6. Fast in 2D (0.1 s for 256²); memory grows quickly in 3D.
    * ``"auto"``: direct for 2D images, TauFactor for volumes.

    A phase that does not percolate along the axis gets tau = inf and D_rel = 0 without a solve.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; allowed: {', '.join(SOLVERS)}")
    mask = np.asarray(labels) == phase
    vf = float(mask.mean())
    if not percolates(mask, axis):
        return TransportResult(axis, vf, False, float("inf"), 0.0, True, 0, "none (does not percolate)")
    if solver == "direct" or (solver == "auto" and mask.ndim == 2):
        d_rel, converged = _direct_relative_diffusivity(np.moveaxis(mask, axis, 0))
        from scipy import __version__ as scipy_version

        return TransportResult(axis, vf, True, vf / d_rel, d_rel, converged, 1, f"direct (SciPy {scipy_version})")
    from importlib.metadata import version

    import taufactor

    img = np.moveaxis(mask.astype(np.float32), axis, 0)
    if img.ndim == 2:  # TauFactor works on volumes: a 2D image is one voxel thick
        img = img[:, :, None]
    tf = taufactor.Solver(img, device=device)
    tau = tf.solve(iter_limit=iter_limit, verbose=False, conv_crit=conv_crit)
    tau = float(np.asarray(tau.cpu() if hasattr(tau, "cpu") else tau).ravel()[0])
    d_rel = float(np.asarray(tf.D_rel.cpu() if hasattr(tf.D_rel, "cpu") else tf.D_rel).ravel()[0])
    converged = bool(tf.converged)
    if not converged:
        log.warning("TauFactor did not converge in %d iterations (tau %.4f)", tf.iter, tau)
    return TransportResult(axis, vf, True, tau, d_rel, converged, int(tf.iter), f"taufactor {version('taufactor')}")


def _direct_relative_diffusivity(mask: np.ndarray) -> tuple[float, bool]:
    """``D_eff/D0`` along axis 0 of a boolean image (2D or 3D) by one sparse LU solve."""
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    clusters, _ = ndimage.label(mask)
    both = np.intersect1d(np.unique(clusters[0]), np.unique(clusters[-1]))
    live = np.isin(clusters, both[both > 0])  # only clusters joining both ends carry flux
    index = np.full(mask.shape, -1, dtype=np.int64)
    n = int(live.sum())
    index[live] = np.arange(n)
    diag = np.zeros(n)
    rows, cols = [], []
    for ax in range(mask.ndim):
        lo = tuple(slice(None, -1) if d == ax else slice(None) for d in range(mask.ndim))
        hi = tuple(slice(1, None) if d == ax else slice(None) for d in range(mask.ndim))
        pair = live[lo] & live[hi]
        i, j = index[lo][pair], index[hi][pair]
        rows += [i, j]
        cols += [j, i]
        np.add.at(diag, i, 1.0)
        np.add.at(diag, j, 1.0)
    rhs = np.zeros(n)
    top, bottom = index[0][live[0]], index[-1][live[-1]]
    diag[top] += 2.0  # half-voxel link (conductance 2) to the potential -1/2 before the first layer
    diag[bottom] += 2.0  # ... and to +1/2 after the last
    rhs[top] -= 1.0
    rhs[bottom] += 1.0
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    a = sparse.csc_matrix((-np.ones(rows.size), (rows, cols)), shape=(n, n)) + sparse.diags(diag, format="csc")
    field = np.zeros(mask.shape)
    field[live] = spsolve(a, rhs)
    step = np.diff(field, axis=0) * (live[:-1] & live[1:])
    flux = step.reshape(step.shape[0], -1).sum(1)
    if flux.size == 0:  # one layer: only the two boundary links
        flux = np.array([(2.0 * (0.5 - field[0][live[0]])).sum()])
    spread = float((flux.max() - flux.min()) / flux.max())
    d_rel = float(flux.mean() * mask.shape[0] / (mask.size / mask.shape[0]))
    return d_rel, spread < 1e-6
