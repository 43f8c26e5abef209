"""Generation speed: seconds per sample for the step rules, precisions, batch sizes and compile.

    python benchmarks/speed.py [--model berea] [--size 256] [--device cpu|cuda] [--threads 2]
        [--batch 1 4] [--full] [--compile] [--samplers trapezoidal:100 multistep:50] [--precisions bfloat16]

Prints
(a) one network evaluation, per image, for each batch size and precision (float32; bfloat16 where
    the device has it natively; float16 on CUDA), eager and, with --compile, torch.compile'd;
(b) with --full, end-to-end seconds per sample of ``microgen.generate`` (the model's defaults, with
    the default rule at DEFAULT_EVALUATIONS, or each --samplers NAME:EVALUATIONS) at each
    precision, exact counts checked, one run each after an untimed short one: the figure users see.
Every figure is a wall-clock median of --repeat runs after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import microgen
from microgen.domains import get_kind
from microgen.engine.precision import autocast, resolve_precision
from microgen.engine.sampler import DEFAULT_EVALUATIONS, DEFAULT_SAMPLER


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _median_seconds(fn, repeat: int, device) -> float:
    fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="berea")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch", type=int, nargs="*", default=[1, 4])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd networks")
    p.add_argument("--full", action="store_true", help="also time end-to-end generation")
    p.add_argument(
        "--samplers",
        nargs="*",
        default=[f"{DEFAULT_SAMPLER}:{DEFAULT_EVALUATIONS}"],
        help="step rules NAME:EVALUATIONS for --full (default: the product default)",
    )
    p.add_argument("--precisions", nargs="*", default=None, help="only these precisions (default: all native)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = microgen.load_model(args.model, device)
    kind = get_kind(model.meta["kind"])
    precisions = ["float32"]
    if resolve_precision("auto", device) == "bfloat16":
        precisions.append("bfloat16")
    if device.type == "cuda":
        precisions.append("float16")
    if args.precisions:
        precisions = [x for x in precisions if x in args.precisions]
    print(
        f"model {args.model}, device {device}, threads {torch.get_num_threads()}, size {args.size}^2, "
        f"torch {torch.__version__}"
    )
    net = model.net
    variants = [("eager", net)]
    if args.compile:
        variants.append(("compiled", torch.compile(net)))
    for name, module in variants:
        model.net = module
        for batch in args.batch:
            counts = (torch.rand(batch, model.channels, args.size, args.size, device=device) < 0.2).long()
            t = torch.full((batch,), 0.01, dtype=torch.float64, device=device)
            for precision in precisions:

                def evaluate(counts=counts, t=t, precision=precision):
                    with torch.inference_mode(), autocast(device, precision):
                        model.particle_rates(counts, t)

                seconds = _median_seconds(evaluate, args.repeat, device)
                print(
                    f"network evaluation  {name:8s} batch {batch:3d}  {precision:9s} "
                    f"{1000 * seconds / batch:8.1f} ms per image ({batch / seconds:7.1f} images/s)"
                )
    model.net = net
    if args.full:
        fractions = dict(zip(kind.channel_names, (0.2,) if model.channels == 1 else (0.5, 0.1)))
        # one short untimed run first, so that start-up costs (CUDA context, kernel choice) are not timed
        microgen.generate(model, fractions, shape=(args.size,) * 2, n=1, seed=0, device=args.device, steps=2)
        for precision in precisions:
            for rule in args.samplers:
                name, evaluations = rule.split(":")
                for batch in args.batch:
                    gen = microgen.generate(
                        model,
                        fractions,
                        shape=(args.size,) * 2,
                        n=batch,
                        seed=0,
                        device=args.device,
                        precision=precision,
                        sampler=name,
                        steps=int(evaluations),
                    )
                    for image, want in zip(gen.images, gen.counts):
                        got = {n: int((image == c).sum()) for n, c in zip(kind.channel_names, kind.particle_labels)}
                        assert got == want, (got, want)
                    print(
                        f"generate ({name}, {gen.evaluations} evaluations, polish {gen.polish}) batch {batch:3d} "
                        f"{precision:9s} {gen.seconds / batch:7.2f} s per sample ({batch / gen.seconds:6.2f} samples/s)"
                    )


if __name__ == "__main__":
    main()
