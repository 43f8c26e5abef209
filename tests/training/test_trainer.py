import json

import numpy as np
import pytest
import torch

from microgen.engine import DSDModel, sample
from microgen.training import CropSampler, TrainConfig, Trainer, split_holdout, to_channels
from microgen.training.run import load_training_volumes
from microgen.training.trainer import training_crops


def _stripes(seed=0, shape=(6, 32, 32)):
    """A synthetic 'rock': horizontal pore stripes of random thickness."""
    rng = np.random.default_rng(seed)
    vol = np.zeros(shape, dtype=np.uint8)
    y = 0
    while y < shape[1]:
        w = int(rng.integers(2, 5))
        vol[:, y : y + w, :] = 1
        y += w + int(rng.integers(3, 7))
    return vol


def _cfg(**kw):
    base = dict(
        crop=16,
        batch=4,
        steps=6,
        width=8,
        mults=[1, 2],
        r=30.0,
        schedule_steps=50,
        warmup=2,
        lr=3e-3,
        checkpoint_every=3,
        log_every=1,
        holdout=0.0,
        augment=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_tiny_run_lowers_the_loss(tmp_path):
    torch.set_num_threads(1)
    cfg = _cfg(steps=60, checkpoint_every=60, log_every=10)
    trainer = Trainer(cfg, [to_channels(_stripes(), [1])], tmp_path / "m", device="cpu")
    losses = []
    trainer.fit(lambda step, rec: losses.append(rec["loss"]))
    assert losses[-1] < 0.8 * losses[0]
    log = [json.loads(line) for line in (tmp_path / "m" / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 60 and log[-1]["loss_by_t"]


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    vol = [to_channels(_stripes(), [1])]
    full = Trainer(_cfg(steps=6), vol, tmp_path / "full", device="cpu")
    full.fit()
    half = Trainer(_cfg(steps=3), vol, tmp_path / "half", device="cpu")
    half.fit()
    resumed = Trainer(_cfg(steps=6), vol, tmp_path / "half", device="cpu", resume=True)
    assert resumed.step == 3
    resumed.fit()
    a, b = _weights(full.model), _weights(resumed.model)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    for k in full.ema:
        torch.testing.assert_close(full.ema[k], resumed.ema[k], rtol=0, atol=0)


def test_model_directory_loads_and_samples_exactly(tmp_path):
    trainer = Trainer(_cfg(), [to_channels(_stripes(), [1])], tmp_path / "m", device="cpu")
    trainer.fit()
    model = DSDModel.load(tmp_path / "m")
    res = sample(model, [[100]], (16, 16), generator=torch.Generator().manual_seed(0))
    assert (res.labels == 1).sum() == 100
    assert model.meta["training"]["steps"] == 6


def test_existing_checkpoint_is_never_overwritten(tmp_path):
    vol = [to_channels(_stripes(), [1])]
    Trainer(_cfg(), vol, tmp_path / "m", device="cpu").fit()
    before = (tmp_path / "m" / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match="already holds a training checkpoint"):
        Trainer(_cfg(), vol, tmp_path / "m", device="cpu")
    with pytest.raises(ValueError, match="configuration differs"):
        Trainer(_cfg(width=16), vol, tmp_path / "m", device="cpu", resume=True)
    assert (tmp_path / "m" / "checkpoint.pt").read_bytes() == before
    with pytest.raises(ValueError, match="no checkpoint.pt"):
        Trainer(_cfg(), vol, tmp_path / "other", device="cpu", resume=True)


def test_crop_sampler_slices_every_axis_and_is_resumable():
    vol = to_channels(np.arange(4 * 20 * 24).reshape(4, 20, 24) % 3, [1, 2])
    s = CropSampler([vol], 4, seed=1)
    state = s.state_dict()
    a, classes = s.sample(50)
    s.load_state_dict(state)
    assert np.array_equal(a, s.sample(50)[0]) and classes is None
    assert a.shape == (50, 2, 4, 4)
    with pytest.raises(ValueError, match="larger than every training volume"):
        CropSampler([vol], 32)


def test_crop_sampler_takes_slices_along_the_chosen_axes_only():
    z = np.broadcast_to(np.arange(10, dtype=np.uint8)[:, None, None], (10, 12, 14))
    vol = z[None].copy()  # the value is the index along axis 0: only its sections are constant
    constant = lambda crops: np.array([c.min() == c.max() for c in crops[:, 0]])  # noqa: E731
    assert constant(CropSampler([vol], 8, axes=[0], seed=2).sample(60)[0]).all()
    mixed = constant(CropSampler([vol], 8, seed=2).sample(60)[0])
    assert mixed.any() and not mixed.all()
    assert not constant(CropSampler([vol], 8, axes=[1, 2], seed=2).sample(60)[0]).any()
    for axes in ([3], [0, 0], [-1]):
        with pytest.raises(ValueError, match="distinct values from 0, 1, 2"):
            CropSampler([vol], 8, axes=axes)
    with pytest.raises(ValueError, match=r"larger than every training volume's slices along axes \[1\]"):
        CropSampler([vol], 11, axes=[1])  # axis-1 sections are 10 x 14
    with pytest.raises(ValueError, match="apply to 3D volumes"):
        CropSampler([vol[:, 0]], 8, axes=[0])


def test_crop_sampler_keeps_each_volumes_class():
    vols = [np.full((1, 8, 8), v, np.uint8) for v in range(5)]  # the content tells the volume
    crops, classes = CropSampler(vols, 8, classes=[4, 3, 2, 1, 0], seed=0).sample(40)
    assert np.array_equal(classes, 4 - crops[:, 0, 0, 0]) and len(set(classes)) > 1
    with pytest.raises(ValueError, match="one class per training volume"):
        CropSampler(vols, 8, classes=[0, 1])


def test_class_conditioned_training_with_label_dropout(tmp_path):
    vols = [to_channels(_stripes(), [1]), to_channels(1 - _stripes(), [1])]
    cfg = _cfg(num_classes=2, label_dropout=0.25)
    trainer = Trainer(cfg, vols, tmp_path / "m", device="cpu", classes=[0, 1])
    model = trainer.fit()
    assert model.network_config.num_classes == 3  # two classes + "any class"
    x = torch.zeros((2, 1, 16, 16), dtype=torch.long)
    x[:, :, ::2] = 1
    t = torch.full((2,), 0.01)
    a = model.particle_rates(x, t, torch.tensor([0, 0]))
    b = model.particle_rates(x, t, torch.tensor([1, 2]))
    assert not torch.allclose(a[1], b[1])  # the label reaches the rates
    with pytest.raises(ValueError, match="exactly when config.num_classes"):
        Trainer(_cfg(), vols, tmp_path / "n", device="cpu", classes=[0, 1])


def test_holdout_block_is_disjoint():
    vol = np.arange(10 * 4 * 4).reshape(10, 4, 4)
    tr, va = split_holdout(vol, 0.2)
    assert tr.shape[0] == 8 and va.shape[0] == 2
    assert not set(tr.ravel()) & set(va.ravel())


def test_unknown_labels_and_mixed_conventions_are_refused(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", (_stripes() * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"unknown phase labels \[255\]"):
        load_training_volumes([tmp_path / "a.tif"], "rock", 0.2)
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(ValueError, match="cannot read"):
        load_training_volumes([tmp_path / "bad.tif"], "rock", 0.2)
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, _stripes(), compression="zlib")
    (tmp_path / "cut.tif").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="cannot read"):
        load_training_volumes([tmp_path / "cut.tif"], "rock", 0.2)
    with pytest.raises(ValueError, match="unknown material kind"):
        load_training_volumes([tmp_path / "a.tif"], "granite", 0.2)


def test_validation_pass_reports_fidelity_against_held_out_block(tmp_path):
    from microgen.training.validation import Validator

    vol = to_channels(_stripes(shape=(12, 32, 32)), [1])
    trainer = Trainer(_cfg(), [vol], tmp_path / "m", device="cpu")
    trainer.fit()
    report = Validator([vol[:, :6]], [vol[:, 6:]], n=3, size=16)(trainer.ema_model())
    assert report["evaluations"] == 100
    assert {"two_point[1]", "chord_length[1]", "interface[0-1]"} <= set(report["metrics"])
    assert all(np.isfinite(m["spread"]) for m in report["metrics"].values())


def test_torchrun_ddp_on_cpu(tmp_path):
    """Two gloo processes train together; rank 0 writes the model directory."""
    import subprocess
    import sys

    import tifffile

    tifffile.imwrite(tmp_path / "scan.tif", _stripes(shape=(8, 32, 32)))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "microgen.cli",
        "train",
        "--data",
        str(tmp_path / "scan.tif"),
        "--kind",
        "rock",
        "--out",
        str(tmp_path / "run"),
        "--crop",
        "16",
        "--steps",
        "3",
        "--batch",
        "2",
        "--width",
        "8",
        "--checkpoint-every",
        "3",
        "--device",
        "cpu",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert DSDModel.load(tmp_path / "run").meta["training"]["steps"] == 3


def test_init_from_a_model_directory_continues_its_weights(tmp_path):
    vol = [to_channels(_stripes(), [1])]
    first = Trainer(_cfg(steps=4), vol, tmp_path / "a", device="cpu")
    first.fit()
    second = Trainer(_cfg(steps=2), vol, tmp_path / "b", device="cpu", init_from=tmp_path / "a")
    a = DSDModel.load(tmp_path / "a").state_dict()
    for k, v in second.model.state_dict().items():
        torch.testing.assert_close(v, a[k])
    second.fit()
    card = json.loads((tmp_path / "b" / "card.json").read_text())
    assert card["total_steps"] == 6
    training = DSDModel.load(tmp_path / "b").meta["training"]
    first_wall = DSDModel.load(tmp_path / "a").meta["training"]["wall_time_s"]
    assert training["total_wall_time_s"] == pytest.approx(first_wall + training["wall_time_s"], abs=0.11)
    assert training["initialised_from"]["crops"] == [16] and training_crops(training) == [16]
    # a fine-tune on larger crops records the whole crop history (the export's fraction range spans it)
    third = Trainer(_cfg(steps=1, crop=32), vol, tmp_path / "d", device="cpu", init_from=tmp_path / "b")
    third.fit()
    assert training_crops(DSDModel.load(tmp_path / "d").meta["training"]) == [16, 32]
    with pytest.raises(ValueError, match="configuration differs: network.width: source 8 vs now 16"):
        Trainer(_cfg(width=16), vol, tmp_path / "c", device="cpu", init_from=tmp_path / "a")
    with pytest.raises(ValueError, match=r"process.r: source 30.0 vs now 40.0 \(the hop rate follows --crop"):
        Trainer(_cfg(r=40.0), vol, tmp_path / "c", device="cpu", init_from=tmp_path / "a")


def test_bfloat16_training_tracks_float32_and_can_be_switched_on_resume(tmp_path):
    """Steps at bfloat16 give nearly the float32 losses on the same batches (the zero-initialised
    output layer makes the first loss identical); the precision is recorded, and a checkpoint may
    resume at another precision."""
    vol = [to_channels(_stripes(), [1])]
    losses = {}
    for precision in ("float32", "bfloat16"):
        trainer = Trainer(_cfg(steps=4, precision=precision), vol, tmp_path / precision, device="cpu")
        assert trainer.precision == precision
        losses[precision] = [trainer.train_step()["loss"] for _ in range(3)][-1]
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.05)
    assert losses["bfloat16"] != losses["float32"]  # the autocast really ran
    trainer.fit()
    assert json.loads((tmp_path / "bfloat16" / "card.json").read_text())["precision"] == "bfloat16"
    resumed = Trainer(_cfg(steps=6, precision="float32"), vol, tmp_path / "bfloat16", device="cpu", resume=True)
    assert resumed.precision == "float32"
    resumed.fit()
    assert DSDModel.load(tmp_path / "bfloat16").meta["training"]["precision"] == "float32"


def test_training_precision_names_the_allowed_values():
    with pytest.raises(ValueError, match=r"training precision must be one of \('auto', 'float32', 'bfloat16'\)"):
        _cfg(precision="float16")


def test_fraction_range_spans_every_training_crop_side():
    """Small crops see more extreme fractions than large ones; the range is the union over sides,
    and the side already measured keeps its own statistics."""
    from microgen.domains import get_kind
    from microgen.training.export import fraction_ranges, fraction_stats

    rng = np.random.default_rng(3)
    vol = (rng.random((4, 64, 64)) < np.linspace(0.1, 0.6, 64)[None, None, :]).astype(np.uint8)
    mat = get_kind("rock")
    pore = mat.particle_labels[0]
    vol = np.where(vol == 1, pore, mat.background).astype(np.uint8)
    big = fraction_stats(vol, [pore], 32, 200, np.random.default_rng(0))
    small = fraction_stats(vol, [pore], 8, 200, np.random.default_rng([5, 8]))
    name = mat.phases[pore]
    assert fraction_ranges(vol, mat, big, 32, [32], 5) == {name: [big[pore]["min"], big[pore]["max"]]}
    lo, hi = fraction_ranges(vol, mat, big, 32, [8, 32], 5, n=200)[name]
    assert lo == min(big[pore]["min"], small[pore]["min"]) and hi == max(big[pore]["max"], small[pore]["max"])
    assert lo < big[pore]["min"] and hi > big[pore]["max"]


def test_distillation_targets_the_teachers_rates_and_records_it(tmp_path):
    """With a teacher the loss is the KL rate between the teacher's and the student's processes:
    zero for a student that is the teacher, positive and falling for a fresh one."""
    torch.set_num_threads(1)
    vol = [to_channels(_stripes(), [1])]
    Trainer(_cfg(steps=8), vol, tmp_path / "teacher", device="cpu").fit()
    teacher = DSDModel.load(tmp_path / "teacher")
    # a student initialised from its teacher matches it exactly: loss 0 at every step
    same = Trainer(
        _cfg(steps=3, teacher=str(tmp_path / "teacher"), lr=0.0, precision="float32"),
        vol,
        tmp_path / "same",
        device="cpu",
        init_from=tmp_path / "teacher",
    )
    counts = torch.as_tensor(np.stack([v[:, 0] for v in vol])).long()
    t = torch.tensor([0.05])
    noisy, _ = same.model.process.corrupt(counts, t, torch.Generator().manual_seed(0))
    torch.testing.assert_close(same.teacher_rates(noisy, t), teacher.normalised_rates(noisy, t))
    assert (same.teacher_rates(noisy, t)[noisy.unsqueeze(2).expand(-1, -1, 4, -1, -1) == 0] == 0).all()
    losses = []
    same.fit(lambda step, rec: losses.append(rec["loss"]))
    assert max(losses) < 1e-5
    # a fresh student with another architecture learns the teacher's rates
    student = Trainer(
        _cfg(steps=40, checkpoint_every=40, log_every=5, width=4, mults=[1], teacher=str(tmp_path / "teacher")),
        vol,
        tmp_path / "student",
        device="cpu",
    )
    losses = []
    student.fit(lambda step, rec: losses.append(rec["loss"]))
    assert losses[0] > 1e-3 and losses[-1] < 0.7 * losses[0]
    meta = DSDModel.load(tmp_path / "student").meta["training"]
    assert meta["teacher"]["model"] == str(tmp_path / "teacher") and meta["teacher"]["steps"] == 8


def test_distillation_refuses_another_process_and_inpainting_or_classes(tmp_path):
    vol = [to_channels(_stripes(), [1])]
    Trainer(_cfg(steps=1), vol, tmp_path / "teacher", device="cpu").fit()
    with pytest.raises(ValueError, match=r"cannot distil .*process.r: teacher 30.0 vs student 40.0"):
        Trainer(_cfg(r=40.0, teacher=str(tmp_path / "teacher")), vol, tmp_path / "s", device="cpu")
    with pytest.raises(ValueError, match="not with holes or classes"):
        _cfg(teacher="berea", num_classes=2)
    with pytest.raises(ValueError, match="the teacher is class-conditioned or an inpainting model"):
        Trainer(_cfg(r=311.1, schedule_steps=1000, teacher="berea-inpaint"), vol, tmp_path / "s", device="cpu")
