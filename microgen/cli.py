"""The ``microgen`` command line: parses options and calls the library, nothing else."""

from __future__ import annotations

import logging
import shutil
import sys
import warnings
from pathlib import Path

import click
import numpy as np

from microgen import __version__
from microgen.engine.polish import SWEEPS
from microgen.engine.precision import PRECISIONS
from microgen.engine.prior import PRIORS
from microgen.engine.sampler import (
    DEFAULT_EVALUATIONS,
    DEFAULT_SAMPLER,
    OFFSETS,
    SAMPLERS,
    check_sharpness,
    format_sharpness,
)
from microgen.metrics import PASS_RATIO
from microgen.training.calibrate import CALIBRATION_REFERENCES, SHARPNESS_GRID
from microgen.training.data import check_slice_axes
from microgen.training.trainer import TRAIN_CONFIG, TRAIN_PRECISIONS, TrainConfig

#: stands for "the fractions of the model's stored reference crops" (--match-reference)
MATCH_REFERENCE = object()
MATCH_HELP = (
    "Instead of fixed fractions, give each image the exact counts of one held-out real crop stored with "
    "the model (--size must be a stored size): a matched set for `microgen validate --reference MODEL`."
)


#: ``--threads`` of the commands that run long torch work (train, export); see :func:`_use_threads`
THREADS_OPTION = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch [default: torch's, usually one per core].",
)


def _use_threads(threads: int | None) -> None:
    """Run the current command's torch work on ``threads`` CPU threads (None: leave torch's
    setting), restored when the command ends (the CLI called from Python)."""
    if threads is None:
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    click.get_current_context().call_on_close(lambda: torch.set_num_threads(previous))


class _UsageErrors(click.Group):
    """Turn library ``ValueError``/``FileExistsError`` into a one-line message and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ValueError, FileExistsError, FileNotFoundError, PermissionError) as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_UsageErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="microgen")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Microstructures with exact phase fractions by Discrete Spatial Diffusion."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    previous = warnings.formatwarning  # restored when the command ends (the CLI called from Python)
    warnings.formatwarning = _warning_line
    click.get_current_context().call_on_close(lambda: setattr(warnings, "formatwarning", previous))


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """Python warnings (fractions outside the training range, sides below a model's recommended
    size) as one ``warning: ...`` line on stderr, without the source line that raised them."""
    return f"warning: {message}\n"


#: architecture of a new run when neither the options, the resumed run nor --init-from say otherwise
_ARCH = {name: getattr(TrainConfig(), name) for name in ("width", "mults", "blocks", "patch", "head")}


def _denoise_option(help_text: str):
    return click.option(
        "--denoise",
        "denoise_method",
        type=click.Choice(["nlm", "median", "gaussian", "none"]),
        default="median",
        show_default=True,
        help=help_text,
    )


@main.command()
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="Label volume (TIFF/HDF5/.npy, 2D or 3D); repeat for several.",
)
@click.option("--kind", type=click.Choice(["rock", "cathode"]), required=True, help="Material kind (phase convention).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Model directory to write.")
@click.option("--crop", default=64, show_default=True, help="Training crop size (pixels).")
@click.option("--steps", default=10_000, show_default=True, help="Total optimiser steps.")
@click.option("--batch", default=16, show_default=True, help="Images per step.")
@click.option("--r", "rate", type=float, default=None, help="Hop rate r (default: mixes one crop at t = 1).")
@click.option("--boundary", type=click.Choice(["periodic", "noflux"]), default="periodic", show_default=True)
@click.option(
    "--width",
    type=int,
    default=None,
    help=f"Network width [default: {_ARCH['width']}, or the resumed run's or --init-from's].",
)
@click.option(
    "--mults",
    default=None,
    help="Width multiplier per resolution level, comma-separated (one downsampling between levels) "
    f"[default: {','.join(map(str, _ARCH['mults']))}, or the resumed run's or --init-from's].",
)
@click.option(
    "--blocks",
    type=int,
    default=None,
    help=f"Residual blocks per level [default: {_ARCH['blocks']}, or the resumed run's or --init-from's].",
)
@click.option(
    "--patch",
    type=int,
    default=None,
    help="Space-to-depth factor: the network's finest level works on PATCH-sided cells; 2 makes "
    f"sampling about 2x faster [default: {_ARCH['patch']}, or the resumed run's or --init-from's].",
)
@click.option(
    "--head",
    type=int,
    default=None,
    help="Features per voxel of a full-resolution head that sharpens the rates of a --patch 2 "
    f"network for a few per cent of its cost; 0 = none [default: {_ARCH['head']}, or the resumed "
    "run's or --init-from's].",
)
@click.option("--lr", default=5e-4, show_default=True, help="Peak learning rate.")
@click.option("--no-augment", is_flag=True, help="Disable the 8 dihedral augmentations (anisotropic materials).")
@click.option(
    "--slice-axes",
    default="all",
    show_default=True,
    help="Axes of a 3D volume whose slices are training images, comma-separated from 0,1,2, or all. "
    "For an anisotropic scan (e.g. a calendered electrode) 0 trains on the sections perpendicular "
    "to axis 0 only, the plane the held-out crops show.",
)
@click.option("--holdout", default=0.2, show_default=True, help="Fraction of axis 0 held out for validation.")
@click.option("--seed", default=0, show_default=True)
@click.option("--checkpoint-every", default=250, show_default=True)
@click.option(
    "--validate-every",
    default=0,
    show_default=True,
    help="Generate and score samples against the held-out block every N steps (0: never).",
)
@click.option("--val-samples", default=8, show_default=True, help="Images per validation pass.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@THREADS_OPTION
@click.option(
    "--precision",
    type=click.Choice(list(TRAIN_PRECISIONS)),
    default="auto",
    show_default=True,
    help="Network arithmetic: auto = bfloat16 where the device computes it natively (CUDA, AVX512-BF16 CPUs).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the checkpoint in --out; options not given take the run's saved values.",
)
@click.option(
    "--init-from",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Start from the weights of a model directory (same configuration), fresh optimiser.",
)
@click.option(
    "--classes",
    default=None,
    help="One class name per --data, comma-separated (e.g. berea,ketton): one class-conditioned model.",
)
@click.option(
    "--holes",
    type=int,
    nargs=2,
    default=None,
    help="Train a dedicated inpainting model: one hole per crop with sides from MIN to MAX voxels "
    "(only the hole is corrupted, no-flux at its edge; the rest is clean context).",
)
@click.option(
    "--teacher",
    default=None,
    help="Distil a trained model (a shipped name or a model folder): its rates, not the exact ones, "
    "are the target. The teacher's --r and --boundary must be given when --crop differs from its own.",
)
@click.option("--segment", "segment_first", is_flag=True, help="--data are grey-level scans: segment them first.")
@_denoise_option("With --segment: denoising.")
@click.option("--min-size", default=0, show_default=True, help="With --segment: smallest island/hole kept.")
def train(
    data,
    kind,
    out,
    crop,
    steps,
    batch,
    rate,
    boundary,
    width,
    mults,
    blocks,
    patch,
    head,
    lr,
    no_augment,
    slice_axes,
    holdout,
    seed,
    checkpoint_every,
    validate_every,
    val_samples,
    device,
    threads,
    precision,
    resume,
    init_from,
    classes,
    holes,
    teacher,
    segment_first,
    denoise_method,
    min_size,
) -> None:
    """Train a DSD model on segmented volumes (or grey scans with --segment)."""
    from microgen.training.run import train_from_files

    _use_threads(threads)

    class_names = None
    if classes:
        class_names = [c.strip() for c in classes.split(",")]
        if len(class_names) != len(data) or len(set(class_names)) != len(class_names) or "" in class_names:
            raise ValueError(f"--classes needs one distinct name per --data ({len(data)} files), got {classes!r}")
    width, mult_list, blocks, patch, head = _architecture(width, mults, blocks, patch, head, init_from)
    cfg = TrainConfig(
        num_classes=len(class_names) if class_names else 0,
        label_dropout=0.1 if class_names else 0.0,
        crop=crop,
        steps=steps,
        batch=batch,
        r=rate,
        boundary=boundary,
        width=width,
        mults=mult_list,
        blocks=blocks,
        patch=patch,
        head=head,
        lr=lr,
        augment=not no_augment,
        holdout=holdout,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        val_samples=val_samples,
        precision=precision,
        holes=list(holes or []),
        teacher=teacher or "",
        slice_axes=_slice_axes(slice_axes),
    )
    if resume:
        cfg = _resumed_config(cfg, out)
    seg = {"denoise_method": denoise_method, "min_size": min_size} if segment_first else None
    out_path = train_from_files(
        [Path(p) for p in data],
        kind,
        out,
        cfg,
        device=device,
        resume=resume,
        progress=True,
        segment_options=seg,
        init_from=init_from,
        classes=class_names,
    )
    click.echo(f"model written to {out_path}")


#: train options that set a TrainConfig field of the same meaning (option name -> field)
_RESUMED_OPTIONS = {
    "crop": "crop",
    "steps": "steps",
    "batch": "batch",
    "rate": "r",
    "boundary": "boundary",
    "lr": "lr",
    "holdout": "holdout",
    "seed": "seed",
    "checkpoint_every": "checkpoint_every",
    "validate_every": "validate_every",
    "val_samples": "val_samples",
    "precision": "precision",
    "holes": "holes",
    "teacher": "teacher",
    "slice_axes": "slice_axes",
    "width": "width",
    "mults": "mults",
    "blocks": "blocks",
    "patch": "patch",
    "head": "head",
}


def _slice_axes(text: str) -> list[int]:
    """``--slice-axes``: "all" -> [] (every axis), else distinct axes from 0, 1, 2
    (:func:`~microgen.training.data.check_slice_axes`)."""
    if text.strip().lower() == "all":
        return []
    try:
        return check_slice_axes([int(p) for p in text.split(",")])
    except ValueError:
        raise click.BadParameter(
            f"must be all or distinct axes from 0,1,2, comma-separated, got {text!r}", param_hint="--slice-axes"
        ) from None


def _resumed_config(cfg: TrainConfig, out) -> TrainConfig:
    """With --resume, every option left at its default takes the resumed run's saved value (so
    ``microgen train --data D --kind K --out RUN --resume`` continues RUN as it was started; an
    option given again overrides, and the trainer refuses a change it cannot resume)."""
    import dataclasses
    import json

    from click.core import ParameterSource

    run_config = Path(out) / TRAIN_CONFIG
    if not run_config.is_file():
        return cfg
    saved = json.loads(run_config.read_text())
    ctx = click.get_current_context()
    defaulted = {n for n in _RESUMED_OPTIONS if ctx.get_parameter_source(n) is ParameterSource.DEFAULT}
    updates = {field: saved[field] for name, field in _RESUMED_OPTIONS.items() if name in defaulted and field in saved}
    if ctx.get_parameter_source("no_augment") is ParameterSource.DEFAULT and "augment" in saved:
        updates["augment"] = saved["augment"]
    return dataclasses.replace(cfg, **updates)


def _architecture(width, mults, blocks, patch, head, init_from) -> tuple[int, list[int], int, int, int]:
    """Width, level multipliers, blocks, patch and head: the options given, else those of --init-from's model,
    else _ARCH (TrainConfig checks the values; on --resume, :func:`_resumed_config` then puts back
    the run's own for the options not given)."""
    base = dict(_ARCH)
    if init_from:
        from microgen.engine import DSDModel

        net = DSDModel.load(init_from).network_config
        base = {name: getattr(net, name) for name in _ARCH}
    if mults is not None:
        try:
            base["mults"] = [int(m) for m in mults.split(",")]
        except ValueError:
            base["mults"] = []
        if not base["mults"] or min(base["mults"]) < 1:
            raise ValueError(f"--mults must be comma-separated positive integers such as 1,2,4,4, got {mults!r}")
    given = (("width", width), ("blocks", blocks), ("patch", patch), ("head", head))
    base.update({name: value for name, value in given if value is not None})
    return base["width"], base["mults"], base["blocks"], base["patch"], base["head"]


def _parse_shape(size, shape) -> tuple[int, ...]:
    if shape:
        try:
            dims = tuple(int(v) for v in shape.lower().split("x"))
        except ValueError:
            raise ValueError(f"--shape must look like 256x256 (or 64x64x64), got {shape!r}") from None
        if len(dims) not in (2, 3) or min(dims) < 1:
            raise ValueError(f"--shape needs 2 or 3 positive sides, got {shape!r}")
        return dims
    if size < 1:
        raise ValueError(f"--size must be >= 1, got {size}")
    return (size, size)


def _generate_command(kind, model_name, fractions, output, size, shape, n, seed, device, preview, sampling, overwrite):
    """Shared body of `microgen rock` and `microgen cathode`: check outputs first, generate, write."""
    import json

    import microgen
    from microgen.domains import registry
    from microgen.io import check_output, write_preview, write_volume

    dims = _parse_shape(size, shape)
    if n is not None and n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    check_output(output, overwrite=overwrite)
    if preview:
        check_output(preview, overwrite=overwrite, extensions=(".png",))
    model = microgen.load_model(model_name, device, kind=kind)
    if fractions is MATCH_REFERENCE:
        if len(dims) != 2 or dims[0] != dims[1]:
            raise ValueError(f"--match-reference needs square 2D images (--size), got {'x'.join(map(str, dims))}")
        fractions = microgen.api.reference_fractions(model_name, dims[0], n)
    res = microgen.generate(model, fractions, shape=dims, n=n or 1, seed=seed, device=device, progress=True, **sampling)
    n = len(res.images)
    images = res.images if n > 1 else res.images[0]
    cfg = json.loads((registry.resolve(model_name) / "config.json").read_text())
    exact = [{k: v / float(np.prod(dims)) for k, v in c.items()} for c in res.counts]
    same = all(c == res.counts[0] for c in res.counts)
    meta = {
        "phases": model.meta.get("phases"),
        "fractions": exact[0] if same else exact,
        "counts": res.counts[0] if same else res.counts,
        "model": model.meta.get("name", str(model_name)),
        "model_sha256": cfg.get("weights_sha256"),
        "seed": res.seed,
        "microgen_version": microgen.__version__,
        "sampler": res.sampler,
        "network_evaluations": res.evaluations,
        "polish_sweeps": res.polish,
        "voxels_swapped_by_polish": res.swapped,
        "islands_dissolved_up_to": res.islands,
        "holes_filled_up_to": res.holes,
        "voxels_moved_by_island_dissolution": res.dissolved,
        "smoothing_widths": list(res.smooth),
    }
    write_volume(output, images, metadata=meta, overwrite=overwrite)
    if preview:
        write_preview(preview, res.images, overwrite=overwrite)
    if same:
        fr = ", ".join(f"{k} {v:.6f} ({res.counts[0][k]} voxels)" for k, v in exact[0].items())
    else:
        fr = "fractions of the stored reference crops, " + ", ".join(
            f"{k} {min(e[k] for e in exact):.4f}-{max(e[k] for e in exact):.4f}" for k in exact[0]
        )
    click.echo(
        f"{output}: {n} x {'x'.join(map(str, dims))}, {fr}, {res.seconds:.1f} s, "
        f"{res.evaluations} network evaluations, seed {res.seed}"
    )


SAMPLING = [
    click.option(
        "--sampler",
        type=click.Choice(list(SAMPLERS)),
        default=DEFAULT_SAMPLER,
        show_default=True,
        help="Step rule: second-order leaping with two or one evaluations per step (trapezoidal, "
        "multistep), first-order leaping (poisson), or the paper's binomial rule (slow).",
    ),
    click.option(
        "--steps",
        type=int,
        default=None,
        help="Network evaluations per sample (even for trapezoidal; ignored by binomial) "
        f"[default: the model's, see its card, else {DEFAULT_EVALUATIONS}].",
    ),
    click.option(
        "--precision",
        type=click.Choice(list(PRECISIONS)),
        default="auto",
        show_default=True,
        help="Network arithmetic; auto = bfloat16 where the device computes it natively.",
    ),
    click.option(
        "--polish",
        type=click.IntRange(min=0),
        default=None,
        help="Sweeps of count-preserving speckle removal after sampling (0: raw model output) "
        f"[default: the model's calibrated value, else {SWEEPS}; inpaint: {SWEEPS}].",
    ),
    *(
        click.option(
            name,
            type=click.IntRange(min=0),
            default=None,
            help=f"{what} of at most this many voxels, keeping every count (0: off) "
            "[default: the model's calibrated value, else 0].",
        )
        for name, what in (
            ("--islands", "After the polish, dissolve islands of each particle phase"),
            ("--holes", "Then fill holes of the particle phases (e.g. grain specks inside a pore)"),
        )
    ),
    click.option(
        "--smooth",
        type=str,
        default=None,
        help="Width in voxels of one count-preserving smoothing step right after sampling, before the polish "
        "(rounds particles, cuts thin spurs; 0: off), or one per particle phase separated by '/' (cathode: "
        "active/binder, e.g. 1.5/0) [default: the model's calibrated value, else 0; inpaint: 0].",
    ),
    click.option(
        "--sharpness",
        type=str,
        default=None,
        help="Exponent on the predicted rates, > 0 (1: as trained; above 1 coarser structure), or one "
        "per particle phase separated by '/' (cathode: active/binder, e.g. 1.15/1) "
        "[default: the model's calibrated value, see its card; inpaint: 1].",
    ),
    click.option(
        "--prior",
        type=click.Choice(list(PRIORS)),
        default="auto",
        show_default=True,
        help="Where particles start: spectral = with the data's large-scale density fluctuations "
        "(stored with the model; images larger than the training crops need them), uniform; "
        "auto = spectral where the model stores it (inpainting: uniform).",
    ),
    click.option(
        "--offsets",
        type=click.Choice(list(OFFSETS)),
        default="auto",
        show_default=True,
        help="Where the network's stride grid (8 voxels for the shipped models) falls: stride = a different "
        "offset at each step (no faint grid in the image), fixed = held still; auto = as the model was "
        "calibrated (its card's 'Sampling defaults').",
    ),
]

_COMMON = [
    click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(dir_okay=False),
        help="Output file: .tif/.tiff, .h5/.hdf5 or .npy.",
    ),
    click.option(
        "--size", default=256, show_default=True, help="Square image side (any side >= 8, the network stride)."
    ),
    click.option("--shape", default=None, help="Image shape, e.g. 256x384 (overrides --size)."),
    click.option(
        "-n",
        "n",
        type=int,
        default=None,
        help="Number of images [default: 1; every stored crop with --match-reference].",
    ),
    click.option("--seed", type=int, default=None, help="Random seed (same seed, same images)."),
    click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda."),
    click.option("--preview", type=click.Path(dir_okay=False), default=None, help="Also write a PNG preview."),
    *SAMPLING,
    click.option("--overwrite", is_flag=True, help="Replace existing output files."),
]


def _sampling(func):
    for option in reversed(SAMPLING):
        func = option(func)
    return func


def _common(func):
    for option in reversed(_COMMON):
        func = option(func)
    return func


@main.command()
@click.option("--type", "rock_type", default="berea", show_default=True, help="Pretrained rock model or model dir.")
@click.option("--porosity", type=float, default=None, help="Pore fraction in (0, 1) (or --match-reference).")
@click.option("--match-reference", is_flag=True, help=MATCH_HELP)
@_common
def rock(
    rock_type, porosity, match_reference, output, size, shape, n, seed, device, preview, overwrite, **sampling
) -> None:
    """Generate rock images with an exact porosity (1 = pore, 0 = grain)."""
    fractions = _fractions_option(match_reference, {"--porosity": porosity}, {"pore": porosity})
    _generate_command("rock", rock_type, fractions, output, size, shape, n, seed, device, preview, sampling, overwrite)


def _fractions_option(match_reference: bool, given: dict, fractions: dict):
    """The fractions to generate at: exactly one of the fraction options or --match-reference."""
    missing = [name for name, value in given.items() if value is None]
    if match_reference and len(missing) < len(given):
        raise ValueError(f"give {' and '.join(given)} or --match-reference, not both")
    if match_reference:
        return MATCH_REFERENCE
    if missing:
        raise ValueError(f"missing {' and '.join(missing)} (or pass --match-reference)")
    return fractions


@main.command()
@click.option("--model", "model_name", default="nmc", show_default=True, help="Pretrained cathode model or model dir.")
@click.option("--active", type=float, default=None, help="Active-material fraction in (0, 1).")
@click.option("--binder", type=float, default=None, help="Carbon-binder fraction in (0, 1); active + binder < 1.")
@click.option("--match-reference", is_flag=True, help=MATCH_HELP)
@_common
def cathode(
    model_name, active, binder, match_reference, output, size, shape, n, seed, device, preview, overwrite, **sampling
) -> None:
    """Generate 3-phase cathode images with exact fractions (0 = pore, 1 = active, 2 = binder)."""
    given = {"--active": active, "--binder": binder}
    _generate_command(
        "cathode",
        model_name,
        _fractions_option(match_reference, given, {"active": active, "binder": binder}),
        output,
        size,
        shape,
        n,
        seed,
        device,
        preview,
        sampling,
        overwrite,
    )


@main.command()
@click.argument("scan", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--mask",
    "mask_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Mask file: nonzero = regenerate.",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output file: .tif, .h5 or .npy.")
@click.option(
    "--model",
    "model_name",
    default=None,
    help="Pretrained model or model dir (default: berea for 2 phases, nmc for 3); a shipped companion "
    "<model>-inpaint fills instead unless --generic.",
)
@click.option("--porosity", type=float, default=None, help="Rock: pore fraction inside the mask.")
@click.option(
    "--fraction", "fraction", multiple=True, help="PHASE=F inside the mask (repeat; cathode: active=, binder=)."
)
@click.option("--seed", type=int, default=None, help="Random seed.")
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--generic",
    is_flag=True,
    help="Fill with the generation model itself, not its dedicated inpainting companion <model>-inpaint.",
)
@_sampling
@click.option("--preview", type=click.Path(dir_okay=False), default=None, help="Also write a PNG preview.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def inpaint(
    scan, mask_path, output, model_name, porosity, fraction, seed, device, generic, preview, overwrite, **sampling
) -> None:
    """Fill the masked region of a label image (or each slice of a stack) with exact counts.

    Voxels outside the mask are kept bit for bit; without --porosity/--fraction the region gets
    the fractions of the rest of its image.
    """
    import microgen
    from microgen.io import check_output, read_volume, write_preview, write_volume

    check_output(output, overwrite=overwrite)
    if preview:
        check_output(preview, overwrite=overwrite, extensions=(".png",))
    image, mask = read_volume(scan), read_volume(mask_path)
    fractions = None
    if fraction:
        fractions = {}
        for item in fraction:
            name, sep, value = item.partition("=")
            try:
                fractions[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"--fraction must look like active=0.5, got {item!r}") from None
            if not sep:
                raise ValueError(f"--fraction must look like active=0.5, got {item!r}")
    if model_name is None:
        model_name = "nmc" if np.max(image) >= 2 else "berea"
    res = microgen.inpaint(
        image,
        mask,
        model=model_name,
        porosity=porosity,
        fractions=fractions,
        seed=seed,
        device=device,
        dedicated=not generic,
        **sampling,
    )
    write_volume(
        output,
        res.images,
        metadata={
            "model": res.model or str(model_name),
            "mask": Path(mask_path).name,
            "region_counts": res.counts,
            "seed": seed,
            "polish_sweeps": res.polish,
            "sharpness": res.sharpness,
            "voxels_swapped_by_polish": res.swapped,
            "islands_dissolved_up_to": res.islands,
            "holes_filled_up_to": res.holes,
            "voxels_moved_by_island_dissolution": res.dissolved,
            "smoothing_widths": list(res.smooth),
        },
        overwrite=overwrite,
    )
    if preview:
        write_preview(preview, res.images if res.images.ndim == 3 else res.images[None], overwrite=overwrite)
    click.echo(
        f"{output}: masked region counts {res.counts}; filled by {res.model or model_name}, "
        f"{res.seconds:.1f} s, {res.evaluations} evaluations"
    )


@main.command()
def models() -> None:
    """List the pretrained models and their training fraction ranges."""
    from rich.console import Console
    from rich.table import Table

    import microgen
    from microgen.domains import registry

    table = Table(title="microgen pretrained models")
    columns = (
        "name",
        "kind",
        "task",
        "phases",
        "training range",
        "sides",
        "steps",
        "evaluations",
        f"within {PASS_RATIO}",
        "status",
    )
    for col in columns:
        table.add_column(col)
    rows = microgen.list_models()
    for m in rows:
        rng = ", ".join(f"{k} {lo:.3f}-{hi:.3f}" for k, (lo, hi) in m["training_range"].items())
        phases = ", ".join(f"{code} {name}" for code, name in (m["phases"] or {}).items())
        cells = [m["steps"], m["evaluations"]]
        table.add_row(
            m["name"],
            str(m["kind"]),
            m["task"],
            phases,
            rng,
            f">= {m['min_side']}" if m["min_side"] else "any",
            *(f"{c:,}" if c else "" for c in cells),
            m["protocol"],
            m["status"],
        )
    Console(width=max(shutil.get_terminal_size((150, 20)).columns, 100)).print(table)
    if rows:
        click.echo(
            f"within {PASS_RATIO}: protocol metrics (256², 32 images) whose median ratio over 8 reference draws is "
            f"within {PASS_RATIO}x the natural spread (docs/models.md); sides: the image sides a model is recommended "
            "for (it warns below them)"
        )
        listed = {m["name"] for m in rows}
        for old, new in registry.ALIASES.items():
            if new in listed:
                click.echo(f"{old}: a former name of {new}, still accepted")
    else:
        click.echo("no pretrained model installed; train one with `microgen train`")


@main.command("segment")
@click.argument("gray", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Label file (.tif/.h5/.npy).")
@click.option("--phases", type=click.IntRange(2, 3), default=2, show_default=True)
@click.option(
    "--kind",
    type=click.Choice(["rock", "cathode", "none"]),
    default=None,
    help="Label convention (default: rock for 2 phases, cathode for 3).",
)
@_denoise_option("Denoising before thresholding.")
@click.option("--strength", default=1.0, show_default=True, help="Denoising strength (sigma / radius / h).")
@click.option("--method", type=click.Choice(["otsu", "multiotsu", "manual"]), default="otsu", show_default=True)
@click.option("--threshold", "manual", type=float, multiple=True, help="Manual threshold(s) (repeat).")
@click.option("--min-size", default=0, show_default=True, help="Remove islands/holes smaller than this (voxels).")
@click.option("--bright-pore", is_flag=True, help="Rock: pores are bright (default: dark).")
@click.option("--preview", type=click.Path(dir_okay=False), default=None, help="Also write a PNG preview.")
@click.option("--overwrite", is_flag=True)
def segment_cmd(
    gray, output, phases, kind, denoise_method, strength, method, manual, min_size, bright_pore, preview, overwrite
) -> None:
    """Segment a grey-level scan into a label image (rock: 1 = pore; cathode: 0/1/2)."""
    from microgen.io import check_output, read_volume, write_preview, write_volume
    from microgen.segment import segment

    check_output(output, overwrite=overwrite)
    if preview:
        check_output(preview, overwrite=overwrite, extensions=(".png",))
    kind = {"none": None}.get(kind, kind) if kind else ("rock" if phases == 2 else "cathode")
    res = segment(
        read_volume(gray),
        phases,
        kind=kind,
        denoise_method=denoise_method,
        strength=strength,
        method=method,
        thresholds=list(manual) or None,
        min_size=min_size,
        bright_pore=bright_pore,
    )
    write_volume(
        output,
        res.labels,
        metadata={
            "segmented_from": Path(gray).name,
            "thresholds": res.thresholds,
            "fractions": res.fractions,
            "kind": kind,
        },
        overwrite=overwrite,
    )
    if preview:
        write_preview(preview, res.labels, overwrite=overwrite)
    fr = ", ".join(f"label {k}: {v:.4f}" for k, v in res.fractions.items())
    click.echo(
        f"{output}: thresholds {[round(t, 2) for t in res.thresholds]}; fractions {fr}; "
        f"{res.changed_by_cleanup} voxels changed by clean-up"
    )


@main.command("validate")
@click.argument("generated", type=click.Path(dir_okay=False, exists=True))
@click.option("--reference", required=True, help="Pretrained model name (stored statistics) or a label volume.")
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False), help="Report folder.")
@click.option("--kind", type=click.Choice(["rock", "cathode"]), default=None, help="Default: from the labels.")
@click.option("--tolerance", default=PASS_RATIO, show_default=True, help="Pass when distance <= tolerance x spread.")
@click.option(
    "--transport/--no-transport",
    default=True,
    show_default=True,
    help="Compare the relative diffusivity of the pore phase (direct solve in 2D, TauFactor in 3D).",
)
@click.option("--n-reference", default=32, show_default=True, help="Crops per reference set (volume reference).")
def validate_cmd(generated, reference, out, kind, tolerance, transport, n_reference) -> None:
    """Validate generated images against a reference: report.html, report.json, figures.png."""
    import microgen

    report = microgen.validate(
        generated, reference, kind=kind, tolerance=tolerance, transport=transport, n_reference=n_reference
    )
    report.save(out)
    for r in report.rows:
        click.echo(
            f"  {r['metric']:26s} generated {r['generated']:9.4g}  real {r['real']:9.4g}  "
            f"distance {r['distance']:9.4g}  spread {r['spread']:9.4g}  ratio {r['ratio']:6.2f}  "
            f"{'pass' if r['passed'] else 'FAIL'}"
        )
    if "phase fractions" in report.info:
        click.echo(f"note: {report.info['phase fractions']}")
    click.echo(f"{'PASSED' if report.passed else 'NOT PASSED'}: report in {Path(out) / 'report.html'}")


def _comma_list(text, convert, hint: str, what: str, *, zero: bool = False):
    """``text`` ("1,1.03") as a tuple of ``convert``-ed values, each > 0 (>= 0 with ``zero``) and
    none repeated (None stays None); anything else is refused naming ``what``."""
    if text is None:
        return None
    try:
        values = tuple(convert(v) for v in text.split(","))
    except ValueError:
        values = ()
    low = (lambda v: np.all(np.asarray(v) >= 0)) if zero else (lambda v: np.all(np.asarray(v) > 0))
    if not values or len(set(values)) != len(values) or not all(low(v) for v in values):
        raise click.BadParameter(f"must be {what}, got {text!r}", param_hint=hint)
    return values


@main.command("export")
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--data", "data", multiple=True, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--kind", type=click.Choice(["rock", "cathode"]), required=True)
@click.option("--name", required=True, help="Model name (e.g. berea).")
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--size", default=128, show_default=True, help="Image size for reference statistics and fidelity.")
@click.option("--n-gen", default=16, show_default=True, help="Generated images for the fidelity table.")
@click.option(
    "--steps",
    default=DEFAULT_EVALUATIONS,
    show_default=True,
    help="Network evaluations per sample for calibration and fidelity; stored as the model's default.",
)
@click.option(
    "--tail",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Of those, one-hop steps at the end of the trapezoidal rule (one evaluation each; "
    "docs/method.md, Samplers); stored with the model. STEPS + TAIL must be even.",
)
@click.option("--source", default="", help="Data source/licence line for the card.")
@click.option("--notes", default="", help="Free text for the card.")
@click.option(
    "--calibrate/--no-calibrate",
    default=True,
    show_default=True,
    help="Choose the sampling sharpness and polish on training-block crops first (--no-calibrate keeps the run's).",
)
@click.option(
    "--calibration-size",
    default=None,
    help="Image side(s) for calibration, comma-separated (e.g. 128,256: each metric's ratio is the mean "
    "over the sizes) [default: --size].",
)
@click.option(
    "--calibration-n",
    default=16,
    show_default=True,
    help="Images (holes, for inpainting runs) per calibration candidate.",
)
@click.option(
    "--calibration-draws",
    default=4,
    show_default=True,
    help="Independent draws of training crops each calibration candidate is scored against (median "
    "ratio per metric; generation models).",
)
@click.option(
    "--calibration-reference",
    type=click.Choice(list(CALIBRATION_REFERENCES)),
    default="halves",
    show_default=True,
    help="Where calibration crops come from: one half of the training block against the other, or "
    "alternate slabs of it with 4x as many target crops (less lenient where the halves differ; "
    "generation models).",
)
@click.option(
    "--calibration-grid",
    default=None,
    help="Sharpness candidates, comma-separated; a candidate may give one value per particle phase "
    f"(1.15/1,1.1/1.05) [default: {','.join(f'{v:g}' for v in SHARPNESS_GRID)}; "
    "inpainting runs: 1,1.04,1.08,1.12].",
)
@click.option(
    "--calibration-smooth",
    default=None,
    help="Smoothing widths to calibrate, comma-separated, each a width in voxels or one per particle phase "
    "(cathode: 0,1,1.5/0) [default: 0, no smoothing; generation runs].",
)
@click.option(
    "--calibration-finish",
    type=(str, str, str),
    default=None,
    metavar="POLISH ISLANDS HOLES",
    help="Polish sweeps, island sizes and hole sizes to calibrate, each comma-separated (0,1 0 0,8) "
    "[default: 0,1,2 0,2,4,8 0,2,4,8; generation runs].",
)
@click.option(
    "--prior/--no-prior",
    default=True,
    show_default=True,
    help="Measure the data's large-scale spectra and sample from the spectral prior (--no-prior: uniform start).",
)
@click.option(
    "--protocol",
    type=(int, int),
    default=None,
    metavar="SIZE N",
    help="Also measure fidelity and speed with N generated SIZE² images against N held-out crops "
    "(the models' acceptance protocol: 256 32); a second table in the card.",
)
@click.option(
    "--protocol-draws",
    default=8,
    show_default=True,
    help="With --protocol: score the same images against this many independent draws of real crops "
    "(median and range in the card).",
)
@click.option(
    "--range-crops",
    default=None,
    help="Crop sides, comma-separated, whose training crops span the fraction range that generation warns "
    "outside of (e.g. 64,128 for a model trained at 64 and fine-tuned at 128) [default: the crop sides "
    "recorded in the model's training history].",
)
@click.option(
    "--min-side",
    type=int,
    default=None,
    help="Smallest image side the model is recommended for: generation warns below it and the card says so "
    "(for a model that reads worse on smaller images) [default: none].",
)
@click.option(
    "--hole",
    type=int,
    default=None,
    help="Inpainting runs (--holes): side of the square hole refilled in each --size crop [default: --size / 2].",
)
@click.option(
    "--compare",
    default=None,
    help="Inpainting runs: also fill the same holes with this generation model (e.g. berea) for the card.",
)
@THREADS_OPTION
def export_cmd(
    run,
    data,
    kind,
    name,
    out,
    size,
    n_gen,
    steps,
    tail,
    source,
    notes,
    calibrate,
    calibration_size,
    calibration_n,
    calibration_draws,
    calibration_reference,
    calibration_grid,
    calibration_smooth,
    calibration_finish,
    prior,
    protocol,
    protocol_draws,
    range_crops,
    min_side,
    hole,
    compare,
    threads,
) -> None:
    """Package a training run as a model directory with reference statistics and a card.

    A dedicated inpainting run (trained with --holes) gets a card with inpainting fidelity
    instead: holes in held-out crops, refilled with their real counts."""
    from microgen.engine import DSDModel
    from microgen.training.export import edge_warning, export_model
    from microgen.training.inpainting import INPAINT_SHARPNESS_GRID

    _use_threads(threads)
    grid = _comma_list(
        calibration_grid,
        check_sharpness,
        "--calibration-grid",
        "distinct comma-separated numbers > 0, each a number or one per particle phase (1.1/1)",
    )
    sizes = _comma_list(calibration_size, int, "--calibration-size", "distinct whole numbers > 0, comma-separated")
    range_crops = _comma_list(range_crops, int, "--range-crops", "distinct whole numbers > 0, comma-separated")
    from microgen.domains import get_kind

    finish_grids = _finish_grids(calibration_smooth, calibration_finish, len(get_kind(kind).particle_labels))
    inpainting = bool(DSDModel.load(run).meta.get("inpainting"))
    grid = grid or (INPAINT_SHARPNESS_GRID if inpainting else SHARPNESS_GRID)
    if inpainting and (range_crops or min_side is not None or finish_grids or tail):
        raise click.BadParameter(
            "--range-crops, --min-side, --calibration-smooth, --calibration-finish and --tail apply to generation "
            "runs, not to inpainting runs (trained with --holes)"
        )
    if inpainting:
        from microgen.training.inpainting import export_inpainting_model

        card = export_inpainting_model(
            Path(run),
            [Path(d) for d in data],
            kind,
            Path(out),
            name=name,
            size=size,
            hole=hole or size // 2,
            n=n_gen,
            steps=steps,
            source=source,
            notes=notes,
            compare=compare,
            calibrate=calibrate,
            calibration_grid=grid,
            calibration_n=calibration_n,
        )
        f = card["fidelity"]
        click.echo(
            f"wrote {out} (inpainting model): {card['weights_mb']} MB, worst inpainting fidelity ratio "
            f"{max(r['ratio'] for r in f['rows']):.2f}, {f['seconds_per_image']:.2f} s per {size}² crop"
        )
        return
    if hole is not None or compare is not None:
        raise click.BadParameter("--hole and --compare apply to inpainting runs (trained with --holes)")

    card = export_model(
        Path(run),
        [Path(d) for d in data],
        kind,
        Path(out),
        name=name,
        size=size,
        n_gen=n_gen,
        steps=steps,
        tail=tail,
        source=source,
        notes=notes,
        calibrate=calibrate,
        calibration_size=sizes,
        calibration_n=calibration_n,
        calibration_grid=grid,
        calibration_draws=calibration_draws,
        calibration_reference=calibration_reference,
        prior=prior,
        protocol=protocol,
        protocol_draws=protocol_draws,
        range_crops=range_crops,
        min_side=min_side,
        calibration_finishes=finish_grids,
    )
    worst = max(r["ratio"] for r in card["fidelity"]["rows"])
    edge = edge_warning(card["sampling"].get("calibration", {}))
    if edge:
        click.echo(f"warning: {edge}", err=True)
    click.echo(
        f"wrote {out}: {card['weights_mb']} MB, sharpness {format_sharpness(card['sampling']['sharpness'])}, "
        f"worst fidelity ratio {worst:.2f}, "
        f"{card['speed']['seconds_per_sample']:.2f} s/sample"
    )


def _finish_grids(smooth: str | None, finish, phases: int) -> dict:
    """``export``'s ``--calibration-smooth`` and ``--calibration-finish`` as keyword grids of
    :func:`~microgen.training.calibrate.calibrate_sampling` (only those given), for a kind with
    ``phases`` particle phases."""
    from microgen.engine.smooth import check_widths, parse_widths

    grids = {}
    if smooth is not None:
        grids["smooth_grid"] = _comma_list(
            smooth,
            lambda v: check_widths(parse_widths(v), phases),
            "--calibration-smooth",
            f"distinct comma-separated widths >= 0, each a number or one per particle phase ({phases})",
            zero=True,
        )
    if finish is not None:
        names = ("polish_grid", "island_grid", "hole_grid")
        for name, text, option in zip(names, finish, ("polish", "island", "hole")):
            grids[name] = _comma_list(
                text,
                int,
                "--calibration-finish",
                f"{option} values: distinct whole numbers >= 0, comma-separated",
                zero=True,
            )
    return grids


if __name__ == "__main__":  # pragma: no cover  (torchrun -m microgen.cli)
    main()
