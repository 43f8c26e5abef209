"""One-dimensional transition kernels of the DSD random walk.

The DSD generator is a sum of 1D lattice Laplacians (one per axis), so the transition probability
of a particle factorises over axes: ``P_t(x | x0) = prod_a p_t(x_a | x0_a)``. Everything here is
per axis and never builds the full ``(H*W) x (H*W)`` matrix.

A particle on the infinite 1D lattice that hops left and right, each at rate ``r``, has the
displacement distribution (a Skellam distribution)

    q_t(n) = exp(-2 r t) I_n(2 r t),

with ``I_n`` the modified Bessel function of the first kind (``scipy.special.ive`` evaluates it
without overflow and keeps full relative precision in the far tails, where a Fourier sum would
produce noise). Boundaries are handled by the method of images:

* periodic, length ``N``: the walk wrapped on a ring, ``p_t(x | x0) = R_N(x - x0)`` with the ring
  kernel ``R_L(d) = sum_k q_t(d + k L)``;
* no-flux, length ``N``: the walk folded at the half-integer faces, where a hop out of the domain is
  replaced by staying, ``p_t(x | x0) = R_2N(x - x0) + R_2N(x + x0 + 1)``.

Both are exact solutions of the master equation (tests compare them with ``scipy.linalg.expm`` of
the dense generator). All values are float64.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

from .lattice import check_boundary

#: ratios of kernel values are capped here; larger ones only occur for displacements so unlikely
#: that they are never sampled (DESIGN.md section 2b).
RATIO_CAP = 1e15


def support(r: float, t: float) -> int:
    """Half-width ``M`` of the displacement table: ``sum_{|n| > M} q_t(n) < 1e-30``.

    Displacements beyond it are never sampled, so their kernel values are never needed.
    """
    rt = float(r) * float(t)
    return int(np.ceil(17.0 * np.sqrt(rt) + 30.0))


@lru_cache(maxsize=4096)
def _free_kernel_cached(r: float, t: float, m: int) -> np.ndarray:
    n = np.arange(-m, m + 1, dtype=np.float64)
    q = special.ive(np.abs(n), 2.0 * r * t)
    q.setflags(write=False)
    return q


def free_kernel(r: float, t: float, m: int | None = None) -> np.ndarray:
    """Displacement law ``q_t(n)`` of a free 1D walk for ``n = -m .. m`` (length ``2m+1``)."""
    _check_rt(r, t)
    if m is None:
        m = support(r, t)
    return _free_kernel_cached(float(r), float(t), int(m))


def ring_kernel(r: float, t: float, length: int) -> np.ndarray:
    """``R_L(d) = sum_k q_t(d + k L)`` for ``d = 0 .. L-1``: the walk on a ring of ``L`` sites."""
    _check_rt(r, t)
    return _ring_kernel_cached(float(r), float(t), int(length))


@lru_cache(maxsize=4096)
def _ring_kernel_cached(r: float, t: float, length: int) -> np.ndarray:
    m = support(r, t)
    q = free_kernel(r, t, m)
    n = np.arange(-m, m + 1)
    out = np.bincount(np.mod(n, length), weights=q, minlength=length)
    out.setflags(write=False)
    return out


def transition_matrix(n: int, r: float, t: float, boundary: str) -> np.ndarray:
    """Dense ``n x n`` matrix ``P[x, x0] = p_t(x | x0)`` for one axis (for tests and small axes)."""
    check_boundary(boundary)
    x = np.arange(n)[:, None]
    x0 = np.arange(n)[None, :]
    if boundary == "periodic":
        ring = ring_kernel(r, t, n)
        return ring[np.mod(x - x0, n)]
    ring = ring_kernel(r, t, 2 * n)
    return ring[np.mod(x - x0, 2 * n)] + ring[np.mod(x + x0 + 1, 2 * n)]


def generator_matrix(n: int, r: float, boundary: str) -> np.ndarray:
    """Dense 1D generator ``Q[x_to, x_from]`` of the walk (columns sum to zero)."""
    check_boundary(boundary)
    q = np.zeros((n, n))
    for x in range(n):
        for step in (1, -1):
            y = x + step
            if boundary == "periodic":
                y %= n
            elif not 0 <= y < n:
                continue
            q[y, x] += r
            q[x, x] -= r
    return q


def mixing_rate(n: int, boundary: str, residual: float = 0.05) -> float:
    """Hop rate ``r`` that leaves the slowest Fourier mode of an ``n``-site axis at ``residual``
    of its initial amplitude at ``t = 1`` (a well-mixed image at the end of the forward process)."""
    check_boundary(boundary)
    if not 0.0 < residual < 1.0:
        raise ValueError(f"residual must be in (0, 1), got {residual}")
    denom = n if boundary == "periodic" else 2 * n
    return float(-np.log(residual) / (4.0 * np.sin(np.pi / denom) ** 2))


def _check_rt(r: float, t: float) -> None:
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"the hop rate r must be a positive finite number, got {r}")
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(f"time t must be >= 0, got {t}")
