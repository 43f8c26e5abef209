"""Training images from label volumes: held-out split, phase -> channel mapping, random 2D crops
(slices along every axis of a 3D volume) and the 8 dihedral augmentations."""

from __future__ import annotations

import numpy as np

from microgen.metrics.fidelity import crop_axes


def to_channels(labels: np.ndarray, particle_labels, allowed=None) -> np.ndarray:
    """One uint8 channel per particle label: ``out[c] = (labels == particle_labels[c])``.

    Raises ``ValueError`` when ``labels`` holds a code outside ``allowed``.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub":
        raise ValueError(f"label images must have an integer dtype, got {labels.dtype}")
    if allowed is not None:
        found = set(np.unique(labels).tolist())
        unknown = found - set(allowed)
        if unknown:
            raise ValueError(
                f"unknown phase labels {sorted(unknown)} (allowed: {sorted(allowed)}); "
                "re-label the volume (e.g. 0/255 -> 0/1) or use `microgen segment`"
            )
    return np.stack([(labels == code) for code in particle_labels]).astype(np.uint8)


def fraction_summary(fractions) -> dict:
    """Mean, standard deviation, minimum and maximum of a set of phase fractions."""
    f = np.asarray(fractions, dtype=np.float64)
    return {"mean": float(f.mean()), "std": float(f.std()), "min": float(f.min()), "max": float(f.max())}


def split_holdout(volume: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut the last ``fraction`` of axis 0 off as a held-out block that no training crop touches."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"holdout fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return volume, None
    cut = int(round(volume.shape[0] * (1.0 - fraction)))
    if cut < 1 or cut >= volume.shape[0]:
        raise ValueError(f"volume of shape {volume.shape} is too small for a holdout of {fraction}")
    return volume[:cut], volume[cut:]


def check_slice_axes(axes) -> list[int]:
    """``axes`` as a sorted list of distinct 3D axes (0, 1, 2); None or empty: every axis."""
    axes = [] if axes is None else list(axes)
    if any(int(a) != a or not 0 <= a <= 2 for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"slice axes must be distinct values from 0, 1, 2 (empty: every axis), got {axes}")
    return sorted(int(a) for a in axes)


class CropSampler:
    """Random ``crop x crop`` 2D training images from channel volumes ``(C, *spatial)``.

    A 3D volume gives slices along each of its three axes, or along ``axes`` only (e.g. ``[0]``:
    sections perpendicular to axis 0, for an anisotropic material whose 2D images should show one
    plane); a 2D image gives itself (many small images, e.g. digits, are many 2D "volumes" cropped
    at their own size). ``classes`` gives each volume a class index for class-conditioned
    training. The state (a NumPy generator) is saved in checkpoints so a resumed run sees the same
    crops.
    """

    def __init__(
        self,
        volumes: list[np.ndarray],
        crop: int,
        *,
        augment: bool = True,
        seed: int = 0,
        classes=None,
        axes=None,
    ) -> None:
        if not volumes:
            raise ValueError("no training volume given")
        if classes is not None and len(classes) != len(volumes):
            raise ValueError(f"give one class per training volume ({len(volumes)}), got {len(classes)}")
        self.classes = None if classes is None else np.asarray(classes, dtype=np.int64)
        self.volumes = volumes
        self.crop = int(crop)
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self._choices = []  # (volume index, axis) pairs with enough room for a crop
        axes = check_slice_axes(axes)
        for i, vol in enumerate(volumes):
            if axes and vol.ndim != 4:
                raise ValueError(f"slice axes {axes} apply to 3D volumes; volume {i} is 2D {vol.shape[1:]}")
            self._choices += [(i, a) for a in crop_axes(vol.shape[1:], self.crop) if not axes or a in axes]
        if not self._choices:
            shapes = [v.shape[1:] for v in volumes]
            along = f" along axes {axes}" if axes else ""
            raise ValueError(f"crop {self.crop} is larger than every training volume's slices{along} {shapes}")
        weights = np.array([volumes[i][0].size for i, _ in self._choices], dtype=float)
        self._weights = weights / weights.sum()

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``batch`` crops ``(batch, C, crop, crop)`` and their class indices (None without classes)."""
        out = np.empty((batch, self.volumes[0].shape[0], self.crop, self.crop), dtype=np.uint8)
        labels = np.zeros(batch, dtype=np.int64)
        for b in range(batch):
            i, axis = self._choices[self.rng.choice(len(self._choices), p=self._weights)]
            labels[b] = 0 if self.classes is None else self.classes[i]
            vol = self.volumes[i]
            if axis is not None:
                vol = np.take(vol, self.rng.integers(vol.shape[1 + axis]), axis=1 + axis)
            y = self.rng.integers(vol.shape[1] - self.crop + 1)
            x = self.rng.integers(vol.shape[2] - self.crop + 1)
            img = vol[:, y : y + self.crop, x : x + self.crop]
            if self.augment:
                img = np.rot90(img, k=int(self.rng.integers(4)), axes=(1, 2))
                if self.rng.integers(2):
                    img = img[:, :, ::-1]
            out[b] = img
        return out, (None if self.classes is None else labels)

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
