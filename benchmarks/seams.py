"""Stride-grid artefacts and seams: what the sampler's per-step offsets remove.

    python benchmarks/seams.py [--model berea] [--size 250] [--n 8] [--steps N] [--seed 0]

The network is equivariant only to shifts by multiples of its stride (8 for the shipped models),
and it needs sides that are multiples of it: other sides are evaluated on the image wrapped to
the next multiple (``DSDModel.check_shape``), which leaves a seam just beyond the image edge. The
sampler can roll the image by a different offset at each step (``DSDModel.patch_offsets``: every
offset of the stride cell for models exported since session 21; low-discrepancy offsets over the
whole image for every model where the sides are not multiples).

This script generates ``n`` images four ways: at the next multiple of the stride and at
``--size``, each with the offsets and with the grid held still. For each it prints the pore
fraction; the interface density (phase changes per neighbour pair); the stride profile (phase
changes across the boundaries between slice ``k`` and ``k + 1``, averaged over ``k`` of each
residue modulo the stride, over their mean: 1.00 everywhere when nothing sits on the stride grid;
multiples only); and the changes across the periodic image edge (last slice to first) as a
z-score against the spread over every other boundary (a seam that prints shows as a z far
from 0).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import microgen
from microgen.engine.model import DSDModel


def boundary_changes(images: np.ndarray, axis: int) -> np.ndarray:
    """Phase changes across each boundary between slice ``k`` and ``k + 1`` (periodic) along
    ``axis`` of ``(n, H, W)`` images, summed over the images: one figure per boundary, the last
    one across the image edge."""
    return (images != np.roll(images, -1, axis=axis)).sum(axis=tuple(a for a in range(3) if a != axis))


def edge_z(images: np.ndarray) -> float:
    """Mean over both axes of (changes across the image edge - mean over the other boundaries) /
    their standard deviation."""
    scores = []
    for axis in (1, 2):
        changes = boundary_changes(images, axis).astype(float)
        inner = changes[:-1]
        scores.append((changes[-1] - inner.mean()) / inner.std())
    return float(np.mean(scores))


def describe(name: str, images: np.ndarray, seconds: float, stride: int) -> None:
    pairs = sum(boundary_changes(images, axis).sum() for axis in (1, 2))
    density = pairs / (2 * images.size)
    line = (
        f"{name:<28} {images.shape[1]}x{images.shape[2]}  porosity {np.mean(images == 1):.4f}  "
        f"interface {density:.4f}  edge z {edge_z(images):+.2f}  {seconds:.1f} s/image"
    )
    if images.shape[1] % stride == 0 and images.shape[2] % stride == 0:
        line += (
            "\n"
            + " " * 29
            + "stride profile "
            + "  |  ".join(" ".join(f"{v:.2f}" for v in stride_profile(images, axis, stride)) for axis in (1, 2))
        )
    print(line)


def stride_profile(images: np.ndarray, axis: int, stride: int) -> np.ndarray:
    """Phase changes across the boundaries ``k | k + 1`` averaged over ``k`` of each residue
    modulo ``stride``, over their mean."""
    changes = boundary_changes(images, axis).astype(float)
    by_class = changes.reshape(-1, stride).mean(axis=0)
    return by_class / by_class.mean()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="berea")
    p.add_argument("--size", type=int, default=250, help="a side that is not a multiple of the stride")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--steps", type=int, default=None, help="network evaluations (default: the model's)")
    p.add_argument("--porosity", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    model = microgen.load_model(args.model, "cpu")
    stride = model.network_config.stride
    if args.size % stride == 0:
        raise SystemExit(f"--size {args.size} is a multiple of the stride {stride}: no seam to measure")
    print(f"model {args.model}, stride {stride}, porosity {args.porosity:.4f}, {args.n} images, seed {args.seed}")

    def run(size: int, offsets: str = "auto"):
        gen = microgen.generate(
            model,
            {"pore": args.porosity},
            shape=(size, size),
            n=args.n,
            seed=args.seed,
            steps=args.steps,
            offsets=offsets,
        )
        return gen.images, gen.seconds / args.n

    multiple = -(-args.size // stride) * stride
    for size in (multiple, args.size):  # every offset of the stride cell (models exported since session 21)
        describe(f"offsets, {size}", *run(size, "stride"), stride)
    still = DSDModel.patch_offsets
    DSDModel.patch_offsets = lambda self, shape=None: [(0,) * self.ndim]  # no offsets at all, at any size
    try:
        for size in (multiple, args.size):
            describe(f"grid held still, {size}", *run(size), stride)
    finally:
        DSDModel.patch_offsets = still
    print(f"threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
