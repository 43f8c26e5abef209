"""Intensity images and class conditioning, end to end on scikit-learn's 8x8 handwritten digits.

Each pixel holds 0-16 particles (its grey level), so an image is a particle-count field, not a
label image: the same engine, training loop and samplers, with no collision resolution. One
class-conditioned model (ten digit classes plus an "any digit" label learnt by label dropout)
generates digits with an exact total intensity per image. A support-vector classifier trained on
the real training digits then reads the generated class-conditioned digits.

    python examples/digits.py --out runs/digits --steps 6000 --figure docs/figures/digits.png
    python examples/digits.py --fast          # a tiny run: exact totals only (used by the tests)

The data (1,797 digits, UCI, bundled with scikit-learn) needs no download.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import microgen
from microgen.engine import DSDModel
from microgen.training import TrainConfig, Trainer


def load_digits_split(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # (1797, 8, 8), 0..16
    return train_test_split(images, digits.target, test_size=0.25, random_state=seed, stratify=digits.target)


def train(out: Path, x_train, y_train, steps: int, width: int, seed: int) -> DSDModel:
    cfg = TrainConfig(
        crop=8,
        batch=64,
        steps=steps,
        lr=1e-3,
        warmup=100,
        width=width,
        mults=[1, 2],
        boundary="noflux",
        holdout=0.0,
        augment=False,
        num_classes=10,
        label_dropout=0.1,
        count_scale=16.0,
        checkpoint_every=max(1, steps // 4),
        log_every=max(1, min(100, steps // 4)),
        seed=seed,
    )
    meta = {
        "kind": "intensity",
        "classes": [str(c) for c in range(10)],
        "data": [{"file": "sklearn.datasets.load_digits (UCI optical recognition of handwritten digits)"}],
    }
    resume = (out / "checkpoint.pt").exists()
    trainer = Trainer(
        cfg, [x[None] for x in x_train], out, meta=meta, device="cpu", resume=resume, classes=list(y_train)
    )
    start = time.perf_counter()
    model = trainer.fit()
    print(f"trained to step {trainer.step} ({time.perf_counter() - start:.0f} s this run, r = {model.r})")
    return model


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="runs/digits", help="model directory (resumed if it holds a checkpoint)")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--per-class", type=int, default=30, help="generated digits per class for the accuracy")
    p.add_argument("--sampler-steps", type=int, default=200)
    p.add_argument("--figure", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fast", action="store_true", help="tiny run for tests: checks exact totals only")
    args = p.parse_args()
    if args.fast:
        args.steps, args.width, args.per_class, args.sampler_steps = 20, 8, 2, 10
    torch.manual_seed(args.seed)
    x_train, x_test, y_train, y_test = load_digits_split(args.seed)
    model = train(Path(args.out), x_train, y_train, args.steps, args.width, args.seed)

    # class-conditioned digits, each with the total intensity of one real test digit of its class
    rng = np.random.default_rng(args.seed)
    labels, totals = [], []
    for c in range(10):
        pool = x_test[y_test == c].reshape(-1, 64).sum(1)
        labels += [c] * args.per_class
        totals += rng.choice(pool, args.per_class).tolist()
    start = time.perf_counter()
    res = microgen.generate_counts(
        model, np.array(totals)[:, None], shape=(8, 8), label=labels, seed=args.seed, steps=args.sampler_steps
    )
    seconds = time.perf_counter() - start
    gen = res.images[:, 0]
    sums = gen.reshape(len(gen), -1).sum(1)
    assert np.array_equal(sums, totals), "total intensity must be exact"
    print(
        f"{len(gen)} class-conditioned digits in {seconds:.1f} s ({res.evaluations} network evaluations, "
        f"batched): every total intensity exact; max pixel value {gen.max()}"
    )
    if args.fast:
        return

    from sklearn.svm import SVC

    clf = SVC(gamma=0.001, C=10.0).fit(x_train.reshape(len(x_train), -1), y_train)
    real_acc = clf.score(x_test.reshape(len(x_test), -1), y_test)
    gen_acc = clf.score(gen.reshape(len(gen), -1).clip(0, 16), labels)
    print(f"classifier (SVC on real training digits): real test accuracy {real_acc:.3f}, generated {gen_acc:.3f}")
    if args.figure:
        figure(model, x_train, y_train, args.figure, args.sampler_steps, args.seed, gen_acc, real_acc)


def figure(model, x_train, y_train, path, sampler_steps, seed, gen_acc, real_acc) -> None:
    """Rows: digits 0-9 and "any digit"; columns: low / typical / high total intensity (5th, 50th
    and 95th percentile of the class's real totals), two samples each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = {"low": 5, "typical": 50, "high": 95}
    rows = list(range(10)) + [None]
    fig, ax = plt.subplots(len(rows), 7, figsize=(7.5, 11.5), constrained_layout=True)
    for i, c in enumerate(rows):
        pool = x_train.reshape(-1, 64).sum(1) if c is None else x_train[y_train == c].reshape(-1, 64).sum(1)
        totals = [int(np.percentile(pool, q)) for q in levels.values() for _ in range(2)]
        res = microgen.generate_counts(
            model, np.array(totals)[:, None], shape=(8, 8), label=c, seed=seed + i, steps=sampler_steps
        )
        real = x_train[y_train == (c if c is not None else 0)][0]
        ax[i, 0].imshow(real, cmap="gray_r", vmin=0, vmax=16)
        ax[i, 0].set_ylabel("any" if c is None else str(c), rotation=0, labelpad=12)
        for j in range(6):
            ax[i, j + 1].imshow(res.images[j, 0], cmap="gray_r", vmin=0, vmax=16)
            if i == 0:
                ax[i, j + 1].set_title(f"{list(levels)[j // 2]}\n{totals[j]}", fontsize=8)
        if i == 0:
            ax[i, 0].set_title("real", fontsize=8)
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(
        f"DSD digits: exact total intensity (title), class-conditioned rows; classifier accuracy "
        f"on generated {gen_acc:.2f} (real {real_acc:.2f})",
        fontsize=8,
    )
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
