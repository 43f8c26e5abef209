"""Calibrate a model's sampling defaults on training data (never on the held-out block).

A model that is not fully trained predicts reverse rates that are too even: hops towards where
material should gather are not likely enough, and the generated structure comes out finer than
the real one (smaller pores, more interface). :func:`microgen.engine.sharpen` raises the
per-particle rates to a power, :func:`microgen.engine.polish.polish` removes one-voxel speckle and
:func:`microgen.engine.islands.dissolve` removes islands and fills holes of a few voxels, and
(where a grid of widths is given) :func:`microgen.engine.smooth.smooth` rounds the particles; they
interact (a sharper sampler leaves less speckle, and polishing a clean image coarsens it), so this
module picks them together. Each sharpness value generates the same images (same seed, same
counts: the counts of crops from one half of the training block); each finish (polish sweeps,
then islands up to a size dissolved, then holes up to a size filled) is applied to those images;
every combination is scored against the crops, with crops of the other half as the natural
spread. The score is the mean fidelity ratio over the morphology metrics (fractions excluded: they
are exact by construction). One draw of a few crops is a noisy yardstick (a metric's ratio can move
by 2x between two draws of 32 crops), so with ``draws`` > 1 each metric's ratio is the median over
that many independent draws of target and spread crops, the images generated once, the two halves
taking turns as the target. With several ``size`` values (say 128 and 256) every candidate is
scored at each and each metric's ratio is the mean over the sizes, so the defaults do not suit one
image size at the cost of another (a calibration at 256² alone left a Berea model's chord lengths
4.96x the spread at 128² on one draw). The held-out block, on which model cards report fidelity,
plays no part.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from microgen.engine import DSDModel, sample
from microgen.engine.islands import dissolve_phases, fill_holes
from microgen.engine.polish import polish as polish_labels
from microgen.engine.precision import resolve_precision
from microgen.engine.sampler import (
    DEFAULT_EVALUATIONS,
    DEFAULT_SAMPLER,
    check_sharpness,
    format_sharpness,
    model_sampler,
)
from microgen.engine.smooth import check_widths, format_widths, parse_widths
from microgen.engine.smooth import smooth as smooth_labels
from microgen.metrics import describe, fidelity_table, reference_sets
from microgen.metrics.fidelity import crops_over, match_by_fraction

#: candidate sharpness values (1 = the rates as trained)
SHARPNESS_GRID = (1.0, 1.03, 1.06, 1.09, 1.12, 1.15, 1.2, 1.25)
#: candidate polish sweeps (0 = the sampler's output)
POLISH_GRID = (0, 1, 2)
#: candidate island sizes to dissolve after the polish (0 = none)
ISLAND_GRID = (0, 2, 4, 8)
#: candidate hole sizes to fill after that (0 = none)
HOLE_GRID = (0, 2, 4, 8)
#: candidate smoothing widths, applied before all of these (0 = none; ``microgen export
#: --calibration-smooth`` offers more: each multiplies the finishes scored)
SMOOTH_GRID = (0.0,)
#: relative score gain island or hole dissolution must bring to be chosen
ISLAND_MIN_GAIN = 0.05
#: where the target and spread crops of a calibration come from (:func:`calibration_references`)
CALIBRATION_REFERENCES = ("halves", "slabs")
#: slabs along axis 0 of the training block for ``reference="slabs"`` (even ones against odd ones)
CALIBRATION_SLABS = 8
#: with ``reference="slabs"``: target crops per generated image
SLAB_TARGET_FACTOR = 4


def calibrate_sampling(
    model: DSDModel,
    train: np.ndarray,
    kind,
    *,
    size: int | Sequence[int] = 128,
    n: int = 16,
    grid=SHARPNESS_GRID,
    polish_grid=POLISH_GRID,
    island_grid=ISLAND_GRID,
    hole_grid=HOLE_GRID,
    steps: int = DEFAULT_EVALUATIONS,
    seed: int = 0,
    draws: int = 1,
    reference: str = "halves",
    smooth_grid=SMOOTH_GRID,
) -> dict:
    """Score every (sharpness, smoothing, polish, islands, holes) combination of the grids on ``n`` images of
    ``size x size`` (each of the sizes, if ``size`` is a sequence).

    Parameters
    ----------
    model : the model to calibrate (not modified)
    train : the training label volume (3D) or image stack; split in two halves along axis 0
    kind : the material kind (``microgen.domains`` ``MaterialKind``) of its labels
    draws : independent draws of target and spread crops (:func:`calibration_references`); the
        images are generated at the counts of the first, and each metric's ratio is the median
        over the draws
    reference : ``"halves"`` (target crops from one half of the block, spread crops from the
        other) or ``"slabs"`` (from alternating slabs, with more target crops); see
        :func:`calibration_references`

    smooth_grid : smoothing widths (:func:`microgen.engine.smooth.smooth`; each a width or one per
        particle phase; 0 = none) tried before every polish count

    Returns ``{"sharpness", "polish", "islands", "holes", "smooth", "edge", "scores", "ratios",
    "size", "n", "steps", "draws", "data"}`` (JSON-ready; ``edge`` is :func:`grid_edge` of the
    chosen sharpness; ``scores[sharpness][finish_key(polish, islands, holes, smooth)]`` is the mean ratio,
    ``ratios[sharpness][finish_key][metric]`` the ratios it is the mean of; ``size`` is an int, or
    the list of sizes, each metric's ratio then the mean over them, with
    ``ratios_by_size[str(size)][sharpness][finish_key][metric]`` the ratios at each).
    """
    check_grids(grid, polish_grid, island_grid, hole_grid, smooth_grid)
    if draws < 1:
        raise ValueError(f"calibration draws must be >= 1, got {draws}")
    sizes = check_sizes(size, model)
    phases = list(kind.particle_labels)
    targets = {}  # size -> (generated counts, described draws)
    for side in sizes:
        references = calibration_references(train, phases, n, side, seed, draws, reference)
        totals = [[int((im == p).sum()) for p in phases] for im in references[0][0][:n]]
        targets[side] = (totals, [(describe(a, phases), describe(b, phases)) for a, b in references])
    precision = resolve_precision("auto", model.device)
    by_size: dict[str, dict[str, dict[str, dict[str, float]]]] = {str(s): {} for s in sizes}
    for value in grid:
        for side, (totals, described) in targets.items():
            res = sample(
                model,
                totals,
                (side, side),
                sampler=model_sampler(model, DEFAULT_SAMPLER, steps),
                precision=precision,
                generator=torch.Generator(device=model.device).manual_seed(seed),
                sharpness=value,
            )
            raw = kind.to_labels(res.labels)
            by_size[str(side)][format_sharpness(value)] = {
                key: median_ratios(describe(images, phases), described, phases)
                for key, images in finishes(
                    raw,
                    phases,
                    polish_grid,
                    island_grid,
                    model.process.boundary,
                    seed,
                    hole_grid=hole_grid,
                    kind=kind,
                    smooth_grid=smooth_grid,
                )
            }
    # per metric, to judge other objectives later
    ratios = {
        s: {key: _combine([by_size[str(side)][s][key] for side in sizes], np.mean) for key in per_finish}
        for s, per_finish in by_size[str(sizes[0])].items()
    }
    scores = {s: {key: _mean(r) for key, r in per_finish.items()} for s, per_finish in ratios.items()}
    best_s, best_f = best_pair(scores)
    sweeps, islands, holes = parse_finish(best_f)
    chosen = check_sharpness(best_s)
    return {
        "sharpness": chosen,
        "polish": sweeps,
        "islands": islands,
        "holes": holes,
        "smooth": list(finish_smooth(best_f, len(phases))),
        "edge": grid_edge(chosen, [check_sharpness(s) for s in scores]),  # the values the choice was made from
        "scores": scores,
        "ratios": ratios,
        **({"ratios_by_size": by_size} if len(sizes) > 1 else {}),
        "size": sizes[0] if len(sizes) == 1 else list(sizes),
        "n": len(targets[sizes[0]][0]),
        "steps": steps,
        "draws": draws,
        "reference": reference,
        "data": calibration_data(reference, draws),
    }


def calibration_data(reference: str, draws: int) -> str:
    """The card's words for where a calibration's crops came from."""
    if reference == "slabs":
        return (
            f"{SLAB_TARGET_FACTOR}x as many crops as images from alternate slabs of the training block "
            f"({CALIBRATION_SLABS} along axis 0, the even and odd ones taking turns), scored against as many "
            "crops as images from the other slabs (not the held-out block)"
        )
    if draws == 1:
        return "crops of one half of the training block, scored against the other half (not the held-out block)"
    return "crops of each half of the training block in turn, scored against the other half (not the held-out block)"


def grid_edge(sharpness, grid) -> str | None:
    """``"highest"`` or ``"lowest"`` when ``sharpness`` is that end of a ``grid`` of two or more
    values, else None. A choice at an end says only that the best value may lie beyond it (the
    session-8 ``nmc`` calibration chose 1.15, its grid's top, with the scores still falling), so
    exports warn and the card says so. With per-channel values (tuples) each channel is judged on
    the values the grid gives it, the first channel at an end deciding."""
    width = max(len(v) if isinstance(v, tuple) else 1 for v in [sharpness, *grid])

    def per_channel(value) -> tuple:
        return tuple(value) if isinstance(value, tuple) else (float(value),) * width

    chosen = per_channel(sharpness)
    for c in range(width):
        values = sorted({per_channel(v)[c] for v in grid})
        if len(values) < 2:
            continue
        if chosen[c] == values[-1]:
            return "highest"
        if chosen[c] == values[0]:
            return "lowest"
    return None


def calibration_references(
    train: np.ndarray, phases, n: int, size: int, seed: int, draws: int, reference: str = "halves"
) -> list:
    """``draws`` pairs ``(target, spread)`` of crops; the images are generated at the counts of the
    first ``n`` target crops of the first draw, and the spread crops are matched in fractions to
    the first ``n`` target crops of their draw.

    ``"halves"``: ``n`` target crops from one half of the training block along axis 0 and ``n``
    spread crops from the other. The halves take turns: even draws take their targets from the
    second half, odd draws from the first, so that the calibration does not tune to one half's
    structure (a scan need not be stationary: Ketton's halves differ by 17 % in Euler number per
    256² slice). Draw 0 is the same whatever ``draws`` is (the calibration of earlier exports); the
    others come from streams of their own.

    ``"slabs"`` (session 26): the block is cut into :data:`CALIBRATION_SLABS` slabs along axis 0;
    ``SLAB_TARGET_FACTOR * n`` target crops come from the even slabs and ``n`` spread crops from
    the odd ones (the other way round in odd draws). Both sets then span the whole block, so a
    difference between its halves no longer inflates the spread, and the larger target set adds
    less noise of its own to both distances: a bias that reads 3x the spread in the 32-image
    protocol reads about 1x in the halves calibration of 8 images (Ketton's local thickness,
    ``docs/model-history.md``, session 26)."""
    check_reference(reference)
    if reference == "slabs":
        return slab_references(train, phases, n, size, seed, draws)
    half = train.shape[0] // 2
    halves = (train[half:], train[:half])
    return [
        reference_sets(
            halves[d % 2], halves[1 - d % 2], n, size, phases, np.random.default_rng(seed if d == 0 else [seed, d])
        )
        for d in range(draws)
    ]


def check_reference(reference: str) -> None:
    """Refuse a calibration reference that is not one of :data:`CALIBRATION_REFERENCES`."""
    if reference not in CALIBRATION_REFERENCES:
        raise ValueError(f"calibration reference must be one of {', '.join(CALIBRATION_REFERENCES)}, got {reference!r}")


def slab_references(train: np.ndarray, phases, n: int, size: int, seed: int, draws: int) -> list:
    """The ``"slabs"`` references of :func:`calibration_references`."""
    count = min(CALIBRATION_SLABS, train.shape[0] // 2 // 2 * 2)  # an even number of slabs, 2 slices or more each
    if count < 2:
        raise ValueError(f"a training block of {train.shape[0]} slices along axis 0 is too thin for slab calibration")
    slabs = np.array_split(train, count, axis=0)
    sides = (slabs[0::2], slabs[1::2])
    out = []
    for d in range(draws):
        rng = np.random.default_rng([seed, CALIBRATION_SLABS, d])
        target = _crops(sides[d % 2], SLAB_TARGET_FACTOR * n, size, rng)
        pool = _crops(sides[1 - d % 2], 4 * n, size, rng)
        out.append((target, match_by_fraction(target[:n], pool, phases)))
    return out


def _crops(volumes: list, k: int, size: int, rng) -> list:
    """``k`` crops spread evenly over ``volumes``, in random order."""
    crops = crops_over(volumes, k, size, rng)
    return [crops[i] for i in rng.permutation(len(crops))[:k]]


def check_sizes(size, model: DSDModel) -> tuple[int, ...]:
    """The calibration image sides of ``size`` (an int or a sequence of them), refused if empty,
    repeated or not a shape ``model`` generates (``DSDModel.check_shape``)."""
    sizes = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if not sizes or len(set(sizes)) != len(sizes):
        raise ValueError(f"calibration sizes must be one or more distinct image sides, got {size!r}")
    for side in sizes:
        model.check_shape((side, side))
    return tuple(int(s) for s in sizes)


def median_ratios(got, described, phases) -> dict[str, float]:
    """Each scored metric's median ratio of generated descriptors ``got`` over the draws
    ``described = [(target descriptors, spread descriptors), ...]``; metrics missing from a draw
    (not finite there) are left out."""
    return _combine([scored_ratios(fidelity_table(got, want, other, phases)) for want, other in described], np.median)


def _combine(per: list[dict[str, float]], reduce) -> dict[str, float]:
    """Each metric's ``reduce`` (median over draws, mean over sizes) of the ``{metric: ratio}`` in
    ``per``; metrics missing from any of them (not finite there) are left out."""
    common = set.intersection(*(set(r) for r in per))
    return {m: float(reduce([r[m] for r in per])) for m in per[0] if m in common}


def _mean(ratios: dict[str, float]) -> float:
    return float(np.mean(list(ratios.values()))) if ratios else float("inf")


def check_grids(grid, polish_grid, island_grid, hole_grid, smooth_grid=SMOOTH_GRID) -> None:
    """Refuse an empty candidate grid."""
    if not grid or not polish_grid or not island_grid or not hole_grid or not smooth_grid:
        raise ValueError("the sharpness, smoothing, polish, island and hole grids must not be empty")


def finishes(
    images,
    phases,
    polish_grid,
    island_grid,
    boundary,
    seed,
    frozen=None,
    *,
    hole_grid=(0,),
    kind=None,
    smooth_grid=SMOOTH_GRID,
):
    """``(finish_key, finished images)`` for every smoothing width, polish count, island size and
    hole size of the grids, in the sampler's order: the particle phases ``phases`` smoothed first
    (once per width), then polish sweeps (once per count), then the islands of every phase in
    ``phases`` dissolved, then the holes filled (face-connected islands of ``kind``'s background
    phase); only voxels that are not ``frozen`` change."""
    widths = [check_widths(w, len(phases)) for w in smooth_grid]
    if (any(hole_grid) or any(any(w) for w in widths)) and kind is None:
        raise ValueError("filling holes and smoothing need the material kind (its background phase)")
    for width in widths:
        smoothed = images
        if any(width):
            smoothed = [
                smooth_labels(im, phases, width, background=kind.background, boundary=boundary, frozen=frozen)[0]
                for im in images
            ]
        for sweeps in polish_grid:
            polished = [
                polish_labels(im, sweeps=sweeps, boundary=boundary, frozen=frozen, seed=seed + i)[0]
                for i, im in enumerate(smoothed)
            ]
            for size in island_grid:
                # islands once per size; each hole size then starts from that (the sampler's order)
                dissolved = [dissolve_phases(im, phases, size, boundary=boundary, frozen=frozen)[0] for im in polished]
                for holes in hole_grid:
                    out = dissolved
                    if holes:
                        background = kind.background
                        out = [fill_holes(im, background, holes, boundary=boundary, frozen=frozen)[0] for im in out]
                    yield finish_key(sweeps, size, holes, width), out


def finish_key(sweeps: int, islands: int, holes: int = 0, smooth=0.0) -> str:
    """Score key of a finish: ``"2"`` (two polish sweeps), ``"2+i8"`` (then islands <= 8
    dissolved), ``"2+h4"`` (holes <= 4 filled), ``"2+i8+h4"`` (both), each after smoothing with
    ``"s1.5+2"`` (width 1.5 for every particle phase) or ``"s1.5/0+2"`` (one per phase)."""
    widths = smooth if isinstance(smooth, (tuple, list)) else (smooth,)
    prefix = f"s{format_widths(widths)}+" if any(widths) else ""
    return prefix + f"{sweeps}" + (f"+i{islands}" if islands else "") + (f"+h{holes}" if holes else "")


def split_smooth(key: str) -> tuple[str, str]:
    """A :func:`finish_key` cut into its smoothing widths as written (``"1.5/0"``; ``""`` without
    smoothing) and the rest (``"2+i8"``)."""
    if not key.startswith("s"):
        return "", key
    head, _, rest = key.partition("+")
    return head[1:], rest


def finish_smooth(key: str, phases: int) -> tuple[float, ...]:
    """The smoothing widths (one per particle phase; zeros without smoothing) of a :func:`finish_key`."""
    text = split_smooth(key)[0]
    return check_widths(parse_widths(text) if text else 0.0, phases)


def parse_finish(key: str) -> tuple[int, int, int]:
    """``(polish sweeps, island size, hole size)`` of a :func:`finish_key` (its smoothing:
    :func:`finish_smooth`)."""
    sweeps, *parts = split_smooth(key)[1].split("+")
    sizes = {"i": 0, "h": 0}
    for part in parts:
        if part[:1] not in sizes or not part[1:].isdigit():
            raise ValueError(f"not a finish key: {key!r}")
        sizes[part[0]] = int(part[1:])
    if not sweeps.isdigit():
        raise ValueError(f"not a finish key: {key!r}")
    return int(sweeps), sizes["i"], sizes["h"]


def scored_ratios(rows) -> dict[str, float]:
    """The ratios a calibration scores, by metric: the finite ones, fractions left out (exact by
    construction)."""
    return {
        r["metric"]: float(r["ratio"])
        for r in rows
        if not r["metric"].startswith("fraction") and np.isfinite(r["ratio"])
    }


def mean_ratio(rows) -> float:
    """The calibration score of a fidelity table: the mean of its :func:`scored_ratios`; ``inf``
    if none."""
    return _mean(scored_ratios(rows))


def best_pair(scores: dict) -> tuple[str, str]:
    """The ``(sharpness, finish)`` keys of the lowest score in ``scores[sharpness][finish]``, where
    a finish that smooths or dissolves islands or holes must beat the best one without by
    ``ISLAND_MIN_GAIN``: the step changes the structure, and a gain within the calibration's noise
    is not evidence for it (Berea holes: 2 % better on the training block, worse on the held-out
    block)."""
    pairs = [(s, f) for s in scores for f in scores[s]]
    best = min(pairs, key=lambda sf: scores[sf[0]][sf[1]])

    def structural(key: str) -> bool:
        return key.startswith("s") or any(parse_finish(key)[1:])

    plain = [sf for sf in pairs if not structural(sf[1])]
    if plain and structural(best[1]):
        fallback = min(plain, key=lambda sf: scores[sf[0]][sf[1]])
        if scores[best[0]][best[1]] > (1 - ISLAND_MIN_GAIN) * scores[fallback[0]][fallback[1]]:
            return fallback
    return best


__all__ = [
    "CALIBRATION_REFERENCES",
    "HOLE_GRID",
    "ISLAND_GRID",
    "ISLAND_MIN_GAIN",
    "POLISH_GRID",
    "SHARPNESS_GRID",
    "SMOOTH_GRID",
    "best_pair",
    "calibrate_sampling",
    "calibration_references",
    "check_grids",
    "check_reference",
    "finish_key",
    "finish_smooth",
    "finishes",
    "split_smooth",
    "grid_edge",
    "mean_ratio",
    "median_ratios",
    "parse_finish",
]
