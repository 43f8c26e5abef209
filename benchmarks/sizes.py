"""Fidelity of large generated images, scored tile by tile against a model's stored reference.

    python benchmarks/sizes.py --model berea [--size 512] [--tile 256] [--n 8] [--seed 0]
        [--polish N] [--sharpness S] [--prior auto|spectral|uniform]

The scans are too small for held-out crops larger than 256² (Berea's held-out block is 60 x 400 x 400),
so an image of --size is cut into (size / tile)² non-overlapping tiles and the tiles are compared
with the model's stored reference set at --tile (held-out crops, set A; natural spread: training
crops, set B), at the porosity/fractions of the reference crops. Seams, drift or periodic artefacts
anywhere in the large image show up as tiles that do not look like the held-out block. Prints
seconds per image, network evaluations, every metric's ratio (distance / natural spread) and the
spread of the phase fractions over the tiles beside that of the held-out crops, with the same
figures for images generated directly at --tile for comparison.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import microgen
from microgen.domains import get_kind, registry
from microgen.engine.prior import PRIORS
from microgen.metrics.fidelity import descriptors_from_json, fidelity_table, subset


def tiles(image: np.ndarray, tile: int) -> list[np.ndarray]:
    h, w = image.shape
    return [image[y : y + tile, x : x + tile] for y in range(0, h, tile) for x in range(0, w, tile)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="berea", help="pretrained name or model directory (with reference.json)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--n", type=int, default=8, help="large images (each gives (size / tile)² tiles)")
    p.add_argument("--polish", type=int, default=None, help="polish sweeps (default: the model's)")
    p.add_argument("--sharpness", type=float, default=None, help="rate exponent (default: the model's)")
    p.add_argument("--prior", default="auto", choices=PRIORS, help="start law (default: spectral where stored)")
    p.add_argument("--steps", type=int, default=None, help="network evaluations [default: the model's]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-direct", action="store_true", help="do not also generate images at --tile")
    args = p.parse_args()
    if args.size % args.tile:
        raise SystemExit("--size must be a multiple of --tile")
    model = microgen.load_model(args.model)
    kind = get_kind(model.meta["kind"])
    names, phases = kind.channel_names, list(kind.particle_labels)
    sets = json.loads((registry.resolve(args.model) / "reference.json").read_text())["sets"]
    ref = next((s for s in sets if s["size"] == args.tile), None)
    if ref is None:
        raise SystemExit(f"no stored reference set at {args.tile}²; sizes: {[s['size'] for s in sets]}")
    per = (args.size // args.tile) ** 2
    m = min(ref["n"], args.n * per)
    ref_a, ref_b = (subset(descriptors_from_json(ref[k]), m) for k in ("A", "B"))
    mean = np.mean(ref["counts"][:m], axis=0) / args.tile**2  # the reference crops' mean fractions
    fractions = dict(zip(names, (float(f) for f in mean)))
    runs = [(args.size, args.n)] + ([] if args.skip_direct else [(args.tile, m)])
    print(f"model {args.model}, fractions {fractions}, reference: {m} held-out {args.tile}² crops")
    for size, n in runs:
        res = microgen.generate(
            model,
            fractions,
            shape=(size, size),
            n=n,
            seed=args.seed,
            steps=args.steps,
            polish=args.polish,
            sharpness=args.sharpness,
            prior=args.prior,
        )
        pieces = [t for im in res.images for t in tiles(im, args.tile)][:m]
        rows = fidelity_table(pieces, ref_a, ref_b, phases)
        print(
            f"\n{n} x {size}² ({len(pieces)} tiles of {args.tile}²): {res.seconds / n:.1f} s per image, "
            f"{res.evaluations} evaluations, smoothing {list(res.smooth)}, polish {res.polish}, islands {res.islands}, "
            f"holes {res.holes}; "
            f"{res.sampler}"
        )
        for r in rows:
            if not r["metric"].startswith("fraction"):
                print(
                    f"  {r['metric']:22s} ratio {r['ratio']:6.2f}  generated {r['generated']:.4g}, real {r['real']:.4g}"
                )
        real = np.asarray(ref["counts"][:m], float) / args.tile**2
        for k, (name, code) in enumerate(zip(names, phases)):  # tiles of a large image vary; direct images do not
            got = np.array([np.mean(t == code) for t in pieces])
            print(
                f"  {name} fraction per {args.tile}² tile: {got.mean():.4f} ± {got.std():.4f} "
                f"(held-out crops {real[:, k].mean():.4f} ± {real[:, k].std():.4f})"
            )


if __name__ == "__main__":
    main()
