"""The ``microgen`` command line: parses options and calls the library, nothing else."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from microgen import __version__


class _UsageErrors(click.Group):
    """Turn library ``ValueError``/``FileExistsError`` into a one-line message and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ValueError, FileExistsError, FileNotFoundError) as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_UsageErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="microgen")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Microstructures with exact phase fractions by Discrete Spatial Diffusion."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="Label volume (TIFF/HDF5/.npy, 2D or 3D); repeat for several.",
)
@click.option("--kind", type=click.Choice(["rock", "cathode"]), required=True, help="Material kind (phase convention).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Model directory to write.")
@click.option("--crop", default=64, show_default=True, help="Training crop size (pixels).")
@click.option("--steps", default=10_000, show_default=True, help="Total optimiser steps.")
@click.option("--batch", default=16, show_default=True, help="Images per step.")
@click.option("--r", "rate", type=float, default=None, help="Hop rate r (default: mixes one crop at t = 1).")
@click.option("--boundary", type=click.Choice(["periodic", "noflux"]), default="periodic", show_default=True)
@click.option("--width", default=32, show_default=True, help="Network width.")
@click.option("--lr", default=5e-4, show_default=True, help="Peak learning rate.")
@click.option("--no-augment", is_flag=True, help="Disable the 8 dihedral augmentations (anisotropic materials).")
@click.option("--holdout", default=0.2, show_default=True, help="Fraction of axis 0 held out for validation.")
@click.option("--seed", default=0, show_default=True)
@click.option("--checkpoint-every", default=250, show_default=True)
@click.option(
    "--validate-every",
    default=0,
    show_default=True,
    help="Generate and score samples against the held-out block every N steps (0: never).",
)
@click.option("--val-samples", default=8, show_default=True, help="Images per validation pass.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in --out.")
def train(
    data,
    kind,
    out,
    crop,
    steps,
    batch,
    rate,
    boundary,
    width,
    lr,
    no_augment,
    holdout,
    seed,
    checkpoint_every,
    validate_every,
    val_samples,
    device,
    threads,
    resume,
) -> None:
    """Train a DSD model on segmented volumes."""
    import torch

    from microgen.training.run import train_from_files

    if threads:
        torch.set_num_threads(threads)
    from microgen.training import TrainConfig

    cfg = TrainConfig(
        crop=crop,
        steps=steps,
        batch=batch,
        r=rate,
        boundary=boundary,
        width=width,
        lr=lr,
        augment=not no_augment,
        holdout=holdout,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        val_samples=val_samples,
    )
    out_path = train_from_files([Path(p) for p in data], kind, out, cfg, device=device, resume=resume, progress=True)
    click.echo(f"model written to {out_path}")


@main.command("export")
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--data", "data", multiple=True, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--kind", type=click.Choice(["rock", "cathode"]), required=True)
@click.option("--name", required=True, help="Model name (e.g. berea).")
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--size", default=128, show_default=True, help="Image size for reference statistics and fidelity.")
@click.option("--n-gen", default=16, show_default=True, help="Generated images for the fidelity table.")
@click.option("--steps", default=100, show_default=True, help="Sampler steps (network evaluations).")
@click.option("--source", default="", help="Data source/licence line for the card.")
@click.option("--notes", default="", help="Free text for the card.")
def export_cmd(run, data, kind, name, out, size, n_gen, steps, source, notes) -> None:
    """Package a training run as a model directory with reference statistics and a card."""
    from microgen.training.export import export_model

    card = export_model(
        Path(run),
        [Path(d) for d in data],
        kind,
        Path(out),
        name=name,
        size=size,
        n_gen=n_gen,
        steps=steps,
        source=source,
        notes=notes,
    )
    worst = max(r["ratio"] for r in card["fidelity"]["rows"])
    click.echo(
        f"wrote {out}: {card['weights_mb']} MB, worst fidelity ratio {worst:.2f}, "
        f"{card['speed']['seconds_per_sample']:.2f} s/sample"
    )


if __name__ == "__main__":  # pragma: no cover  (torchrun -m microgen.cli)
    main()
