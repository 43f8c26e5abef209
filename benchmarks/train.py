"""Training throughput (images/s) of the default rock configuration.

Usage: python benchmarks/train.py [--crop 128] [--batch 16] [--steps 10] [--width 16] [--mults 1,2,4,4]
    [--patch 1] [--device auto] [--data scan.tif]

Without --data it trains on a synthetic binary volume (porosity 0.2). Prints images/s for the full
step (crops, corruption with exact targets, forward, backward, optimiser, EMA) and, separately,
for data + corruption alone, which shows whether the data pipeline could starve a GPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from microgen.training import TrainConfig, Trainer
from microgen.training.trainer import resolve_device


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--width", type=int, default=TrainConfig.width)
    p.add_argument("--mults", default=",".join(map(str, TrainConfig().mults)), help="comma-separated level multipliers")
    p.add_argument("--patch", type=int, default=TrainConfig.patch, help="space-to-depth factor of the network")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=None)
    args = p.parse_args()
    if args.data:
        from microgen.io import read_volume

        vol = (read_volume(args.data) == 1).astype(np.uint8)[None]
    else:
        vol = (np.random.default_rng(0).random((64, 256, 256)) < 0.2).astype(np.uint8)[None]
    mults = [int(m) for m in args.mults.split(",")]
    cfg = TrainConfig(
        crop=args.crop,
        batch=args.batch,
        steps=10**9,
        width=args.width,
        mults=mults,
        patch=args.patch,
        checkpoint_every=10**9,
    )
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as out:
        tr = Trainer(cfg, [vol], out, device=str(device))
        tr.train_step()  # warm-up
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            tr.train_step()
        sync()
        full = args.steps * args.batch / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(args.steps):
            crops = torch.as_tensor(tr.data.sample(args.batch)[0], device=device).long()
            tr.model.process.corrupt(crops, tr.times[torch.randint(1, 1001, (args.batch,))], tr.generator)
        sync()
        data = args.steps * args.batch / (time.perf_counter() - start)
    print(
        f"device {device}, threads {torch.get_num_threads()}, crop {args.crop}, batch {args.batch}, "
        f"width {args.width}, mults {mults}, patch {args.patch}, r {cfg.resolved_r()}"
    )
    print(f"training step: {full:.1f} images/s; data + corruption alone: {data:.1f} images/s")


if __name__ == "__main__":
    main()
