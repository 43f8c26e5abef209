"""Count-preserving dissolution of small islands of one phase, without changing any other topology.

A model that is not fully trained leaves a few more tiny disconnected islands of a phase (e.g.
two- to four-voxel pore specks in grain) than the real material has; :func:`polish` removes
single voxels but not these, and each one adds one to the phase's Euler number. :func:`dissolve`
turns every island of ``phase`` with at most ``max_size`` voxels into the phase that surrounds it,
and puts the same number of ``phase`` voxels back on the surface of the larger bodies of ``phase``,
one at a time, each at a *simple point* (a voxel whose change alters no component, cavity or
tunnel in its neighbourhood; Bertrand & Malandain, Pattern Recognit. Lett. 15, 1994), chosen by
how many unlike faces it removes. Counts of every phase stay exact; the only change of topology is
the removal of the islands (with three or more phases: of the phase and of the rest taken
together; the other phases among themselves may change). An island need not be a plain speck: a
small ring encloses a hole, and dissolving it joins the hole to what surrounds the ring, so the
topology after is that of the image with the islands erased.

Connectivity follows :func:`microgen.metrics.euler_number`: by default (``connectivity="full"``)
the phase is 8-connected in 2D (26 in 3D) and everything else 4-connected (6): its islands are
the specks of that phase. With ``connectivity="face"`` the pairing is reversed (the phase 4/6-,
the rest 8/26-connected): the islands of the background phase of a two-phase image are then
exactly the *holes* (2D) or *cavities* (3D) of the other phase as its Euler number counts them
(e.g. grain specks inside a pore); removing each changes that Euler number by one (up in 2D,
down in 3D).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .lattice import check_boundary, check_count

CONNECTIVITIES = ("full", "face")


def check_max_size(max_size, what: str = "island size") -> int:
    """Return ``max_size`` if it is an integer >= 0 (not a bool), else raise ``ValueError``."""
    return check_count(max_size, what)


def dissolve(
    labels: np.ndarray,
    phase: int,
    max_size: int,
    *,
    boundary: str = "periodic",
    frozen: np.ndarray | None = None,
    connectivity: str = "full",
) -> tuple[np.ndarray, int]:
    """Dissolve the islands of ``phase`` with at most ``max_size`` voxels (module docstring).

    Parameters
    ----------
    labels : integer array ``(*shape)``, 2D or 3D
    phase : the label whose islands are dissolved
    max_size : largest island dissolved (0 returns a copy)
    boundary : ``"periodic"`` (components wrap around) or ``"noflux"``
    frozen : boolean array; True voxels are never changed, and an island with a frozen voxel is kept
        (so is one on the border of a no-flux box, whose border is never changed)
    connectivity : ``"full"`` (the phase 8/26-connected, the rest 4/6) or ``"face"`` (reversed)

    Returns
    -------
    the new labels (same dtype) and the number of voxels moved (0, and the image unchanged,
    where no larger body of ``phase`` can take the voxels back).
    """
    max_size = check_max_size(max_size)
    check_boundary(boundary)
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity must be one of {CONNECTIVITIES}, got {connectivity!r}")
    full = connectivity == "full"
    out = np.array(labels, copy=True)
    if out.ndim not in (2, 3):
        raise ValueError(f"island dissolution needs a 2D or 3D image, got {out.ndim}D")
    free = np.ones(out.shape, bool) if frozen is None else ~np.asarray(frozen, dtype=bool)
    if free.shape != out.shape:
        raise ValueError(f"frozen must have the image's shape {out.shape}, got {free.shape}")
    if max_size == 0:
        return out, 0
    periodic = boundary == "periodic"
    comp, sizes = _components(out == phase, periodic, full)
    small = np.flatnonzero((sizes >= 1) & (sizes <= max_size))
    if small.size == 0:
        return out, 0
    edge = ~free
    if not periodic:  # outside a no-flux box is neither phase: keep the box's border as it is
        for axis in range(out.ndim):
            edge[(slice(None),) * axis + (0,)] = True
            edge[(slice(None),) * axis + (-1,)] = True
        free = free & ~edge
    locked = np.unique(comp[edge])
    small = small[~np.isin(small, locked)]
    island = np.isin(comp, small)
    moved = int(island.sum())
    if moved == 0:
        return out, 0
    _fill_in(out, island, phase, periodic)
    taken = {}
    for idx in zip(*np.nonzero(island)):
        taken[int(out[idx])] = taken.get(int(out[idx]), 0) + 1
    for q, count in taken.items():
        if _grow(out, phase, q, count, free & ~island, periodic, full) < count:
            # no larger body to take the voxels back (a tiny image): leave the image as it was
            return np.array(labels, copy=True), 0
    return out, moved


def dissolve_phases(
    labels: np.ndarray,
    phases,
    max_size: int,
    *,
    boundary: str = "periodic",
    frozen: np.ndarray | None = None,
    holes: int = 0,
    background: int = 0,
) -> tuple[np.ndarray, int]:
    """:func:`dissolve` the islands of every phase in ``phases`` in turn (fully connected, at most
    ``max_size`` voxels), then the face-connected islands of the ``background`` phase of at most
    ``holes`` voxels (the holes of the other phases; 0 = none); returns the new labels and the
    voxels moved in all."""
    moved = 0
    for phase in phases:
        labels, n = dissolve(labels, phase, max_size, boundary=boundary, frozen=frozen)
        moved += n
    if holes:
        labels, n = fill_holes(labels, background, holes, boundary=boundary, frozen=frozen)
        moved += n
    return labels, moved


def fill_holes(
    labels: np.ndarray,
    background: int,
    max_size: int,
    *,
    boundary: str = "periodic",
    frozen: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Fill the holes of the other phases with at most ``max_size`` voxels: :func:`dissolve` the
    face-connected islands of ``background`` (module docstring; 0 returns a copy)."""
    return dissolve(labels, background, max_size, boundary=boundary, frozen=frozen, connectivity="face")


def _components(mask: np.ndarray, periodic: bool, full: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Component index of every voxel (0 = not in ``mask``) under full (else face) connectivity,
    joined across the wrap when periodic, and the size of every component (index 0: unused)."""
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim if full else 1)
    comp, n = ndimage.label(mask, structure=structure)
    if periodic and n:
        # label a copy padded by one wrapped layer: a padded voxel's label joins its original's
        padded, _ = ndimage.label(np.pad(mask, 1, mode="wrap"), structure=structure)
        orig = np.pad(comp, 1, mode="wrap")
        pairs = np.unique(np.stack([padded.ravel(), orig.ravel()], 1)[padded.ravel() > 0], axis=0)
        parent = np.arange(n + 1)

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        first: dict[int, int] = {}
        for pl, ol in pairs:  # originals sharing a padded label belong together
            pl, ol = int(pl), int(ol)
            if pl in first:
                ra, rb = find(first[pl]), find(ol)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            else:
                first[pl] = ol
        comp = np.array([find(i) for i in range(n + 1)])[comp]
    sizes = np.bincount(comp.ravel(), minlength=int(comp.max()) + 1)
    sizes[0] = 0
    return comp, sizes


def _neighbourhood(labels: np.ndarray, idx: tuple, periodic: bool) -> np.ndarray:
    """The 3x3(x3) block around ``idx`` (wrapped when periodic; ``-1`` outside a no-flux box)."""
    parts = []
    for axis, i in enumerate(idx):
        n = labels.shape[axis]
        parts.append(np.arange(i - 1, i + 2) % n if periodic else np.arange(i - 1, i + 2))
    if periodic:
        return labels[np.ix_(*parts)]
    block = np.full((3,) * labels.ndim, -1, dtype=np.int64)
    inside = [(p >= 0) & (p < labels.shape[a]) for a, p in enumerate(parts)]
    sub = labels[np.ix_(*[p[m] for p, m in zip(parts, inside)])]
    block[np.ix_(*[np.flatnonzero(m) for m in inside])] = sub
    return block


def _face_offsets(ndim: int):
    for axis in range(ndim):
        for step in (-1, 1):
            off = [1] * ndim
            off[axis] += step
            yield tuple(off)


def _fill_in(labels, island, phase, periodic) -> None:
    """Give every ``island`` voxel the most common label among its face neighbours that are
    neither ``phase`` nor still pending, peeling the islands from their surface inwards."""
    pending = island.copy()
    while pending.any():
        done = []
        waiting = pending.astype(np.int8)  # pending changes only after the pass
        for idx in zip(*np.nonzero(pending)):
            block = _neighbourhood(labels, idx, periodic)
            wait = _neighbourhood(waiting, idx, periodic)
            values = [int(block[o]) for o in _face_offsets(labels.ndim) if wait[o] != 1]
            values = [v for v in values if v not in (phase, -1)]
            if values:
                done.append((idx, max(set(values), key=values.count)))
        if not done:
            raise RuntimeError("internal error: an island is not surrounded by another phase")
        for idx, value in done:
            labels[idx] = value
            pending[idx] = False


_SIMPLE_CACHE: dict[bytes, bool] = {}


def is_simple(block: np.ndarray) -> bool:
    """Whether the centre of a boolean 3x3(x3) ``block`` (True = the phase) is a simple point:
    adding it to or removing it from the phase changes no component, cavity or tunnel locally.
    The phase is 8/26-connected, its complement 4/6-connected."""
    block = np.asarray(block, bool)
    key = block.tobytes() + bytes([block.ndim])
    hit = _SIMPLE_CACHE.get(key)
    if hit is not None:
        return hit
    ndim = block.ndim
    centre = (1,) * ndim
    ring = block.copy()
    ring[centre] = False
    _, n_fg = ndimage.label(ring, structure=np.ones((3,) * ndim, bool))
    # background: components of the complement among the 4/6 (2D) or 18 (3D) neighbours, joined by
    # face adjacency, that touch the centre by a face
    cross = ndimage.generate_binary_structure(ndim, 1)
    if ndim == 2:
        near = np.ones((3, 3), bool)
    else:
        near = ndimage.generate_binary_structure(3, 2)
    bg = ~block & near
    bg[centre] = False
    lab, _ = ndimage.label(bg, structure=cross)
    touching = {int(lab[o]) for o in _face_offsets(ndim)} - {0}
    simple = n_fg == 1 and len(touching) == 1
    _SIMPLE_CACHE[key] = simple
    return simple


def _grow(labels, phase, q, count, allowed, periodic, full=True) -> int:
    """Turn ``count`` voxels of ``q`` next to ``phase`` into ``phase`` (in place), greedily by the
    number of unlike faces removed, only at simple points (for the phase full- or face-connected:
    a point is simple for a set exactly when it is simple for the complement under the reversed
    pairing); returns how many were placed."""
    placed = 0
    for need_simple in (True, False):  # simple points first; any site only if those run out
        while placed < count:
            # the candidates next to the phase, best first; placing voxels makes new ones, so a
            # pass that placed some but not enough is followed by another over the new surface
            before = placed
            for flat in _surface_order(labels, phase, q, allowed, periodic):
                if placed == count:
                    return placed
                idx = np.unravel_index(flat, labels.shape)
                if labels[idx] != q:
                    continue
                mine = _neighbourhood(labels, idx, periodic) == phase
                if not need_simple or is_simple(mine if full else ~mine):
                    labels[idx] = phase
                    placed += 1
            if placed == before:
                break
    return placed


def _surface_order(labels, phase, q, allowed, periodic) -> np.ndarray:
    """Flat indices of the ``allowed`` voxels of ``q`` with a face on ``phase``, by the number of
    unlike faces that turning them into ``phase`` removes (most first; ties in index order)."""
    own = np.zeros(labels.shape, np.int8)
    same = np.zeros(labels.shape, np.int8)
    for axis in range(labels.ndim):
        for step in (-1, 1):
            own += _shift(labels == phase, step, axis, periodic)
            same += _shift(labels == q, step, axis, periodic)
    gain = own.astype(np.int16) - same  # faces removed by q -> phase
    cand = np.flatnonzero((labels == q).ravel() & allowed.ravel() & (own.ravel() > 0))
    return cand[np.argsort(-gain.ravel()[cand], kind="stable")]


def _shift(mask: np.ndarray, step: int, axis: int, periodic: bool) -> np.ndarray:
    """``mask`` of the neighbour at ``step`` along ``axis`` (False outside a no-flux box)."""
    if periodic:
        return np.roll(mask, -step, axis)
    out = np.zeros_like(mask)
    src = [slice(None)] * mask.ndim
    dst = [slice(None)] * mask.ndim
    if step > 0:
        src[axis], dst[axis] = slice(1, None), slice(None, -1)
    else:
        src[axis], dst[axis] = slice(None, -1), slice(1, None)
    out[tuple(dst)] = mask[tuple(src)]
    return out


__all__ = ["CONNECTIVITIES", "check_max_size", "dissolve", "dissolve_phases", "fill_holes", "is_simple"]
