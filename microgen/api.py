"""Domain-level generation: exact phase fractions in, segmented images out."""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from microgen.domains import get_kind, registry
from microgen.engine import DSDModel, sample
from microgen.engine.islands import check_max_size
from microgen.engine.polish import SWEEPS, check_sweeps
from microgen.engine.precision import resolve_precision
from microgen.engine.sampler import (
    DEFAULT_SAMPLER,
    batch_chunks,
    check_sharpness,
    format_sharpness,
    model_sampler,
    offsets_used,
    resolve_prior,
)
from microgen.engine.smooth import check_widths, parse_widths

log = logging.getLogger(__name__)


@dataclass
class Generation:
    """Images and how they were made (returned by :func:`generate`)."""

    images: np.ndarray
    counts: list
    seconds: float
    evaluations: int
    moved: list = field(default_factory=list)
    seed: int | None = None
    sampler: str = ""
    polish: int = 0
    swapped: list = field(default_factory=list)
    islands: int = 0
    dissolved: list = field(default_factory=list)
    holes: int = 0
    smooth: tuple = ()
    smoothed: list = field(default_factory=list)


def list_models() -> list[dict]:
    """Pretrained models: name, kind, task (generation or inpainting), phases, the phase-fraction
    range seen in training, training steps, default network evaluations per sample, the card's
    protocol summary (``"4 of 5"``: metrics whose median ratio over the reference draws is within
    1.5; empty where the card has no protocol), the smallest image side the model is recommended
    for (``min_side``, None for any side; generation warns below it) and status ("early preview"
    for previews)."""
    out = []
    for name in registry.available():
        card = registry.card(name)
        meta = json.loads((registry.resolve(name) / "config.json").read_text()).get("meta", {})
        out.append(
            {
                "name": name,
                "kind": meta.get("kind"),
                "task": "inpainting" if meta.get("inpainting") else "generation",
                "phases": meta.get("phases"),
                "training_range": card.get("fractions_range", {}),
                "min_side": meta.get("min_side"),
                "steps": card.get("training", {}).get("steps"),
                "evaluations": meta.get("sampling", {}).get("steps"),
                "protocol": _protocol_summary(card),
                "status": "early preview" if card.get("notes", "").startswith("EARLY PREVIEW") else "",
            }
        )
    return out


def _protocol_summary(card: dict) -> str:
    """``"4 of 5"``: the metrics (fractions excluded, the relative diffusivity included) whose ratio
    at the card's issue protocol is within 1.5, by the median over its reference draws where it has
    several; ``""`` if none."""
    from microgen.training.judge import protocol_score

    if not card.get("fidelity_issue_protocol"):
        return ""
    score = protocol_score(card, transport=True)
    return f"{score.within} of {len(score.medians)}"


def load_model(name_or_path, device: str = "auto", *, kind: str | None = None) -> DSDModel:
    """Load a pretrained model by name (see :func:`list_models`) or a model directory; with
    ``kind``, refuse a model of another material kind."""
    model = registry.load(name_or_path, device=_device(device))
    if kind is not None and model.meta.get("kind") != kind:
        raise ValueError(f"model {str(name_or_path)!r} is a {model.meta.get('kind')} model, not a {kind} model")
    return model


def _device(device) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn("CUDA is not available; generating on the CPU", stacklevel=3)
        return torch.device("cpu")
    return device


def _sharpness_by_phase(model: DSDModel, by_name: dict) -> tuple:
    """``{"active": 1.15, "binder": 1.0}`` as the per-channel tuple of ``model``'s particle phases;
    every particle phase needs a value and no other name is allowed."""
    names = get_kind(model.meta.get("kind", "rock")).channel_names
    if set(by_name) != set(names):
        raise ValueError(
            f"a sharpness by phase needs one value for each particle phase of this model "
            f"({', '.join(map(repr, names))}), got {', '.join(map(repr, by_name)) or 'none'}"
        )
    return tuple(by_name[name] for name in names)


def sampling_defaults(
    model: DSDModel,
    sharpness: float | tuple[float, ...] | dict | str | None = None,
    polish: int | None = None,
    islands: int | None = None,
    holes: int | None = None,
    smooth=None,
    *,
    calibrated: bool = True,
) -> tuple:
    """``(sharpness, polish, islands, holes, smooth)`` checked, each ``None`` replaced by the
    model's calibrated value (``meta["sampling"]``, written by ``microgen export``), else (or with
    ``calibrated=False``) 1 (rates as trained), :data:`~microgen.engine.polish.SWEEPS`, 0, 0 and
    no smoothing; ``smooth`` comes back as one width per particle phase."""
    if sharpness is None:
        sharpness = model.sharpness if calibrated else 1.0
    if isinstance(sharpness, dict):
        sharpness = _sharpness_by_phase(model, sharpness)
    if polish is None:
        polish = model.polish_sweeps if calibrated else SWEEPS
    if islands is None:
        islands = model.islands if calibrated else 0
    if holes is None:
        holes = model.holes if calibrated else 0
    if smooth is None:
        smooth = model.smooth if calibrated else 0.0
    if isinstance(smooth, str):
        smooth = parse_widths(smooth)
    return (
        check_sharpness(sharpness, model.channels),
        check_sweeps(polish),
        check_max_size(islands),
        check_max_size(holes, "hole size"),
        check_widths(smooth, model.channels),
    )


def reference_fractions(model, size: int, n: int | None = None) -> list[dict]:
    """Phase fractions of the held-out real crops stored with a model (``reference.json``), one
    dict per crop, first ``n`` (default all): pass them to :func:`generate` at ``size x size`` for
    a matched comparison with :func:`microgen.validate` (each image gets exactly its crop's counts).
    """
    meta = json.loads((registry.resolve(model) / "config.json").read_text()).get("meta", {})
    kind = get_kind(meta.get("kind", "rock"))
    ref = registry.reference(model, size)
    if n is not None and not (isinstance(n, int) and 1 <= n <= len(ref["counts"])):
        raise ValueError(f"n must be an integer from 1 to {len(ref['counts'])} (the stored crops), got {n!r}")
    counts = ref["counts"] if n is None else ref["counts"][:n]
    names = [kind.phases[int(code)] for code in ref["phases"]]
    return [{name: c / float(size * size) for name, c in zip(names, crop)} for crop in counts]


def exact_count(fraction: float, voxels: int) -> int:
    """``floor(fraction * voxels + 0.5)``: the voxel count microgen produces for a fraction."""
    return int(math.floor(fraction * voxels + 0.5))


def generate(
    model,
    fractions: dict,
    *,
    shape=(256, 256),
    n: int = 1,
    seed: int | None = None,
    device: str = "auto",
    sampler: str = DEFAULT_SAMPLER,
    steps: int | None = None,
    eps: float = 0.1,
    precision: str = "auto",
    polish: int | None = None,
    progress: bool = False,
    label=None,
    sharpness: float | tuple[float, ...] | dict | str | None = None,
    prior: str = "auto",
    islands: int | None = None,
    holes: int | None = None,
    offsets: str = "auto",
    smooth=None,
) -> Generation:
    """Generate ``n`` label images with exact phase counts.

    Parameters
    ----------
    model : DSDModel, pretrained name or model directory
    fractions : dict phase name -> fraction, for the model's particle phases (the background
        phase is the rest), or a list of such dicts (one per image; ``n`` is then its length).
        Each count is ``floor(f * voxels + 0.5)``.
    shape : spatial shape, any side of at least the network stride (8 for the shipped models)
    n : number of images (>= 1); they share each network evaluation
    seed : same seed, same output on the same device
    sampler : ``"trapezoidal"`` (second-order leaping, two evaluations per step, the default),
        ``"multistep"`` (second-order leaping, one evaluation per step), ``"poisson"`` (first
        order) or ``"binomial"`` (the paper's rule with CFL ``eps``: thousands of evaluations)
    steps : network evaluations per sample for the trapezoidal (even), multistep and Poisson
        samplers; ``None`` uses the model's (``DSDModel.sampling_steps``: the evaluations its
        sampling defaults were calibrated at, else 100)
    precision : network arithmetic, ``"auto"`` (bfloat16 where the device computes it natively),
        ``"float32"``, ``"bfloat16"`` or ``"float16"`` (CUDA)
    polish : sweeps of count-preserving speckle removal after sampling (0 = raw model output;
        see :func:`microgen.engine.polish.polish`); ``None`` uses the model's calibrated value
        (``sampling_defaults``)
    label : class of a class-conditioned model (name or index; one, or one per image)
    sharpness : exponent on the predicted rates (:func:`microgen.engine.sharpen`; 1 = as trained),
        or one per particle phase (``{"active": 1.15, "binder": 1.0}``, a sequence in channel
        order, or ``"1.15/1"``);
        ``None`` uses the model's calibrated value (``DSDModel.sharpness``, from its card)
    prior : law of the particles at the start of sampling: ``"spectral"`` (the data's large-scale
        density fluctuations stored with the model; what images larger than the training crops
        need), ``"uniform"``, or ``"auto"`` (spectral where the model stores it)
    islands : after the polish, dissolve islands of each particle phase with at most this many
        voxels, keeping every count (:func:`microgen.engine.islands.dissolve`; 0 = off); ``None``
        uses the model's calibrated value
    holes : then fill the holes of the particle phases (face-connected islands of the background
        phase, e.g. grain specks inside a pore) with at most this many voxels, the same way;
        ``None`` uses the model's calibrated value
    offsets : ``"stride"`` rolls the image by a different offset of the network's stride cell at
        each step, so no faint grid of the stride (8 voxels) prints; ``"fixed"`` holds the grid
        still; ``"auto"`` (default) does what the model's sampling defaults were calibrated with
        (``stride`` for models exported since session 21, e.g. ``berea``)
    smooth : width in voxels of one count-preserving threshold-dynamics step right after sampling,
        before the polish (:func:`microgen.engine.smooth.smooth`: rounds particles, cuts thin
        spurs; 0 = off), one for every particle phase or one per phase (a sequence in channel
        order, or ``"1.5/0"``); ``None`` uses the model's calibrated value
    """
    model = _generation_model(model, device)
    used = offsets_used(model, offsets)
    sharpness, polish, islands, holes, smooth = sampling_defaults(model, sharpness, polish, islands, holes, smooth)
    prior = resolve_prior(model, prior)
    kind = get_kind(model.meta.get("kind", "rock"))
    names = kind.channel_names
    per_image = list(fractions) if isinstance(fractions, (list, tuple)) else None
    if per_image is not None:
        if not per_image:
            raise ValueError("fractions list is empty")
        n = len(per_image)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    shape = model.check_shape(shape)
    _warn_below_min_side(model, shape)
    voxels = int(np.prod(shape))
    totals = []
    for frac in per_image or [fractions]:
        _check_fractions(frac, names, kind)
        _warn_outside_range(model, frac)
        totals.append([exact_count(frac[p], voxels) for p in names])
    if per_image is None:
        totals = totals * n
    step_rule = model_sampler(model, sampler, steps, eps)
    precision = resolve_precision(precision, model.device)
    gen, seed = _generator(model, seed)
    res, seconds = _run(
        model,
        totals,
        shape,
        step_rule,
        gen,
        progress=progress,
        label=label,
        precision=precision,
        polish=polish,
        islands=islands,
        holes=holes,
        smooth=smooth,
        sharpness=sharpness,
        prior=prior,
        offsets=offsets,
    )
    images = kind.to_labels(res.labels)
    counts = [dict(zip(names, t)) for t in totals]
    return Generation(
        images,
        counts,
        seconds,
        res.evaluations,
        res.moved.tolist(),
        seed,
        f"{step_rule!r}, {precision}, sharpness {format_sharpness(sharpness)}, prior {prior}, {used} offsets",
        polish,
        res.swapped.tolist(),
        islands,
        res.dissolved.tolist(),
        holes,
        smooth,
        res.smoothed.tolist(),
    )


def generate_counts(
    model,
    totals,
    *,
    shape,
    n: int = 1,
    label=None,
    seed: int | None = None,
    device: str = "auto",
    sampler: str = DEFAULT_SAMPLER,
    steps: int | None = None,
    eps: float = 0.1,
    precision: str = "auto",
) -> Generation:
    """Intensity images (many particles per pixel, e.g. grey levels) with exact totals.

    ``totals``: the number of particles of each channel per image, ``(C,)`` or ``(n, C)``, or
    one int for a one-channel model. Returns a :class:`Generation` whose ``images`` are the
    particle counts ``(n, C, *shape)``; ``images[b, c].sum() == totals[b][c]`` exactly.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    model = _generation_model(model, device)
    arr = np.asarray(totals)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 1:
        arr = np.repeat(arr[None], n, axis=0)
    shape = model.check_shape(shape)
    step_rule = model_sampler(model, sampler, steps, eps)
    precision = resolve_precision(precision, model.device)
    gen, seed = _generator(model, seed)
    res, seconds = _run(model, arr, shape, step_rule, gen, label=label, exclusive=False, precision=precision)
    return Generation(res.counts, arr.tolist(), seconds, res.evaluations, [], seed, f"{step_rule!r}, {precision}")


def _model_on(model, device) -> DSDModel:
    if not isinstance(model, DSDModel):
        return load_model(model, device)
    return model.to(_device(device))


def _generation_model(model, device) -> DSDModel:
    """:func:`_model_on`, refusing dedicated inpainting models (trained on holes in a clean
    context, they never learnt to build a whole image)."""
    model = _model_on(model, device)
    if model.meta.get("inpainting"):
        raise ValueError(
            f"model {model.meta.get('name', '')!r} is a dedicated inpainting model: use microgen.inpaint "
            "(or `microgen inpaint`) with it, and a generation model (e.g. berea, ketton, nmc) here"
        )
    return model


def class_labels(model: DSDModel, label, n: int) -> torch.Tensor | None:
    """Class indices ``(n,)`` for a class-conditioned model from names or indices (one, or one per
    image); ``None`` asks for any class (models trained with label dropout)."""
    classes = model.meta.get("classes")
    if not model.network_config.num_classes:
        if label is not None:
            raise ValueError("this model is not class-conditioned: leave label out")
        return None
    if label is None:
        return model.default_label(n)
    items = list(label) if isinstance(label, (list, tuple, np.ndarray)) else [label] * n
    if len(items) != n:
        raise ValueError(f"give one label, or one per image ({n}), got {len(items)}")
    out = []
    for item in items:
        if isinstance(item, str) and item in classes:
            out.append(classes.index(item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < len(classes):
            out.append(int(item))
        else:
            raise ValueError(f"unknown class {item!r}; classes of this model: {classes} (or their indices)")
    return torch.as_tensor(out, dtype=torch.long, device=model.device)


def _generator(model, seed: int | None) -> tuple[torch.Generator, int]:
    """A generator on the model's device seeded with ``seed`` (a fresh seed when None)."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    return torch.Generator(device=model.device).manual_seed(int(seed)), int(seed)


def _run(model, totals, shape, step_rule, generator, *, progress=False, label=None, **options):
    """Sample with ``step_rule`` and ``generator``; returns (SampleResult, seconds)."""
    labels = class_labels(model, label, len(totals))
    start = time.perf_counter()
    callback = None
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("sampling", total=float(len(batch_chunks(len(totals), shape, model.device))))
        last = {"t": 1.0, "done": 0}

        def callback(t, evaluations):
            if t > last["t"]:  # the next chunk of the batch starts again from t = 1
                last["done"] += 1
            last["t"] = t
            bar.update(task, completed=last["done"] + 1.0 - t)

    try:
        res = sample(
            model, totals, shape, sampler=step_rule, generator=generator, callback=callback, label=labels, **options
        )
    finally:
        if bar is not None:
            bar.stop()
    return res, time.perf_counter() - start


def _check_fractions(fractions: dict, names: list, kind, *, closed: bool = False) -> None:
    """Validate a dict phase -> fraction for the particle phases ``names`` of ``kind``.

    Whole images (``closed=False``) need every fraction in the open interval (0, 1) and a sum
    below 1, so every phase, the background included, is present; a region (``closed=True``,
    inpainting) may be all one phase: fractions in [0, 1], sum at most 1.
    """
    if not isinstance(fractions, dict):
        raise ValueError(f"fractions must be a dict phase -> fraction, e.g. {dict.fromkeys(names, 0.2)}")
    unknown = set(fractions) - set(names)
    if unknown:
        raise ValueError(f"unknown phase(s) {sorted(unknown)} for a {kind.name} model; phases: {names}")
    missing = [p for p in names if p not in fractions]
    if missing:
        raise ValueError(f"give a fraction for every phase of {names} (missing {missing})")
    interval = "[0, 1]" if closed else "the open interval (0, 1)"
    for p in names:
        f = fractions[p]
        number = not isinstance(f, bool) and isinstance(f, (int, float)) and math.isfinite(f)
        if not number or not (0.0 <= f <= 1.0 if closed else 0.0 < f < 1.0):
            raise ValueError(f"fraction of {p} must be in {interval}, got {f!r}")
    total = sum(fractions[p] for p in names)
    if total > 1.0 or (total >= 1.0 and not closed):
        bg = kind.phases[kind.background]
        limit = "<= 1" if closed else f"< 1; the {bg} phase needs the rest"
        raise ValueError(f"fractions {fractions} sum to {'> 1' if closed else '>= 1'} (sum must be {limit})")


def _warn_outside_range(model, fractions) -> None:
    ranges = model.meta.get("fractions_range", {})
    for p, f in fractions.items():
        if p in ranges:
            lo, hi = ranges[p]
            if not lo <= f <= hi:
                warnings.warn(
                    f"{p} fraction {f} is outside the training range [{lo:.3f}, {hi:.3f}] of this model; "
                    "the structure may be less realistic",
                    stacklevel=3,
                )


def _warn_below_min_side(model, shape) -> None:
    side = model.meta.get("min_side")
    if side and min(shape) < side:
        warnings.warn(
            f"model {model.meta.get('name', '')!r} is recommended for images with every side >= {side} "
            f"voxels; got shape {tuple(shape)}, where its card measures it farther from the data",
            stacklevel=3,
        )


def generate_rock(
    porosity: float,
    *,
    rock: str = "berea",
    shape=(256, 256),
    n: int = 1,
    seed: int | None = None,
    device: str = "auto",
    progress: bool = False,
    **sampler_options,
) -> np.ndarray:
    """Rock images with exactly ``floor(porosity * voxels + 0.5)`` pore voxels.

    Returns uint8 ``(n, *shape)``: 1 = pore, 0 = grain.

    >>> import microgen
    >>> img = microgen.generate_rock(0.2, shape=(64, 64), seed=0, steps=20)   # doctest: +SKIP
    >>> int(img.sum()) == round(0.2 * 64 * 64)                               # doctest: +SKIP
    True
    """
    model = load_model(rock, device, kind="rock")
    return generate(
        model, {"pore": porosity}, shape=shape, n=n, seed=seed, device=device, progress=progress, **sampler_options
    ).images


def generate_cathode(
    fractions: dict,
    *,
    model: str = "nmc",
    shape=(256, 256),
    n: int = 1,
    seed: int | None = None,
    device: str = "auto",
    progress: bool = False,
    **sampler_options,
) -> np.ndarray:
    """Cathode images with exact active-material and binder counts; pore is the rest.

    Returns uint8 ``(n, *shape)``: 0 = pore, 1 = active, 2 = binder.
    """
    m = load_model(model, device, kind="cathode")
    return generate(
        m, fractions, shape=shape, n=n, seed=seed, device=device, progress=progress, **sampler_options
    ).images
