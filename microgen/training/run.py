"""From files to a trained model directory: the library function behind ``microgen train``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from microgen.domains import get_kind
from microgen.io import read_volume

from .data import split_holdout, to_channels
from .trainer import TrainConfig, Trainer


def load_training_volumes(paths, kind: str, holdout: float, segment_options: dict | None = None):
    """Read label volumes (or grey scans, segmented first when ``segment_options`` is given),
    check their codes against ``kind`` and split off held-out blocks."""
    mat = get_kind(kind)
    train, val, sources = [], [], []
    for path in paths:
        labels = read_volume(path)
        if segment_options is not None:
            from microgen.segment import segment

            labels = segment(labels, len(mat.phases), kind=mat.name, **segment_options).labels
        tr, va = split_holdout(labels, holdout)
        train.append(to_channels(tr, mat.particle_labels, allowed=mat.phases))
        if va is not None:
            val.append(to_channels(va, mat.particle_labels, allowed=mat.phases))
        fractions = {mat.phases[c]: float(np.mean(labels == c)) for c in mat.phases}
        sources.append({"file": Path(path).name, "shape": list(labels.shape), "fractions": fractions})
    return mat, train, val, sources


def train_from_files(
    paths: list[Path],
    kind: str,
    out: str | os.PathLike,
    config: TrainConfig,
    *,
    device: str = "auto",
    resume: bool = False,
    progress: bool = False,
    segment_options: dict | None = None,
    init_from: str | os.PathLike | None = None,
    classes: list[str] | None = None,
) -> Path:
    """Train on label files; with ``classes`` (one name per file, ``config.num_classes`` of them)
    one class-conditioned model learns every material."""
    mat, train, val, sources = load_training_volumes(paths, kind, config.holdout, segment_options)
    meta = {
        "kind": mat.name,
        "phases": {str(k): v for k, v in mat.phases.items()},
        "channels": mat.channel_names,
        "data": sources,
    }
    if classes is not None:
        meta["classes"] = list(classes)
        for source, name in zip(sources, classes):
            source["class"] = name
    validator = None
    if config.validate_every and val:
        from .validation import Validator

        validator = Validator(train, val, n=config.val_samples, size=config.crop, seed=config.seed)
    trainer = Trainer(
        config,
        train,
        out,
        val_volumes=val or None,
        meta=meta,
        device=device,
        resume=resume,
        validate_fn=validator,
        init_from=init_from,
        classes=None if classes is None else list(range(len(classes))),
    )
    if progress and trainer.rank == 0:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("train", total=config.steps, completed=trainer.step, info="")

            def show(step, rec):
                bar.update(task, completed=step, info=f"loss {rec['loss']:.4f}  {rec['images_per_s']:.1f} img/s")

            trainer.fit(show)
    else:
        trainer.fit()
    return Path(out)
