"""PNG previews of label images with a fixed phase colour map."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

#: colour of label code 0, 1, 2, 3 (grain/pore, active, binder, ...), RGB 0-255
PHASE_COLOURS = np.array([[31, 31, 31], [242, 193, 78], [58, 134, 255], [230, 57, 70]], dtype=np.uint8)


def colourise(labels: np.ndarray) -> np.ndarray:
    """RGB image of a 2D label array (codes >= 4 are shown white)."""
    labels = np.asarray(labels)
    palette = np.vstack([PHASE_COLOURS, np.full((256 - len(PHASE_COLOURS), 3), 255, np.uint8)])
    return palette[labels.astype(np.uint8)]


def write_preview(path: str | os.PathLike, images: np.ndarray, *, max_tiles: int = 8, overwrite: bool = False) -> Path:
    """Tile up to ``max_tiles`` 2D images (middle slice of 3D ones) into one PNG, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"preview must be a .png file, got {path}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --overwrite to replace it)")
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 4:  # (n, z, y, x): middle slice
        images = images[:, images.shape[1] // 2]
    tiles = [colourise(im) for im in images[:max_tiles]]
    gap = np.full((tiles[0].shape[0], 2, 3), 255, np.uint8)
    row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        plt.imsave(tmp, row)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
