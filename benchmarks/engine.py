"""Engine benchmarks: corruption throughput, sampler overhead per step, peak memory.

Usage: python benchmarks/engine.py [--device cpu|cuda] [--size 256] [--batch 64] [--repeat 5] [--r 250]

Prints
(a) corruption with exact reverse-rate targets, images/s, binary images at porosity 0.2,
    periodic and no-flux;
(b) the sampler's own cost per step (everything but the network) for both step rules, next to
    one network evaluation of the default architecture, at the same size;
(c) the peak memory of each (resident set on CPU, allocator peak on CUDA); each case runs in its
    own subprocess so the peaks do not mix.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def corruption(boundary: str, size: int, batch: int, repeat: int, device, r: float | None) -> dict:
    from microgen.engine import DSDProcess, Schedule, kernels

    gen = torch.Generator(device=device).manual_seed(0)
    r = r or kernels.mixing_rate(size, boundary)
    proc = DSDProcess(r, boundary, 2)
    counts = (torch.rand((batch, 1, size, size), generator=gen, device=device) < 0.2).long()
    times = torch.as_tensor(Schedule("power", 1000, power=4.0).times()[1:])
    pick = lambda: times[torch.randint(0, 1000, (batch,))]  # noqa: E731
    for _ in range(16):  # warm-up: kernel tables of the schedule's times get cached, as in training
        proc.corrupt(counts, pick(), gen, with_rates=False)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        proc.corrupt(counts, pick(), gen)
    _sync(device)
    dt = time.perf_counter() - start
    return {"case": f"corrupt {boundary}", "r": round(r, 1), "images_per_s": round(batch * repeat / dt, 1)}


def sampler_step(rule: str, size: int, batch: int, repeat: int, device) -> dict:
    from microgen.engine import NetworkConfig, RateUNet
    from microgen.engine.sampler import binomial_moves, poisson_moves

    gen = torch.Generator(device=device).manual_seed(0)
    counts = (torch.rand((batch, 1, size, size), generator=gen, device=device) < 0.2).long()
    net = RateUNet(NetworkConfig(channels=1, width=32, mults=[1, 2, 2])).to(device).eval()
    t = torch.full((batch,), 0.1, device=device)
    with torch.inference_mode():
        out = net(counts, t)
        rates = out.unflatten(1, (1, 4)).double() * 300.0
        tau = torch.full((batch,), 1e-3, dtype=torch.float64, device=device)
        move = binomial_moves if rule == "binomial" else poisson_moves

        def step():
            occupied = (counts > 0).unsqueeze(2)
            float((rates * occupied).sum(2).max())  # the leap rule's reduction
            return move(counts, rates, tau, gen)

        step()
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeat):
            step()
        _sync(device)
        t_step = (time.perf_counter() - start) / repeat
        start = time.perf_counter()
        for _ in range(repeat):
            net(counts, t)
        _sync(device)
        t_net = (time.perf_counter() - start) / repeat
    return {
        "case": f"sampler step {rule}",
        "step_ms": round(1e3 * t_step, 2),
        "network_ms": round(1e3 * t_net, 2),
        "overhead_vs_network": round(t_step / t_net, 3),
    }


def _run_case(args) -> dict:
    device = torch.device(args.device)
    if args.case.startswith("corrupt"):
        res = corruption(args.case.split(":")[1], args.size, args.batch, args.repeat, device, args.r)
    else:
        res = sampler_step(args.case.split(":")[1], args.size, args.sampler_batch, args.repeat, device)
    res["peak_memory_mb"] = round(_peak_mb(device), 1)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=64, help="images per corruption call")
    p.add_argument("--sampler-batch", type=int, default=1, help="images per sampler step")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--r", type=float, default=250.0, help="hop rate for corruption (0: mixes a size^2 image)")
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        print(json.dumps(_run_case(args)))
        return
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, size {args.size}")
    cases = ["corrupt:periodic", "corrupt:noflux", "step:binomial", "step:poisson"]
    for case in cases:
        cmd = [sys.executable, __file__, "--case", case] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "case"
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        res = json.loads(out)
        name = res.pop("case")
        print(f"{name:24s} " + "  ".join(f"{k}={v}" for k, v in res.items()))


if __name__ == "__main__":
    main()
