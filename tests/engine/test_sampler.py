import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microgen.engine import (
    BinomialTauLeaping,
    DSDModel,
    MultistepLeaping,
    PoissonLeaping,
    ProcessConfig,
    RestartLeaping,
    Schedule,
    TrapezoidalLeaping,
    resolve_collisions,
    sample,
)
from microgen.engine import sampler as sampler_module
from microgen.engine.sampler import binomial_moves, make_sampler
from tests.helpers import tiny_model

RULES = [
    BinomialTauLeaping(0.5),
    PoissonLeaping(7),
    TrapezoidalLeaping(4),
    TrapezoidalLeaping(5, tail=2),
    MultistepLeaping(6),
    RestartLeaping(TrapezoidalLeaping(4), 0.05, 0.4),
]
MODELS = {
    key: tiny_model(channels=key[0], boundary=key[1]) for key in [(1, "periodic"), (2, "noflux"), (2, "periodic")]
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    channels=st.sampled_from([1, 2]),
    boundary=st.sampled_from(["periodic", "noflux"]),
    h=st.sampled_from([2, 3, 4, 6, 7, 10]),  # odd sides: the stride-2 network sees them extended
    w=st.sampled_from([2, 4, 5, 8]),
    fractions=st.lists(st.floats(0.0, 0.5), min_size=2, max_size=2),
    seed=st.integers(0, 2**31 - 1),
    rule=st.sampled_from(RULES),
    polish=st.sampled_from([0, 1, 2]),
    sharpness=st.sampled_from([None, 0.8, 1.07, 1.5]),
    islands=st.sampled_from([0, 3]),
    holes=st.sampled_from([0, 2]),
    smooth=st.sampled_from([0.0, 1.0, 2.5]),
)
def test_sample_has_exact_counts_and_one_phase_per_voxel(
    channels, boundary, h, w, fractions, seed, rule, polish, sharpness, islands, holes, smooth
):
    key = (channels, boundary) if (channels, boundary) in MODELS else (1, "periodic")
    model = MODELS[key]
    channels = key[0]
    volume = h * w
    totals = [int(np.floor(f * volume + 0.5)) for f in fractions[:channels]]
    res = sample(
        model,
        [totals, totals[::-1][:channels]],
        (h, w),
        generator=torch.Generator().manual_seed(seed),
        sampler=rule,
        polish=polish,
        sharpness=sharpness,
        islands=islands,
        holes=holes,
        smooth=smooth,
    )
    assert res.labels.shape == (2, h, w) and res.labels.dtype == np.uint8
    assert len(res.smoothed) == 2 and (smooth or not res.smoothed.any())
    assert len(res.swapped) == 2 and (polish or not res.swapped.any())
    assert len(res.dissolved) == 2 and (islands or holes or not res.dissolved.any())
    for b, want in enumerate([totals, totals[::-1][:channels]]):
        for c in range(channels):
            assert (res.labels[b] == c + 1).sum() == want[c]
            assert res.counts[b, c].sum() == want[c]
        assert res.labels[b].max() <= channels
    assert res.evaluations > 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), tau=st.floats(0.0, 2.0), ndim=st.sampled_from([1, 2, 3]))
def test_binomial_step_conserves_and_stays_non_negative(seed, tau, ndim):
    gen = torch.Generator().manual_seed(seed)
    shape = (2, 3, *([5] * ndim))
    counts = torch.randint(0, 4, shape, generator=gen)
    rates = torch.rand((shape[0], shape[1], 2 * ndim, *shape[2:]), generator=gen, dtype=torch.float64) * 3
    new = binomial_moves(counts, rates, torch.full((2,), tau, dtype=torch.float64), gen)
    assert (new >= 0).all()
    torch.testing.assert_close(new.flatten(2).sum(2), counts.flatten(2).sum(2))


def test_step_follows_the_rates_direction():
    # all the rate points +x: every particle that moves goes one voxel to +x
    counts = torch.zeros((1, 1, 1, 8), dtype=torch.long)
    counts[0, 0, 0, 3] = 1000
    rates = torch.zeros((1, 1, 4, 1, 8), dtype=torch.float64)
    rates[:, :, 2] = 1.0  # direction 2 = axis 1, +1
    new = binomial_moves(counts, rates, torch.tensor([0.3], dtype=torch.float64), torch.Generator().manual_seed(0))
    assert new[0, 0, 0, 3] + new[0, 0, 0, 4] == 1000
    assert 230 < new[0, 0, 0, 4] < 370  # Binomial(1000, 0.3)


@pytest.mark.parametrize(
    "rule",
    [
        BinomialTauLeaping(0.3),
        PoissonLeaping(10),
        TrapezoidalLeaping(5),
        TrapezoidalLeaping(5, tail=3),
        MultistepLeaping(8),
        RestartLeaping(MultistepLeaping(8), 0.05, 0.4, repeats=2),
    ],
    ids=repr,
)
def test_same_seed_same_sample_different_seed_differs(rule):
    model = MODELS[(2, "periodic")]

    def run(s):
        return sample(
            model,
            [[20, 10]],
            (8, 8),
            generator=torch.Generator().manual_seed(s),
            sampler=rule,
        ).labels

    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


@pytest.mark.parametrize("polish", [0, 2])
@pytest.mark.parametrize(
    "rule",
    [BinomialTauLeaping(0.3), TrapezoidalLeaping(5), TrapezoidalLeaping(5, tail=4), MultistepLeaping(8)],
    ids=repr,
)
def test_frozen_voxels_are_untouched_and_never_entered(rule, polish):
    model = MODELS[(1, "periodic")]
    frozen = np.zeros((8, 8), dtype=bool)
    frozen[:, :3] = True
    fixed = np.zeros((1, 8, 8), dtype=np.int64)
    fixed[0, ::2, :3] = 1
    res = sample(
        model,
        [[15]],
        (8, 8),
        frozen=frozen,
        fixed=fixed,
        generator=torch.Generator().manual_seed(0),
        sampler=rule,
        polish=polish,
    )
    assert np.array_equal(res.labels[0][:, :3], fixed[0][:, :3].astype(np.uint8))
    assert (res.labels[0][:, 3:] == 1).sum() == 15


def test_resolve_collisions_moves_excess_to_nearest_free_voxel():
    counts = np.zeros((1, 2, 1, 7), dtype=np.int64)
    counts[0, 0, 0, 3] = 2
    counts[0, 1, 0, 3] = 1
    labels, moved = resolve_collisions(counts, seed=0)
    assert moved.tolist() == [2]
    assert (labels[0] == 1).sum() == 2 and (labels[0] == 2).sum() == 1
    assert set(np.nonzero(labels[0, 0])[0]) == {2, 3, 4}  # the two displaced particles land next door


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"totals": [[-1]]}, ">= 0"),
        ({"totals": [[1.5]]}, "integers"),
        ({"totals": [[65]]}, r"\[0, 64\]"),
        ({"totals": [[1, 2]]}, "shape"),
        ({"shape": (1, 8)}, "at least the network stride, 2 voxels"),
        ({"shape": (8,)}, "2D"),
        ({"frozen": np.ones((8, 8), bool)}, "every voxel"),
        ({"precision": "half"}, "float32.*bfloat16"),
        ({"precision": "float16"}, "CUDA"),
        ({"polish": -1}, "polish .* integer >= 0"),
        ({"polish": 1.5}, "polish .* integer >= 0"),
        ({"sharpness": 0}, "sharpness must be a finite number > 0"),
        ({"sharpness": -1.0}, "sharpness must be a finite number > 0"),
        ({"sharpness": float("nan")}, "sharpness must be a finite number > 0"),
        ({"sharpness": float("inf")}, "sharpness must be a finite number > 0"),
        ({"sharpness": True}, "sharpness must be a finite number > 0"),
        ({"sharpness": "high"}, "sharpness must be a finite number > 0"),
    ],
)
def test_bad_sampler_input(kwargs, match):
    args = {"totals": [[4]], "shape": (8, 8)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sample(MODELS[(1, "periodic")], args.pop("totals"), args.pop("shape"), **args)


@pytest.mark.parametrize("eps", [0.0, 1.0, -0.1, 2])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        BinomialTauLeaping(eps)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: TrapezoidalLeaping(10, theta=0.0), r"theta.*\(0, 1\)"),
        (lambda: TrapezoidalLeaping(10, theta=1.0), r"theta.*\(0, 1\)"),
        (lambda: TrapezoidalLeaping(0), "steps"),
        (lambda: TrapezoidalLeaping(5, tail=5), "tail.*0 to steps - 1"),
        (lambda: TrapezoidalLeaping(5, tail=-1), "tail.*0 to steps - 1"),
        (lambda: TrapezoidalLeaping(5, tail=2, tail_hops=0), "tail_hops"),
        (lambda: make_sampler("trapezoidal", 100, tail=5), "steps \\+ tail must be even"),
        (lambda: make_sampler("trapezoidal", 10, tail=10), "tail.*0 to steps - 1"),
        (lambda: make_sampler("multistep", 100, tail=10), "trapezoidal"),
        (lambda: PoissonLeaping(10, grid="linear"), "log.*power"),
        (lambda: RestartLeaping(BinomialTauLeaping(0.1), 0.1, 0.5), "fixed-grid"),
        (lambda: RestartLeaping(TrapezoidalLeaping(5), 0.5, 0.1), "0 < t_low < t_high <= 1"),
        (lambda: RestartLeaping(TrapezoidalLeaping(5), 0.0, 0.1), "0 < t_low < t_high <= 1"),
        (lambda: RestartLeaping(TrapezoidalLeaping(5), 0.1, 0.5, repeats=-1), "repeats"),
    ],
)
def test_bad_grid_rule(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_evaluations_per_step():
    model = MODELS[(1, "periodic")]
    for rule, evaluations in ((PoissonLeaping(12), 12), (TrapezoidalLeaping(12), 24), (MultistepLeaping(12), 12)):
        res = sample(model, [[10]], (8, 8), sampler=rule, generator=torch.Generator().manual_seed(0))
        assert (res.evaluations, res.steps) == (evaluations, 12)
    # a one-hop tail: one evaluation per tail step, and make_sampler spends exactly the budget
    tailed = ((TrapezoidalLeaping(12, tail=5), 19, 12), (make_sampler("trapezoidal", 20, tail=6), 20, 13))
    for rule, evaluations, steps in tailed:
        res = sample(model, [[10]], (8, 8), sampler=rule, generator=torch.Generator().manual_seed(0))
        assert (res.evaluations, res.steps) == (evaluations, steps)


def test_the_tail_steps_are_one_hop_leaps(monkeypatch):
    """The last ``tail`` grid steps call the one-hop leap with the step's full length and the
    rates at its start; the steps before them are trapezoidal (two evaluations)."""
    model = MODELS[(1, "periodic")]
    rule = TrapezoidalLeaping(6, tail=2)
    calls = []
    real = sampler_module.one_hop_leap

    def spy(counts, rates, tau, generator, **kw):
        calls.append(float(tau[0]))
        return real(counts, rates, tau, generator, **kw)

    monkeypatch.setattr(sampler_module, "one_hop_leap", spy)
    t_end = 1e-3
    sample(model, [[10]], (8, 8), sampler=rule, t_end=t_end, generator=torch.Generator().manual_seed(0))
    grid = rule.grid(t_end)
    np.testing.assert_allclose(calls, [grid[4] - grid[5], grid[5] - grid[6]])


def test_one_hop_leap_for_label_images_moves_one_particle_per_voxel():
    """Exclusive: a voxel holding two particles (of two channels) with a total rate of 20 / tau sends
    exactly one away, along the only open direction, its channel in proportion to the rates
    (3:1); per particle, both would leave. Counts stay exact and nothing moves along a zero rate."""
    n = 4000
    counts = torch.zeros((n, 2, 1, 5), dtype=torch.long)
    counts[:, :, 0, 2] = 1
    rates = torch.zeros((n, 2, 4, 1, 5), dtype=torch.float64)
    rates[:, 0, 3] = 15.0  # channel 0, direction 3 = axis 1, -1
    rates[:, 1, 3] = 5.0
    tau = torch.full((n,), 1.0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    out = sampler_module.one_hop_leap(counts, rates, tau, gen, exclusive=True)
    assert torch.equal(out.sum((2, 3)), counts.sum((2, 3)))
    assert torch.equal(out[:, :, 0, 1].sum(1), torch.ones(n, dtype=torch.long))  # one left, to -x
    assert torch.equal(out[:, :, 0, 2].sum(1), torch.ones(n, dtype=torch.long))  # one stayed
    assert 0.72 < out[:, 0, 0, 1].float().mean() < 0.78  # channel 0 leaves 3 times in 4
    both = sampler_module.one_hop_leap(counts, rates, tau, gen)  # per particle: both leave
    assert torch.equal(both[:, :, 0, 1], counts[:, :, 0, 2])


def test_one_hop_leap_moves_each_particle_at_most_once_with_probability_tau_q():
    """Rates far above 1 / tau: every particle hops exactly once (a Poisson leap would send many
    two or more hops); rates of 0.3 / tau: 30 % hop, each by one voxel."""
    counts = torch.zeros((1, 1, 1, 9), dtype=torch.long)
    counts[0, 0, 0, 4] = 2000
    rates = torch.zeros((1, 1, 4, 1, 9), dtype=torch.float64)
    rates[:, :, 2] = 50.0  # towards +x
    gen = torch.Generator().manual_seed(0)
    tau = torch.tensor([0.1], dtype=torch.float64)
    assert sampler_module.one_hop_leap(counts, rates, tau, gen)[0, 0, 0, 5] == 2000
    rates[:, :, 2] = 3.0
    moved = sampler_module.one_hop_leap(counts, rates, tau, gen)[0, 0, 0]
    assert moved[4] + moved[5] == 2000 and 540 < moved[5] < 660  # Binomial(2000, 0.3)


def test_restarts_retrace_the_grid_between_the_interval_ends():
    """Each restart jumps from t_low back up to t_high (forward noise, no evaluation) and spends the
    base rule's evaluations on the grid steps between them again; repeats=0 is the base rule."""
    model = MODELS[(1, "periodic")]
    base = TrapezoidalLeaping(10, power=1.0)
    times = []
    rule = RestartLeaping(base, 0.05, 0.4, repeats=2)
    res = sample(
        model,
        [[10]],
        (8, 8),
        sampler=rule,
        generator=torch.Generator().manual_seed(0),
        callback=lambda t, e: times.append(t),
    )
    low, high = rule.interval(sampler_module.default_t_end(model))
    grid = base.grid(sampler_module.default_t_end(model))
    retraced = int(((grid <= high) & (grid > low)).sum())
    assert low in grid and high in grid and low < high
    assert res.steps == 10 + 2 * retraced and res.evaluations == 2 * res.steps == rule.evaluations(grid[-1])
    assert sum(1 for a, b in zip(times, times[1:]) if b > a) == 2  # two jumps back up, to t_high's next step
    plain = sample(
        model,
        [[10]],
        (8, 8),
        sampler=RestartLeaping(base, 0.05, 0.4, repeats=0),
        generator=torch.Generator().manual_seed(0),
    )
    again = sample(model, [[10]], (8, 8), sampler=base, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(plain.labels, again.labels) and plain.evaluations == 20


def test_restarts_refuse_frozen_voxels():
    frozen = np.zeros((8, 8), dtype=bool)
    frozen[:, :2] = True
    with pytest.raises(ValueError, match="frozen"):
        sample(
            MODELS[(1, "periodic")],
            [[5]],
            (8, 8),
            frozen=frozen,
            sampler=RestartLeaping(TrapezoidalLeaping(5), 0.05, 0.4),
            generator=torch.Generator().manual_seed(0),
        )


def test_bfloat16_rates_stay_close_and_counts_exact():
    model = MODELS[(2, "periodic")]
    counts = torch.randint(0, 2, (2, 2, 8, 8), generator=torch.Generator().manual_seed(0))
    t = torch.full((2,), 0.01, dtype=torch.float64)
    full = model.particle_rates(counts, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.particle_rates(counts, t).float()
    assert torch.allclose(low, full, rtol=0.05, atol=1e-3)
    res = sample(
        model,
        [[20, 9]],
        (8, 8),
        sampler=TrapezoidalLeaping(5),
        precision="bfloat16",
        generator=torch.Generator().manual_seed(0),
    )
    assert (res.labels == 1).sum() == 20 and (res.labels == 2).sum() == 9


def test_multistep_extrapolates_the_rates_to_the_middle_of_each_leap(monkeypatch):
    """Rates linear in t: the leap rates of every step after the first equal q(t - tau / 2)
    exactly; the first step (no history) leaps with q(t); a second sample starts afresh."""
    rule = MultistepLeaping(5)
    used = []

    def record(counts, rates, tau, generator, **kwargs):
        used.append((rates.clone(), float(tau[0])))
        return counts.clone()

    monkeypatch.setattr(sampler_module, "poisson_moves", record)
    field = torch.linspace(0.5, 2.0, 2 * 4 * 16, dtype=torch.float64).reshape(1, 2, 4, 4, 4)

    def rate_fn(counts, t):
        return field * (3.0 - 2.0 * t)

    for _ in range(2):
        t, counts, used[:] = 1.0, torch.zeros((1, 2, 4, 4), dtype=torch.long), []
        while t > 1e-3:
            counts, t_next, evals = rule.advance(counts, t, 1e-3, rate_fn, None)
            assert evals == 1
            expected = rate_fn(None, t) if len(used) == 1 else rate_fn(None, t - (t - t_next) / 2)
            assert torch.allclose(used[-1][0], expected, rtol=1e-12, atol=0), len(used)
            t = t_next
        assert len(used) == 5
        rule.reset()


def test_sharpen_is_the_power_law_on_rates_relative_to_r():
    rates = torch.tensor([0.0, 1.0, 20.0, 55.0, 4e6], dtype=torch.float64)
    assert sampler_module.sharpen(rates, 20.0, 1.0) is rates  # 1 = as trained, untouched
    for power in (0.5, 1.07, 2.0):
        got = sampler_module.sharpen(rates.clone(), 20.0, power)
        want = [20.0 * (q / 20.0) ** power for q in rates.tolist()]
        assert got.tolist() == pytest.approx(want, rel=1e-12)
        assert got[0] == 0 and got[2] == 20.0  # closed moves stay closed; q = r is a fixed point


def test_sharpness_defaults_to_the_models_calibrated_value():
    model = tiny_model(channels=1)

    def run(**kw):
        return sample(
            model, [[20]], (8, 8), sampler=PoissonLeaping(6), generator=torch.Generator().manual_seed(3), **kw
        )

    plain = run()
    assert model.sharpness == 1.0 and np.array_equal(plain.labels, run(sharpness=1.0).labels)
    sharp = run(sharpness=1.6)
    assert not np.array_equal(plain.counts, sharp.counts)  # the rates really changed
    model.meta["sampling"] = {"sharpness": 1.6}
    assert model.sharpness == 1.6 and np.array_equal(run().counts, sharp.counts)
    assert np.array_equal(run(sharpness=1.0).counts, plain.counts)  # an explicit value wins


def test_sampling_runs_in_inference_mode():
    seen = []
    sample(
        MODELS[(1, "periodic")],
        [[6]],
        (8, 8),
        sampler=PoissonLeaping(3),
        generator=torch.Generator().manual_seed(0),
        callback=lambda t, evals: seen.append(torch.is_inference_mode_enabled()),
    )
    assert seen and all(seen)  # no autograd bookkeeping around the network calls


@pytest.mark.parametrize("rule", RULES)
def test_a_batch_too_large_for_one_cpu_call_is_its_chunks_sampled_in_turn(monkeypatch, rule):
    from microgen.engine.network import NetworkConfig
    from microgen.engine.sampler import batch_chunks

    torch.manual_seed(1)
    net = NetworkConfig(channels=2, ndim=2, width=8, mults=[1, 2], blocks=1, num_classes=3)
    model = DSDModel(net, ProcessConfig(r=20.0, schedule=Schedule("power", 50, 3.0))).eval()
    with torch.no_grad():  # the output layer starts at zero: make the rates depend on image and class
        model.net.conv_out.weight.normal_(0, 0.3)
    totals = np.array([[5, 3], [9, 1], [2, 2], [7, 0], [4, 4]])
    label = torch.tensor([0, 1, 2, 0, 1])
    assert batch_chunks(5, (8, 8), "cpu") == [slice(0, 5)] and batch_chunks(500, (8, 8), "cuda") == [slice(0, 500)]
    monkeypatch.setattr(sampler_module, "CPU_CHUNK_VOXELS", 2 * 8 * 8 + 7)  # two 8² images per network call
    chunks = batch_chunks(5, (8, 8), "cpu")
    assert chunks == [slice(0, 2), slice(2, 4), slice(4, 5)]
    options = {"sampler": rule, "polish": 1, "islands": 2, "holes": 1}
    seen = []
    whole = sample(
        model,
        totals,
        (8, 8),
        generator=torch.Generator().manual_seed(7),
        label=label,
        callback=lambda t, evaluations: seen.append(t),
        **options,
    )
    generator = torch.Generator().manual_seed(7)
    parts = [sample(model, totals[c], (8, 8), generator=generator, label=label[c], **options) for c in chunks]
    np.testing.assert_array_equal(whole.labels, np.concatenate([p.labels for p in parts]))
    np.testing.assert_array_equal(whole.counts, np.concatenate([p.counts for p in parts]))
    for name in ("moved", "swapped", "dissolved"):
        np.testing.assert_array_equal(getattr(whole, name), np.concatenate([getattr(p, name) for p in parts]))
    assert whole.evaluations == max(p.evaluations for p in parts)
    assert sum(b > a for a, b in zip(seen, seen[1:])) == len(chunks) - 1  # each chunk runs from t = 1 again
    for image, want in zip(whole.labels, totals):
        assert [int((image == c).sum()) for c in (1, 2)] == list(want)


def test_per_channel_sharpness_raises_each_channel_to_its_own_power():
    rates = torch.rand((2, 2, 4, 5, 5), dtype=torch.float64) * 60.0
    rates[0, 1, 2, 3, 3] = 0.0  # a closed move stays closed
    got = sampler_module.sharpen(rates.clone(), 20.0, (1.2, 0.9))
    assert torch.allclose(got[:, 0], sampler_module.sharpen(rates[:, 0].clone(), 20.0, 1.2), rtol=1e-12, atol=0)
    assert torch.allclose(got[:, 1], sampler_module.sharpen(rates[:, 1].clone(), 20.0, 0.9), rtol=1e-12, atol=0)
    assert got[0, 1, 2, 3, 3] == 0
    with pytest.raises(ValueError, match="3 sharpness values for 2 particle channels"):
        sampler_module.sharpen(rates, 20.0, (1.0, 1.1, 1.2))


def test_check_sharpness_reads_one_value_or_one_per_channel():
    check = sampler_module.check_sharpness
    assert check(1.1) == 1.1 and check("1.1") == 1.1 and check([1.1]) == 1.1
    assert check("1.15/1", channels=2) == (1.15, 1.0) and check([1.15, 1.0]) == (1.15, 1.0)
    assert check(np.array([1.2, 1.0])) == (1.2, 1.0)
    assert check((1.05, 1.05), channels=2) == 1.05  # equal values collapse to one
    for value in ((1.15, 1.0), 1.07, (0.9, 1.3)):
        assert check(sampler_module.format_sharpness(value)) == value  # the text form reads back
    assert sampler_module.format_sharpness((1.15, 1.0)) == "1.15/1"
    for bad, message in [
        ("1.1/1/1", r"one value per particle channel \(2\), got 3"),
        ((1.1, 0.0), "finite number > 0"),
        ("1.1/", "finite number > 0"),
        ((True, 1.0), "finite number > 0"),
        ((), "must not be empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            check(bad, channels=2)


@settings(max_examples=10, deadline=None)
@given(
    h=st.sampled_from([8, 12, 16]),
    fractions=st.tuples(st.floats(0.05, 0.5), st.floats(0.05, 0.4)),
    seed=st.integers(0, 2**16),
    sharpness=st.tuples(st.sampled_from([0.8, 1.0, 1.3]), st.sampled_from([0.9, 1.2])),
)
def test_per_channel_sharpness_keeps_counts_exact_and_reproducible(h, fractions, seed, sharpness):
    model = MODELS[(2, "periodic")]
    totals = [[int(fractions[0] * h * h), int(fractions[1] * h * h)]]

    def run(value):
        return sample(
            model,
            totals,
            (h, h),
            sampler=TrapezoidalLeaping(6),
            generator=torch.Generator().manual_seed(seed),
            sharpness=value,
        )

    res = run(sharpness)
    assert res.labels.max() <= 2 and [int((res.labels[0] == c + 1).sum()) for c in range(2)] == totals[0]
    assert np.array_equal(res.labels, run(sampler_module.format_sharpness(sharpness)).labels)


def test_per_channel_sharpness_equal_values_match_the_scalar_and_differ_otherwise():
    model = MODELS[(2, "periodic")]

    def run(value):
        return sample(
            model,
            [[30, 20]],
            (12, 12),
            sampler=PoissonLeaping(6),
            generator=torch.Generator().manual_seed(5),
            sharpness=value,
        )

    assert np.array_equal(run((1.4, 1.4)).counts, run(1.4).counts)
    assert not np.array_equal(run((1.4, 1.0)).counts, run(1.4).counts)  # the binder channel really differs
    model.meta["sampling"] = {"sharpness": [1.4, 1.0]}  # as a card stores it (JSON list)
    try:
        assert model.sharpness == (1.4, 1.0) and np.array_equal(run(None).counts, run((1.4, 1.0)).counts)
    finally:
        model.meta.pop("sampling")
    with pytest.raises(ValueError, match="one value per particle channel"):
        run((1.0, 1.1, 1.2))
