"""Turn a training run into a shippable model directory: weights, config, reference statistics
of the training data and a model card with measured fidelity and speed."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from microgen.domains import get_kind
from microgen.engine import DSDModel, sample
from microgen.engine.polish import SWEEPS
from microgen.engine.precision import resolve_precision
from microgen.engine.prior import SpectralPrior
from microgen.engine.sampler import (
    DEFAULT_EVALUATIONS,
    DEFAULT_SAMPLER,
    batch_chunks,
    check_sharpness,
    format_sharpness,
    make_sampler,
    model_sampler,
    offsets_used,
    resolve_prior,
)
from microgen.engine.smooth import format_widths
from microgen.io import read_volume
from microgen.metrics import (
    PASS_RATIO,
    crop_axes,
    describe,
    descriptors_to_json,
    fidelity_table,
    random_crops,
    reference_sets,
)

from .calibrate import (
    SHARPNESS_GRID,
    calibrate_sampling,
    check_reference,
    check_sizes,
    finishes,
    parse_finish,
    split_smooth,
)
from .data import fraction_summary, split_holdout
from .trainer import training_crops

REFERENCE = "reference.json"


def fraction_stats(volume: np.ndarray, codes, crop: int, n: int, rng) -> dict:
    """Per-phase fraction mean, sigma, min and max over ``n`` random ``crop``-sized 2D crops."""
    crops = random_crops(volume, n, crop, rng)
    return {int(code): fraction_summary([np.mean(c == code) for c in crops]) for code in codes}


def fraction_ranges(volume: np.ndarray, mat, stats: dict, crop: int, crops, seed: int, n: int = 1000) -> dict:
    """Per-phase [min, max] fraction over the crops of every side in ``crops`` (the training history:
    a model fine-tuned on larger crops has still seen the wider range of its smaller ones);
    ``stats`` are those already measured at ``crop``, the other sides get their own generators."""
    per_side = [stats] + [
        fraction_stats(volume, mat.particle_labels, side, n, np.random.default_rng([seed, side]))
        for side in crops
        if side != crop
    ]
    return {mat.phases[c]: [min(s[c]["min"] for s in per_side), max(s[c]["max"] for s in per_side)] for c in stats}


def reference_statistics(
    train: np.ndarray, held: np.ndarray, phases, size: int, n: int, rng, diffusivity: int | None = None
) -> dict:
    """Descriptors of ``n`` held-out crops (set A) and of ``n`` training-block crops matched to them
    in fractions (set B, the natural spread), at ``size x size``; with ``diffusivity`` (a phase
    code) also that phase's relative diffusivity along axis 0 per crop."""
    a, b = reference_sets(held, train, n, size, phases, rng)
    return {
        "size": size,
        "phases": list(phases),
        "n": n,
        "A": descriptors_to_json(describe(a, phases, diffusivity=diffusivity)),
        "B": descriptors_to_json(describe(b, phases, diffusivity=diffusivity)),
        "counts": [[int((im == p).sum()) for p in phases] for im in a],
    }


#: side and number of the training-block crops the large-scale spectra are measured on
PRIOR_CROP = 256
PRIOR_CROPS = 64


def measure_prior(train: np.ndarray, phases, r: float, seed: int = 0) -> SpectralPrior | None:
    """The data's large-scale spectra (:class:`~microgen.engine.prior.SpectralPrior`) from
    ``PRIOR_CROPS`` training-block crops of the largest side up to ``PRIOR_CROP`` that fits;
    ``None`` for a volume too small for 32-voxel crops."""
    sides = [s for s in range(PRIOR_CROP, 31, -32) if crop_axes(train.shape, s)]
    if not sides:
        return None
    crops = random_crops(train, PRIOR_CROPS, sides[0], np.random.default_rng(seed + 1))
    return SpectralPrior.estimate(crops, phases, r=r)


def export_model(
    run: Path,
    data: list[Path],
    kind: str,
    out: Path,
    *,
    name: str,
    holdout: float = 0.2,
    size: int = 128,
    reference_sizes: tuple[int, ...] = (128, 256),
    n_ref: int = 32,
    n_gen: int = 16,
    steps: int = DEFAULT_EVALUATIONS,
    tail: int = 0,
    polish: int | None = None,
    seed: int = 0,
    source: str = "",
    notes: str = "",
    calibrate: bool = True,
    calibration_size: int | Sequence[int] | None = None,
    calibration_n: int = 16,
    calibration_grid=SHARPNESS_GRID,
    calibration_draws: int = 4,
    calibration_reference: str = "halves",
    prior: bool = True,
    protocol: tuple[int, int] | None = None,
    protocol_draws: int = 8,
    range_crops: Sequence[int] | None = None,
    min_side: int | None = None,
    calibration_finishes: dict | None = None,
) -> dict:
    """Write ``out`` (model + ``reference.json`` + ``card.json``/``card.md``) from training run ``run``.

    Reference statistics are stored for ``size`` and every ``reference_sizes`` entry that the
    held-out block can be cropped at; fidelity is measured at ``size``, after ``polish`` sweeps
    (what users get by default) and on the raw sampler output.

    With ``calibrate``, the sampling sharpness and polish sweeps are first chosen on training-block
    crops of ``calibration_size`` (default ``size``; several sizes: each metric's ratio is the mean
    over them; :func:`~microgen.training.calibrate.calibrate_sampling`, each metric's ratio the
    median over ``calibration_draws`` draws of training crops, drawn as ``calibration_reference``
    says: :func:`~microgen.training.calibrate.calibration_references`) and stored with the model, so users
    get them by default; without, the run's stored values (if any) are kept. ``polish=None``
    measures fidelity with the model's value (calibrated, stored, else ``SWEEPS``).

    With ``prior``, the data's large-scale spectra are measured on training-block crops
    (:func:`measure_prior`) and stored first, so calibration, fidelity and users sample from the
    spectral prior (:mod:`microgen.engine.prior`).

    ``protocol=(side, n)`` measures fidelity and speed a second time with ``n`` generated images of
    ``side``² against held-out crops of that size (the acceptance protocol of the rock and cathode
    models: 32 x 256²), stored as the card's ``fidelity_issue_protocol`` and
    ``speed_issue_protocol``; the same generated images are also scored against ``protocol_draws``
    independent draws of held-out and training crops (the first is the table's), stored as the
    table's ``draws`` (every metric's ratio per draw; the card shows the median and range).

    The phase fractions' mean and sigma on the card are measured on training crops of the run's
    crop side; the range that generation warns outside of (``fractions_range``) is the union over
    ``range_crops`` [default: every crop side of the model's recorded training history].

    ``min_side``: the smallest image side the model is recommended for (stored as
    ``meta["min_side"]``; generation warns below it and the card says so), where a model reads
    worse on smaller images than its card's sizes; :func:`relabel` sets it on an exported model.

    ``tail``: one-hop steps at the end of the trapezoidal rule, out of ``steps`` evaluations
    (:class:`~microgen.engine.sampler.TrapezoidalLeaping`); stored with the model before the
    calibration, so it is chosen, measured and used by default with them.

    ``calibration_finishes``: other finish grids for the calibration, by the keyword names of
    :func:`~microgen.training.calibrate.calibrate_sampling` (``smooth_grid``, ``polish_grid``,
    ``island_grid``, ``hole_grid``); the module's grids where absent."""
    if calibrate and calibration_draws < 1:
        raise ValueError(f"calibration draws must be >= 1, got {calibration_draws}")
    make_sampler(DEFAULT_SAMPLER, steps, tail=tail)  # refuses a bad budget before the long work
    if calibrate:
        check_reference(calibration_reference)
    rng = np.random.default_rng(seed)
    mat = get_kind(kind)
    model = DSDModel.load(run)
    min_side = check_min_side(min_side, model)
    labels = read_volume(data[0])
    train, held = split_holdout(labels, holdout)
    crop = int(model.meta.get("training", {}).get("config", {}).get("crop", 64))
    stats = fraction_stats(train, mat.particle_labels, crop, 1000, rng)
    range_crops = sorted({crop, *(range_crops or training_crops(model.meta.get("training", {})))})
    if not all(s > 0 and crop_axes(train.shape, s) for s in range_crops):
        raise ValueError(
            f"range crops {range_crops} must be sides > 0 that the training block {train.shape} can be cropped at"
        )
    ranges = fraction_ranges(train, mat, stats, crop, range_crops, seed)
    phases = list(mat.particle_labels)
    if protocol is not None:  # refused before the long calibration, not after it
        if protocol[1] < 1 or not crop_axes(held.shape, protocol[0]):
            raise ValueError(
                f"protocol needs N >= 1 and a SIZE the held-out block {held.shape} can be cropped at, "
                f"got {protocol[0]} {protocol[1]}"
            )
        model.check_shape((protocol[0],) * 2)
        if protocol_draws < 1:
            raise ValueError(f"protocol draws must be >= 1, got {protocol_draws}")
    if calibrate:  # likewise
        check_sizes(calibration_size or size, model)
    crops = {s: n_ref for s in (size, *reference_sizes) if s == size or crop_axes(held.shape, s)}
    if protocol is not None:
        crops[protocol[0]] = max(n_ref, protocol[1])
    sets = [
        reference_statistics(train, held, phases, s, n, reference_rng(seed, s), diffusivity=mat.transport_phase)
        for s, n in crops.items()
    ]
    ref = sets[0]
    if prior and model.ndim == 2:  # measured on 2D crops
        measured = measure_prior(train, phases, model.r, seed)
        if measured is not None:
            model.meta["prior"] = measured.to_dict()
    model.stride_offsets = True  # calibrate, measure and sample with the stride cell's offsets
    sampling = model.meta.setdefault("sampling", {})  # likewise with this one-hop tail (0: none)
    if tail:
        sampling["tail"] = tail
    else:
        sampling.pop("tail", None)
    if calibrate:
        cal = calibrate_sampling(
            model,
            train,
            mat,
            size=calibration_size or size,
            n=calibration_n,
            grid=calibration_grid,
            steps=steps,
            seed=seed,
            draws=calibration_draws,
            reference=calibration_reference,
            **(calibration_finishes or {}),
        )
        model.meta["sampling"].update(
            {
                "steps": steps,  # what the defaults were chosen at, so also the default evaluations
                "sharpness": cal["sharpness"],
                "polish": cal["polish"],
                "islands": cal["islands"],
                "holes": cal["holes"],
                "smooth": cal["smooth"],
                "calibration": {k: v for k, v in cal.items() if not k.startswith("ratios")},  # per metric: card only
            }
        )
    if polish is None:
        polish = model.polish_sweeps
    finish = (polish, model.islands, model.holes, model.smooth)
    fidelity, speed, _ = _measure(model, mat, train, ref, n_gen, steps, finish, seed, n_ref, rng)
    extra = {}
    if protocol is not None:
        at = next(r for r in sets if r["size"] == protocol[0])
        table, extra["speed_issue_protocol"], got = _measure(
            model, mat, train, at, protocol[1], steps, finish, seed, n_ref, rng
        )
        table["draws"] = _draw_ratios(got, table, train, held, phases, seed, protocol_draws, mat)
        extra["fidelity_issue_protocol"] = table
    model.meta.update({"name": name, "kind": mat.name, "fractions_range": ranges, "min_side": min_side})
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    (out / REFERENCE).write_text(json.dumps({"sets": sets}))
    training = model.meta.get("training", {})
    card = {
        "name": name,
        "kind": mat.name,
        "phases": {str(k): v for k, v in mat.phases.items()},
        "source": source,
        "data": model.meta.get("data"),
        "notes": notes,
        "training": training_summary(training),
        "training_config": training.get("config"),
        "fractions_training_crops": {mat.phases[c]: s for c, s in stats.items()},
        "fractions_range": ranges,
        "fractions_range_crops": range_crops,
        "min_side": min_side,
        "sampling": {
            **model.meta.get("sampling", {"sharpness": model.sharpness}),
            **({"calibration": cal} if calibrate else {}),
            "prior": _prior_summary(model.spectral_prior),
        },
        "fidelity": fidelity,
        "speed": speed,
        "weights_mb": round((out / "model.safetensors").stat().st_size / 2**20, 2),
        "network": {**model.network_config.to_dict(), "parameters": sum(p.numel() for p in model.parameters())},
        **extra,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2))
    (out / "card.md").write_text(card_markdown(card))
    return card


def check_min_side(min_side, model: DSDModel) -> int | None:
    """``min_side`` as a plain int (JSON-safe), or None; ``ValueError`` unless it is None or a
    whole number the model can generate at (at least its network stride)."""
    if min_side is None:
        return None
    stride = model.network_config.stride
    whole = isinstance(min_side, (int, np.integer)) and not isinstance(min_side, bool)
    if not whole or min_side < stride:
        raise ValueError(f"min side must be an integer >= the network stride ({stride}), got {min_side!r}")
    return int(min_side)


def relabel(model_dir: Path, *, name: str | None = None, notes: str | None = None, min_side=None) -> dict:
    """Rename an exported model, replace its card's notes or set its recommended minimum side
    (``min_side``; 0 removes it) without measuring anything again: updates ``config.json``'s meta
    and ``card.json`` and rewrites ``card.md``. Returns the card."""
    from microgen.training.inpainting import inpainting_card_markdown

    model_dir = Path(model_dir)
    model = DSDModel.load(model_dir)
    card = json.loads((model_dir / "card.json").read_text())
    inpainting = card.get("task") == "inpainting"
    if inpainting and min_side is not None:
        raise ValueError("a minimum side applies to generation models, not to inpainting models")
    if min_side is not None:
        side = check_min_side(None if min_side == 0 else min_side, model)
        model.meta["min_side"] = card["min_side"] = side
    if name is not None:
        model.meta["name"] = card["name"] = name
    if notes is not None:
        card["notes"] = notes
    model.save(model_dir)
    (model_dir / "card.json").write_text(json.dumps(card, indent=2))
    (model_dir / "card.md").write_text((inpainting_card_markdown if inpainting else card_markdown)(card))
    return card


def reference_rng(seed: int, size: int, draw: int = 0) -> np.random.Generator:
    """The crop generator of the reference set of ``size``: its own stream, so the set (and with it a
    card's fidelity table at that size) is the same whatever other sizes an export stores, and cards
    of different exports with one seed are compared on the same held-out crops. ``draw`` > 0: the
    further, independent draws of the protocol (:func:`_draw_ratios`)."""
    return np.random.default_rng([seed, size] if draw == 0 else [seed, size, draw])


def _measure(model, mat, train, ref: dict, n: int, steps: int, finish, seed: int, n_ref: int, rng):
    """The card's ``fidelity`` and ``speed`` entries: ``n`` images generated at the pore (phase)
    counts of the held-out crops of reference set ``ref`` (its ``size``), finished with
    ``finish = (polish, islands, holes, smoothing widths)``, scored against those crops, beside the raw sampler
    output and (two-phase media) tuned Gaussian blobs; third, the descriptors of the finished
    images (:func:`_draw_ratios` scores them again)."""
    from microgen.metrics.fidelity import descriptors_from_json, subset

    polish, islands, holes, widths = finish
    size, phases = ref["size"], list(mat.particle_labels)
    totals = ref["counts"][:n]
    start = time.perf_counter()
    rule, precision = model_sampler(model, DEFAULT_SAMPLER, steps), resolve_precision("auto", model.device)
    res = sample(
        model,
        totals,
        (size, size),
        sampler=rule,
        precision=precision,
        generator=torch.Generator(device=model.device).manual_seed(seed),
    )
    raw = mat.to_labels(res.labels)
    _, gen = next(
        finishes(
            list(raw),
            phases,
            [polish],
            [islands],
            model.process.boundary,
            seed,
            hole_grid=[holes],
            kind=mat,
            smooth_grid=[widths],
        )
    )
    seconds = time.perf_counter() - start
    n = len(totals)  # compare with the held-out crops the samples were matched to
    ref_a, ref_b = (subset(descriptors_from_json(ref[k]), n) for k in ("A", "B"))
    got = describe(gen, phases, diffusivity=mat.transport_phase)
    rows = _table(got, ref_a, ref_b, phases, mat.transport_phase)
    finished = polish or islands or holes or any(widths)
    raw_rows = _table(list(raw), ref_a, ref_b, phases, mat.transport_phase) if finished else rows
    fidelity = {
        "size": size,
        "generated": n,
        "reference_crops": ref["n"],
        "sampler": f"{rule!r}, {precision}, sharpness {format_sharpness(model.sharpness)}, "
        f"prior {resolve_prior(model)}, {offsets_used(model, 'auto')} offsets",
        "polish": polish,
        "islands": islands,
        "holes": holes,
        "smooth": list(widths),
        "rows": rows,
        "raw_rows": raw_rows,
        "baseline": _blobs_baseline(mat, train, totals, size, n_ref, ref_a, ref_b, rng),
    }
    first = batch_chunks(n, (size, size), model.device)[0]
    speed = {
        "device": f"CPU {platform.machine()} x{torch.get_num_threads()} threads",
        "batch": first.stop - first.start,  # images per network call
        "size": size,
        "seconds_per_sample": seconds / n,
        "evaluations": res.evaluations,
        "collision_moved_fraction": float(res.moved.sum() / max(1, np.sum(totals))),
    }
    return fidelity, speed, got


def _draw_ratios(got, table: dict, train, held, phases, seed: int, draws: int, mat) -> dict:
    """Every metric's ratio for the generated images of fidelity ``table`` (their descriptors
    ``got``) against ``draws`` independent draws of held-out crops (set A) and training crops (set B,
    the natural spread); draw 0 is the table's ``rows`` (the set of :func:`reference_rng`), draw d > 0
    that of ``reference_rng(seed, size, d)``. One draw's spread is itself a noisy estimate
    (``benchmarks/reference_draws.py``), so the median tells more."""
    from microgen.metrics.fidelity import descriptors_from_json

    size, n = table["size"], table["generated"]
    ratios = {r["metric"]: [r["ratio"]] for r in table["rows"]}
    for d in range(1, draws):
        rng = reference_rng(seed, size, d)
        ref = reference_statistics(train, held, phases, size, n, rng, diffusivity=mat.transport_phase)
        ref_a, ref_b = (descriptors_from_json(ref[k]) for k in ("A", "B"))
        for r in _table(got, ref_a, ref_b, phases, mat.transport_phase):
            if r["metric"] in ratios:
                ratios[r["metric"]].append(r["ratio"])
    return {"n": draws, "ratios": {m: v for m, v in ratios.items() if len(v) == draws}}


def training_summary(training: dict) -> dict:
    """The card's training line from a model's ``meta["training"]``; a run continued from another
    model (init_from) counts the earlier training too."""
    return {
        "steps": training.get("total_steps", training.get("steps")),
        "wall_time_s": training.get("total_wall_time_s", training.get("wall_time_s")),
        "hardware": training.get("hardware"),
        "precision": training.get("precision", "float32"),
        "initialised_from": training.get("initialised_from"),
    }


def _table(images, ref_a, ref_b, phases, transport_phase) -> list[dict]:
    """Fidelity rows, with the relative diffusivity of ``transport_phase`` where the real blocks
    show a spread in it (Berea's 2D pore space almost never percolates: no spread, no row)."""
    rows = fidelity_table(images, ref_a, ref_b, phases, diffusivity=transport_phase)
    return [r for r in rows if not (r["metric"].startswith("relative_diffusivity") and r["spread"] == 0)]


def _blobs_baseline(mat, train, totals, size, n_tune, ref_a, ref_b, rng) -> dict | None:
    """Fidelity of Gaussian blobs (porespy's recipe) at the same pore counts as the generated
    images, with the blobiness tuned on training-block crops; two-phase media only."""
    if len(mat.particle_labels) != 1:
        return None
    from microgen.metrics.baselines import tuned_blobs

    images, blobiness, scores = tuned_blobs(train, totals, size, mat.particle_labels[0], mat.background, n_tune, rng)
    rows = _table(images, ref_a, ref_b, list(mat.particle_labels), mat.transport_phase)
    return {"name": "blobs", "blobiness": blobiness, "tuning_two_point_distance": scores, "rows": rows}


def _fmt(value) -> str:
    """A summary value for the card table ('–' where an older card holds none)."""
    return "–" if value is None else f"{value:.4g}"


def _prior_summary(prior: SpectralPrior | None) -> dict | None:
    return {"crop": prior.crop, "crops": PRIOR_CROPS, "bins": len(prior.freqs)} if prior else None


def finish_text(settings: dict) -> str:
    """The finish of a card's ``sampling`` or ``fidelity`` dict: ``"polish 2 sweeps"``, ``"polish 2
    sweeps, islands <= 8 dissolved, holes <= 4 filled"``... (older cards: no islands or holes)."""
    islands, holes = settings.get("islands", 0), settings.get("holes", 0)
    widths = settings.get("smooth") or [0.0]
    return (
        (f"smoothing width {format_widths(widths)} voxels, then " if any(widths) else "")
        + f"polish {settings.get('polish', SWEEPS)} sweeps"
        + (f", islands <= {islands} dissolved" if islands else "")
        + (f", holes <= {holes} filled" if holes else "")
    )


#: how a card explains the columns of its calibration table
FINISH_LEGEND = "pN iK hM: N polish sweeps, then islands of up to K voxels dissolved, then holes of up to M filled"
#: the legend of a calibration table that tried smoothing widths
SMOOTH_LEGEND = "sW " + FINISH_LEGEND.replace(": N polish", ": smoothing of width W (if any), then N polish", 1)


def _sampling_markdown(sampling: dict) -> list[str]:
    """The card's calibration section (empty for cards written before calibration existed)."""
    if not sampling:
        return []
    lines = [
        "",
        "## Sampling defaults",
        "",
        f"Sharpness {format_sharpness(sampling['sharpness'])} (exponent on the rates; 1 = as trained"
        + ("; one per particle phase" if isinstance(sampling["sharpness"], (list, tuple)) else "")
        + "), "
        + finish_text(sampling)
        + ".",
    ]
    if sampling.get("steps"):
        lines[-1] += f" {sampling['steps']} network evaluations per sample"
        if sampling.get("tail"):
            lines[-1] += f", the last {sampling['tail']} of them one-hop steps (trapezoidal rule with a one-hop tail)"
        lines[-1] += "."
    if sampling.get("offsets") == "stride":
        lines[-1] += " The sampler rolls the image by each offset of the network's stride cell in turn, one per step."
    prior = sampling.get("prior")
    if prior:
        lines[-1] += (
            f" Start law: spectral prior (the training data's large-scale density spectra, measured on "
            f"{prior['crops']} training-block crops of {prior['crop']}², {prior['bins']} frequency bins; "
            "docs/method.md)."
        )
    cal = sampling.get("calibration")
    if cal:
        lines[-1] += (
            f" Chosen on {cal['n']} generated {_sides(cal['size'])} images ({cal['steps']} evaluations) against "
            f"{cal['data']}"
            + (f", each metric's ratio the median over {cal['draws']} draws" if cal.get("draws", 1) > 1 else "")
            + (" and the mean over the sizes" if isinstance(cal["size"], list) else "")
            + f"; mean fidelity ratio of each combination (lower is better; {_legend(cal['scores'])}):"
        )
        lines += ["", *calibration_table(cal["scores"])]
        edge = edge_warning(cal)
        if edge:
            lines += ["", edge]
    return lines


def _legend(scores: dict) -> str:
    smoothed = any(key.startswith("s") for by_finish in scores.values() for key in by_finish)
    return SMOOTH_LEGEND if smoothed else FINISH_LEGEND


def edge_warning(cal: dict) -> str | None:
    """The card's (and the CLI's) warning when a calibration chose an end of its sharpness grid
    (:func:`~microgen.training.calibrate.grid_edge`); None otherwise and for older cards."""
    edge = cal.get("edge")
    if not edge:
        return None
    beyond = "above" if edge == "highest" else "below"
    values = [check_sharpness(k) for k in cal["scores"]]
    if all(isinstance(v, float) for v in values):
        grid = sorted(values)
        where = f"the {edge} value of the grid ({grid[0]:g}-{grid[-1]:g})"
    else:
        where = f"at the {edge} end of the grid ({', '.join(cal['scores'])}) for one phase"
    return (
        f"The chosen sharpness {format_sharpness(cal['sharpness'])} is {where}: "
        f"a value {beyond} it may score better; export again with --calibration-grid extended {beyond} it."
    )


def _sides(size) -> str:
    """``128²`` for one calibration size, ``128² and 256²`` (each) for several."""
    if not isinstance(size, list):
        return f"{size}²"
    return ", ".join(f"{s}²" for s in size[:-1]) + f" and {size[-1]}² (each)"


def _short_label(key: str) -> str:
    """Row label of a finish key: ``p2``, ``p2 i8``, ``p2 h4`` or ``p2 i8 h4``."""
    sweeps, islands, holes = parse_finish(key)
    widths = split_smooth(key)[0]
    label = f"p{sweeps}" + (f" i{islands}" if islands else "") + (f" h{holes}" if holes else "")
    return f"s{widths} {label}" if widths else label


def calibration_table(scores: dict) -> list[str]:
    """Markdown rows of ``scores[sharpness][finish_key]``: one row per finish, one column per
    sharpness."""
    keys = list(next(iter(scores.values())))
    lines = ["| finish | " + " | ".join(f"s {s}" for s in scores) + " |"]
    lines += ["|---" * (len(scores) + 1) + "|"]
    return lines + [f"| {_short_label(k)} | " + " | ".join(f"{v[k]:.2f}" for v in scores.values()) + " |" for k in keys]


def card_markdown(card: dict) -> str:
    tr = card["training"]
    lines = [
        f"# Model card: {card['name']}",
        "",
        card.get("notes", ""),
        "",
        f"- Kind: {card['kind']}; phases: {card['phases']}",
        f"- Training data: {card['source']}",
        f"- Training: {tr['steps']} steps, {tr['wall_time_s']} s on {tr['hardware']}"
        + (f" ({tr['precision']})" if tr.get("precision") else ""),
        f"- Weights: {card['weights_mb']} MB (safetensors)",
        *_network_line(card.get("network")),
        "",
        "## Phase fractions in training crops",
        "",
        "| phase | mean | std | min | max |",
        "|---|---|---|---|---|",
    ]
    for p, s in card["fractions_training_crops"].items():
        lines.append(f"| {p} | {s['mean']:.4f} | {s['std']:.4f} | {s['min']:.4f} | {s['max']:.4f} |")
    if card.get("fractions_range_crops"):
        spans = ", ".join(f"{p} {lo:.3f}-{hi:.3f}" for p, (lo, hi) in card["fractions_range"].items())
        sides = ", ".join(f"{c}²" for c in card["fractions_range_crops"])
        lines += ["", f"Generation warns outside {spans}: the range over training crops of {sides}."]
    if card.get("min_side"):
        lines += [
            "",
            f"Recommended for images with every side >= {card['min_side']} voxels: smaller images measure "
            "farther from the data (`docs/models.md`); generation warns below it.",
        ]
    lines += _fidelity_markdown(card["fidelity"], "Fidelity")
    lines += _sampling_markdown(card.get("sampling") or {})
    lines += _speed_markdown(card["speed"], "Speed")
    if "fidelity_issue_protocol" in card:
        lines += _fidelity_markdown(card["fidelity_issue_protocol"], "Fidelity at the issue's protocol")
        lines += _speed_markdown(card["speed_issue_protocol"], f"Speed at {card['speed_issue_protocol']['size']}²")
    return "\n".join(lines + [""])


def _network_line(net: dict | None) -> list[str]:
    """The card's architecture line (none for cards written before it was recorded)."""
    if not net:
        return []
    levels = ",".join(str(m) for m in net["mults"])
    patch = net.get("patch", 1)
    cells = f"; works on {patch}-voxel-sided cells (space-to-depth)" if patch > 1 else ""
    if net.get("head", 0):
        cells += f"; full-resolution head of {net['head']} features per voxel"
    return [
        f"- Network: rate UNet of width {net['width']}, level multipliers {levels}, {net['blocks']} block(s) "
        f"per level{cells}; {net['parameters'] / 1e6:.2f} M parameters"
    ]


def _speed_markdown(s: dict, heading: str) -> list[str]:
    return [
        "",
        f"## {heading}",
        "",
        f"{s['seconds_per_sample']:.2f} s per {s['size']}² sample (batch {s['batch']}, "
        f"{s['evaluations']} network evaluations) on {s['device']}; collision resolution moved "
        f"{100 * s['collision_moved_fraction']:.2f} % of particles.",
    ]


def _fidelity_markdown(f: dict, heading: str) -> list[str]:
    """A card's fidelity section: the table of :func:`_measure`'s rows, raw ratios and blobs."""
    lines = [
        "",
        f"## {heading} ({f['generated']} generated {f['size']}² images vs {f['reference_crops']} held-out crops; "
        f"{f['sampler']})",
        "",
        "Distance generated vs held-out, next to the natural spread between two disjoint real blocks "
        f"(ratio <= {PASS_RATIO} passes), after {finish_text({'polish': 0, **f})} (count-preserving "
        "speckle, island and hole removal, the defaults); 'raw ratio' is the same samples straight from the "
        "sampler; 'generated' and 'real' are one summary per set (scalars: mean; lengths: mean in voxels; "
        "two-point: correlation length, the lag where the mean curve falls below 1/e), to show which way "
        "a metric is off.",
    ]
    raw = {r["metric"]: r for r in f.get("raw_rows") or f["rows"]}
    base = {r["metric"]: r for r in (f.get("baseline") or {}).get("rows", [])}
    if base:
        lines[-1] += (
            f" Baseline: Gaussian blobs (porespy's recipe) at the same pore counts, blobiness "
            f"{f['baseline']['blobiness']} tuned on training crops; the model should be closer than it."
        )
        lines += [
            "",
            "| metric | generated | real | distance | spread | ratio | pass | raw ratio | blobs ratio "
            "| closer than blobs |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    else:
        lines += [
            "",
            "| metric | generated | real | distance | spread | ratio | pass | raw ratio |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for r in f["rows"]:
        line = (
            f"| {r['metric']} | {_fmt(r.get('generated'))} | {_fmt(r.get('real'))} | {r['distance']:.4g} | "
            f"{r['spread']:.4g} | {r['ratio']:.2f} | {'yes' if r['passed'] else 'no'} | "
            f"{raw[r['metric']]['ratio']:.2f} |"
        )
        if r["metric"] in base:
            b = base[r["metric"]]
            closer = "tie" if r["distance"] == b["distance"] else "yes" if r["distance"] < b["distance"] else "no"
            line += f" {b['ratio']:.2f} | {closer} |"
        lines.append(line)
    if f.get("draws"):
        lines += _draws_markdown(f["draws"])
    return lines


def draw_medians(draws: dict) -> dict[str, float]:
    """Per metric (fractions excluded: exact by construction), the median of a card's protocol
    ratios over its independent reference draws (``draws["ratios"][metric]``)."""
    return {m: float(np.median(v)) for m, v in draws["ratios"].items() if not m.startswith("fraction")}


def _draws_markdown(draws: dict) -> list[str]:
    """The protocol's ratios over independent reference draws: median and range per metric."""
    ratios = {m: v for m, v in draws["ratios"].items() if not m.startswith("fraction")}
    medians = draw_medians(draws)
    passing = sum(v <= PASS_RATIO for v in medians.values())
    lines = [
        "",
        f"The same generated images against {draws['n']} independent draws of held-out and training crops "
        "(the first is the table above): one draw's natural spread is a noisy estimate, so the median "
        f"ratio is the steadier figure ({passing} of {len(medians)} medians within {PASS_RATIO}).",
        "",
        f"| metric | median ratio | min | max | draws within {PASS_RATIO} |",
        "|---|---|---|---|---|",
    ]
    for m, v in ratios.items():
        lines.append(
            f"| {m} | {medians[m]:.2f} | {min(v):.2f} | {max(v):.2f} | {sum(x <= PASS_RATIO for x in v)} of {len(v)} |"
        )
    return lines
