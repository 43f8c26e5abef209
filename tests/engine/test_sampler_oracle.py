"""Samplers driven by the exact reverse rates of a known initial image.

Each channel holds one particle with a known origin, so the exact per-particle reverse rate is
``r p_t(x + e | x0) / p_t(x | x0)`` (Eq. 3). The reverse process then has the forward marginal
``p_t(x | x0)`` at every time: stopping a sampler at ``t_end`` must reproduce it, and at the end
every particle must be back at its origin.
"""

import numpy as np
import pytest
import torch
from scipy import stats

from microgen.engine import (
    BinomialTauLeaping,
    DSDProcess,
    Lattice,
    MultistepLeaping,
    PoissonLeaping,
    RestartLeaping,
    Schedule,
    TrapezoidalLeaping,
    kernels,
    sample,
)
from microgen.engine.sampler import make_sampler

R, SHAPE = 20.0, (6, 6)
ORIGINS = [(1, 2), (4, 4)]


class OracleModel:
    """Stands in for a trained DSDModel and returns the analytic reverse rates."""

    channels, ndim, r = len(ORIGINS), 2, R
    sharpness = 1.0  # as DSDModel.sharpness of a model with no calibration
    spectral_prior = None  # the process's own uniform start law
    device = torch.device("cpu")
    schedule = Schedule("power", 1000, power=4.0)

    def __init__(self, boundary):
        self.process = DSDProcess(R, boundary, 2)
        self.boundary = boundary

    def check_shape(self, shape):
        return tuple(shape)

    def open_moves(self, shape, device):
        return Lattice(tuple(shape), self.boundary).open_moves(device)

    def time_scale(self, t):
        return R + 1.0 / torch.as_tensor(t, dtype=torch.float64)

    def patch_offsets(self, shape=None):
        return [(0, 0)]  # the analytic rates need no cell grid

    def particle_rates(self, counts, t, label=None, offset=None):
        assert not any(offset or ())
        (tb,) = set(t.tolist())  # the sampler moves the whole batch in step
        out = torch.zeros((1, self.channels, 4, *SHAPE), dtype=torch.float64)
        mats = [kernels.transition_matrix(n, R, tb, self.boundary) for n in SHAPE]
        for c, x0 in enumerate(ORIGINS):
            here = np.outer(mats[0][:, x0[0]], mats[1][:, x0[1]])
            for j, (axis, sign) in enumerate(self.process.directions):
                there = np.roll(here, -sign, axis=axis)  # p_t(x + e_j | x0); no-flux faces masked below
                ratio = np.where(here > 0, there / np.where(here > 0, here, 1), 0.0)
                out[0, c, j] = torch.as_tensor(R * ratio) / (R + 1.0 / tb)
        return (out * self.open_moves(SHAPE, "cpu")).expand(counts.shape[0], -1, -1, -1, -1)


SAMPLERS = [
    BinomialTauLeaping(0.1),
    PoissonLeaping(steps=100),
    PoissonLeaping(steps=30, power=2.0),
    TrapezoidalLeaping(steps=15),
    make_sampler("trapezoidal", 100),  # the product default (log grid of power 0.5)
    MultistepLeaping(steps=30),
    make_sampler("multistep", 100),
    RestartLeaping(TrapezoidalLeaping(steps=15), 0.06, 0.3, repeats=2),  # exact forward noise, twice
]
#: one-hop tails: exact only where a particle is at most about one hop from its origin, so they
#: are checked at the end of the process and at a stop time in that regime (2 d R t = 0.16)
TAILED = [make_sampler("trapezoidal", 100, tail=20), make_sampler("trapezoidal", 30, tail=10)]


def _counts(sampler, n, seed, *, boundary="periodic", t_end=None, sharpness=None):
    """Final counts ``(n, channels, *SHAPE)`` of ``n`` independent runs under the analytic rates."""
    res = sample(
        OracleModel(boundary),
        [[1, 1]] * n,
        SHAPE,
        sampler=sampler,
        exclusive=False,
        t_end=t_end,
        generator=torch.Generator().manual_seed(seed),
        sharpness=sharpness,
    )
    return res.counts


def _assert_forward_marginal(counts, t_stop, boundary):
    """Chi-square: where each particle of ``counts`` (one run per image) sits is distributed as the
    forward kernel ``p_t(x | x0)`` at ``t_stop``."""
    n = counts.shape[0]
    for c, x0 in enumerate(ORIGINS):
        observed = counts[:, c].sum(0).ravel()
        mats = [kernels.transition_matrix(s, R, t_stop, boundary) for s in SHAPE]
        expected = np.outer(mats[0][:, x0[0]], mats[1][:, x0[1]]).ravel() * n
        keep = expected >= 5
        obs = np.append(observed[keep], observed[~keep].sum())
        exp = np.append(expected[keep], expected[~keep].sum())
        chi2 = ((obs - exp) ** 2 / np.maximum(exp, 1e-9)).sum()
        assert stats.chi2.sf(chi2, keep.sum()) > 1e-3, (c, chi2, keep.sum())


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
@pytest.mark.parametrize("sampler", SAMPLERS, ids=repr)
def test_reverse_marginal_matches_forward_kernel(boundary, sampler):
    n, t_stop = 800, 0.04
    counts = _counts(sampler, n, 0, boundary=boundary, t_end=t_stop)
    _assert_forward_marginal(counts, t_stop, boundary)


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
def test_a_one_hop_tail_reproduces_the_forward_marginal_near_the_end(boundary):
    """At 100 evaluations; at 30 the trapezoidal steps above the tail are too coarse for this test
    (chi-square 53 with the tail, 321 without it)."""
    n, t_stop = 800, 0.002
    counts = _counts(TAILED[0], n, 2, boundary=boundary, t_end=t_stop)
    _assert_forward_marginal(counts, t_stop, boundary)


def test_a_one_hop_tail_leaves_fewer_particles_astray_than_poisson_leaps():
    """At the same budget of 40 evaluations, 1,500 runs: trapezoidal leaping leaves about 1.5 % of
    the particles off their origin at the end (Poisson leaps near t_end send a displaced particle
    back zero or two hops), the one-hop tail about the 0.1 % that t_end itself leaves."""
    astray = {}
    for tail in (0, 10):
        counts = _counts(make_sampler("trapezoidal", 40, tail=tail), 1500, 7)
        astray[tail] = 1 - np.mean([counts[:, c, x0[0], x0[1]].mean() for c, x0 in enumerate(ORIGINS)])
    assert astray[10] < 0.4 * astray[0], astray


@pytest.mark.parametrize("sampler", SAMPLERS + TAILED, ids=repr)
def test_particles_return_to_their_origin(sampler):
    counts = _counts(sampler, 300, 1)
    for c, x0 in enumerate(ORIGINS):
        assert counts[:, c, x0[0], x0[1]].mean() >= 0.97


T_STOP, N_TWO_SAMPLE = 0.04, 600


def _positions(sampler, seed):
    """Where the particles of ``N_TWO_SAMPLE`` independent runs sit at ``T_STOP``, per channel."""
    return _counts(sampler, N_TWO_SAMPLE, seed, t_end=T_STOP).sum(0).reshape(len(ORIGINS), -1)


@pytest.fixture(scope="module")
def papers_rule_positions():
    return _positions(BinomialTauLeaping(0.05), 4)


@pytest.mark.parametrize(
    "rule",
    [
        PoissonLeaping(steps=20),
        TrapezoidalLeaping(steps=10),
        make_sampler("trapezoidal", 100),
        MultistepLeaping(steps=20),
        make_sampler("multistep", 50),
        RestartLeaping(TrapezoidalLeaping(steps=10), 0.1, 0.5),
    ],
    ids=repr,
)
def test_grid_rules_match_the_papers_rule_at_small_eps(rule, papers_rule_positions):
    """Two-sample chi-square: where each particle sits at t = 0.04 after the fast rule and after
    the paper's rule with eps = 0.05 (same analytic rates, independent fixed seeds)."""
    fast = _positions(rule, 3)
    for c in range(len(ORIGINS)):
        table = np.stack([fast[c], papers_rule_positions[c]])
        keep = table.sum(0) >= 10
        rest = table[:, ~keep].sum(1, keepdims=True)
        table = np.concatenate([table[:, keep]] + ([rest] if rest.sum() else []), axis=1)
        assert stats.chi2_contingency(table).pvalue > 1e-3


def _mean_square_distance(weights, x0):
    """Mean squared periodic distance to ``x0`` of a weighting over ``SHAPE``."""
    d2 = sum(
        np.minimum(np.abs(idx - x0[a]), SHAPE[a] - np.abs(idx - x0[a])) ** 2 for a, idx in enumerate(np.indices(SHAPE))
    )
    return float((weights * d2).sum() / weights.sum())


def test_sharpening_pulls_particles_towards_where_the_rates_point():
    """With the exact rates, sharpness 1 reproduces the forward spread at t = 0.04 (the marginal
    test above); a sharpness above 1 (1.5) leaves the particles closer to their origins, below 1 (0.6) farther."""
    n, t_stop = 400, 0.04
    mats = [kernels.transition_matrix(s, R, t_stop, "periodic") for s in SHAPE]
    runs = {s: _counts(BinomialTauLeaping(0.2), n, 5, t_end=t_stop, sharpness=s) for s in (0.6, 1.5)}
    for c, x0 in enumerate(ORIGINS):
        exact = _mean_square_distance(np.outer(mats[0][:, x0[0]], mats[1][:, x0[1]]), x0)
        spread = {s: _mean_square_distance(counts[:, c].sum(0), x0) for s, counts in runs.items()}
        assert spread[1.5] < 0.85 * exact < exact / 0.85 < spread[0.6], (c, spread, exact)


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
def test_a_restart_moves_the_particles_by_the_forward_kernel_over_the_interval(boundary):
    """On reaching t_low, a restart displaces each particle by the exact forward kernel over
    t_high - t_low: with zero reverse rates (so the leap after the jump moves nothing) the positions
    of one particle over many images follow ``p_{t_high - t_low}(x | x0)`` (chi-square), and the
    rule goes on from the grid time below t_high."""
    n, side, x0 = 3000, 9, (4, 2)
    rule = RestartLeaping(TrapezoidalLeaping(steps=12, power=1.0), 0.02, 0.08)
    rule.bind(DSDProcess(R, boundary, 2))
    rule.reset()
    t_end = 1e-4
    low, high = rule.interval(t_end)
    counts = torch.zeros((n, 1, side, side), dtype=torch.long)
    counts[:, 0, x0[0], x0[1]] = 1

    def zero_rates(state, time):
        return torch.zeros((state.shape[0], 1, 4, side, side), dtype=torch.float64)

    out, t_next, used = rule.advance(
        counts, low, t_end, zero_rates, torch.Generator().manual_seed(0), boundary=boundary
    )
    assert out.sum() == n and used == 2
    assert t_next == rule.base.next_time(high, t_end) and t_next > low
    mats = [kernels.transition_matrix(side, R, high - low, boundary) for _ in range(2)]
    expected = np.outer(mats[0][:, x0[0]], mats[1][:, x0[1]]).ravel() * n
    observed = out[:, 0].sum(0).numpy().ravel()
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    chi2 = ((obs - exp) ** 2 / np.maximum(exp, 1e-9)).sum()
    assert stats.chi2.sf(chi2, keep.sum()) > 1e-3, chi2
    again, t_again, _ = rule.advance(out, low, t_end, zero_rates, torch.Generator().manual_seed(1), boundary=boundary)
    assert torch.equal(again, out) and t_again < low  # one restart only: at t_low again, the base rule goes on
