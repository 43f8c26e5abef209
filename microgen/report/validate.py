"""``microgen.validate``: generated images against a pretrained model's reference statistics or a
real label volume."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from microgen.domains import get_kind, registry
from microgen.metrics import PASS_RATIO, reference_sets
from microgen.metrics.fidelity import descriptors_from_json

from .basic import Report, build_report


def _phases_of(labels: np.ndarray, kind: str | None) -> tuple[list, str]:
    if kind is None:
        codes = set(np.unique(labels).tolist())
        kind = "cathode" if codes - {0, 1} else "rock"
    return list(get_kind(kind).particle_labels), kind


def _check_labels(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.size == 0:
        raise ValueError(f"{what} are empty")
    if arr.dtype == object:
        raise ValueError(f"{what} must be one array (mixed 2D/3D or ragged input given)")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{what} must hold integer phase labels")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{what} must hold integer phase labels, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() > 2:
        raise ValueError(f"{what} hold labels outside 0..2 (rock: 0/1, cathode: 0/1/2)")
    return arr


def _fraction_note(report: Report) -> str:
    """A warning when the generated images share one fraction but the reference crops spread."""
    notes = []
    for p in report.phases:
        name = f"fraction[{p}]"
        gen = np.asarray(report.generated[name][1], float)
        ref = np.asarray(report.reference[name][1], float)
        if len(gen) and np.ptp(gen) < 0.25 * np.ptp(ref):
            notes.append(
                f"phase {p}: generated {gen.min():.4g}-{gen.max():.4g}, reference crops {ref.min():.4g}-{ref.max():.4g}"
            )
    if not notes:
        return ""
    return (
        "; ".join(notes) + ". The fraction rows fail by construction and the other metrics, which move with the "
        "fractions, compare unlike with like; for a matched comparison generate one image at each reference "
        "crop's fractions (as examples/demo.py does)."
    )


def validate(
    generated,
    reference,
    *,
    kind: str | None = None,
    n_reference: int = 32,
    tolerance: float = PASS_RATIO,
    transport: bool = True,
    seed: int = 0,
) -> Report:
    """Compare generated label images with a reference and return a :class:`Report`.

    Parameters
    ----------
    generated : array ``(n, H, W)`` (or one ``(H, W)`` image), or a path to a label file
    reference : a pretrained model name (its stored ``reference.json``), a label-volume path, or
        an array. From a volume, set A is cut from the second half along axis 0 and set B from the
        first half, matched one-to-one in fractions to A: two disjoint real sets.
    transport : also compare the relative diffusivity of the pore phase along axis 0 (2D: direct
        sparse solve of TauFactor's model, ~0.03 s per 256² image; 3D: TauFactor). Skipped, with a
        note in ``report.info``, when stored statistics hold no diffusivity.
    """
    from microgen.io import read_volume

    if isinstance(generated, (str, os.PathLike)):
        generated = read_volume(generated)
    if isinstance(generated, (list, tuple)):
        if len({np.asarray(g).shape for g in generated}) > 1:
            raise ValueError("generated images must all have the same shape (mixed 2D/3D or sizes given)")
    gen = _check_labels(np.asarray(generated), "generated images")
    if gen.ndim == 2:
        gen = gen[None]
    if gen.ndim != 3:
        raise ValueError(f"generated images must be (H, W) or a stack (n, H, W), got shape {gen.shape}")
    phases, kind = _phases_of(gen, kind)
    allowed = set(get_kind(kind).phases)
    found = set(np.unique(gen).tolist())
    if found - allowed:
        raise ValueError(f"labels {sorted(found - allowed)} are not {kind} phases (allowed: {sorted(allowed)})")
    if gen.shape[1] != gen.shape[2]:
        raise ValueError(f"generated images must be square (reference crops are), got {gen.shape[1:]}")
    diffusivity = get_kind(kind).transport_phase if transport else None
    name = str(reference)
    if isinstance(reference, (str, os.PathLike)) and registry.is_pretrained(name):
        ref = registry.reference(name, gen.shape[1])
        ref_a = descriptors_from_json(ref["A"])
        ref_b = descriptors_from_json(ref["B"])
        info = {"reference": f"pretrained model {name} (stored statistics, {ref['n']} crops per set)"}
        if diffusivity is not None and f"relative_diffusivity[{diffusivity}]" not in ref_a:
            info["transport"] = f"not compared: the stored statistics of {name!r} hold no diffusivity"
            diffusivity = None
        report = build_report(gen, ref_a, ref_b, phases, tolerance=tolerance, info=info, diffusivity=diffusivity)
    else:
        if isinstance(reference, (str, os.PathLike)) and not Path(reference).is_file():
            raise ValueError(
                f"reference {name!r} is neither a pretrained model ({sorted(registry.available())}) "
                "nor an existing label file"
            )
        labels = read_volume(reference) if isinstance(reference, (str, os.PathLike)) else np.asarray(reference)
        labels = _check_labels(labels, "the reference")
        ref_codes = set(np.unique(labels).tolist())
        if ref_codes != allowed:
            raise ValueError(
                f"the reference holds phases {sorted(ref_codes)} but the generated {kind} images have "
                f"phases {sorted(allowed)}: compare like with like"
            )
        if labels.ndim != 3 or labels.shape[0] < 2:
            raise ValueError("a reference volume must be 3D (two disjoint blocks are cut along axis 0)")
        size = gen.shape[1]
        rng = np.random.default_rng(seed)
        half = labels.shape[0] // 2
        set_a, set_b = reference_sets(labels[half:], labels[:half], n_reference, size, phases, rng)
        info = {
            "reference": f"volume {name if isinstance(reference, (str, os.PathLike)) else 'array'} "
            f"{labels.shape}, {n_reference} crops per set"
        }
        report = build_report(gen, set_a, set_b, phases, tolerance=tolerance, info=info, diffusivity=diffusivity)
    note = _fraction_note(report)
    if note:
        report.info["phase fractions"] = note
    report.title = f"microgen validation: {len(gen)} generated {kind} images"
    report.info["generated images"] = f"{len(gen)} x {gen.shape[1:]}"
    return report


__all__ = ["validate"]
