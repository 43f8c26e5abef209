"""The space-to-depth network (``patch > 1``): cell bookkeeping, equivariance, grid offsets, and
exact sampling with it."""

import numpy as np
import pytest
import torch

from microgen.engine import DSDModel, NetworkConfig, TrapezoidalLeaping, sample
from microgen.engine.network import depth_to_space, space_to_depth
from tests.helpers import perturbed_tiny_model, tiny_model


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_space_to_depth_lists_each_cell_and_inverts(ndim):
    x = torch.randn(2, 3, *([6] * ndim))
    cells = space_to_depth(x, 3)
    assert cells.shape == (2, 3 * 3**ndim, *([2] * ndim))
    assert torch.equal(depth_to_space(cells, 3), x)
    # the first coarse voxel of channel 1 holds exactly that channel's first 3-sided cell
    corner = x[0, 1][(slice(0, 3),) * ndim].reshape(-1)
    assert torch.equal(cells[0, 3**ndim : 2 * 3**ndim][(slice(None), *([0] * ndim))], corner)


def test_stride_counts_the_patch():
    assert NetworkConfig(mults=[1, 2, 2], patch=2).stride == 8
    assert NetworkConfig(mults=[1, 2, 2]).stride == 4
    with pytest.raises(ValueError, match="patch must be >= 1"):
        NetworkConfig(patch=0)


def test_patched_model_round_trips_and_old_configs_load(tmp_path):
    model = perturbed_tiny_model(channels=2, patch=2)
    counts = torch.randint(0, 2, (2, 2, 8, 8), generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.02, 0.6])
    model.save(tmp_path / "m")
    loaded = DSDModel.load(tmp_path / "m")
    assert loaded.network_config.patch == 2
    assert torch.equal(model.rates(counts, t), loaded.rates(counts, t))
    # a config written before the option existed means patch 1
    assert NetworkConfig(**{k: v for k, v in model.network_config.to_dict().items() if k != "patch"}).patch == 1


@pytest.mark.parametrize("head", [0, 3])
def test_patched_network_is_equivariant_to_whole_cell_shifts_only(head):
    model = perturbed_tiny_model(patch=2, head=head)
    counts = torch.randint(0, 2, (1, 1, 16, 16), generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0.3])
    rates = model.rates(counts, t)
    stride_shift = model.rates(torch.roll(counts, (4, 8), (2, 3)), t)
    torch.testing.assert_close(stride_shift, torch.roll(rates, (4, 8), (3, 4)), rtol=1e-5, atol=1e-6)
    odd_shift = model.rates(torch.roll(counts, (1, 0), (2, 3)), t)
    assert not torch.allclose(odd_shift, torch.roll(rates, (1, 0), (3, 4)), rtol=1e-3, atol=1e-5)


def test_grid_offset_evaluates_the_rolled_image_and_rolls_back():
    model = perturbed_tiny_model(patch=2)
    # the cells of a patch network; no-flux: none
    assert model.patch_offsets() == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert tiny_model().patch_offsets() == [(0, 0)]
    assert tiny_model(boundary="noflux", patch=2).patch_offsets() == [(0, 0)]
    counts = torch.randint(0, 2, (1, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    t = torch.tensor([0.1])
    by_hand = torch.roll(model.particle_rates(torch.roll(counts, (1, 1), (2, 3)), t), (-1, -1), (3, 4))
    assert torch.equal(model.particle_rates(counts, t, offset=(1, 1)), by_hand)
    assert torch.equal(model.particle_rates(counts, t, offset=(0, 0)), model.particle_rates(counts, t))
    with pytest.raises(ValueError, match="periodic"):
        tiny_model(boundary="noflux", patch=2).particle_rates(counts, t, offset=(1, 0))


def test_models_exported_since_session_21_cycle_the_whole_stride_cell():
    # stride 4 = patch 2 x one downsampling; stride 2 for patch 1; in order
    for patch, stride in ((2, 4), (1, 2)):
        model = tiny_model(patch=patch)
        model.stride_offsets = True
        assert model.meta["sampling"] == {"offsets": "stride"}  # where the model's config stores it
        assert model.stride_offsets and model.patch_offsets() == [(i, j) for i in range(stride) for j in range(stride)]
        model.stride_offsets = False  # back to the cells of a patch network, as models exported before
        assert "offsets" not in model.meta["sampling"] and len(model.patch_offsets()) == patch**2
    noflux = tiny_model(boundary="noflux", patch=2)
    noflux.meta["sampling"] = {"offsets": "stride"}
    assert noflux.patch_offsets() == [(0, 0)]


def _record_offsets(monkeypatch, model) -> list:
    """The grid offset of every network evaluation ``model`` makes from now on, in order."""
    seen = []
    original = model.particle_rates

    def spy(counts, t, label=None, offset=None):
        seen.append(offset)
        return original(counts, t, label, offset)

    monkeypatch.setattr(model, "particle_rates", spy)
    return seen


@pytest.mark.parametrize("shape", [(8, 8), (9, 7)])  # stride 4: a multiple, and sides that move a seam
def test_sampler_cycles_the_offsets_step_by_step(monkeypatch, shape):
    model = perturbed_tiny_model(patch=2)
    model.meta["sampling"] = {"offsets": "stride"}
    seen = _record_offsets(monkeypatch, model)
    sample(model, [[20]], shape, sampler=TrapezoidalLeaping(steps=4), generator=torch.Generator().manual_seed(0))
    # one offset per step: both evaluations of a second-order step see the same grid
    steps = len(seen) // 2
    assert steps == 4 and seen == [offset for offset in model.patch_offsets(shape)[:steps] for _ in range(2)]


def test_offsets_option_overrides_the_model_for_one_call(monkeypatch):
    model = perturbed_tiny_model()  # patch 1, stride 2, not flagged: holds its grid still
    assert model.patch_offsets((8, 8)) == [(0, 0)]
    assert model.patch_offsets((8, 8), stride_offsets=True) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    model.stride_offsets = True
    assert model.patch_offsets((8, 8), stride_offsets=False) == [(0, 0)]
    assert model.patch_offsets((9, 8), stride_offsets=False) != [(0, 0)]  # a seam to move: always spread
    model.stride_offsets = False

    seen = _record_offsets(monkeypatch, model)
    run = {}
    for offsets in ("auto", "fixed", "stride"):
        seen.clear()
        run[offsets] = sample(
            model,
            [[20], [7]],
            (8, 8),
            sampler=TrapezoidalLeaping(steps=4),
            generator=torch.Generator().manual_seed(0),
            offsets=offsets,
        )
        assert (run[offsets].labels.sum(axis=(1, 2)) == [20, 7]).all()  # exact either way
        cycled = [(0, 0), (0, 1), (1, 0), (1, 1)] if offsets == "stride" else [(0, 0)] * 4
        assert seen == [o for o in cycled for _ in range(2)]
    assert np.array_equal(run["auto"].labels, run["fixed"].labels)  # the model's own choice, bit for bit
    assert not np.array_equal(run["stride"].labels, run["fixed"].labels)
    with pytest.raises(ValueError, match=r"offsets must be one of \('auto', 'stride', 'fixed'\), got 'still'"):
        sample(model, [[20]], (8, 8), sampler=TrapezoidalLeaping(steps=4), offsets="still")


@pytest.mark.parametrize("seed,head", [(0, 0), (1, 0), (2, 0), (3, 4)])
def test_patched_model_samples_exact_reproducible_label_images(seed, head):
    model = perturbed_tiny_model(channels=2, patch=2, head=head)
    totals = [[30, 11], [5, 40]]
    runs = [
        sample(
            model,
            totals,
            (16, 8),
            sampler=TrapezoidalLeaping(steps=5),
            generator=torch.Generator().manual_seed(seed),
        ).labels
        for _ in range(2)
    ]
    assert np.array_equal(runs[0], runs[1])
    for labels, (a, b) in zip(runs[0], totals):
        assert labels.shape == (16, 8)
        assert (labels == 1).sum() == a and (labels == 2).sum() == b and set(np.unique(labels)) <= {0, 1, 2}


def test_head_starts_as_the_network_without_it_and_then_reads_full_resolution(tmp_path):
    plain, headed = tiny_model(channels=2, patch=2, seed=5), tiny_model(channels=2, patch=2, head=4, seed=5)
    shared = plain.state_dict()
    assert set(shared) < set(headed.state_dict())  # the head adds weights, it renames none
    with torch.no_grad():
        for name, p in headed.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
            if name in shared:
                shared[name].copy_(p)
            elif name.startswith("net.head_out"):
                p.zero_()  # the head's correction starts at zero, as a fresh network's does
    plain.load_state_dict(shared)
    counts = torch.randint(0, 2, (2, 2, 8, 8), generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.01, 0.5])
    torch.testing.assert_close(headed.rates(counts, t), plain.rates(counts, t))
    with torch.no_grad():
        headed.net.head_out.weight.normal_(0, 0.3)
    # now one voxel changed inside a cell moves the rates of its full-resolution neighbours in
    # the next cell differently from the plain network's cell-level output
    flipped = counts.clone()
    flipped[0, 0, 3, 3] = 1 - flipped[0, 0, 3, 3]
    change_headed = (headed.rates(flipped, t) - headed.rates(counts, t))[0]
    change_plain = (plain.rates(flipped, t) - plain.rates(counts, t))[0]
    assert not torch.allclose(change_headed, change_plain, atol=1e-6)
    headed.save(tmp_path / "m")
    loaded = DSDModel.load(tmp_path / "m")
    assert loaded.network_config.head == 4
    assert torch.equal(headed.rates(counts, t), loaded.rates(counts, t))
    # a config written before the option existed means no head
    assert NetworkConfig(**{k: v for k, v in plain.network_config.to_dict().items() if k != "head"}).head == 0
    with pytest.raises(ValueError, match="head must be >= 0"):
        NetworkConfig(head=-1)


def test_card_names_the_architecture_and_the_cells():
    from microgen.training.export import _network_line

    net = {**NetworkConfig(width=32, mults=[1, 2, 2], patch=2).to_dict(), "parameters": 1_130_000}
    (line,) = _network_line(net)
    assert "width 32, level multipliers 1,2,2" in line and "2-voxel-sided cells" in line and "1.13 M" in line
    assert "cells" not in _network_line({**net, "patch": 1})[0] and "head" not in line
    assert "full-resolution head of 16 features per voxel" in _network_line({**net, "head": 16})[0]
    assert _network_line(None) == []  # cards written before the architecture was recorded
