"""Training losses in normalised units.

Rates are compared in units of the time scale ``s(t) = r + 1/t``: ``u`` is the predicted per-voxel
rate divided by ``s(t)`` and ``v`` the exact rate (Eq. 4) divided by ``s(t)``.

* ``"likelihood"``: the process likelihood of Eq. (7), ``sum(u - v log u)``, written as the
  non-negative generalised KL divergence ``u - v - v log(u / v)`` (same gradients, zero at the
  optimum, so its value per time band is readable).
* ``"l1"``: rate matching of Eq. (5) with the L1 norm, ``sum |u - v|``.

Weighting: ``"particle"`` divides each image's sum by its number of particles (every time band
counts alike); ``"dt"`` multiplies it by ``(t_k - t_{k-1}) * s(t_k)``, which is Eq. (7) exactly.
"""

from __future__ import annotations

import torch

LOSSES = ("likelihood", "l1")
WEIGHTINGS = ("particle", "dt")
_LOG_FLOOR = 1e-30


def rate_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    particles: torch.Tensor,
    kind: str = "likelihood",
    weighting: str = "particle",
    dt_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-image loss between normalised predicted and exact per-voxel rates.

    Parameters
    ----------
    pred, target : tensors ``(B, ...)``
        Normalised per-voxel rates ``u`` and ``v`` (same shape, ``>= 0``).
    particles : tensor ``(B,)``
        Number of particles per image (for ``"particle"`` weighting).
    dt_scale : tensor ``(B,)``, optional
        ``(t_k - t_{k-1}) * s(t_k)`` per image (required for ``"dt"`` weighting).

    Returns
    -------
    tensor ``(B,)`` of per-image losses; average it for the training objective.
    """
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    pred = pred.float()
    target = target.float()
    if kind == "likelihood":
        log_ratio = torch.log(pred.clamp_min(_LOG_FLOOR)) - torch.log(target.clamp_min(_LOG_FLOOR))
        terms = pred - target - torch.where(target > 0, target * log_ratio, torch.zeros_like(target))
    else:
        terms = (pred - target).abs()
    per_image = terms.flatten(1).sum(1)
    if weighting == "particle":
        return per_image / particles.to(per_image).clamp_min(1)
    if dt_scale is None:
        raise ValueError("dt weighting needs dt_scale = (t_k - t_{k-1}) * s(t_k) per image")
    return per_image * dt_scale.to(per_image)
