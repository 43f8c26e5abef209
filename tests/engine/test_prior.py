"""The spectral prior: measured spectra, the filtered Gaussian field, particle placement, and
sampling from it with exact counts."""

import numpy as np
import pytest
import torch

from microgen.engine import DSDModel, PoissonLeaping, sample
from microgen.engine.kernels import mixing_rate
from microgen.engine.prior import SpectralPrior
from microgen.engine.sampler import resolve_prior
from tests.helpers import tiny_model


def flat(level: float, channels: int = 1) -> SpectralPrior:
    """A prior whose normalised spectrum is ``level`` times the identity at every frequency."""
    return SpectralPrior([0.01, 0.5], [np.eye(channels) * level] * 2, ndim=2, crop=64)


def test_white_noise_has_a_flat_unit_spectrum():
    rng = np.random.default_rng(0)
    images = [(rng.random((64, 64)) < 0.3).astype(np.uint8) for _ in range(24)]
    prior = SpectralPrior.estimate(images, [1])
    diag = np.asarray(prior.spectra)[:, 0, 0]
    assert prior.crop == 64 and len(prior.freqs) == 31  # bins of width 1/64 from 1/64 to 0.5
    assert abs(diag.mean() - 1.0) < 0.05 and np.all(np.abs(diag - 1.0) < 0.35)


def test_categorical_white_noise_has_the_exclusion_cross_spectrum():
    # one phase per voxel: indicators of phases a, b covary by -phi_a phi_b at lag 0 only
    rng = np.random.default_rng(1)
    images = [rng.choice(3, size=(64, 64), p=[0.5, 0.3, 0.2]) for _ in range(24)]
    spectra = np.asarray(SpectralPrior.estimate(images, [1, 2]).spectra)
    want = -np.sqrt(0.3 * 0.2 / (0.7 * 0.8))
    assert abs(spectra[:, 0, 1].mean() - want) < 0.03
    assert np.allclose(spectra[:, 0, 1], spectra[:, 1, 0])


def test_correlated_structure_has_more_power_at_low_frequency():
    rng = np.random.default_rng(2)
    images = []
    for _ in range(8):  # blocks of 8 x 8 voxels: correlated over about 8 voxels
        coarse = rng.random((8, 8)) < 0.3
        images.append(np.kron(coarse, np.ones((8, 8), dtype=bool)).astype(np.uint8))
    diag = np.asarray(SpectralPrior.estimate(images, [1]).spectra)[:, 0, 0]
    assert diag[0] > 20 and diag[-1] < 1


def test_estimate_keeps_only_the_bins_the_filter_leaves():
    rng = np.random.default_rng(3)
    images = [(rng.random((64, 64)) < 0.3).astype(np.uint8) for _ in range(4)]
    r = mixing_rate(16, "periodic")
    kept = SpectralPrior.estimate(images, [1], r=r).freqs
    assert 0 < len(kept) < 32 and max(kept) < 0.25


def test_field_variance_is_the_filtered_spectrum():
    level, r, phi, n = 1.0, 3.0, 0.3, 32
    prior = flat(level)
    gen = torch.Generator().manual_seed(0)
    fields = prior.field(torch.full((64, 1), phi, dtype=torch.float64), (n, n), r, gen)[:, 0]
    f = np.fft.fftfreq(n)
    fx, fy = np.meshgrid(f, f, indexing="ij")
    decay2 = np.exp(-2 * r * ((2 - 2 * np.cos(2 * np.pi * fx)) + (2 - 2 * np.cos(2 * np.pi * fy))))
    decay2[0, 0] = 0.0  # the mean is fixed
    want = phi * (1 - phi) * level * decay2.mean()
    got = ((fields - phi) ** 2).mean().item()
    assert got == pytest.approx(want, rel=0.05)
    # the mean of every field is the requested fraction exactly (nothing clipped at this level)
    assert bool((fields > 0).all())
    assert torch.allclose(fields.mean(dim=(1, 2)), torch.full((64,), phi, dtype=torch.float64), atol=1e-12)


def test_field_is_reproducible_and_per_image():
    prior = flat(50.0, channels=2)
    fr = torch.tensor([[0.4, 0.1], [0.2, 0.2]], dtype=torch.float64)
    a = prior.field(fr, (32, 48), 2.0, torch.Generator().manual_seed(5))
    b = prior.field(fr, (32, 48), 2.0, torch.Generator().manual_seed(5))
    c = prior.field(fr, (32, 48), 2.0, torch.Generator().manual_seed(6))
    assert a.shape == (2, 2, 32, 48) and torch.equal(a, b) and not torch.equal(a, c)
    assert bool((a >= 0).all())
    noflux = prior.field(fr, (32, 48), 2.0, torch.Generator().manual_seed(5), boundary="noflux")
    assert noflux.shape == (2, 2, 32, 48)


def test_prior_is_negligible_at_the_crop_the_rate_mixes():
    # r mixes a 64-voxel crop by t = 1: the prior is almost uniform there, not on a 4x larger lattice
    prior, r = flat(150.0), mixing_rate(64, "periodic")
    fr = torch.full((4, 1), 0.2, dtype=torch.float64)
    small = prior.field(fr, (64, 64), r, torch.Generator().manual_seed(0)).std().item()
    large = prior.field(fr, (256, 256), r, torch.Generator().manual_seed(0)).std().item()
    assert small < 0.2 * large and large > 0.02


def test_particles_follow_the_intensity_with_exact_totals():
    model = tiny_model(channels=2)
    intensity = torch.zeros((3, 2, 8, 8), dtype=torch.float64)
    intensity[:, 0, :4] = 1.0  # channel 0 only in the top half
    intensity[:, 1] = torch.rand((3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    totals = torch.tensor([[10, 5], [0, 40], [32, 1]])
    counts = model.process.prior(totals, (8, 8), torch.Generator().manual_seed(1), intensity=intensity)
    assert torch.equal(counts.sum(dim=(2, 3)), totals)
    assert int(counts[:, 0, 4:].sum()) == 0
    with pytest.raises(ValueError, match="intensity must have shape"):
        model.process.prior(totals, (8, 8), intensity=intensity[:, :1])


def test_sampling_from_the_spectral_prior_is_exact_and_reproducible():
    model = tiny_model(channels=2, r=2.0)
    model.meta["prior"] = flat(40.0, channels=2).to_dict()

    def run(seed, totals, shape, prior="auto"):
        gen = torch.Generator().manual_seed(seed)
        return sample(model, totals, shape, sampler=PoissonLeaping(5), generator=gen, prior=prior)

    for seed, shape in ((0, (16, 16)), (1, (32, 16)), (2, (24, 24))):
        voxels = shape[0] * shape[1]
        totals = [[voxels // 2, voxels // 8], [voxels // 5, voxels // 3]]
        res = run(seed, totals, shape)
        for b, (na, nb) in enumerate(totals):
            assert int((res.labels[b] == 1).sum()) == na and int((res.labels[b] == 2).sum()) == nb
        assert np.array_equal(res.labels, run(seed, totals, shape).labels)
    uniform = run(0, [[128, 32]], (16, 16), prior="uniform")
    assert not np.array_equal(run(0, [[128, 32]], (16, 16)).labels, uniform.labels)


def test_prior_choice_and_errors(tmp_path):
    model = tiny_model(channels=1)
    assert resolve_prior(model) == "uniform"
    with pytest.raises(ValueError, match="needs a model that stores"):
        resolve_prior(model, "spectral")
    with pytest.raises(ValueError, match=r"prior must be one of \('auto', 'spectral', 'uniform'\)"):
        resolve_prior(model, "gaussian")
    model.meta["prior"] = flat(10.0).to_dict()
    assert resolve_prior(model) == "spectral" and resolve_prior(model, "uniform") == "uniform"
    frozen = np.zeros((8, 8), bool)
    frozen[:2] = True
    assert resolve_prior(model, "auto", frozen) == "uniform"
    with pytest.raises(ValueError, match="inpainting starts uniform"):
        resolve_prior(model, "spectral", frozen)
    model3d = tiny_model(channels=1, ndim=3)
    model3d.meta["prior"] = flat(10.0).to_dict()  # measured on 2D images: not used for 3D
    assert resolve_prior(model3d) == "uniform"
    with pytest.raises(ValueError, match="3D spectra"):
        resolve_prior(model3d, "spectral")
    model.save(tmp_path / "m")
    loaded = DSDModel.load(tmp_path / "m")
    assert loaded.spectral_prior == model.spectral_prior


def test_prior_rejects_inconsistent_tables():
    with pytest.raises(ValueError, match="matching freqs"):
        SpectralPrior([0.1, 0.2], [[[1.0]]])
    with pytest.raises(ValueError, match="freqs must increase"):
        SpectralPrior([0.2, 0.1], [[[1.0]], [[1.0]]])
    with pytest.raises(ValueError, match="measured on 2D"):
        flat(1.0).field(torch.tensor([[0.2]]), (8, 8, 8), 1.0)
