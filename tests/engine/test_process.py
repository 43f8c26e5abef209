import numpy as np
import pytest
import torch
from scipy import stats

from microgen.engine import DSDProcess, kernels


def _random_counts(gen, batch, channels, shape, max_count=1):
    return torch.randint(0, max_count + 1, (batch, channels, *shape), generator=gen)


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
@pytest.mark.parametrize("shape", [(7,), (6, 9), (4, 5, 6)])
def test_corruption_conserves_counts_per_image_and_channel(boundary, shape):
    gen = torch.Generator().manual_seed(1)
    proc = DSDProcess(5.0, boundary, len(shape))
    counts = _random_counts(gen, 4, 3, shape, max_count=3)
    noisy, rates = proc.corrupt(counts, [0.0, 1e-3, 0.2, 3.0], gen)
    assert noisy.dtype == counts.dtype and noisy.shape == counts.shape
    torch.testing.assert_close(noisy.flatten(2).sum(2), counts.flatten(2).sum(2))
    assert torch.equal(noisy[0], counts[0])  # t = 0 moves nothing
    assert rates.shape == (4, 3, 2 * len(shape), *shape)
    assert (rates >= 0).all()
    # rates live only where particles are
    assert torch.all((rates.sum(2) > 0) <= (noisy > 0))


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
def test_displacement_histogram_matches_kernel(boundary):
    n, r, t = 12, 4.0, 0.35
    x0 = 2
    gen = torch.Generator().manual_seed(7)
    proc = DSDProcess(r, boundary, ndim=1)
    counts = torch.zeros((1, 1, n), dtype=torch.long)
    counts[0, 0, x0] = 40_000
    noisy, _ = proc.corrupt(counts, t, gen, with_rates=False)
    observed = noisy[0, 0].numpy()
    expected = kernels.transition_matrix(n, r, t, boundary)[:, x0] * counts.sum().item()
    keep = expected > 5
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    # lump the tail bins together
    tail_obs, tail_exp = observed[~keep].sum(), expected[~keep].sum()
    if tail_exp > 0:
        chi2 += (tail_obs - tail_exp) ** 2 / tail_exp
    dof = keep.sum() - 1 + (tail_exp > 0)
    assert stats.chi2.sf(chi2, dof) > 1e-3


def test_displacement_in_2d_is_independent_per_axis():
    gen = torch.Generator().manual_seed(3)
    proc = DSDProcess(3.0, "periodic", ndim=2)
    counts = torch.zeros((1, 1, 5, 5), dtype=torch.long)
    counts[0, 0, 0, 0] = 50_000
    noisy, _ = proc.corrupt(counts, 0.2, gen, with_rates=False)
    p = kernels.transition_matrix(5, 3.0, 0.2, "periodic")[:, 0]
    expected = np.outer(p, p) * 50_000
    chi2 = ((noisy[0, 0].numpy() - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, 24) > 1e-3


@pytest.mark.parametrize("boundary", ["periodic", "noflux"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5)])
def test_reverse_rates_equal_brute_force_eq4(boundary, shape):
    r = 3.0
    times = [1e-3, 0.05, 0.4]
    gen = torch.Generator().manual_seed(11)
    proc = DSDProcess(r, boundary, len(shape))
    counts = _random_counts(gen, len(times), 2, shape, max_count=2)
    walk = proc.displace(counts, times, gen)
    rates = walk.reverse_rates(torch.float64).numpy()
    # brute force: loop over particles, dense 1D matrices, Eq. (4)
    expected = np.zeros_like(rates)
    channels = counts.shape[1]
    origin = [x.numpy() for x in walk.origin]
    position = [x.numpy() for x in walk.position]
    for i, bc in enumerate(walk.image_channel.numpy()):
        b, c = divmod(int(bc), channels)
        mats = [kernels.transition_matrix(n, r, times[b], boundary) for n in shape]
        x = [int(p[i]) for p in position]
        x0 = [int(o[i]) for o in origin]
        here = np.prod([m[xa, x0a] for m, xa, x0a in zip(mats, x, x0)])
        for j, (axis, sign) in enumerate(proc.directions):
            y = list(x)
            y[axis] += sign
            if boundary == "periodic":
                y[axis] %= shape[axis]
            elif not 0 <= y[axis] < shape[axis]:
                continue
            there = np.prod([m[ya, x0a] for m, ya, x0a in zip(mats, y, x0)])
            expected[(b, c, j, *x)] += r * there / here
    np.testing.assert_allclose(rates, expected, rtol=1e-9, atol=0)


def test_noflux_rates_vanish_across_faces():
    gen = torch.Generator().manual_seed(0)
    proc = DSDProcess(10.0, "noflux", 2)
    counts = torch.ones((2, 1, 6, 6), dtype=torch.long)
    _, rates = proc.corrupt(counts, [0.01, 0.5], gen)
    assert (rates[:, :, 0, -1, :] == 0).all() and (rates[:, :, 1, 0, :] == 0).all()
    assert (rates[:, :, 2, :, -1] == 0).all() and (rates[:, :, 3, :, 0] == 0).all()


def test_same_generator_seed_same_corruption():
    counts = torch.randint(0, 2, (3, 1, 16, 16), generator=torch.Generator().manual_seed(0))
    proc = DSDProcess(50.0, "periodic", 2)
    a = proc.corrupt(counts, [0.1, 0.2, 0.3], torch.Generator().manual_seed(5))
    b = proc.corrupt(counts, [0.1, 0.2, 0.3], torch.Generator().manual_seed(5))
    c = proc.corrupt(counts, [0.1, 0.2, 0.3], torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_prior_places_exact_totals():
    proc = DSDProcess(1.0, "periodic", 2)
    totals = torch.tensor([[10, 3], [0, 64]])
    counts = proc.prior(totals, (8, 8), torch.Generator().manual_seed(0))
    torch.testing.assert_close(counts.flatten(2).sum(2), totals)
    free = torch.zeros((8, 8), dtype=torch.bool)
    free[:2] = True
    counts = proc.prior(totals, (8, 8), torch.Generator().manual_seed(0), free=free)
    assert counts[:, :, 2:].sum() == 0


@pytest.mark.parametrize(
    "counts, match",
    [
        (-torch.ones((1, 1, 4, 4), dtype=torch.long), "non-negative"),
        (torch.full((1, 1, 4, 4), 0.5), "non-negative integers"),
        (torch.ones((1, 4, 4), dtype=torch.long), "shape"),
    ],
)
def test_bad_counts(counts, match):
    with pytest.raises(ValueError, match=match):
        DSDProcess(1.0, "periodic", 2).corrupt(counts, 0.1)


def test_bad_process_arguments():
    with pytest.raises(ValueError, match="periodic"):
        DSDProcess(1.0, "open", 2)
    with pytest.raises(ValueError, match="positive"):
        DSDProcess(0.0, "periodic", 2)
    with pytest.raises(ValueError, match="times"):
        DSDProcess(1.0).corrupt(torch.ones((1, 1, 4, 4), dtype=torch.long), -1.0)
