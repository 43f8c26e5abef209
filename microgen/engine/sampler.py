"""Reverse-time sampling: step rules and collision resolution.

The pipeline :func:`sample` is short on purpose: start from the stationary law with the requested
particle totals, repeatedly let a step rule ask the model for rates and move particles, then turn
counts into a label image (:func:`resolve_collisions`) and, if asked, round the particles by a
count-preserving threshold step (:func:`~microgen.engine.smooth.smooth`), swap one-voxel speckle
away (:func:`~microgen.engine.polish.polish`) and dissolve tiny islands
(:func:`~microgen.engine.islands.dissolve`). Every move relocates a particle and every swap
exchanges two voxels, so the totals per image and channel are exact at every step.

Step rules: :class:`BinomialTauLeaping` (the paper's Algorithm 2, about ``4 r / eps`` network
evaluations), :class:`PoissonLeaping` (first order on a fixed time grid, many hops per particle per
step) and :class:`TrapezoidalLeaping` (second order, two evaluations per grid step);
:class:`RestartLeaping` wraps a grid rule with restarts by the exact forward process. Each has
``advance(counts, t, t_end, rate_fn, generator, ...) -> (counts, t_next, evaluations)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from .islands import check_max_size, dissolve_phases
from .polish import check_sweeps
from .polish import polish as polish_labels
from .precision import autocast, resolve_precision
from .prior import check_prior
from .process import _particle_sites, _ravel, _unravel, fold
from .smooth import check_widths
from .smooth import smooth as smooth_labels

log = logging.getLogger(__name__)


@dataclass
class SampleResult:
    """Output of :func:`sample`.

    Attributes
    ----------
    labels : uint8 array ``(B, *shape)`` or None
        0 = no particle, ``c + 1`` = a particle of channel ``c`` (exclusive sampling only).
    counts : int64 array ``(B, C, *shape)``
        Particle counts at the end of the reverse process (before collision resolution).
    evaluations : int
        Network calls (one call serves the whole batch).
    steps : int
        Leaps taken (the same as ``evaluations`` for one-evaluation step rules).
    moved : int array ``(B,)``
        Particles relocated per image by collision resolution (0 when not exclusive).
    swapped : int array ``(B,)``
        Voxel pairs swapped per image by :func:`~microgen.engine.polish.polish` (0 without it).
    dissolved : int array ``(B,)``
        Voxels moved per image by :func:`~microgen.engine.islands.dissolve` (islands and holes; 0
        without them).
    smoothed : int array ``(B,)``
        Voxels changed per image by :func:`~microgen.engine.smooth.smooth` (0 without it).
    """

    labels: np.ndarray | None
    counts: np.ndarray
    evaluations: int
    steps: int
    moved: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    swapped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dissolved: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    smoothed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class BinomialTauLeaping:
    """The step rule of Santos et al. (2025), Algorithm 2.

    The leap ``tau = min(t - t_end, eps / max_x q(x))`` bounds by ``eps`` the probability that any
    particle moves during the step (``q`` is the per-particle total rate); the number leaving a voxel
    is ``Binomial(n, tau q)`` and their directions are multinomial in the per-direction rates.

    Parameters
    ----------
    eps : float
        CFL number in (0, 1).
    """

    def __init__(self, eps: float = 0.1) -> None:
        if not (isinstance(eps, (int, float)) and 0.0 < eps < 1.0):
            raise ValueError(f"eps (CFL number) must be in the open interval (0, 1), got {eps}")
        self.eps = float(eps)

    def __repr__(self) -> str:
        return f"BinomialTauLeaping(eps={self.eps})"

    def leap(self, rates: torch.Tensor, t: float, t_end: float) -> float:
        """Leap length for the batch from per-particle rates ``(B, C, 2d, *shape)`` (physical units,
        zero on empty voxels): the largest total rate of any particle sets it."""
        total = float(rates.sum(2).max())
        tau = self.eps / total if total > 0 else math.inf
        return min(tau, max(t - t_end, 0.0))

    def advance(self, counts, t, t_end, rate_fn, generator, *, boundary="periodic", frozen=None):
        """One leap from ``t``: returns ``(counts, t_next, network evaluations)``."""
        rates = rate_fn(counts, t)
        tau = self.leap(rates * (counts > 0).unsqueeze(2), t, t_end)
        t_next = t_end if t - tau <= t_end * (1 + 1e-12) else t - tau
        return binomial_moves(counts, rates, _per_image(tau, counts), generator), t_next, 1


class _GridRule:
    """Step rules on a fixed time grid of ``steps`` leaps from ``t = 1`` to ``t_end``.

    The grid takes ``steps`` uniform values of ``u`` from 1 to 0: ``t = t_end + (1 - t_end) u**power``
    for ``grid="power"``, or ``log t = (1 - u**power) log t_end`` for ``grid="log"`` (geometric for
    ``power = 1``; near ``t_end`` the reverse rates grow like ``1/t``, so steps proportional to
    ``t`` keep the leap condition there).
    """

    GRIDS = ("log", "power")
    #: network evaluations per grid step (what ``advance`` returns as its third value)
    evaluations_per_step = 1

    def __init__(self, steps: int = 100, power: float = 1.0, grid: str = "log") -> None:
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps must be an integer >= 1, got {steps}")
        if not power > 0:
            raise ValueError(f"power must be > 0, got {power}")
        if grid not in self.GRIDS:
            raise ValueError(f"grid must be one of {self.GRIDS}, got {grid!r}")
        self.steps = steps
        self.power = float(power)
        self.kind = grid

    def grid(self, t_end: float) -> np.ndarray:
        """The ``steps + 1`` grid times from 1 down to ``t_end`` (computed once per ``t_end``)."""
        cached = getattr(self, "_grid", None)
        if cached is not None and cached[0] == t_end:
            return cached[1]
        grid = self._build_grid(t_end)
        grid.setflags(write=False)
        self._grid = (t_end, grid)
        return grid

    def _build_grid(self, t_end: float) -> np.ndarray:
        return self._times(self.steps, 1.0, t_end)

    def _times(self, steps: int, start: float, stop: float) -> np.ndarray:
        """``steps + 1`` times of this rule's grid from ``start`` (1 for the whole process) to ``stop``."""
        u = np.linspace(1.0, 0.0, steps + 1)
        if self.kind == "power":
            grid = stop + (start - stop) * u**self.power
        else:
            grid = np.exp(np.log(start) + (1.0 - u**self.power) * np.log(stop / start))
        grid[0], grid[-1] = start, stop  # exactly, whatever the rounding of exp(log(.))
        return grid

    def next_time(self, t: float, t_end: float) -> float:
        """The next grid time below ``t`` (``t_end`` at the end)."""
        grid = self.grid(t_end)
        below = grid[grid < t * (1 - 1e-9)]
        return float(below.max()) if below.size else t_end

    def leap(self, rates: torch.Tensor, t: float, t_end: float) -> float:
        """Distance from ``t`` to the next grid time below it."""
        return max(t - self.next_time(t, t_end), 0.0)


class PoissonLeaping(_GridRule):
    """Per-particle Poisson leaping on a fixed time grid: many hops per particle per step.

    During a leap of length ``tau`` every particle makes ``Poisson(tau q_j)`` hops in each direction
    ``j`` (``q_j`` its per-particle rate, held fixed over the leap) and moves by the net displacement
    per axis. Where the reverse rates are nearly symmetric (large ``t``) this is the exact
    symmetric random walk, whatever ``tau``; only the drift (the rate asymmetry) is leaped, so the
    step count is set by how fast the rates change, not by their size. Particles are moved, never
    created, so the totals stay exact. One network evaluation per step; grid as in
    :class:`_GridRule`.

    Parameters
    ----------
    steps : int
        Network evaluations per sample (>= 1).
    power : float
        Grid exponent.
    grid : {"log", "power"}
    """

    def __repr__(self) -> str:
        return f"PoissonLeaping(steps={self.steps}, power={self.power}, grid={self.kind!r})"

    def advance(self, counts, t, t_end, rate_fn, generator, *, boundary="periodic", frozen=None):
        t_next = self.next_time(t, t_end)
        rates = rate_fn(counts, t)
        tau = _per_image(t - t_next, counts)
        out = poisson_moves(counts, rates, tau, generator, boundary=boundary, frozen=frozen)
        return out, t_next, self.evaluations_per_step


class TrapezoidalLeaping(_GridRule):
    """Second-order Poisson leaping: the theta-trapezoidal rule for the reverse process.

    Each grid step from ``t`` to ``t - tau`` evaluates the network twice (Ren, Chen, Zhang & Ying
    2025, "Fast solvers for discrete diffusion models", theta-trapezoidal method, applied here per
    particle):

    1. Poisson leaping with the rates ``q`` at ``(x, t)`` for ``theta * tau``, giving ``x*``;
    2. from ``x*``, Poisson leaping for ``(1 - theta) tau`` with the extrapolated rates
       ``max(a1 q* - a2 q, 0)``, where ``q*`` are the rates at ``(x*, t - theta tau)`` and
       ``a1 = 1 / (2 theta (1 - theta))``, ``a2 = ((1 - theta)**2 + theta**2) / (2 theta (1 - theta))``.

    Both rate fields are per particle and defined on every voxel, so stage 2 reads each particle's
    rates at its stage-1 position. The combination cancels the first-order error of holding the
    rates fixed over a leap; particles are only moved, so totals stay exact.

    Parameters
    ----------
    steps : int
        Grid steps (two network evaluations each).
    theta : float
        Where the second evaluation sits inside the step, in (0, 1).
    power, grid :
        Time grid, as for :class:`PoissonLeaping`. :func:`make_sampler` (the product default)
        uses the log grid of power 0.5, which takes finer steps at large ``t`` (where the coarse
        structure forms) and coarser ones near ``t_end`` than the geometric grid (power 1).
    tail : int
        One-hop leaps (:func:`one_hop_leap`, one evaluation each) for the last ``tail`` of the
        ``steps`` steps, geometric in ``t`` from the time where the forward process leaves each
        particle ``tail_hops`` hops on average (``2 d r t = tail_hops``) down to ``t_end``; the
        other steps are trapezoidal, on the grid above from 1 down to that time. There a particle
        is displaced by about one hop at most, its reverse rate grows like ``1/t``, and a Poisson
        leap sends it back zero or two hops about as often as one, which leaves specks; the one-hop
        leap is exact there for any step length. Evaluations per sample: ``2 (steps - tail) +
        tail``. 0 = off; the tail needs :meth:`bind` (done by :func:`sample`) and is left out,
        all steps trapezoidal, when ``t_end`` is already above its start.
    tail_hops : float
        Where the tail starts (above).
    """

    evaluations_per_step = 2

    def __init__(
        self,
        steps: int = 50,
        theta: float = 0.5,
        power: float = 1.0,
        grid: str = "log",
        tail: int = 0,
        tail_hops: float = 1.0,
    ) -> None:
        super().__init__(steps, power, grid)
        if not (isinstance(theta, (int, float)) and 0.0 < theta < 1.0):
            raise ValueError(f"theta must be in the open interval (0, 1), got {theta}")
        if not (isinstance(tail, (int, np.integer)) and 0 <= tail < steps):
            raise ValueError(f"tail must be an integer from 0 to steps - 1 ({steps - 1}), got {tail!r}")
        if not tail_hops > 0:
            raise ValueError(f"tail_hops must be > 0, got {tail_hops}")
        self.theta = float(theta)
        self.tail = int(tail)
        self.tail_hops = float(tail_hops)
        self.hop_rate = None  # 2 d r of the bound process
        self.exclusive = False

    def __repr__(self) -> str:
        tail = f", tail={self.tail}, tail_hops={self.tail_hops:g}" if self.tail else ""
        return (
            f"TrapezoidalLeaping(steps={self.steps}, theta={self.theta}, power={self.power}, grid={self.kind!r}{tail})"
        )

    def bind(self, process, exclusive: bool = False) -> None:
        """The forward process whose hop rate places the tail, and whether the samples are label
        images (one particle per voxel; :func:`one_hop_leap`); set by :func:`sample`."""
        self.hop_rate = 2 * process.ndim * process.r
        self.exclusive = bool(exclusive)
        self._grid = None

    def tail_start(self, t_end: float) -> float | None:
        """Where the one-hop tail starts, or None when there is none before ``t_end``."""
        if not self.tail:
            return None
        if self.hop_rate is None:
            raise RuntimeError("TrapezoidalLeaping(tail=...).bind(process) must be called before sampling")
        start = self.tail_hops / self.hop_rate
        return start if t_end < start < 1.0 else None

    def _build_grid(self, t_end: float) -> np.ndarray:
        start = self.tail_start(t_end)
        if start is None:
            return super()._build_grid(t_end)
        upper = self._times(self.steps - self.tail, 1.0, start)
        lower = np.exp(np.linspace(np.log(start), np.log(t_end), self.tail + 1))
        lower[-1] = t_end
        return np.concatenate([upper, lower[1:]])

    def advance(self, counts, t, t_end, rate_fn, generator, *, boundary="periodic", frozen=None):
        theta = self.theta
        t_next = self.next_time(t, t_end)
        tau = t - t_next
        rates = rate_fn(counts, t)
        start = self.tail_start(t_end)
        if start is not None and t <= start * (1 + 1e-12):
            return one_hop_leap(counts, rates, _per_image(tau, counts), generator, exclusive=self.exclusive), t_next, 1
        a1 = 1.0 / (2.0 * theta * (1.0 - theta))
        a2 = ((1.0 - theta) ** 2 + theta**2) * a1
        mid = poisson_moves(counts, rates, _per_image(theta * tau, counts), generator, boundary=boundary, frozen=frozen)
        extrapolated = (a1 * rate_fn(mid, t - theta * tau) - a2 * rates).clamp_min(0.0)
        out = poisson_moves(
            mid, extrapolated, _per_image((1.0 - theta) * tau, counts), generator, boundary=boundary, frozen=frozen
        )
        return out, t_next, self.evaluations_per_step


class MultistepLeaping(_GridRule):
    """Second-order Poisson leaping with one network evaluation per step (Adams-Bashforth style).

    The rates of a leap from ``t`` to ``t - tau`` are extrapolated to the middle of the leap from
    the rates at this step and the previous one (taken ``tau_prev`` earlier, at ``t + tau_prev``):
    ``max(q + (tau / (2 tau_prev)) (q - q_prev), 0)``, per voxel as in
    :class:`TrapezoidalLeaping`. The first step, with no history, is a plain Poisson leap. This
    cancels the first-order error of holding the rates fixed, like the trapezoidal rule, at half
    its network evaluations; the price is that the correction uses the previous state's rate field
    rather than a fresh prediction. Particles are only moved, so totals stay exact.

    Parameters
    ----------
    steps : int
        Network evaluations per sample (one per step, >= 1).
    power, grid :
        Time grid, as for :class:`PoissonLeaping`.
    """

    _history: tuple[torch.Tensor, float] | None = None  # rates and time of the previous step

    def __repr__(self) -> str:
        return f"MultistepLeaping(steps={self.steps}, power={self.power}, grid={self.kind!r})"

    def reset(self) -> None:
        """Forget the previous step (called by :func:`sample` before every reverse process)."""
        self._history = None

    def advance(self, counts, t, t_end, rate_fn, generator, *, boundary="periodic", frozen=None):
        t_next = self.next_time(t, t_end)
        tau = t - t_next
        rates = rate_fn(counts, t)
        leap_rates = rates
        if self._history is not None and self._history[0].shape == rates.shape and self._history[1] > t:
            prev_rates, prev_t = self._history
            weight = tau / (2.0 * (prev_t - t))
            leap_rates = (rates + weight * (rates - prev_rates)).clamp_min(0.0)
        self._history = (rates, t) if t_next > t_end else None  # not kept once the process ends
        out = poisson_moves(counts, leap_rates, _per_image(tau, counts), generator, boundary=boundary, frozen=frozen)
        return out, t_next, self.evaluations_per_step


class RestartLeaping:
    """A grid rule with restarts (Xu, Deng, Chen et al. 2023, "Restart sampling for improving
    generative processes"), for particles.

    The base rule runs down its grid as usual; on first reaching ``t_low`` the forward process
    itself carries every particle back up to ``t_high`` (the exact kernel of an independent random
    walk over ``t_high - t_low``, :meth:`DSDProcess.displace`), and the base rule retraces its grid
    from ``t_high`` to ``t_low``; ``repeats`` times, then on to ``t_end``. The forward noise is
    exact, so each restart contracts the error the leaps accumulated above ``t_low`` instead of
    adding to it; the price is the evaluations of the retraced steps. Particles are only moved,
    so totals stay exact. ``t_low`` and ``t_high`` are snapped to the base rule's grid.

    Parameters
    ----------
    base : a fixed-grid rule (:class:`PoissonLeaping`, :class:`TrapezoidalLeaping`,
        :class:`MultistepLeaping`)
    t_low, t_high : float
        The restart interval, ``0 < t_low < t_high <= 1``.
    repeats : int
        Restarts (>= 0; 0 is the base rule).
    """

    def __init__(self, base, t_low: float, t_high: float, repeats: int = 1) -> None:
        if not isinstance(base, _GridRule):
            raise ValueError(f"restarts need a fixed-grid step rule, got {base!r}")
        if not (0.0 < t_low < t_high <= 1.0):
            raise ValueError(f"the restart interval needs 0 < t_low < t_high <= 1, got {t_low}, {t_high}")
        if not (isinstance(repeats, (int, np.integer)) and repeats >= 0):
            raise ValueError(f"repeats must be an integer >= 0, got {repeats!r}")
        self.base, self.t_low, self.t_high, self.repeats = base, float(t_low), float(t_high), int(repeats)
        self.process = None
        self._left = self.repeats

    def __repr__(self) -> str:
        return f"RestartLeaping({self.base!r}, t_low={self.t_low:g}, t_high={self.t_high:g}, repeats={self.repeats})"

    def bind(self, process, exclusive: bool = False) -> None:
        """The forward process that carries the particles back up (set by :func:`sample`); a base
        rule that needs it too (a one-hop tail) is bound as well."""
        self.process = process
        if hasattr(self.base, "bind"):
            self.base.bind(process, exclusive)

    def reset(self) -> None:
        """Restore the restarts (called by :func:`sample` before every reverse process)."""
        self._left = self.repeats
        if hasattr(self.base, "reset"):
            self.base.reset()

    def interval(self, t_end: float) -> tuple[float, float]:
        """``(t_low, t_high)`` snapped to the nearest times of the base grid ending at ``t_end``."""
        grid = self.base.grid(t_end)
        low, high = (float(grid[np.argmin(np.abs(np.log(grid) - np.log(v)))]) for v in (self.t_low, self.t_high))
        if not low < high:
            raise ValueError(f"the restart interval {self.t_low:g}-{self.t_high:g} holds no step of {self.base!r}")
        return low, high

    def evaluations(self, t_end: float) -> int:
        """Network evaluations per sample: the base grid's plus the retraced steps'."""
        grid = self.base.grid(t_end)
        low, high = self.interval(t_end)
        retraced = int(((grid <= high * (1 + 1e-9)) & (grid > low * (1 + 1e-9))).sum())
        return self.base.evaluations_per_step * (len(grid) - 1 + self.repeats * retraced)

    def advance(self, counts, t, t_end, rate_fn, generator, *, boundary="periodic", frozen=None):
        low, high = self.interval(t_end)
        if self._left > 0 and t <= low * (1 + 1e-9):
            if frozen is not None:
                raise ValueError("restart sampling does not support frozen voxels (the forward noise would move them)")
            if self.process is None:
                raise RuntimeError("RestartLeaping.bind(process) must be called before sampling")
            self._left -= 1
            counts = self.process.displace(counts, high - t, generator).counts()
            t = high
            if hasattr(self.base, "reset"):
                self.base.reset()
        return self.base.advance(counts, t, t_end, rate_fn, generator, boundary=boundary, frozen=frozen)


def _per_image(tau: float, counts: torch.Tensor) -> torch.Tensor:
    return torch.full((counts.shape[0],), float(tau), dtype=torch.float64, device=counts.device)


def poisson_moves(counts, rates, tau, generator, *, boundary: str = "periodic", frozen=None) -> torch.Tensor:
    """Move every particle by the net displacement of ``Poisson(tau q_j)`` hops per direction."""
    batch, channels = counts.shape[:2]
    shape = tuple(counts.shape[2:])
    ndim = len(shape)
    volume = int(np.prod(shape))
    sites = _particle_sites(counts.reshape(-1))
    if sites.numel() == 0:
        return counts.clone()
    image_channel = sites // volume
    voxel = sites % volume
    image = image_channel // channels
    # per-particle expected hops (P, 2d)
    flat_rates = rates.double().reshape(batch * channels, 2 * ndim, volume)
    mean_hops = flat_rates[image_channel, :, voxel] * tau[image].unsqueeze(1)
    hops = torch.poisson(mean_hops, generator=generator)
    coords = _unravel(voxel, shape)
    new = [
        fold(coords[axis] + (hops[:, 2 * axis] - hops[:, 2 * axis + 1]).to(torch.long), n, boundary)
        for axis, n in enumerate(shape)
    ]
    new_voxel = _ravel(new, shape)
    if frozen is not None:
        blocked = frozen.reshape(-1)[new_voxel]
        new_voxel = torch.where(blocked, voxel, new_voxel)
    out = torch.bincount(image_channel * volume + new_voxel, minlength=batch * channels * volume)
    return out.reshape(counts.shape).to(counts.dtype)


def default_t_end(model) -> float:
    """Stop time at which about 0.1 % of particles would still be displaced by the forward process
    (``2 d r t = 1e-3``), but never before the model's first observation time."""
    return max(model.schedule.t_min, 1e-3 / (2 * model.ndim * model.r))


def one_hop_leap(counts, rates, tau, generator, *, exclusive: bool = False) -> torch.Tensor:
    """A leap of length ``tau`` in which each particle hops at most once, with probability
    ``min(1, tau q)`` (``q`` its total rate at the start), in direction ``j`` with probability
    ``q_j / q``: :func:`binomial_moves` without the paper's bound on ``tau``.

    Why it is exact near the end of the reverse process for any ``tau``: a particle that the
    forward process displaced by one hop made that hop at a uniform time in ``[0, t]``, so in
    reverse it hops back at hazard ``1 / s``; with ``w`` the posterior weight of that event given
    the image, ``q = w / t`` and the chance of the hop inside ``[t - tau, t]`` is
    ``w tau / t = tau q``, at most one hop. A Poisson leap with the same mean instead makes zero
    or two hops with probabilities ``exp(-tau q)`` and ``(tau q)^2 exp(-tau q) / 2``.

    ``exclusive``: the data hold at most one particle per voxel (a label image), so near the end
    a voxel holding several particles (of any channels) holds exactly one displaced particle, and
    at most one particle leaves each voxel per leap: with probability ``min(1, tau F)``, ``F`` the
    voxel's total outgoing rate (every particle's, every direction), its channel and direction
    drawn in proportion to their rates. Independent hops would send both particles of a doubly
    occupied voxel away, or neither, as often as one."""
    if not exclusive:
        return binomial_moves(counts, rates, tau, generator)
    batch, channels = counts.shape[:2]
    shape = tuple(counts.shape[2:])
    ndim, volume = len(shape), int(np.prod(shape))
    flux = (counts.unsqueeze(2).double() * rates.double().clamp_min(0)).reshape(batch, channels * 2 * ndim, volume)
    total = flux.sum(1)
    p_leave = (total * tau.view(-1, 1)).clamp(max=1.0)
    leaving = torch.bernoulli(p_leave, generator=generator).bool()
    image, voxel = torch.nonzero(leaving, as_tuple=True)
    if image.numel() == 0:
        return counts.clone()
    cumulative = flux[image, :, voxel].cumsum(1)
    pick = torch.rand(image.shape, generator=generator, dtype=torch.float64, device=counts.device)
    # the first option whose cumulative rate exceeds the draw: never one of zero rate
    choice = (cumulative <= (pick * cumulative[:, -1]).unsqueeze(1)).sum(1).clamp(max=channels * 2 * ndim - 1)
    channel, direction = choice // (2 * ndim), choice % (2 * ndim)
    coords = _unravel(voxel, shape)
    axis, step = direction // 2, 1 - 2 * (direction % 2)  # direction 2 a + 0 is +1 along a, 2 a + 1 is -1
    moved = [
        torch.where(axis == a, torch.remainder(coords[a] + step, n), coords[a]) for a, n in enumerate(shape)
    ]  # closed moves (no-flux faces, frozen voxels) have zero rate, so the wrap is never taken there
    flat = counts.reshape(batch, channels, volume).clone()
    flat.index_put_((image, channel, voxel), torch.full_like(voxel, -1).to(flat.dtype), accumulate=True)
    flat.index_put_((image, channel, _ravel(moved, shape)), torch.ones_like(voxel).to(flat.dtype), accumulate=True)
    return flat.reshape(counts.shape)


def binomial_moves(counts, rates, tau, generator) -> torch.Tensor:
    """One binomial leap: ``Binomial(n, min(1, tau q))`` particles leave each voxel and split over
    the directions by sequential conditional binomials (an exact multinomial draw)."""
    view = (-1, *([1] * (rates.ndim - 1)))
    prob_dir = (rates.double() * tau.view(view)).clamp_min(0)
    total = prob_dir.sum(2)
    p_move = total.clamp(max=1.0)
    n = counts.double()
    leaving = _binomial(n, p_move, generator)
    # fractions of the leavers per direction
    share = torch.where(
        total.unsqueeze(2) > 0, prob_dir / total.unsqueeze(2).clamp_min(1e-300), torch.zeros_like(prob_dir)
    )
    new = counts.clone()
    remaining = leaving
    left_share = torch.ones_like(total)
    ndim = counts.ndim - 2
    for j in range(2 * ndim):
        axis, sign = divmod(j, 2)
        sign = 1 if sign == 0 else -1
        if j == 2 * ndim - 1:
            moved = remaining
        else:
            p = (share[:, :, j] / left_share.clamp_min(1e-300)).clamp(0, 1)
            moved = _binomial(remaining, p, generator)
        remaining = remaining - moved
        left_share = left_share - share[:, :, j]
        moved = moved.to(counts.dtype)
        new -= moved
        new += torch.roll(moved, shifts=sign, dims=2 + axis)
    return new


def _binomial(n: torch.Tensor, p: torch.Tensor, generator) -> torch.Tensor:
    """Binomial draws, skipping the (many) sites with ``n == 0`` or ``p == 0``."""
    out = torch.zeros_like(n)
    live = (n > 0) & (p > 0)
    if live.any():
        out[live] = torch.binomial(n[live], p[live].to(n.dtype), generator=generator)
    return out


def check_totals(totals, channels: int, capacity: int, exclusive: bool) -> torch.Tensor:
    """Validate requested particle totals ``(B, C)`` and return them as an int64 tensor."""
    arr = np.asarray(totals.cpu() if isinstance(totals, torch.Tensor) else totals)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != channels:
        raise ValueError(f"totals must have shape (batch, {channels}) or ({channels},), got {arr.shape}")
    if not np.all(np.isfinite(arr.astype(np.float64))) or np.any(arr != np.round(arr)):
        raise ValueError(f"totals must be integers, got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"totals must be >= 0, got {arr.tolist()}")
    if exclusive and np.any(arr.sum(1) > capacity):
        raise ValueError(
            f"requested {int(arr.sum(1).max())} particles but only {capacity} free voxels: "
            f"totals per image must be in [0, {capacity}] (one phase per voxel)"
        )
    return torch.as_tensor(arr.astype(np.int64))


#: a sampling sharpness: one exponent for every particle channel, or one per channel
Sharpness = float | tuple[float, ...]


def check_sharpness(sharpness, channels: int | None = None) -> Sharpness:
    """Return ``sharpness`` checked: a finite number > 0 as a float, or one such number per
    particle channel (a sequence, or a string ``"1.15/1"``) as a tuple; equal per-channel values
    collapse to one float. With ``channels``, a per-channel value must have that many entries.
    Anything else raises ``ValueError``."""
    parts = sharpness.split("/") if isinstance(sharpness, str) else sharpness
    many = isinstance(parts, (list, tuple)) or (isinstance(parts, np.ndarray) and parts.ndim == 1)
    values = []
    for part in parts if many else [parts]:
        try:
            value = float(part)
        except (TypeError, ValueError):
            value = float("nan")
        if isinstance(part, bool) or not (np.isfinite(value) and value > 0):
            raise ValueError(
                "sharpness must be a finite number > 0 (1 = the rates as trained), or one per particle "
                f"channel (e.g. 1.15/1), got {sharpness!r}"
            )
        values.append(value)
    if not values:
        raise ValueError(f"sharpness must not be empty, got {sharpness!r}")
    if len(values) > 1 and channels is not None and len(values) != channels:
        raise ValueError(
            f"a per-channel sharpness needs one value per particle channel ({channels}), "
            f"got {len(values)}: {sharpness!r}"
        )
    if len(set(values)) == 1:
        return values[0]
    return tuple(values)


def format_sharpness(sharpness: Sharpness) -> str:
    """``1.06`` for one value, ``1.15/1`` for one per particle channel (what
    :func:`check_sharpness` reads back)."""
    if isinstance(sharpness, (list, tuple)):
        return "/".join(f"{float(v):g}" for v in sharpness)
    return f"{float(sharpness):g}"


def sharpen(rates: torch.Tensor, r: float, sharpness: Sharpness) -> torch.Tensor:
    """Per-particle reverse rates ``q`` (physical units, ``(B, C, 2*ndim, *shape)``) ->
    ``r (q / r) ** sharpness``, with one exponent for all channels or one per channel.

    ``q / r`` is the posterior mean of the forward kernel ratio ``p_t(x + e | x0) / p_t(x | x0)``
    (paper Eq. 4); raising it to a power > 1 sharpens that posterior, as a temperature below 1
    does: hops towards where the model expects material become likelier, hops away rarer. A
    per-channel exponent sharpens each phase by its own amount (a cathode's active particles and
    its binder need not be equally under-trained). Zero rates (closed moves) stay zero;
    ``sharpness = 1`` returns ``rates`` unchanged. Particles are only moved, so every count stays
    exact whatever the value.
    """
    if isinstance(sharpness, (list, tuple)):
        if len(sharpness) != rates.shape[1]:
            raise ValueError(f"{len(sharpness)} sharpness values for {rates.shape[1]} particle channels")
        shape = (1, len(sharpness)) + (1,) * (rates.dim() - 2)
        power = torch.tensor([float(v) for v in sharpness], dtype=rates.dtype, device=rates.device).view(shape)
        return (rates / r).pow(power).mul_(r)
    if sharpness == 1.0:
        return rates
    return (rates / r).pow(sharpness).mul_(r)


#: on CPU, :func:`sample` runs a batch in network calls of at most this many voxels: beyond it a
#: call costs more per image (cache and memory traffic; berea, 256², one thread: 190-198 ms per
#: image with 2 to 8 images per call, 344 ms with 16; docs/performance.md)
CPU_CHUNK_VOXELS = 2**19


def batch_chunks(batch: int, shape, device) -> list[slice]:
    """The slices of a batch of ``batch`` images of ``shape`` that :func:`sample` runs one after
    the other: the whole batch on a GPU, at most :data:`CPU_CHUNK_VOXELS` voxels each on CPU."""
    device = torch.device(device)
    per = batch if device.type != "cpu" else max(1, CPU_CHUNK_VOXELS // int(np.prod(shape)))
    return [slice(i, min(i + per, batch)) for i in range(0, batch, per)] or [slice(0, 0)]


@torch.inference_mode()
def sample(
    model,
    totals,
    shape,
    *,
    sampler: BinomialTauLeaping | PoissonLeaping | TrapezoidalLeaping | MultistepLeaping | RestartLeaping | None = None,
    generator: torch.Generator | None = None,
    frozen: torch.Tensor | np.ndarray | None = None,
    fixed: torch.Tensor | np.ndarray | None = None,
    exclusive: bool = True,
    label: torch.Tensor | None = None,
    t_end: float | None = None,
    precision: str = "float32",
    polish: int = 0,
    islands: int = 0,
    holes: int = 0,
    smooth: float | tuple[float, ...] = 0.0,
    sharpness: float | tuple[float, ...] | str | None = None,
    prior: str = "auto",
    offsets: str = "auto",
    max_evaluations: int = 1_000_000,
    callback: Callable[[float, int], None] | None = None,
) -> SampleResult:
    """Generate images with exactly ``totals[b, c]`` particles of channel ``c`` in image ``b``.

    Parameters
    ----------
    model : DSDModel
    totals : int array ``(B, C)`` (or ``(C,)`` for one image)
        Particles to place in the non-frozen region, per image and channel.
    shape : tuple of int
        Spatial shape; every side at least the network stride (see ``DSDModel.check_shape``).
    sampler : step rule (:class:`BinomialTauLeaping`, :class:`PoissonLeaping`,
        :class:`TrapezoidalLeaping`, :class:`MultistepLeaping` or :class:`RestartLeaping`), default
        ``BinomialTauLeaping(0.1)``
    generator : torch.Generator on the model's device
    frozen : bool array ``shape``, optional
        Voxels whose content never changes and that no particle may enter.
    fixed : int array ``(C, *shape)``, optional
        Content of the frozen voxels (ignored elsewhere); default empty.
    exclusive : bool
        Resolve collisions at the end into a label image with one phase per voxel.
    t_end : float, optional
        Stop time; default :func:`default_t_end`.
    precision : {"float32", "bfloat16", "float16", "auto"} (see :data:`PRECISIONS`)
        Arithmetic of the network evaluations (autocast); rates are then used in float64.
        ``"auto"`` is bfloat16 where the device computes it natively, else float32
        (:func:`resolve_precision`).
    smooth : float or one float per particle channel
        Width (voxels) of one count-preserving threshold-dynamics step per particle channel right
        after collision resolution (:func:`~microgen.engine.smooth.smooth`: rounds particles and
        removes thin spurs; 0 = off, the default).
    polish : int
        Sweeps of :func:`~microgen.engine.polish.polish` over each label image after collision
        resolution and smoothing (count-preserving swaps that remove one-voxel speckle; 0 = off).
    islands : int
        After the polish, dissolve the islands of every particle channel with at most this many
        voxels (:func:`~microgen.engine.islands.dissolve`; count-preserving; 0 = off).
    holes : int
        Then fill the holes of the particle channels with at most this many voxels: the
        face-connected islands of the empty phase (label 0) are dissolved the same way (0 = off).
    sharpness : float or one float per particle channel, optional
        Exponent applied to the predicted rates (:func:`sharpen`; 1 = as trained; a sequence or
        ``"1.15/1"`` gives each channel its own); default the model's calibrated value
        (:attr:`DSDModel.sharpness`).
    prior : {"auto", "spectral", "uniform"}
        Law of the particles at ``t = 1``: ``"uniform"`` (the process's stationary law) or
        ``"spectral"`` (the data's large-scale density fluctuations, :mod:`microgen.engine.prior`;
        needs a model that stores them). ``"auto"``: spectral where the model has it and nothing
        is frozen, else uniform.
    offsets : {"auto", "stride", "fixed"} (see :data:`OFFSETS`)
        Where the network's stride grid falls at each step on a periodic lattice whose sides are
        multiples of the stride: ``"stride"`` rolls the image by a different offset of the stride
        cell at each step (no stride-grid pattern), ``"fixed"`` holds the grid still (a patch
        network still cycles its cell offsets), ``"auto"`` as the model was calibrated
        (:attr:`DSDModel.stride_offsets`). Other sides always move the seam
        (:meth:`DSDModel.patch_offsets`); no-flux lattices never shift.
    callback : callable ``(t, evaluations)``, optional
        Called after every step with the current time (the whole batch shares one time; on CPU
        a large batch runs in chunks, :func:`batch_chunks`, each from ``t = 1`` again).

    On CPU the batch is sampled in chunks of at most :data:`CPU_CHUNK_VOXELS` voxels (one after
    the other, from the same ``generator``): larger network calls cost more per image there.
    ``evaluations`` and ``steps`` of the result are then those of one chunk (the most of any).
    """
    shape = model.check_shape(shape)
    check_offsets(offsets)
    table = totals if isinstance(totals, torch.Tensor) else np.asarray(totals)
    chunks = batch_chunks(table.shape[0] if table.ndim == 2 else 1, shape, model.device)
    if len(chunks) > 1:
        options = {
            "sampler": sampler,
            "generator": generator,
            "frozen": frozen,
            "fixed": fixed,
            "exclusive": exclusive,
            "t_end": t_end,
            "precision": precision,
            "polish": polish,
            "islands": islands,
            "holes": holes,
            "smooth": smooth,
            "sharpness": sharpness,
            "prior": prior,
            "offsets": offsets,
            "max_evaluations": max_evaluations,
            "callback": callback,
        }
        parts = [
            sample(model, table[part], shape, label=None if label is None else label[part], **options)
            for part in chunks
        ]
        return SampleResult(
            None if parts[0].labels is None else np.concatenate([r.labels for r in parts]),
            np.concatenate([r.counts for r in parts]),
            max(r.evaluations for r in parts),
            max(r.steps for r in parts),
            *(np.concatenate([getattr(r, k) for r in parts]) for k in ("moved", "swapped", "dissolved", "smoothed")),
        )
    sampler = sampler or BinomialTauLeaping()
    device = model.device
    precision = resolve_precision(precision, device)
    polish = check_sweeps(polish)  # before sampling, not after it
    islands, holes = check_max_size(islands), check_max_size(holes, "hole size")
    smooth = check_widths(smooth, model.channels)
    if (islands or holes) and model.ndim not in (2, 3):
        raise ValueError(f"island and hole dissolution need a 2D or 3D model, this one is {model.ndim}D")
    sharpness = check_sharpness(model.sharpness if sharpness is None else sharpness, model.channels)
    shape = model.check_shape(shape)
    volume = int(np.prod(shape))
    frozen_t = None
    if frozen is not None:
        frozen_t = torch.as_tensor(
            np.asarray(frozen.cpu() if isinstance(frozen, torch.Tensor) else frozen), dtype=torch.bool
        )
        if tuple(frozen_t.shape) != shape:
            raise ValueError(f"frozen mask shape {tuple(frozen_t.shape)} must equal the image shape {shape}")
        if bool(frozen_t.all()):
            raise ValueError("the frozen mask freezes every voxel: at least one voxel must be free")
        frozen_t = frozen_t.to(device)
    capacity = volume - (int(frozen_t.sum()) if frozen_t is not None else 0)
    totals = check_totals(totals, model.channels, capacity, exclusive).to(device)
    batch = totals.shape[0]
    t_end = default_t_end(model) if t_end is None else float(t_end)

    free = None if frozen_t is None else ~frozen_t
    start = _start_intensity(model, prior, totals, shape, frozen_t, generator)
    counts = model.process.prior(totals, shape, generator, free=free, intensity=start)
    allowed = model.open_moves(shape, device)
    if frozen_t is not None:
        fixed_t = torch.zeros((model.channels, *shape), dtype=torch.long, device=device)
        if fixed is not None:
            fixed_t = torch.as_tensor(np.asarray(fixed), dtype=torch.long).to(device)
            if tuple(fixed_t.shape) != (model.channels, *shape):
                raise ValueError(f"fixed must have shape {(model.channels, *shape)}, got {tuple(fixed_t.shape)}")
            if (fixed_t < 0).any():
                raise ValueError("fixed counts must be >= 0")
        counts = counts + (fixed_t * frozen_t).unsqueeze(0)
        allowed = allowed & ~frozen_t.unsqueeze(0) & ~_shifted_targets(frozen_t, model.ndim)

    # one grid offset per step (both evaluations of a second-order step see the same grid)
    shifts = model.patch_offsets(shape) if offsets == "auto" else model.patch_offsets(shape, offsets == "stride")
    offset = shifts[0]

    def rate_fn(state: torch.Tensor, time: float) -> torch.Tensor:
        """Per-particle reverse rates in physical units, zero for closed or frozen moves."""
        t_batch = torch.full((batch,), time, dtype=torch.float64, device=device)
        with autocast(device, precision):
            rates = model.particle_rates(state, t_batch, label, offset)
        return sharpen(rates.double() * (float(model.time_scale(time)) * allowed), model.r, sharpness)

    if hasattr(sampler, "bind"):
        sampler.bind(model.process, exclusive)
    if hasattr(sampler, "reset"):
        sampler.reset()
    t = 1.0
    evaluations = steps = 0
    while t > t_end and evaluations < max_evaluations:
        offset = shifts[steps % len(shifts)]
        counts, t, used = sampler.advance(
            counts, t, t_end, rate_fn, generator, boundary=model.process.boundary, frozen=frozen_t
        )
        evaluations += used
        steps += 1
        if callback is not None:
            callback(t, evaluations)
    if evaluations >= max_evaluations:
        log.warning("sampling stopped at the evaluation budget %d (t = %.3g)", max_evaluations, t)

    counts_np = counts.cpu().numpy()
    if not exclusive:
        return SampleResult(None, counts_np, evaluations, steps, np.zeros(batch, dtype=np.int64))
    frozen_np = None if frozen_t is None else frozen_t.cpu().numpy()
    seed = _derive_seed(generator)
    labels, moved = resolve_collisions(counts_np, frozen=frozen_np, seed=seed)
    swapped = np.zeros(batch, dtype=np.int64)
    dissolved = np.zeros(batch, dtype=np.int64)
    smoothed = np.zeros(batch, dtype=np.int64)
    boundary = model.process.boundary
    channels = range(1, model.channels + 1)
    for b in range(batch):
        if any(smooth):
            labels[b], smoothed[b] = smooth_labels(labels[b], channels, smooth, boundary=boundary, frozen=frozen_np)
        if polish:
            labels[b], swapped[b] = polish_labels(
                labels[b], sweeps=polish, boundary=boundary, frozen=frozen_np, seed=seed + b
            )
        if islands or holes:
            labels[b], dissolved[b] = dissolve_phases(
                labels[b], channels, islands, boundary=boundary, frozen=frozen_np, holes=holes, background=0
            )
    return SampleResult(labels, counts_np, evaluations, steps, moved, swapped, dissolved, smoothed)


def resolve_prior(model, prior: str = "auto", frozen=None) -> str:
    """``"spectral"`` or ``"uniform"``: the start law :func:`sample` uses for ``prior``."""
    spectral = model.spectral_prior
    if spectral is not None and spectral.ndim != model.ndim:
        spectral = None  # spectra of 2D slices say nothing about a 3D lattice
    if check_prior(prior) == "spectral":
        if spectral is None:
            raise ValueError(
                f"prior 'spectral' needs a model that stores the data's {model.ndim}D spectra (see microgen export)"
            )
        if frozen is not None:
            raise ValueError("prior 'spectral' is for unconstrained generation; inpainting starts uniform")
        return prior
    if prior == "uniform" or frozen is not None or spectral is None:
        return "uniform"
    return "spectral"


def _start_intensity(model, prior, totals, shape, frozen, generator) -> torch.Tensor | None:
    """Where particles start (``None``: uniformly), following ``prior`` (see :func:`sample`)."""
    if resolve_prior(model, prior, frozen) == "uniform":
        return None
    fractions = totals.to(torch.float64) / float(np.prod(shape))
    return model.spectral_prior.field(fractions, shape, model.r, generator, boundary=model.process.boundary)


SAMPLERS = ("trapezoidal", "multistep", "poisson", "binomial")
#: where the network's stride grid falls at each step (``sample(offsets=...)``): as the model was
#: calibrated, every offset of the stride cell in turn, or held still
OFFSETS = ("auto", "stride", "fixed")


def check_offsets(offsets) -> str:
    """Return ``offsets`` if it is one of :data:`OFFSETS`, else raise ``ValueError`` naming them."""
    if offsets not in OFFSETS:
        raise ValueError(f"offsets must be one of {OFFSETS}, got {offsets!r}")
    return offsets


def offsets_used(model, offsets: str) -> str:
    """What ``offsets`` does for ``model`` on shapes that are multiples of its stride: ``"stride"``
    or ``"fixed"`` (``"auto"`` resolved with :attr:`DSDModel.stride_offsets`; a no-flux lattice
    never shifts)."""
    check_offsets(offsets)
    if model.process_config.boundary != "periodic":
        return "fixed"
    if offsets == "auto":
        return "stride" if model.stride_offsets else "fixed"
    return offsets


#: the step rule and budget (network evaluations per sample) of ``generate``, ``inpaint``, the CLI,
#: export and validation
DEFAULT_SAMPLER = "trapezoidal"
DEFAULT_EVALUATIONS = 100
#: time-grid power of the default trapezoidal rule: log grid, finer steps at large t. In the 64²
#: study (berea, 100 evaluations, 4 seeds) it was closer to the held-out data than power 1 on every
#: metric after polish and on four of five raw (docs/performance.md); the analytic-rate oracle
#: tests check it at its default budget.
DEFAULT_GRID_POWER = 0.5
#: time-grid power for inpainting. A clean context tells the network where the region's material
#: belongs already at large t, so the reverse drift is strong there, and leaps of many hops per
#: particle overshoot it: pores clump in the hole (Berea, 64² holes, 100 evaluations: normalised
#: two-point function +0.17 at lag 16 with power 0.5 and +0.23 with power 1, real -0.00; with
#: power 0.2 -0.00). Finer steps at large t remove the clumping at the same budget
#: (docs/method.md, "Inpainting").
INPAINT_GRID_POWER = 0.2


def make_sampler(
    name: str = DEFAULT_SAMPLER,
    evaluations: int = DEFAULT_EVALUATIONS,
    eps: float = 0.1,
    power: float = DEFAULT_GRID_POWER,
    tail: int = 0,
):
    """The step rule called ``name`` with a budget of ``evaluations`` network calls per sample
    (trapezoidal: two per grid step, one per step of its one-hop ``tail``, so ``evaluations +
    tail`` must be even; multistep and poisson: one per step); ``"binomial"`` is the paper's rule
    with CFL number ``eps`` (its evaluation count follows from the rates). ``power``: the log time
    grid's power for trapezoidal and multistep (smaller: finer steps at large ``t``; inpainting
    uses :data:`INPAINT_GRID_POWER`)."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {name!r}")
    if tail and name != "trapezoidal":
        raise ValueError(f"a one-hop tail is an option of the trapezoidal sampler, not of {name!r}")
    if name == "binomial":
        return BinomialTauLeaping(eps)
    if not (isinstance(evaluations, (int, np.integer)) and evaluations >= 1):
        raise ValueError(f"steps (network evaluations per sample) must be an integer >= 1, got {evaluations!r}")
    if name == "poisson":
        return PoissonLeaping(steps=int(evaluations))
    if name == "multistep":
        return MultistepLeaping(steps=int(evaluations), power=power)
    if not (isinstance(tail, (int, np.integer)) and 0 <= tail < evaluations):
        raise ValueError(f"tail must be an integer from 0 to steps - 1 ({evaluations - 1}), got {tail!r}")
    if evaluations < 2 or (evaluations + tail) % 2:
        raise ValueError(
            "the trapezoidal sampler evaluates the network twice per step (once per tail step): "
            f"steps + tail must be even, got {evaluations} + {tail}"
        )
    return TrapezoidalLeaping(steps=(int(evaluations) + int(tail)) // 2, power=power, tail=int(tail))


def model_sampler(model, name: str = DEFAULT_SAMPLER, evaluations: int | None = None, eps: float = 0.1):
    """:func:`make_sampler` with the model's calibrated budget (``DSDModel.sampling_steps``) where
    ``evaluations`` is None and, for the trapezoidal rule, its one-hop tail (``DSDModel.sampling_tail``)."""
    tail = model.sampling_tail if name == "trapezoidal" else 0
    return make_sampler(name, model.sampling_steps if evaluations is None else evaluations, eps, tail=tail)


def _shifted_targets(frozen: torch.Tensor, ndim: int) -> torch.Tensor:
    """``(2d, *shape)`` mask: True where a hop in direction ``j`` would land on a frozen voxel."""
    out = []
    for j in range(2 * ndim):
        axis, s = divmod(j, 2)
        sign = 1 if s == 0 else -1
        out.append(torch.roll(frozen, shifts=-sign, dims=axis))
    return torch.stack(out)


def _derive_seed(generator: torch.Generator | None) -> int:
    if generator is None:
        return int(torch.randint(0, 2**62, (1,)).item())
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


def resolve_collisions(
    counts: np.ndarray,
    *,
    frozen: np.ndarray | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn counts ``(B, C, *shape)`` into label images with one phase per voxel.

    Each occupied voxel keeps one particle (of its most numerous channel, ties broken at random);
    every other particle moves to the nearest free voxel (Euclidean distance transform), conflicts
    for the same free voxel going to one particle per round. Totals per channel are preserved, so
    the label image has exactly the particle count of every channel.

    Returns
    -------
    labels : uint8 ``(B, *shape)``: 0 = empty, ``c + 1`` = channel ``c``
    moved : int64 ``(B,)``: particles relocated per image
    """
    counts = np.asarray(counts)
    batch, channels = counts.shape[:2]
    shape = counts.shape[2:]
    if channels > 254:
        raise ValueError("at most 254 channels fit a uint8 label image")
    rng = np.random.default_rng(seed)
    labels = np.zeros((batch, *shape), dtype=np.uint8)
    moved = np.zeros(batch, dtype=np.int64)
    blocked = np.zeros(shape, dtype=bool) if frozen is None else np.asarray(frozen, dtype=bool)
    for b in range(batch):
        c_img = counts[b].reshape(channels, -1)
        occupancy = c_img.sum(0)
        noise = rng.random(c_img.shape) * 0.5  # tie-break among equally numerous channels
        keep = np.argmax(c_img + noise, axis=0)
        lab = np.where(occupancy > 0, keep + 1, 0).astype(np.uint8)
        excess = c_img.copy()
        occupied = np.nonzero(occupancy > 0)[0]
        excess[keep[occupied], occupied] -= 1
        # one entry per excess particle: (channel, voxel)
        ch, vox = np.nonzero(excess)
        reps = excess[ch, vox]
        ch = np.repeat(ch, reps)
        vox = np.repeat(vox, reps)
        moved[b] = ch.size
        free = (occupancy == 0) & ~blocked.reshape(-1)
        if ch.size > free.sum():
            raise ValueError("more particles than free voxels: cannot build a label image")
        while ch.size:
            _, nearest = ndimage.distance_transform_edt(~free.reshape(shape), return_indices=True)
            target = np.ravel_multi_index(tuple(idx.reshape(-1)[vox] for idx in nearest), shape)
            order = rng.permutation(ch.size)
            _, first = np.unique(target[order], return_index=True)
            win = order[first]
            lab[target[win]] = ch[win] + 1
            free[target[win]] = False
            rest = np.ones(ch.size, dtype=bool)
            rest[win] = False
            ch, vox = ch[rest], vox[rest]
        labels[b] = lab.reshape(shape)
    return labels, moved
