"""Count-preserving boundary smoothing: one step of volume-constrained threshold dynamics.

Threshold dynamics (Merriman, Bence & Osher 1994) move an interface by mean curvature: blur a
phase's indicator with a Gaussian and threshold it. Holding the phase's volume fixed (Ruuth &
Wetton 2003, J. Sci. Comput. 19) makes the threshold the one that keeps its count: the phase
takes the ``n`` voxels where its blurred indicator is highest. One such step rounds particles,
fills notches, cuts thin spurs and shrinks small islands in favour of large ones, the opposite of
the "too fine, too ragged" error of a model that is not fully trained, and, like
:func:`~microgen.engine.polish.polish`, it changes no count.

Each particle phase with a width above 0 is smoothed in turn (in the order given). The voxels it
gives up ("leavers") take over the labels of the voxels it takes ("joiners"): every other phase
freed by the joiners goes to the leavers where that phase's own blurred indicator is highest (the
NMC binder displaced from a neck reappears beside binder), and the background takes the leavers
that remain. So every phase keeps its count exactly, and a phase with width 0 is left where it
is except for the voxels it must give up or take. A width of 0 for a thin phase matters: the
binder of the NMC cathode (3-4 voxels across) is erased by a blur that rounds its active
particles (``docs/model-history.md``, session 33).

The blur continues the image across its boundary as the lattice does (periodic: wrapped; no-flux:
mirrored at the wall). Voxels marked ``frozen`` never change and never count as candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .lattice import check_boundary

#: scipy's name for how the blur continues the image past each boundary of the lattice
_MODES = {"periodic": "wrap", "noflux": "reflect"}
#: added to a phase's blurred indicator where it already lies, so a tie keeps the voxel in place
_KEEP = 1e-9


def check_widths(widths, phases: int) -> tuple[float, ...]:
    """``widths`` (one Gaussian width in voxels for every phase, or a sequence of one per phase)
    as a tuple of ``phases`` floats >= 0; raise ``ValueError`` otherwise."""
    values = tuple(widths) if isinstance(widths, (Sequence, np.ndarray)) and not isinstance(widths, str) else (widths,)
    if len(values) == 1:
        values = values * phases
    if len(values) != phases:
        raise ValueError(f"smoothing needs one width or one per particle phase ({phases}); got {widths!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not 0 <= v < np.inf:
            raise ValueError(f"smoothing widths must be finite numbers >= 0 (0 = off); got {widths!r}")
        out.append(float(v))
    return tuple(out)


def parse_widths(text: str) -> tuple[float, ...]:
    """``"1.5"`` or ``"1.5/0"`` (one width per particle phase, in channel order) as floats;
    raise ``ValueError`` naming the form otherwise."""
    try:
        return tuple(float(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"smoothing widths are written 1.5 or 1.5/0 (one per particle phase); got {text!r}") from None


def format_widths(widths) -> str:
    """The inverse of :func:`parse_widths`: ``"1.5"`` when every phase shares a width, else ``"1.5/0"``."""
    values = tuple(widths) if isinstance(widths, (tuple, list)) else (widths,)
    if len(set(values)) == 1:
        values = values[:1]
    return "/".join(f"{float(v):g}" for v in values)


def smooth(
    labels: np.ndarray,
    phases: Sequence[int],
    widths,
    *,
    background: int = 0,
    boundary: str = "periodic",
    frozen: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """One volume-constrained threshold step per phase of ``phases`` whose width is above 0.

    Parameters
    ----------
    labels : integer label image (any dimension)
    phases : the particle phase labels, in the order they are smoothed
    widths : Gaussian width (standard deviation, voxels) per phase of ``phases``, or one for all;
        0 leaves a phase unsmoothed
    background : the label of the remaining phase (takes the leavers no other phase claims)
    boundary : ``"periodic"`` or ``"noflux"``
    frozen : optional boolean mask of voxels that must not change

    Returns ``(smoothed labels, voxels changed)``; every label's count is unchanged.
    """
    check_boundary(boundary)
    widths = check_widths(widths, len(phases))
    out = np.array(labels, copy=True, order="C")  # C order: written through out.ravel() below
    free = np.ones(out.shape, bool) if frozen is None else ~np.asarray(frozen, bool)
    if free.shape != out.shape:
        raise ValueError(f"frozen mask shape {free.shape} does not match the image {out.shape}")
    mode = _MODES[boundary]

    def blurred(label: int, width: float) -> np.ndarray:
        return ndimage.gaussian_filter((out == label).astype(np.float64), width, mode=mode)

    for phase, width in zip(phases, widths):
        inside = out == phase
        n = int((inside & free).sum())
        if width == 0 or n == 0 or n == int(free.sum()):
            continue
        score = (blurred(phase, width) + _KEEP * inside)[free]
        keep = np.zeros(score.size, bool)
        keep[np.argpartition(-score, n - 1)[:n]] = True
        chosen = np.zeros(out.shape, bool)
        chosen[free] = keep
        joiners, leavers = chosen & ~inside, inside & free & ~chosen
        freed = out[joiners]
        where = np.flatnonzero(leavers)
        open_ = np.ones(where.size, bool)
        fill = np.full(where.size, background, out.dtype)
        for label, count in zip(*np.unique(freed, return_counts=True)):
            if label == background:
                continue
            density = np.where(open_, blurred(label, width).ravel()[where], -np.inf)
            pick = np.argpartition(-density, count - 1)[:count]
            fill[pick] = label
            open_[pick] = False
        out[joiners] = phase
        out.ravel()[where] = fill
    changed = int((out != labels).sum())
    return out, changed
