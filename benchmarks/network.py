"""Network evaluation cost: milliseconds per evaluation of the rate UNet for several widths, and
for the space-to-depth network (``patch 2``: no full-resolution level).

Usage: python benchmarks/network.py [--size 256] [--batch 1] [--device cpu] [--precision auto]
"""

from __future__ import annotations

import argparse
import time

import torch

from microgen.engine import NetworkConfig, RateUNet
from microgen.engine.precision import PRECISIONS, autocast, resolve_precision

CONFIGS = [
    {"width": 16, "mults": [1, 2, 2]},
    {"width": 16, "mults": [1, 2, 4]},
    {"width": 24, "mults": [1, 2, 2]},
    {"width": 32, "mults": [1, 2, 2]},
    {"width": 32, "mults": [1, 2, 2, 2]},
    {"width": 16, "mults": [1, 2, 4, 4]},
    {"width": 16, "mults": [1, 2, 4, 8]},
    {"width": 32, "mults": [1, 2, 2], "patch": 2},
    {"width": 32, "mults": [1, 2, 2, 2], "patch": 2},
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    args = p.parse_args()
    device = torch.device(args.device)
    precision = resolve_precision(args.precision, device)
    print(f"device {device}, threads {torch.get_num_threads()}, {precision}, input {args.batch}x1x{args.size}^2")
    for cfg in CONFIGS:
        net = RateUNet(NetworkConfig(channels=1, **cfg)).to(device).eval()
        params = sum(q.numel() for q in net.parameters())
        x = (torch.rand(args.batch, 1, args.size, args.size, device=device) < 0.2).long()
        t = torch.full((args.batch,), 0.1, device=device)
        with torch.inference_mode(), autocast(device, precision):
            net(x, t)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.repeat):
                net(x, t)
            if device.type == "cuda":
                torch.cuda.synchronize()
        ms = 1e3 * (time.perf_counter() - start) / args.repeat
        print(
            f"width {cfg['width']:3d} mults {cfg['mults']!s:14s} patch {cfg.get('patch', 1)} "
            f"params {params / 1e6:5.2f} M  "
            f"{ms:8.1f} ms/eval  {ms / args.batch:8.1f} ms/image"
        )


if __name__ == "__main__":
    main()
