"""Fidelity of generated images against real ones, with the natural spread of real data.

A descriptor set is computed per image; two sets of images are compared metric by metric:

* curves (two-point autocovariance): mean absolute difference of the mean curves;
* distributions (chord lengths, local thickness): Wasserstein-1 distance of the pooled values
  (stored per image as histograms over integer lengths, so reference statistics can be saved
  and compared without the images);
* per-image scalars (fractions, interface densities, Euler densities): Wasserstein-1 distance of
  the per-image values.

:func:`fidelity_table` reports each distance between generated and real images next to the same
distance between two disjoint sets of real images (the natural spread), so a ratio <= 1 means
"as close to the real data as the data is to itself" (DESIGN.md section 2.6). Each row also holds
one summary value per set (:func:`summary`), so a failing metric says which way it is off (e.g.
generated pores smaller than real ones).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from . import morphology as mo
from . import transport as tr

CURVE, DISTRIBUTION, SCALAR = "curve", "distribution", "scalar"


def describe(images, phases, *, thickness: bool = True, r_max: int | None = None, diffusivity=None) -> dict:
    """Descriptors of a list of label images for the given phase codes.

    With three phase codes present the triple-phase boundary density is added; with
    ``diffusivity`` (a phase code) the relative diffusivity of that phase along axis 0 (TauFactor;
    unconverged solves are recorded as NaN with a warning).

    Returns ``{metric name: (kind, values)}`` where ``values`` is a list (one entry per image) of
    curves, arrays or scalars.
    """
    images = [np.asarray(im) for im in images]
    if not images:
        raise ValueError("no image to describe")
    r_max = r_max or min(images[0].shape) // 4
    out: dict[str, tuple[str, list]] = {}
    for p in phases:
        masks = [im == p for im in images]
        out[f"fraction[{p}]"] = (SCALAR, [float(m.mean()) for m in masks])
        out[f"two_point[{p}]"] = (CURVE, [mo.two_point_autocovariance(m, r_max) for m in masks])
        out[f"chord_length[{p}]"] = (DISTRIBUTION, [np.bincount(mo.chord_lengths(m)) for m in masks])
        out[f"euler_density[{p}]"] = (SCALAR, [mo.euler_density(m) for m in masks])
        if thickness:
            thick = [np.rint(mo.local_thickness(m)).astype(np.int64) for m in masks]
            out[f"local_thickness[{p}]"] = (DISTRIBUTION, [np.bincount(v) for v in thick])
    codes = sorted(set(int(c) for im in images for c in np.unique(im)) | set(phases))
    for a, b in combinations(codes, 2):
        out[f"interface[{a}-{b}]"] = (SCALAR, [mo.interface_density(im, a, b) for im in images])
    if len(codes) == 3:
        out["tpb_density"] = (SCALAR, [tr.triple_phase_boundary_density(im, codes) for im in images])
    if diffusivity is not None:
        values = []
        for im in images:
            res = tr.tortuosity(im, diffusivity, axis=0)
            values.append(res.relative_diffusivity if res.converged else float("nan"))
        out[f"relative_diffusivity[{diffusivity}]"] = (SCALAR, values)
    return out


def distance(kind: str, a: list, b: list) -> float:
    """Distance between two sets of per-image values of one metric (see module docstring)."""
    from scipy.stats import wasserstein_distance  # here: scipy.stats costs 0.4 s at import

    if kind == CURVE:
        ma, mb = np.nanmean(np.stack(a), axis=0), np.nanmean(np.stack(b), axis=0)
        return float(np.nanmean(np.abs(ma - mb)))
    if kind == DISTRIBUTION:
        ha, hb = _pooled_histogram(a), _pooled_histogram(b)
        if ha.sum() == 0 or hb.sum() == 0:
            return float("nan")
        return float(wasserstein_distance(np.arange(ha.size), np.arange(hb.size), ha, hb))
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    return float(wasserstein_distance(a, b))


def summary(kind: str, values: list) -> float:
    """One number per set of per-image values, in the metric's own units.

    Scalars: the mean. Distributions (lengths in voxels): the mean of the pooled values.
    Curves (normalised two-point autocovariance, 1 at r = 0): the correlation length, the first lag
    where the mean curve falls below 1/e (linear interpolation; NaN if it never does).
    """
    if kind == CURVE:
        curve = np.nanmean(np.stack(values), axis=0)
        below = np.flatnonzero(curve < np.exp(-1.0))
        if not below.size or below[0] == 0:
            return float("nan")
        i = int(below[0])
        hi, lo = curve[i - 1], curve[i]
        return float(i - 1 + (hi - np.exp(-1.0)) / (hi - lo))
    if kind == DISTRIBUTION:
        hist = _pooled_histogram(values)
        return float(hist @ np.arange(hist.size) / hist.sum()) if hist.sum() > 0 else float("nan")
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


#: what :func:`summary` returns for each kind of metric (for tables and reports)
SUMMARY_NAMES = {CURVE: "correlation length (voxels)", DISTRIBUTION: "mean (voxels)", SCALAR: "mean"}


def _pooled_histogram(hists) -> np.ndarray:
    size = max((len(h) for h in hists), default=0)
    out = np.zeros(size)
    for h in hists:
        out[: len(h)] += np.asarray(h, dtype=np.float64)
    return out


#: the issues' pass criterion: a metric passes when its distance to the real set is within this many
#: natural spreads (every fidelity table, report, card and shipping rule uses it)
PASS_RATIO = 1.5


def fidelity_table(generated, real, real_other, phases, *, tolerance: float = PASS_RATIO, **kw) -> list[dict]:
    """Compare ``generated`` with ``real`` and measure the natural spread ``real_other`` vs ``real``.

    Each of the three may be a list of label images or the output of :func:`describe` (e.g.
    reference statistics loaded with :func:`load_descriptors`).

    Returns rows ``{metric, kind, distance, spread, ratio, passed, generated, real}`` with
    ``passed = distance <= tolerance * spread``; ``generated`` and ``real`` are the
    :func:`summary` of the generated set and of ``real``.
    """
    dg, dr, do = (x if isinstance(x, dict) else describe(x, phases, **kw) for x in (generated, real, real_other))
    rows = []
    for name, (kind, values) in dr.items():
        if name not in dg or name not in do:
            continue
        d = distance(kind, dg[name][1], values)
        s = distance(kind, do[name][1], values)
        ratio = d / s if s > 0 else (0.0 if d == 0 else float("inf"))
        rows.append(
            {
                "metric": name,
                "kind": kind,
                "distance": d,
                "spread": s,
                "ratio": ratio,
                "passed": bool(d <= tolerance * s),
                "generated": summary(kind, dg[name][1]),
                "real": summary(kind, values),
            }
        )
    return rows


def crop_axes(shape, size: int) -> list:
    """Where ``size x size`` 2D crops fit: for a 3D ``shape`` the axes whose slices are large
    enough; for a 2D ``shape`` ``[None]`` (the image itself) if it is large enough; else ``[]``."""
    if len(shape) == 2:
        return [None] if min(shape) >= size else []
    return [a for a in range(len(shape)) if all(shape[b] >= size for b in range(len(shape)) if b != a)]


def random_crops(volume: np.ndarray, n: int, size: int, rng: np.random.Generator, axes=None) -> list[np.ndarray]:
    """``n`` random ``size x size`` 2D crops (slices along random axes if ``volume`` is 3D; along
    one of ``axes`` only when given)."""
    volume = np.asarray(volume)
    axes_ok = crop_axes(volume.shape, size) if volume.ndim == 3 else None
    if axes_ok is not None and axes is not None:
        axes_ok = [a for a in axes_ok if a in axes]
    out = []
    for _ in range(n):
        img = volume
        if volume.ndim == 3:
            if not axes_ok:
                along = "" if axes is None else f" along axes {sorted(axes)}"
                raise ValueError(f"volume {volume.shape} is too small for {size}x{size} crops{along}")
            axis = int(rng.choice(axes_ok))
            img = np.take(volume, int(rng.integers(volume.shape[axis])), axis=axis)
        if min(img.shape) < size:
            raise ValueError(f"image {img.shape} is too small for {size}x{size} crops")
        y = int(rng.integers(img.shape[0] - size + 1))
        x = int(rng.integers(img.shape[1] - size + 1))
        out.append(np.ascontiguousarray(img[y : y + size, x : x + size]))
    return out


def reference_sets(held, train, n: int, size: int, phases, rng) -> tuple[list, list]:
    """Two disjoint real sets: ``n`` crops of the held-out volume(s) (set A) and ``n`` crops of the
    training volume(s) matched one-to-one to A in phase fractions (set B, the natural spread).

    Set B is sliced along the axes set A can be (a held-out block thinner than ``size`` along
    axis 0 only gives sections perpendicular to it), so that an anisotropic scan's spread is not
    inflated by orientations the held-out set never shows."""
    held = held if isinstance(held, list) else [held]
    train = train if isinstance(train, list) else [train]
    a = crops_over(held, n, size, rng)[:n]
    return a, match_by_fraction(a, crops_over(train, 4 * n, size, rng, held_axes(held, train, size)), phases)


def held_axes(held, train, size: int) -> list[int] | None:
    """The axes along which ``size x size`` crops of the held-out volume(s) can be sliced, the
    axes a training set compared with them should be sliced along (None: 2D images, no choice)."""
    held = held if isinstance(held, list) else [held]
    train = train if isinstance(train, list) else [train]
    if not all(np.ndim(v) == 3 for v in held + train):
        return None
    return sorted({ax for v in held for ax in crop_axes(np.shape(v), size)})


def crops_over(volumes: list, k: int, size: int, rng: np.random.Generator, axes=None) -> list[np.ndarray]:
    """At least ``k`` random crops, the same number from each of ``volumes`` in turn
    (:func:`random_crops`, along ``axes`` only when given)."""
    return [c for v in volumes for c in random_crops(v, -(-k // len(volumes)), size, rng, axes)]


def match_by_fraction(targets, pool, phases) -> list[np.ndarray]:
    """For each target image pick a distinct pool image with the closest phase fractions."""
    pool = list(pool)
    if len(pool) < len(targets):
        raise ValueError("the pool must hold at least as many images as the targets")
    frac = lambda im: np.array([np.mean(im == p) for p in phases])  # noqa: E731
    pool_f = np.stack([frac(im) for im in pool])
    used = np.zeros(len(pool), dtype=bool)
    chosen = []
    for im in targets:
        d = np.abs(pool_f - frac(im)).sum(1)
        d[used] = np.inf
        k = int(np.argmin(d))
        used[k] = True
        chosen.append(pool[k])
    return chosen


def descriptors_to_json(desc: dict) -> dict:
    """JSON-ready form of :func:`describe` output."""
    return {
        name: {"kind": kind, "values": [np.asarray(v).tolist() for v in values]}
        for name, (kind, values) in desc.items()
    }


def descriptors_from_json(data: dict) -> dict:
    """Inverse of :func:`descriptors_to_json`."""
    out = {}
    for name, item in data.items():
        values = item["values"] if item["kind"] == SCALAR else [np.asarray(v) for v in item["values"]]
        out[name] = (item["kind"], values)
    return out


def subset(desc: dict, n: int) -> dict:
    """The descriptors of the first ``n`` images."""
    return {name: (kind, values[:n]) for name, (kind, values) in desc.items()}
