"""The rate network: a time-conditioned UNet that predicts per-particle reverse rates.

The network sees the noisy counts and the time ``t`` and outputs, for every channel and hop
direction, a non-negative *per-particle* rate in units of the time scale ``s(t) = r + 1/t``
(softplus output). The per-voxel rate is that times the particle count, so empty voxels have zero
rate by construction (see :meth:`microgen.engine.model.DSDModel.rates`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_FUNCTIONAL_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@dataclass
class NetworkConfig:
    """Architecture of :class:`RateUNet` (saved beside the weights as JSON).

    Parameters
    ----------
    channels : int
        Particle channels ``C`` (1 for a rock, 2 for a cathode).
    ndim : int
        Spatial dimensions (1, 2 or 3).
    width : int
        Feature maps at the finest level.
    mults : list of int
        Width multiplier of each resolution level; ``len(mults) - 1`` downsamplings.
    blocks : int
        Residual blocks per level.
    periodic : bool
        Circular padding when True (periodic process), zero padding otherwise.
    count_scale : float
        Counts are divided by this before entering the network (1 for label images).
    patch : int
        Space-to-depth factor: the network works on ``patch**ndim``-voxel cells (its finest level
        is ``patch`` times coarser than the image) and returns the rates of every voxel of a cell
        from that cell's features. 2 removes the costliest full-resolution level (about 2x
        fewer milliseconds per evaluation at 256²); 1 (default) is the plain UNet.
    head : int
        Features per voxel of a full-resolution head (0, the default: none). The decoder's last
        features are spread over the voxels of each cell (a 1x1 convolution and depth-to-space),
        joined with the input counts and passed through one 3x3 convolution at the image's own
        resolution, whose output adds a per-voxel correction to the rates: it lets a
        ``patch > 1`` network see each voxel's neighbours at full resolution for a few per cent
        of its cost. The correction starts at zero.
    """

    channels: int = 1
    ndim: int = 2
    width: int = 16
    mults: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    blocks: int = 1
    periodic: bool = True
    count_scale: float = 1.0
    num_classes: int = 0
    patch: int = 1
    head: int = 0

    def __post_init__(self) -> None:
        if self.ndim not in _CONV:
            raise ValueError(f"ndim must be 1, 2 or 3, got {self.ndim}")
        if self.channels < 1 or self.width < 1 or self.blocks < 1 or not self.mults:
            raise ValueError("channels, width, blocks must be >= 1 and mults non-empty")
        if int(self.patch) < 1:
            raise ValueError(f"patch must be >= 1, got {self.patch}")
        self.mults = [int(m) for m in self.mults]
        self.patch = int(self.patch)
        self.head = check_head(self.head)

    @property
    def stride(self) -> int:
        """Every spatial size must be a multiple of this."""
        return network_stride(self.mults, self.patch)

    def to_dict(self) -> dict:
        return asdict(self)


def check_head(head) -> int:
    """The features per voxel of a full-resolution head as an int; ``ValueError`` below 0."""
    if int(head) < 0:
        raise ValueError(f"head must be >= 0 (0 = no full-resolution head), got {head}")
    return int(head)


def network_stride(mults, patch: int = 1) -> int:
    """The side every input must be a multiple of: the cell side times one factor 2 per
    downsampling (``len(mults) - 1`` of them)."""
    return int(patch) * 2 ** (len(mults) - 1)


def space_to_depth(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, C, *shape)`` -> ``(B, C * patch**ndim, *shape / patch)``: each ``patch``-sided cell
    becomes one voxel whose channels list the cell's voxels (channel-major)."""
    if patch == 1:
        return x
    b, c, *shape = x.shape
    split = [b, c]
    for side in shape:
        split += [side // patch, patch]
    nd = len(shape)
    order = [0, 1, *(3 + 2 * i for i in range(nd)), *(2 + 2 * i for i in range(nd))]
    return x.reshape(split).permute(order).reshape(b, c * patch**nd, *(side // patch for side in shape))


def depth_to_space(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Inverse of :func:`space_to_depth`."""
    if patch == 1:
        return x
    b, cp, *coarse = x.shape
    nd = len(coarse)
    c = cp // patch**nd
    x = x.reshape(b, c, *([patch] * nd), *coarse)
    order = [0, 1]
    for i in range(nd):
        order += [2 + nd + i, 2 + i]
    return x.permute(order).reshape(b, c, *(side * patch for side in coarse))


def _fold_parities(weight: torch.Tensor) -> torch.Tensor:
    """Fold a 3-wide kernel ``(out, in, 3, ..., 3)`` into the ``2**ndim`` two-wide kernels that it
    amounts to after a nearest x2 upsampling, stacked as ``(2**ndim * out, in, 2, ..., 2)``
    (parity-major, row-major over the axes).

    Along one axis, output voxel ``2i`` sees low-resolution voxels ``i - 1`` (tap 0) and ``i``
    (taps 1 and 2); output voxel ``2i + 1`` sees ``i`` (taps 0 and 1) and ``i + 1`` (tap 2).
    """
    nd = weight.ndim - 2
    folded = weight
    for axis in range(nd):
        dim = 2 * axis + 2  # ``axis`` parity dimensions lead, then out, in, the kernel axes
        w0, w1, w2 = folded.unbind(dim)
        even = torch.stack([w0, w1 + w2], dim=dim)
        odd = torch.stack([w0 + w1, w2], dim=dim)
        folded = torch.stack([even, odd], dim=axis)
    return folded.reshape(2**nd * weight.shape[0], *weight.shape[1:2], *([2] * nd))


def upsample_conv(conv: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``conv(F.interpolate(h, scale_factor=2, mode="nearest"))`` computed at the low resolution.

    ``conv`` is a 3-wide, stride-1, padding-1 convolution (circular or zero padding). After a
    nearest upsampling each output parity sees two low-resolution voxels per axis, so one
    convolution of the once-padded low-resolution input with the folded kernels
    (:func:`_fold_parities`) gives all parities, each then written to its strided place. The
    same sums up to round-off, with ``(3/2)**ndim`` fewer multiply-adds (2.25x in 2D) and no
    full-resolution copy of the input. Padding the upsampled image repeats the low-resolution
    border, so padding the low-resolution input once is the same (tested against the plain route).
    """
    nd = h.ndim - 2
    mode = "circular" if conv.padding_mode == "circular" else "constant"
    padded = F.pad(h, [1] * (2 * nd), mode=mode)
    bias = None if conv.bias is None else conv.bias.repeat(2**nd)
    y = _FUNCTIONAL_CONV[nd](padded, _fold_parities(conv.weight), bias)
    out_ch = conv.weight.shape[0]
    low = h.shape[2:]
    out = y.new_empty((h.shape[0], out_ch, *(2 * side for side in low)))
    for index, parity in enumerate(itertools.product((0, 1), repeat=nd)):
        target = (slice(None), slice(None), *(slice(p, None, 2) for p in parity))
        source = (
            slice(None),
            slice(index * out_ch, (index + 1) * out_ch),
            *(slice(p, p + n) for p, n in zip(parity, low)),
        )
        out[target] = y[source]
    return out


def _groups(ch: int) -> int:
    for g in (8, 4, 2):
        if ch % g == 0:
            return g
    return 1


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int, conv, pad: str) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = conv(cin, cout, 3, padding=1, padding_mode=pad)
        self.film = nn.Linear(temb, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = conv(cout, cout, 3, padding=1, padding_mode=pad)
        self.skip = conv(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb).chunk(2, dim=1)
        view = (*scale.shape, *([1] * (h.ndim - 2)))
        h = self.norm2(h) * (1 + scale.view(view)) + shift.view(view)
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class RateUNet(nn.Module):
    """UNet mapping ``(counts, t)`` to per-particle rates ``(B, C * 2 * ndim, *shape)`` >= 0.

    Output channel ``c * 2 * ndim + j`` is the rate of a particle of channel ``c`` hopping in
    direction ``j`` (order of :func:`microgen.engine.lattice.directions`), in units of ``s(t)``.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        conv = _CONV[config.ndim]
        pad = "circular" if config.periodic else "zeros"
        w = config.width
        temb = 4 * w
        self.time_mlp = nn.Sequential(nn.Linear(w, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.label_emb = nn.Embedding(config.num_classes, temb) if config.num_classes else None
        cell = config.patch**config.ndim
        self.conv_in = conv(config.channels * cell, w, 3, padding=1, padding_mode=pad)

        widths = [w * m for m in config.mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [w]
        ch = w
        for level, wl in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(config.blocks):
                blocks.append(_ResBlock(ch, wl, temb, conv, pad))
                ch = wl
                skips.append(ch)
            self.down.append(blocks)
            if level < len(widths) - 1:
                self.downsample.append(conv(ch, ch, 3, stride=2, padding=1, padding_mode=pad))
                skips.append(ch)
        self.mid = nn.ModuleList([_ResBlock(ch, ch, temb, conv, pad), _ResBlock(ch, ch, temb, conv, pad)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, wl in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(config.blocks + 1):
                blocks.append(_ResBlock(ch + skips.pop(), wl, temb, conv, pad))
                ch = wl
            self.up.append(blocks)
            if level > 0:
                self.upsample.append(conv(ch, ch, 3, padding=1, padding_mode=pad))
        self.norm_out = nn.GroupNorm(_groups(ch), ch)
        n_rates = config.channels * 2 * config.ndim
        self.conv_out = conv(ch, n_rates * cell, 3, padding=1, padding_mode=pad)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        if config.head:
            k = config.head
            self.head_in = conv(ch, k * cell, 1)
            self.head_conv = conv(k + config.channels, k, 3, padding=1, padding_mode=pad)
            self.head_out = conv(k, n_rates, 1)
            nn.init.zeros_(self.head_out.weight)
            nn.init.zeros_(self.head_out.bias)

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """Sinusoidal features of ``log t`` (the rates vary over many decades of ``t``)."""
        half = self.config.width // 2
        freqs = torch.exp(
            torch.arange(half, device=t.device, dtype=torch.float32) * (-math.log(1e3) / max(half - 1, 1))
        )
        logt = torch.log(t.to(torch.float32).clamp_min(1e-30))
        arg = (logt[:, None] / 4.0) * freqs[None, :] * 10.0
        emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
        if emb.shape[1] < self.config.width:
            emb = F.pad(emb, (0, self.config.width - emb.shape[1]))
        return emb

    def forward(self, counts: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(self.time_embedding(t))
        if self.label_emb is not None:
            if label is None:
                raise ValueError("this network is class-conditioned: pass a label per image")
            emb = emb + self.label_emb(label)
        full = counts.to(self.conv_in.weight.dtype) / self.config.count_scale
        h = self.conv_in(space_to_depth(full, self.config.patch))
        hs = [h]
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
                hs.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                hs.append(h)
        for block in self.mid:
            h = block(h, emb)
        for level, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
            if level < len(self.upsample):
                h = upsample_conv(self.upsample[level], h)
        h = F.silu(self.norm_out(h))
        out = depth_to_space(self.conv_out(h), self.config.patch)
        if self.config.head:
            voxels = depth_to_space(self.head_in(h), self.config.patch)
            out = out + self.head_out(F.silu(self.head_conv(torch.cat([voxels, full.to(voxels.dtype)], dim=1))))
        return F.softplus(out.float() - 2.0)
