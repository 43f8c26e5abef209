"""Training examples for a dedicated inpainting model (the DSD paper's MNIST in-painting, Sec. 4
and Appendix D: "the no-flux boundary conditions were implemented inside the image region, and
particles outside of this region were fixed").

Each crop of a batch gets one rectangular hole at a random place (one random size per batch, so
the holes stack into one tensor). Only the particles inside the hole diffuse, by the forward
process with no-flux faces at the hole's edge; everything outside stays clean. The exact reverse
rates are those of that no-flux sub-lattice, and only hops that stay inside the hole are open.
This is exactly what :func:`microgen.inpaint` asks of the network at sampling time: a clean
context around a region whose particles cannot leave it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from microgen.engine.lattice import Lattice
from microgen.engine.process import DSDProcess


@dataclass
class HoleBatch:
    """A batch with corrupted holes.

    Attributes
    ----------
    noisy : ``(B, C, H, W)`` counts: clean outside the holes, corrupted inside
    rates : ``(B, C, 4, H, W)`` exact reverse rates (zero outside the holes)
    open_moves : ``(B, 1, 4, H, W)`` float, 1 for hops from a hole voxel to a hole voxel
    particles : ``(B,)`` particles inside each hole
    """

    noisy: torch.Tensor
    rates: torch.Tensor
    open_moves: torch.Tensor
    particles: torch.Tensor


def check_holes(holes, crop: int) -> list[int]:
    """``[]`` (no inpainting) or ``[smallest, largest]`` hole side, with context left around it."""
    holes = [int(h) for h in holes]
    if not holes:
        return []
    if len(holes) != 2 or not 2 <= holes[0] <= holes[1] <= crop - 2:
        raise ValueError(
            f"holes must be [smallest, largest] side with 2 <= smallest <= largest <= crop - 2 = {crop - 2}, "
            f"got {holes}"
        )
    return holes


def corrupt_holes(
    crops: torch.Tensor, t: torch.Tensor, r: float, holes, generator: torch.Generator | None = None
) -> HoleBatch:
    """Cut one ``h x w`` hole (sides drawn in ``holes = [lo, hi]``) at a random place in every
    crop ``(B, C, H, W)`` and run the no-flux forward process inside it for time ``t[b]``."""
    batch, channels, height, width = crops.shape
    device = crops.device
    lo, hi = holes
    h, w = (int(v) for v in torch.randint(lo, hi + 1, (2,), generator=generator, device=device))
    ys = torch.randint(0, height - h + 1, (batch,), generator=generator, device=device)
    xs = torch.randint(0, width - w + 1, (batch,), generator=generator, device=device)
    b = torch.arange(batch, device=device)[:, None, None]
    rows = (ys[:, None] + torch.arange(h, device=device))[:, :, None]
    cols = (xs[:, None] + torch.arange(w, device=device))[:, None, :]
    inside = crops[b, :, rows, cols].permute(0, 3, 1, 2)  # (B, C, h, w)
    noisy_in, rates_in = DSDProcess(r, "noflux", 2).corrupt(inside, t, generator)
    noisy = crops.clone()
    noisy[b, :, rows, cols] = noisy_in.permute(0, 2, 3, 1)
    rates = torch.zeros((batch, channels, 4, height, width), dtype=rates_in.dtype, device=device)
    rates[b, :, :, rows, cols] = rates_in.permute(0, 3, 4, 1, 2)
    moves = torch.zeros((batch, 1, 4, height, width), device=device)
    open_in = Lattice((h, w), "noflux").open_moves(device).to(moves.dtype)  # (4, h, w)
    moves[b, 0, :, rows, cols] = open_in.permute(1, 2, 0).expand(batch, h, w, 4)
    return HoleBatch(noisy, rates, moves, inside.flatten(1).sum(1))


__all__ = ["HoleBatch", "check_holes", "corrupt_holes"]
