"""Network evaluation cost: milliseconds per evaluation of the rate UNet for several widths, and
for the space-to-depth network (``patch 2``: no full-resolution level).

``--upsampling both`` also times each network with the plain upsampling route (nearest x2, then
the 3-wide convolution at full resolution) in place of the folded one the network uses
(:func:`microgen.engine.network.upsample_conv`, the same numbers up to round-off), alternating
the two so that drifts of the machine fall on both.

Usage: python benchmarks/network.py [--size 256] [--batch 1] [--device cpu] [--precision auto]
       [--upsampling folded|plain|both] [--rounds 1]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from microgen.engine import NetworkConfig, RateUNet
from microgen.engine import network as network_module
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
    p.add_argument("--upsampling", default="folded", choices=["folded", "plain", "both"])
    p.add_argument("--rounds", type=int, default=1, help="alternations of the routes (median shown)")
    args = p.parse_args()
    device = torch.device(args.device)
    precision = resolve_precision(args.precision, device)
    print(f"device {device}, threads {torch.get_num_threads()}, {precision}, input {args.batch}x1x{args.size}^2")
    routes = ["folded", "plain"] if args.upsampling == "both" else [args.upsampling]
    for cfg in CONFIGS:
        net = RateUNet(NetworkConfig(channels=1, **cfg)).to(device).eval()
        params = sum(q.numel() for q in net.parameters())
        x = (torch.rand(args.batch, 1, args.size, args.size, device=device) < 0.2).long()
        t = torch.full((args.batch,), 0.1, device=device)
        times = {route: [] for route in routes}
        for _ in range(args.rounds):
            for route in routes:
                times[route].append(_time(net, x, t, route, args.repeat, device, precision))
        for route in routes:
            ms = sorted(times[route])[len(times[route]) // 2]
            print(
                f"width {cfg['width']:3d} mults {cfg['mults']!s:14s} patch {cfg.get('patch', 1)} "
                f"params {params / 1e6:5.2f} M  {route + ' upsampling':17s} "
                f"{ms:8.1f} ms/eval  {ms / args.batch:8.1f} ms/image"
            )


def _plain_upsample_conv(conv, h):
    return conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))


def _time(net, x, t, route, repeat, device, precision) -> float:
    """Milliseconds per evaluation with the given upsampling route."""
    folded = network_module.upsample_conv
    if route == "plain":
        network_module.upsample_conv = _plain_upsample_conv
    try:
        with torch.inference_mode(), autocast(device, precision):
            net(x, t)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(repeat):
                net(x, t)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return 1e3 * (time.perf_counter() - start) / repeat
    finally:
        network_module.upsample_conv = folded


if __name__ == "__main__":
    main()
