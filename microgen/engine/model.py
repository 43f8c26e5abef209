"""A trained DSD model: process parameters + rate network, saved as safetensors + JSON."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .lattice import Lattice, check_boundary
from .network import NetworkConfig, RateUNet
from .polish import SWEEPS
from .prior import SpectralPrior
from .process import DSDProcess
from .sampler import DEFAULT_EVALUATIONS, check_sharpness
from .schedules import Schedule
from .smooth import check_widths

FORMAT = "microgen-dsd"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


#: offsets a sampler cycles through on a periodic image whose sides are not multiples of the
#: network stride (:meth:`DSDModel.patch_offsets`)
SEAM_OFFSETS = 64


def extension(side: int, want: int, boundary: str) -> tuple[torch.Tensor, int]:
    """How a lattice axis of ``side`` voxels continues to ``want`` (>= ``side``) voxels for a
    network that needs ``want``: the source voxel of each of the ``want`` positions and where
    the real voxels start among them. Periodic: wrapped, the extra voxels split between both
    ends, so the network's own wrap-around joins two extra voxels and every real voxel keeps
    about ``(want - side) / 2`` correct neighbours beyond its image edge. No-flux: mirrored at
    the far wall (voxel ``side + k`` is voxel ``side - 1 - k``), the real voxels first."""
    index = torch.arange(want)
    if boundary == "periodic":
        start = (want - side) // 2
        return (index - start) % side, start
    return torch.where(index < side, index, 2 * side - 1 - index).clamp(0, side - 1), 0


def extend_to(counts: torch.Tensor, shape, boundary: str) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """``counts`` ``(B, C, *sides)`` extended to ``shape`` as the lattice continues
    (:func:`extension`), and the slices that pick the real voxels back out."""
    keep = []
    for axis, (side, want) in enumerate(zip(counts.shape[2:], shape)):
        index, start = extension(side, want, boundary)
        if want != side:
            counts = counts.index_select(2 + axis, index.to(counts.device))
        keep.append(slice(start, start + side))
    return counts, tuple(keep)


def spread_offsets(shape, n: int) -> list[tuple[int, ...]]:
    """``n`` integer offsets whose coordinates each cover their axis evenly: the ``k``-th is
    ``frac(k * alpha) * side`` per axis, with a different badly approximable ``alpha`` per axis
    (golden ratio, silver ratio, sqrt 3), so that by the three-gap theorem the first ``n`` values
    on each axis leave gaps within a small factor of ``side / n``, for every ``n``."""
    alpha = ((5**0.5 - 1) / 2, 2**0.5 - 1, 3**0.5 - 1)
    if len(shape) > len(alpha):
        raise ValueError(f"offsets are defined for 1 to {len(alpha)} dimensions, got shape {tuple(shape)}")
    return [tuple(int(((k * a) % 1.0) * side) for a, side in zip(alpha, shape)) for k in range(n)]


@dataclass
class ProcessConfig:
    """Forward-process parameters that travel with the weights."""

    r: float = 250.0
    boundary: str = "periodic"
    schedule: Schedule = field(default_factory=Schedule)

    def __post_init__(self) -> None:
        check_boundary(self.boundary)
        if isinstance(self.schedule, dict):
            self.schedule = Schedule(**self.schedule)
        if not self.r > 0:
            raise ValueError(f"r must be > 0, got {self.r}")

    def to_dict(self) -> dict:
        return {"r": self.r, "boundary": self.boundary, "schedule": self.schedule.to_dict()}


class DSDModel(nn.Module):
    """Rate network and forward process together.

    Parameters
    ----------
    network : NetworkConfig
    process : ProcessConfig
    meta : dict, optional
        Free-form JSON metadata (phases, training data, ...) stored in ``config.json``.
    """

    def __init__(self, network: NetworkConfig, process: ProcessConfig, meta: dict | None = None) -> None:
        super().__init__()
        if network.periodic != (process.boundary == "periodic"):
            raise ValueError("network padding (periodic) must match the process boundary")
        self.network_config = network
        self.process_config = process
        self.meta = dict(meta or {})
        self.net = RateUNet(network)
        self.process = DSDProcess(process.r, process.boundary, network.ndim)
        self._masks: dict = {}

    # ------------------------------------------------------------------ properties
    @property
    def channels(self) -> int:
        return self.network_config.channels

    @property
    def ndim(self) -> int:
        return self.network_config.ndim

    @property
    def r(self) -> float:
        return self.process_config.r

    @property
    def sharpness(self) -> float | tuple[float, ...]:
        """Calibrated sampling sharpness (``meta["sampling"]["sharpness"]``, set by export; 1 if
        none): one exponent, or a tuple of one per particle channel."""
        return check_sharpness(self.meta.get("sampling", {}).get("sharpness", 1.0))

    @property
    def polish_sweeps(self) -> int:
        """Calibrated polish sweeps (``meta["sampling"]["polish"]``, set by export; ``SWEEPS`` if none)."""
        return int(self.meta.get("sampling", {}).get("polish", SWEEPS))

    @property
    def islands(self) -> int:
        """Calibrated island size to dissolve (``meta["sampling"]["islands"]``, set by export; 0 if none)."""
        return int(self.meta.get("sampling", {}).get("islands", 0))

    @property
    def holes(self) -> int:
        """Calibrated hole size to fill (``meta["sampling"]["holes"]``, set by export; 0 if none)."""
        return int(self.meta.get("sampling", {}).get("holes", 0))

    @property
    def smooth(self) -> tuple[float, ...]:
        """Calibrated smoothing width per particle channel (``meta["sampling"]["smooth"]``, set by
        export; 0 if none: no smoothing)."""
        return check_widths(self.meta.get("sampling", {}).get("smooth", 0.0), self.channels)

    @property
    def sampling_steps(self) -> int:
        """Network evaluations per sample the model was calibrated at (``meta["sampling"]["steps"]``,
        set by export; ``DEFAULT_EVALUATIONS`` if none)."""
        return int(self.meta.get("sampling", {}).get("steps", DEFAULT_EVALUATIONS))

    @property
    def sampling_tail(self) -> int:
        """One-hop steps at the end of the trapezoidal rule the model was calibrated with
        (``meta["sampling"]["tail"]``, set by export; 0 if none; :class:`TrapezoidalLeaping`)."""
        return int(self.meta.get("sampling", {}).get("tail", 0))

    @property
    def spectral_prior(self) -> SpectralPrior | None:
        """The data's large-scale spectra (``meta["prior"]``, set by export), if stored."""
        data = self.meta.get("prior")
        return SpectralPrior.from_dict(data) if data else None

    @property
    def schedule(self) -> Schedule:
        return self.process_config.schedule

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def time_scale(self, t: torch.Tensor) -> torch.Tensor:
        """``s(t) = r + 1/t``: the scale of the reverse rates at time ``t``."""
        t = torch.as_tensor(t, dtype=torch.float64)
        return self.r + 1.0 / t.clamp_min(1e-300)

    def default_label(self, n: int) -> torch.Tensor | None:
        """Labels for ``n`` images when the caller names no class: none for an unconditional
        network, the "any class" label of a class-conditioned one trained with label dropout."""
        classes = self.network_config.num_classes
        if not classes:
            return None
        if not self.meta.get("any_class"):
            raise ValueError(f"this model is class-conditioned: pass a label, one of {self.meta.get('classes')}")
        return torch.full((n,), classes - 1, dtype=torch.long, device=self.device)

    def check_shape(self, shape) -> tuple[int, ...]:
        """Validate a spatial shape for this model and return it as a tuple.

        Any side of at least the network stride works: the network itself needs multiples of the
        stride, so :meth:`particle_rates` evaluates it on the image extended to the next multiple
        (periodic: wrapped; no-flux: mirrored) and keeps the rates of the real voxels."""
        shape = tuple(int(s) for s in shape)
        stride = self.network_config.stride
        if len(shape) != self.ndim:
            raise ValueError(f"this model generates {self.ndim}D images; got shape {shape}")
        if any(s < stride for s in shape):
            raise ValueError(f"every side must be at least the network stride, {stride} voxels; got shape {shape}")
        return shape

    def open_moves(self, shape, device) -> torch.Tensor:
        key = (tuple(shape), str(device))
        if key not in self._masks:
            self._masks[key] = Lattice(tuple(shape), self.process_config.boundary).open_moves(device)
        return self._masks[key]

    # ------------------------------------------------------------------ rates
    def patch_offsets(self, shape=None, stride_offsets: bool | None = None) -> list[tuple[int, ...]]:
        """Shifts of the image that a sampler cycles through, one per step.

        The network is equivariant only to shifts by whole multiples of its stride (strided
        downsampling; ``patch``-sided cells), so its rates may depend slightly on where the
        stride grid falls: the shipped width-16 Berea network, held still, put 11-18 % more
        interface on every 8th row and column boundary (session 21, ``docs/performance.md``). On a periodic
        lattice, shifting the image by a different offset of the stride cell at each step
        spreads that dependence evenly instead of printing a stride-periodic pattern (models
        exported since session 21, :attr:`stride_offsets`; older ones keep only a patch network's
        cell offsets, as their cards were measured). A periodic
        ``shape`` whose sides are not all multiples of the stride is evaluated wrapped to the
        next multiple (see :meth:`check_shape`), which leaves a seam where the network's own
        wrap-around joins the two extensions, half the extension beyond the image edge; its
        offsets are ``SEAM_OFFSETS`` low-discrepancy points over the whole image
        (:func:`spread_offsets`), so the seam visits every place too. One zero offset on a
        no-flux lattice. ``stride_offsets`` overrides :attr:`stride_offsets` for this call
        (``None``: the model's)."""
        if self.process_config.boundary != "periodic":
            return [(0,) * self.ndim]
        stride = self.network_config.stride
        if shape is not None and any(int(s) % stride for s in shape):
            return spread_offsets(shape, SEAM_OFFSETS)
        every = self.stride_offsets if stride_offsets is None else stride_offsets
        cell = stride if every else self.network_config.patch
        return list(itertools.product(range(cell), repeat=self.ndim))

    @property
    def stride_offsets(self) -> bool:
        """Whether the sampler cycles every offset of the stride cell on shapes that are multiples
        of the stride (``meta["sampling"]["offsets"] == "stride"``, written by ``microgen export``
        since session 21), rather than only a patch network's cell offsets (models exported
        before: their calibration and fidelity figures were measured so)."""
        return self.meta.get("sampling", {}).get("offsets") == "stride"

    @stride_offsets.setter
    def stride_offsets(self, on: bool) -> None:
        sampling = self.meta.setdefault("sampling", {})
        if on:
            sampling["offsets"] = "stride"
        else:
            sampling.pop("offsets", None)

    def particle_rates(
        self,
        counts: torch.Tensor,
        t: torch.Tensor,
        label: torch.Tensor | None = None,
        offset: tuple[int, ...] | None = None,
    ) -> torch.Tensor:
        """Normalised per-particle rates ``(B, C, 2*ndim, *shape)`` (units of ``s(t)``), zero
        for hops across no-flux faces. ``offset`` (periodic lattices only) evaluates the network
        on the image rolled by that many voxels per axis and rolls the rates back."""
        shift = tuple(int(o) for o in offset) if offset is not None and any(offset) else None
        if shift is not None:
            if self.process_config.boundary != "periodic":
                raise ValueError("a grid offset needs a periodic lattice")
            counts = torch.roll(counts, shift, dims=tuple(range(2, 2 + self.ndim)))
        out = self._network(counts, t.to(counts.device), label)
        out = out.unflatten(1, (self.channels, 2 * self.ndim))
        if shift is not None:
            out = torch.roll(out, tuple(-s for s in shift), dims=tuple(range(3, 3 + self.ndim)))
        if self.process_config.boundary == "noflux":
            out = out * self.open_moves(counts.shape[2:], counts.device)
        return out

    def _network(self, counts: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        """The network's output for ``counts``; sides that are not multiples of the stride are
        extended to the next multiple first (:func:`extension`) and the extra voxels cut off."""
        shape = tuple(counts.shape[2:])
        stride = self.network_config.stride
        target = tuple(-(-side // stride) * stride for side in shape)
        if target == shape:
            return self.net(counts, t, label)
        extended, keep = extend_to(counts, target, self.process_config.boundary)
        return self.net(extended, t, label)[(..., *keep)]

    def normalised_rates(
        self, counts: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-voxel rates in units of ``s(t)``: per-particle rates times the particle counts."""
        return self.particle_rates(counts, t, label) * counts.unsqueeze(2).to(torch.float32)

    def rates(self, counts: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """Per-voxel reverse rates in physical units (float64), the network's estimate of Eq. (4)."""
        scale = self.time_scale(t).to(counts.device).view(-1, *([1] * (counts.ndim)))
        return self.normalised_rates(counts, t, label).double() * scale

    # ------------------------------------------------------------------ persistence
    def config_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "network": self.network_config.to_dict(),
            "process": self.process_config.to_dict(),
            "meta": self.meta,
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``model.safetensors`` and ``config.json`` (with the weights' SHA-256) atomically."""
        from safetensors.torch import save_file

        from microgen import __version__

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        tmp_w = _temp_path(directory, WEIGHTS)
        save_file(state, str(tmp_w), metadata={"format": FORMAT})
        config = self.config_dict()
        config["microgen_version"] = __version__
        config["weights_sha256"] = _sha256(tmp_w)
        tmp_c = _temp_path(directory, CONFIG)
        tmp_c.write_text(json.dumps(config, indent=2, sort_keys=True))
        os.replace(tmp_w, directory / WEIGHTS)
        os.replace(tmp_c, directory / CONFIG)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> DSDModel:
        """Load a model directory strictly: unknown format, hash mismatch, missing or extra
        tensors, or wrong shapes raise ``ValueError``. Weights are read with safetensors, which
        cannot execute code."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        cfg_path, w_path = directory / CONFIG, directory / WEIGHTS
        if not cfg_path.is_file() or not w_path.is_file():
            raise ValueError(f"{directory} is not a model directory (needs {CONFIG} and {WEIGHTS})")
        try:
            config = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{cfg_path} is not valid JSON: {err}") from None
        if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{cfg_path}: unsupported model format {config.get('format')!r} "
                f"v{config.get('format_version')} (expected {FORMAT!r} v{FORMAT_VERSION})"
            )
        expected = config.get("weights_sha256")
        if expected != _sha256(w_path):
            raise ValueError(f"{w_path}: SHA-256 does not match {CONFIG}; the weights were modified or corrupted")
        try:
            model = cls(
                NetworkConfig(**config["network"]),
                ProcessConfig(**config["process"]),
                meta=config.get("meta", {}),
            )
        except (TypeError, KeyError) as err:
            raise ValueError(f"{cfg_path}: invalid configuration ({err})") from None
        try:
            state = load_file(str(w_path))
        except SafetensorError as err:
            raise ValueError(f"{w_path}: unreadable weights ({err})") from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{w_path}: weights do not match the configuration: {err}") from None
        model.eval()
        return model.to(device)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _temp_path(directory: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; model files are meant to be shared
    return Path(tmp)


__all__ = ["DSDModel", "ProcessConfig"]
