"""Inpainting with exact mass: regenerate a masked region of a label image so that it continues
its surroundings and holds exactly the requested count of every phase (DSD paper, Fig. 3 and
Appendix D).

Voxels outside the mask are frozen: they keep their labels bit for bit, no particle enters them
(no-flux at the mask edge), and the network sees them as context at every step. The particles of
the masked region start from the uniform prior over the region and diffuse back.

A model trained for generation only ever saw images corrupted everywhere, never a clean context
around a noisy region; a pretrained name that ships a dedicated companion ``<name>-inpaint``
(trained with ``microgen train --holes``, as in the paper) is replaced by it (``dedicated=False``
keeps the generation model).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from microgen.api import _check_fractions, _generator, _model_on, _run, exact_count, sampling_defaults
from microgen.domains import get_kind, registry
from microgen.engine.precision import resolve_precision
from microgen.engine.sampler import (
    DEFAULT_EVALUATIONS,
    DEFAULT_SAMPLER,
    INPAINT_GRID_POWER,
    check_offsets,
    make_sampler,
)


@dataclass
class Inpainting:
    """Filled images and what the masked regions hold (returned by :func:`inpaint`)."""

    images: np.ndarray
    counts: list  # per image: {phase: voxels inside the mask}
    seconds: float
    evaluations: int
    moved: list
    swapped: list = field(default_factory=list)
    polish: int = 0
    sharpness: float = 1.0
    model: str = ""  # name of the model that filled the regions
    islands: int = 0
    dissolved: list = field(default_factory=list)
    holes: int = 0
    smooth: tuple = ()


def inpaint(
    image,
    mask,
    *,
    model="berea",
    porosity: float | None = None,
    fractions: dict | None = None,
    seed: int | None = None,
    device: str = "auto",
    sampler: str = DEFAULT_SAMPLER,
    steps: int | None = None,
    eps: float = 0.1,
    precision: str = "auto",
    polish: int | None = None,
    label=None,
    sharpness: float | None = None,
    prior: str = "auto",
    dedicated: bool = True,
    islands: int | None = None,
    holes: int | None = None,
    offsets: str = "auto",
    smooth=None,
) -> Inpainting:
    """Fill ``mask`` in a label image (or a stack of 2D images) with exact phase counts.

    Parameters
    ----------
    image : label array ``(H, W)`` or ``(n, H, W)`` with the model's phase codes
    mask : bool array of the same shape; True = regenerate
    model : DSDModel, pretrained name or model directory
    porosity : rock models: pore fraction inside the mask
    fractions : dict phase -> fraction inside the mask (cathode: active and binder)
    Without ``porosity``/``fractions`` the region gets the fractions of the rest of its image.
    sampler, steps, eps, precision, polish, sharpness, islands, holes, offsets, smooth : as for
        :func:`microgen.generate`;
        ``None`` means the calibrated values of a dedicated inpainting model (chosen on holes), but
        for a generation model 100 evaluations, sharpness 1 (the rates as trained), ``SWEEPS``
        polish sweeps and no smoothing, island or hole dissolution, not its calibrated values:
        those are chosen for unconstrained generation from the spectral prior, and on Berea holes
        they filled worse (``docs/capabilities.md``). Smoothing, polish and island/hole
        dissolution change voxels inside the mask only, so the region counts stay exact. The time
        grid takes finer steps at large ``t`` than generation's (:data:`~microgen.engine.sampler.INPAINT_GRID_POWER`).
    prior : ``"auto"`` or ``"uniform"`` (the free voxels start uniform; ``"spectral"`` is an error)
    dedicated : use the dedicated inpainting model ``<model>-inpaint`` where ``model`` is a
        pretrained name that ships one (``Inpainting.model`` says which model filled the region)

    Counts inside the mask are ``floor(f * region voxels + 0.5)``.
    """
    check_offsets(offsets)
    companion = registry.inpainting_companion(model) if dedicated and isinstance(model, (str, os.PathLike)) else None
    model = _model_on(companion or model, device)
    # a generation model's calibrated values are for unconstrained generation; a dedicated
    # inpainting model's were chosen on holes (microgen export)
    sharpness, polish, islands, holes, smooth = sampling_defaults(
        model, sharpness, polish, islands, holes, smooth, calibrated=bool(model.meta.get("inpainting"))
    )
    kind = get_kind(model.meta.get("kind", "rock"))
    img, msk = _check_inputs(image, mask, kind)
    single = img.ndim == 2
    img, msk = (img[None], msk[None]) if single else (img, msk)
    requested = _requested_fractions(kind, porosity, fractions)
    names = kind.channel_names
    stride = model.network_config.stride
    pad = [(0, 0)] + [(0, (-s) % stride) for s in img.shape[1:]]
    if steps is None:
        steps = model.sampling_steps if model.meta.get("inpainting") else DEFAULT_EVALUATIONS
    step_rule = make_sampler(sampler, steps, eps, power=INPAINT_GRID_POWER)
    precision = resolve_precision(precision, model.device)
    gen, _ = _generator(model, seed)
    out, counts, moved, swapped, dissolved, evaluations, seconds = [], [], [], [], [], 0, 0.0
    for b in range(len(img)):
        region = int(msk[b].sum())
        frac = requested or {n: float(np.mean(img[b][~msk[b]] == c)) for n, c in zip(names, kind.particle_labels)}
        want = {n: exact_count(frac[n], region) for n in names}
        if sum(want.values()) > region:
            raise ValueError(f"the requested counts {want} exceed the {region} voxels of the masked region")
        padded = np.pad(img[b], pad[1:], mode="edge")
        frozen = ~np.pad(msk[b], pad[1:], constant_values=False)
        fixed = np.stack([(padded == c) for c in kind.particle_labels]).astype(np.int64)
        res, took = _run(
            model,
            [[want[n] for n in names]],
            padded.shape,
            step_rule,
            gen,
            label=label,
            frozen=frozen,
            fixed=fixed,
            precision=precision,
            polish=polish,
            islands=islands,
            holes=holes,
            smooth=smooth,
            sharpness=sharpness,
            prior=prior,
            offsets=offsets,
        )
        filled = kind.to_labels(res.labels[0])[tuple(slice(0, s) for s in img.shape[1:])]
        if not np.array_equal(filled[~msk[b]], img[b][~msk[b]]):
            raise RuntimeError("internal error: a voxel outside the mask changed")
        out.append(filled)
        counts.append(want)
        moved.append(int(res.moved[0]))
        swapped.append(int(res.swapped[0]))
        dissolved.append(int(res.dissolved[0]))
        evaluations += res.evaluations
        seconds += took
    images = np.stack(out)
    return Inpainting(
        images[0] if single else images,
        counts,
        seconds,
        evaluations,
        moved,
        swapped,
        polish,
        sharpness,
        str(model.meta.get("name", "")),
        islands,
        dissolved,
        holes,
        smooth,
    )


def _check_inputs(image, mask, kind) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    msk = np.asarray(mask)
    if img.ndim not in (2, 3) or img.size == 0:
        raise ValueError(f"image must be a 2D label image or a stack (n, H, W), got shape {img.shape}")
    if msk.shape != img.shape:
        raise ValueError(f"mask shape {msk.shape} must equal the image shape {img.shape}")
    if img.dtype.kind not in "iub":
        raise ValueError(f"image must hold integer phase labels, got dtype {img.dtype}")
    unknown = set(np.unique(img).tolist()) - set(kind.phases)
    if unknown:
        raise ValueError(
            f"image holds labels {sorted(unknown)} that are not {kind.name} phases (allowed: {kind.phases})"
        )
    if msk.dtype != bool:
        if msk.dtype.kind not in "iub" or not set(np.unique(msk).tolist()) <= {0, 1, 255}:
            raise ValueError("mask must be boolean (or 0/1, 0/255): True = regenerate")
        msk = msk > 0
    per_image = msk.reshape(msk.shape[0] if msk.ndim == 3 else 1, -1)
    if not per_image.any(1).all():
        raise ValueError("the mask is empty (in at least one image): nothing to inpaint")
    if per_image.all(1).any():
        raise ValueError("the mask covers a whole image: nothing is left to continue; use generate instead")
    return img, msk


def _requested_fractions(kind, porosity, fractions) -> dict | None:
    if porosity is not None and fractions is not None:
        raise ValueError("give porosity or fractions, not both")
    if porosity is not None:
        if kind.name != "rock":
            raise ValueError(f"porosity applies to rock models; for a {kind.name} model give fractions={{...}}")
        fractions = {"pore": porosity}
    if fractions is None:
        return None
    _check_fractions(fractions, kind.channel_names, kind, closed=True)
    return dict(fractions)


__all__ = ["Inpainting", "inpaint"]
