"""The DSD training loop: AdamW, warm-up + inverse-sqrt decay, gradient clipping, EMA weights,
bf16 autocast where the device computes it natively (CUDA, AVX512-BF16 CPUs), atomic checkpoints
with exact resume, optional DDP under ``torchrun``."""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from microgen.engine import (
    DSDModel,
    NetworkConfig,
    ProcessConfig,
    Schedule,
    autocast,
    kernels,
    rate_loss,
    resolve_precision,
)
from microgen.engine.network import check_head, network_stride

from .data import CropSampler, check_slice_axes, fraction_summary
from .holes import check_holes, corrupt_holes

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
TRAIN_CONFIG = "train_config.json"
TRAIN_LOG = "train_log.jsonl"
#: edges of the time bands in which the loss is reported
BANDS = (0.0, 1e-6, 1e-4, 1e-2, 1e-1, 1.0)
#: settings that may change when a run is resumed (everything else must match)
RESUMABLE = ("steps", "checkpoint_every", "validate_every", "log_every", "val_samples", "precision")
#: network arithmetic in training (float16 would need loss scaling; bfloat16 does not)
TRAIN_PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored as ``train_config.json``)."""

    crop: int = 64
    batch: int = 16
    steps: int = 10_000
    lr: float = 5e-4
    warmup: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema: float = 0.999
    loss: str = "likelihood"
    weighting: str = "particle"
    r: float | None = None
    boundary: str = "periodic"
    schedule: str = "power"
    schedule_steps: int = 1000
    power: float = 4.0
    width: int = 16
    mults: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    blocks: int = 1
    #: space-to-depth factor of the network (:class:`~microgen.engine.network.NetworkConfig`)
    patch: int = 1
    #: features per voxel of a full-resolution head (:class:`~microgen.engine.network.NetworkConfig`)
    head: int = 0
    augment: bool = True
    holdout: float = 0.2
    num_classes: int = 0
    label_dropout: float = 0.0
    count_scale: float = 1.0
    seed: int = 0
    checkpoint_every: int = 250
    validate_every: int = 0
    val_samples: int = 4
    log_every: int = 25
    precision: str = "auto"
    #: ``[smallest, largest]`` hole side: train a dedicated inpainting model (``holes.py``); [] = off
    holes: list[int] = field(default_factory=list)
    #: distil a trained model (a shipped name or a model folder): its rates replace the exact ones
    #: as the training target; "" = train on the exact rates (the paper's objective)
    teacher: str = ""
    #: axes of a 3D training volume whose slices are training images; [] = every axis. [0] trains
    #: on sections perpendicular to axis 0 only (an anisotropic scan's plane, e.g. an electrode's)
    slice_axes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = (
            "crop",
            "batch",
            "steps",
            "width",
            "blocks",
            "patch",
            "schedule_steps",
            "checkpoint_every",
            "log_every",
        )
        for name in names:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_head(self.head)
        if self.num_classes < 0 or not 0.0 <= self.label_dropout < 1.0 or self.count_scale <= 0:
            raise ValueError("num_classes must be >= 0, label_dropout in [0, 1) and count_scale > 0")
        if self.label_dropout and not self.num_classes:
            raise ValueError("label_dropout needs num_classes > 0")
        if self.precision not in TRAIN_PRECISIONS:
            raise ValueError(f"training precision must be one of {TRAIN_PRECISIONS}, got {self.precision!r}")
        stride = network_stride(self.mults, self.patch)
        if self.crop % stride:
            raise ValueError(f"crop {self.crop} must be a multiple of the network stride {stride}")
        self.holes = check_holes(self.holes, self.crop)
        self.slice_axes = check_slice_axes(self.slice_axes)
        if self.teacher and (self.holes or self.num_classes):
            raise ValueError("a teacher (distillation) trains plain unconditional models: not with holes or classes")
        if self.holes and self.validate_every:
            raise ValueError(
                "validation during training scores unconstrained samples; an inpainting run (holes) "
                "is scored on holes by microgen export: leave validate_every at 0"
            )

    def resolved_r(self) -> float:
        """The hop rate: given, or the one that mixes a crop at t = 1 (5 % residual)."""
        return float(self.r) if self.r else round(kernels.mixing_rate(self.crop, self.boundary, 0.05), 1)

    def schedule_obj(self) -> Schedule:
        return Schedule(self.schedule, self.schedule_steps, power=self.power)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def network_classes(self) -> int:
        """Label embeddings: one per class, plus the "any class" label when labels are dropped."""
        return self.num_classes + (1 if self.label_dropout else 0)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then ``lr * sqrt(warmup / step)``: no dependence on the total step count,
    so a run can be extended across sessions without a jump in the learning rate."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.lr * math.sqrt(cfg.warmup / max(step, 1)) if cfg.warmup else cfg.lr


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        log.warning("CUDA is not available; falling back to the CPU")
        return torch.device("cpu")
    return torch.device(device)


class Trainer:
    """Trains a :class:`DSDModel` on channel volumes and writes a model directory ``out``.

    Parameters
    ----------
    config : TrainConfig
    train_volumes, val_volumes : lists of uint8 arrays ``(C, *spatial)``
    out : path of the model directory (weights, config, card, checkpoint, log)
    meta : dict stored in the model's config (phases, data sources, ...)
    resume : continue from ``out/checkpoint.pt``; without it an existing checkpoint is an error
    classes : class index of each training volume (``config.num_classes > 0``); with
        ``config.label_dropout`` a share of the labels is replaced by ``num_classes`` ("any class"),
        so one model also generates unconditionally (the paper's label embedding, Appendix D)
    """

    def __init__(
        self,
        config: TrainConfig,
        train_volumes: list[np.ndarray],
        out: str | os.PathLike,
        *,
        val_volumes: list[np.ndarray] | None = None,
        meta: dict | None = None,
        device: str = "auto",
        resume: bool = False,
        validate_fn: Callable | None = None,
        init_from: str | os.PathLike | None = None,
        classes=None,
    ) -> None:
        if bool(config.num_classes) != (classes is not None):
            raise ValueError("give classes (one per training volume) exactly when config.num_classes > 0")
        if classes is not None and not all(0 <= int(c) < config.num_classes for c in classes):
            raise ValueError(f"classes must be integers in [0, {config.num_classes})")
        self.config = config
        self.out = Path(out)
        self.rank, self.world = _dist_info()
        self.device = resolve_device(device)
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        self.precision = resolve_precision(config.precision, self.device)  # TrainConfig checked the name
        channels = train_volumes[0].shape[0]
        self.meta = dict(meta or {})
        self.meta.setdefault("training", {})
        if config.holes:  # a dedicated inpainting model (microgen.inpaint prefers it)
            self.meta["inpainting"] = {"holes": list(config.holes)}
        if config.num_classes:
            self.meta.setdefault("classes", [str(c) for c in range(config.num_classes)])
            if len(self.meta["classes"]) != config.num_classes:
                raise ValueError(f"meta['classes'] must name {config.num_classes} classes")
            self.meta["any_class"] = bool(config.label_dropout)
        net_cfg = NetworkConfig(
            channels=channels,
            ndim=2,
            width=config.width,
            mults=list(config.mults),
            blocks=config.blocks,
            patch=config.patch,
            head=config.head,
            periodic=config.boundary == "periodic",
            count_scale=config.count_scale,
            num_classes=config.network_classes,
        )
        proc_cfg = ProcessConfig(r=config.resolved_r(), boundary=config.boundary, schedule=config.schedule_obj())
        torch.manual_seed(config.seed)
        self.model = DSDModel(net_cfg, proc_cfg, meta=self.meta).to(self.device)
        self.ema = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.data = CropSampler(
            train_volumes,
            config.crop,
            augment=config.augment,
            seed=config.seed + 1000 * self.rank,
            classes=classes,
            axes=config.slice_axes,
        )
        self.val_volumes = val_volumes
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed + 7 + 1000 * self.rank)
        self.times = torch.as_tensor(config.schedule_obj().times(), dtype=torch.float64)
        self.step = 0
        self.wall = 0.0
        self.validate_fn = validate_fn
        self.last_validation: dict | None = None
        self.fractions_seen = _fractions_seen(train_volumes, config.crop, config.seed, config.slice_axes)
        self.ddp = None
        if self.world > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model.net, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.prior_steps = 0  # steps of the model this run was initialised from (init_from)
        self.prior_wall = 0.0  # and its training wall time
        self.teacher = self._load_teacher(config.teacher) if config.teacher else None
        self._prepare_out(resume)
        if init_from is not None and self.step == 0:
            self._init_from(Path(init_from))

    # ------------------------------------------------------------------ set-up
    def _prepare_out(self, resume: bool) -> None:
        ckpt = self.out / CHECKPOINT
        if ckpt.exists():
            if not resume:
                raise ValueError(
                    f"{self.out} already holds a training checkpoint; pass resume to continue it "
                    "or choose another output folder (nothing was overwritten)"
                )
            self._load_checkpoint(ckpt)
        elif resume:
            raise ValueError(f"cannot resume: no {CHECKPOINT} in {self.out}")
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(self.out / TRAIN_CONFIG, json.dumps(self.config.to_dict(), indent=2))

    def _load_teacher(self, name: str) -> DSDModel:
        """The model to distil: same particle channels and the same forward process (hop rate,
        boundary, time schedule), so that its rates are rates of this model's process."""
        from microgen.domains import registry

        teacher = registry.load(name, device=self.device).eval()
        teacher.requires_grad_(False)
        diff = config_differences(teacher, self.model, ("process",), ("teacher", "student"))
        if teacher.channels != self.model.channels:
            diff.append(f"particle channels: teacher {teacher.channels} vs student {self.model.channels}")
        if teacher.network_config.num_classes or teacher.meta.get("inpainting"):
            diff.append("the teacher is class-conditioned or an inpainting model (a plain generation model is needed)")
        if diff:
            raise ValueError(
                f"cannot distil {name!r}: " + ", ".join(diff) + " (give --r and --boundary of the teacher)"
            )
        previous = teacher.meta.get("training", {})
        self.meta["training"]["teacher"] = {
            "model": str(name),
            "name": teacher.meta.get("name"),
            "steps": int(previous.get("total_steps", previous.get("steps", 0))),
        }
        log.info("distilling %s", name)
        return teacher

    def teacher_rates(self, noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The teacher's per-voxel rates of ``noisy`` at ``t`` in units of ``s(t)``, shaped
        ``(B, C, 2 * ndim, *shape)`` like the exact rates divided by ``s(t)``: the target that
        replaces them when distilling (the loss is then the KL rate between the two processes)."""
        with torch.no_grad(), autocast(self.device, self.precision):
            return self.teacher.normalised_rates(noisy, t.to(self.device).float()).float()

    def _init_from(self, directory: Path) -> None:
        """Start from the (EMA) weights of a model directory with a fresh optimiser: continues a
        model across sessions or machines without its checkpoint. Configurations must match."""
        source = DSDModel.load(directory, device=self.device)
        diff = config_differences(source, self.model, ("network", "process"), ("source", "now"))
        if diff:
            hint = " (the hop rate follows --crop unless --r is given)" if any("process.r" in d for d in diff) else ""
            raise ValueError(
                f"cannot initialise from {directory}: its network/process configuration differs: "
                + ", ".join(diff)
                + hint
            )
        self.model.load_state_dict(source.state_dict())
        self.ema = {k: v.detach().clone() for k, v in source.state_dict().items()}
        previous = source.meta.get("training", {})
        self.prior_steps = int(previous.get("total_steps", previous.get("steps", 0)))
        self.prior_wall = float(previous.get("total_wall_time_s", previous.get("wall_time_s", 0.0)))
        self.meta["training"]["initialised_from"] = {
            "path": str(directory),
            "steps": self.prior_steps,
            "crops": training_crops(previous),
        }
        log.info("initialised from %s (%d steps)", directory, self.prior_steps)

    def _load_checkpoint(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        saved = state["config"]
        mine = self.config.to_dict()
        defaults = TrainConfig().to_dict()
        # a setting added after the checkpoint was written counts as its default
        diff = {
            k: (saved.get(k, defaults[k]), mine[k])
            for k in mine
            if k not in RESUMABLE and saved.get(k, defaults[k]) != mine[k]
        }
        if diff:
            raise ValueError(
                f"cannot resume {path}: the configuration differs from the checkpoint's "
                + ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
            )
        self.model.load_state_dict(state["model"])
        self.ema = {k: v.to(self.device) for k, v in state["ema"].items()}
        self.optimizer.load_state_dict(state["optimizer"])
        self.data.load_state_dict(state["data"])
        self.step = int(state["step"])
        self.prior_steps = int(state.get("prior_steps", 0))
        self.prior_wall = float(state.get("prior_wall", 0.0))
        if state.get("initialised_from"):
            self.meta["training"]["initialised_from"] = state["initialised_from"]
        if state.get("device_type", "cpu") == self.device.type:
            self.generator.set_state(state["generator"].cpu())
        else:  # generator states do not transfer between CPU and CUDA: continue, reseeded by step
            log.warning(
                "checkpoint written on %s, resuming on %s: corruption noise reseeded (not bit-exact)",
                state.get("device_type"),
                self.device.type,
            )
            self.generator.manual_seed(self.config.seed + 7 + 1000 * self.rank + self.step)
        self.wall = float(state["wall"])
        log.info("resumed %s at step %d", path, self.step)

    # ------------------------------------------------------------------ one step
    def train_step(self) -> dict:
        cfg = self.config
        crops, classes = self.data.sample(cfg.batch)
        crops = torch.as_tensor(crops, device=self.device).long()
        label = None
        if classes is not None:
            label = torch.as_tensor(classes, device=self.device)
            if cfg.label_dropout:
                drop = torch.rand(cfg.batch, generator=self.generator, device=self.device) < cfg.label_dropout
                label = torch.where(drop, torch.full_like(label, cfg.num_classes), label)
        k = torch.randint(1, cfg.schedule_steps + 1, (cfg.batch,), generator=self.generator, device=self.device)
        k = k.cpu()
        t = self.times[k]
        dt = self.times[k] - self.times[k - 1]
        if cfg.holes:  # a dedicated inpainting model: only a hole in each crop is corrupted
            holes = corrupt_holes(crops, t, self.model.r, cfg.holes, self.generator)
            noisy, rates, moves, particles = holes.noisy, holes.rates, holes.open_moves, holes.particles
        else:
            noisy, rates = self.model.process.corrupt(crops, t, self.generator)
            moves, particles = None, crops.flatten(1).sum(1)
        scale = self.model.time_scale(t).to(self.device)
        if self.teacher is not None:
            target = self.teacher_rates(noisy, t)
        else:
            target = rates / scale.view(-1, 1, 1, 1, 1).to(rates.dtype)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, cfg)
        net = self.ddp or self.model.net
        with autocast(self.device, self.precision):
            out = net(noisy, t.to(self.device).float(), label)
        pred = out.float().unflatten(1, (self.model.channels, 4))
        if cfg.boundary == "noflux":
            pred = pred * self.model.open_moves(noisy.shape[2:], self.device)
        if moves is not None:
            pred = pred * moves
        pred = pred * noisy.unsqueeze(2).float()
        per_image = rate_loss(
            pred,
            target,
            particles=particles.float(),
            kind=cfg.loss,
            weighting=cfg.weighting,
            dt_scale=(dt * scale.cpu()).to(self.device),
        )
        loss = per_image.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        # EMA with warm-up: early on the average must not be dominated by the initial weights
        decay = min(cfg.ema, (1.0 + self.step) / (10.0 + self.step))
        with torch.no_grad():
            for name, value in self.model.state_dict().items():
                if value.dtype.is_floating_point:
                    self.ema[name].lerp_(value, 1.0 - decay)
                else:
                    self.ema[name].copy_(value)
        self.step += 1
        return {
            "loss": float(loss.detach()),
            "grad_norm": float(grad_norm),
            "t": t.numpy(),
            "per_image": per_image.detach().cpu().numpy(),
        }

    # ------------------------------------------------------------------ loop
    def fit(self, callback: Callable[[int, dict], None] | None = None) -> DSDModel:
        cfg = self.config
        self.model.train()
        window = []
        start = time.time()
        images = 0
        while self.step < cfg.steps:
            rec = self.train_step()
            window.append(rec)
            images += cfg.batch
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                elapsed = time.time() - start
                summary = _summarise(window, self.step, lr_at(self.step, cfg), images / max(elapsed, 1e-9))
                window.clear()
                if self.rank == 0:
                    _append_jsonl(self.out / TRAIN_LOG, summary)
                if callback:
                    callback(self.step, summary)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.wall += time.time() - start
                start, images = time.time(), 0
                self.save_checkpoint()
            if cfg.validate_every and self.step % cfg.validate_every == 0 and self.validate_fn and self.rank == 0:
                report = self.validate_fn(self.ema_model(), self.val_volumes, self.step)
                self.last_validation = {"step": self.step, **report}
                _append_jsonl(self.out / TRAIN_LOG, {"step": self.step, "validation": report})
                self._write_card()
        return self.ema_model()

    def ema_model(self) -> DSDModel:
        model = DSDModel(self.model.network_config, self.model.process_config, meta=self.meta).to(self.device)
        model.load_state_dict(self.ema)
        return model.eval()

    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        state = {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "ema": self.ema,
            "optimizer": self.optimizer.state_dict(),
            "data": self.data.state_dict(),
            "generator": self.generator.get_state(),
            "device_type": self.device.type,
            "prior_steps": self.prior_steps,
            "prior_wall": self.prior_wall,
            "initialised_from": self.meta["training"].get("initialised_from"),
            "step": self.step,
            "wall": self.wall,
        }
        fd, tmp = tempfile.mkstemp(prefix=".ckpt.", dir=self.out)
        os.close(fd)
        torch.save(state, tmp)
        os.replace(tmp, self.out / CHECKPOINT)
        self.meta["training"].update(
            {
                "steps": self.step,
                "total_steps": self.prior_steps + self.step,
                "total_wall_time_s": round(self.prior_wall + self.wall, 1),
                "wall_time_s": round(self.wall, 1),
                "hardware": _hardware(self.device),
                "precision": self.precision,
                "config": self.config.to_dict(),
            }
        )
        self.ema_model().save(self.out)
        self._write_card()

    def _write_card(self) -> None:
        """``card.json`` / ``card.md``: data, phases, fractions seen, steps, time, hardware, fidelity."""
        if self.rank != 0:
            return
        names = self.meta.get("channels") or [f"channel {c}" for c in range(self.model.channels)]
        card = {
            "data": self.meta.get("data"),
            "kind": self.meta.get("kind"),
            "phases": self.meta.get("phases"),
            "fractions_seen_in_training_crops": dict(zip(names, self.fractions_seen)),
            "steps": self.step,
            "total_steps": self.prior_steps + self.step,
            "wall_time_s": round(self.wall, 1),
            "hardware": _hardware(self.device),
            "precision": self.precision,
            "config": self.config.to_dict(),
            "r": self.model.r,
            "last_validation": self.last_validation,
        }
        _atomic_write_text(self.out / "card.json", json.dumps(card, indent=2))
        lines = [
            f"# Training card ({self.meta.get('kind', 'model')})",
            "",
            f"- Data: {', '.join(d['file'] for d in self.meta.get('data', []) if 'file' in d) or 'in-memory'}",
            f"- Phases: {self.meta.get('phases')}; particle channels: {names}",
            f"- Steps: {self.step}; wall time {self.wall / 3600:.2f} h on {card['hardware']} "
            f"({self.precision}); r = {self.model.r}",
            "",
            "| channel | mean | std | min | max |",
            "|---|---|---|---|---|",
        ]
        for name, s in card["fractions_seen_in_training_crops"].items():
            lines.append(f"| {name} | {s['mean']:.4f} | {s['std']:.4f} | {s['min']:.4f} | {s['max']:.4f} |")
        if self.last_validation:
            lines += [
                "",
                f"Validation at step {self.last_validation['step']} (ratio = distance / natural spread):",
                "",
                "| metric | distance | spread | ratio |",
                "|---|---|---|---|",
            ]
            for m, v in self.last_validation["metrics"].items():
                lines.append(f"| {m} | {v['distance']:.4g} | {v['spread']:.4g} | {v['ratio']:.2f} |")
        _atomic_write_text(self.out / "card.md", "\n".join(lines) + "\n")


def config_differences(theirs: DSDModel, mine: DSDModel, parts, names: tuple[str, str]) -> list[str]:
    """``"part.key: NAME0 value vs NAME1 value"`` for every setting of the given parts of the two
    models' configurations (``"network"``, ``"process"``) that differs."""
    a, b = theirs.config_dict(), mine.config_dict()
    return [
        f"{part}.{k}: {names[0]} {a[part].get(k)!r} vs {names[1]} {b[part].get(k)!r}"
        for part in parts
        for k in sorted(set(a[part]) | set(b[part]))
        if a[part].get(k) != b[part].get(k)
    ]


def training_crops(training: dict) -> list[int]:
    """Every crop side a model was trained on, earliest first: those of the models it was
    initialised from (as far as they were recorded), then its own run's."""
    earlier = list((training.get("initialised_from") or {}).get("crops", []))
    crop = (training.get("config") or {}).get("crop")
    return earlier + ([int(crop)] if crop is not None and (not earlier or earlier[-1] != crop) else [])


def _fractions_seen(volumes, crop: int, seed: int, axes=None, n: int = 256) -> list[dict]:
    """Fraction statistics per channel over ``n`` training crops (own generator: the training
    data order is unaffected)."""
    crops = CropSampler(volumes, crop, augment=False, seed=seed + 99, axes=axes).sample(n)[0]
    return [fraction_summary(crops[:, c].reshape(n, -1).mean(1)) for c in range(crops.shape[1])]


def _summarise(window: list[dict], step: int, lr: float, images_per_s: float) -> dict:
    t = np.concatenate([w["t"] for w in window])
    per = np.concatenate([w["per_image"] for w in window])
    bands = {}
    for lo, hi in zip(BANDS[:-1], BANDS[1:]):
        sel = (t > lo) & (t <= hi)
        if sel.any():
            bands[f"{lo:g}-{hi:g}"] = float(per[sel].mean())
    return {
        "step": step,
        "loss": float(np.mean([w["loss"] for w in window])),
        "grad_norm": float(np.mean([w["grad_norm"] for w in window])),
        "lr": lr,
        "images_per_s": round(images_per_s, 2),
        "loss_by_t": bands,
    }


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            if torch.cuda.is_available():
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.machine()} x{torch.get_num_threads()} threads"


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
