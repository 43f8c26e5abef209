"""Seams of images whose sides are not multiples of the network stride.

    python benchmarks/seams.py [--model berea] [--size 250] [--n 8] [--steps N] [--seed 0]

The network needs sides that are multiples of its stride (8 for the shipped models); other sides
are evaluated on the image wrapped to the next multiple (``DSDModel.check_shape``), which leaves
a seam where the network's own wrap-around joins the two extensions, just beyond the image edge.
The sampler moves that seam to a new place at every step (``DSDModel.patch_offsets``). This
script generates ``n`` images at ``--size`` three ways: with the moving seam (the default), with
the seam held at the image edge, and at the next multiple of the stride (no seam). For each it
prints the pore fraction and the interface density (phase changes per neighbour pair) over the
whole image, and the interface density across the periodic image edge (last row to first row,
last column to first column) as a z-score against the spread of the same figure over every other
row and column boundary: a seam that prints shows up as an edge z-score far from 0.
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


def describe(name: str, images: np.ndarray, seconds: float) -> None:
    pairs = sum(boundary_changes(images, axis).sum() for axis in (1, 2))
    density = pairs / (2 * images.size)
    print(
        f"{name:<22} {images.shape[1]}x{images.shape[2]}  porosity {np.mean(images == 1):.4f}  "
        f"interface {density:.4f}  edge z {edge_z(images):+.2f}  {seconds:.1f} s/image"
    )


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
    porosity = args.porosity
    print(f"model {args.model}, stride {stride}, porosity {porosity:.4f}, {args.n} images, seed {args.seed}")

    def run(size: int):
        gen = microgen.generate(
            model, {"pore": porosity}, shape=(size, size), n=args.n, seed=args.seed, steps=args.steps
        )
        return gen.images, gen.seconds / args.n

    describe("moving seam (default)", *run(args.size))
    moving = DSDModel.patch_offsets  # held: no offsets at all (nor a patch network's cell offsets)
    DSDModel.patch_offsets = lambda self, shape=None: [(0,) * self.ndim]
    try:
        describe("seam at the edge", *run(args.size))
    finally:
        DSDModel.patch_offsets = moving
    multiple = -(-args.size // stride) * stride
    describe("no seam (multiple)", *run(multiple))
    print(f"threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
