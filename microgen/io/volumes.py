"""Label images and stacks on disk: TIFF (tifffile), HDF5 (h5py) and NumPy ``.npy``.

Writes are atomic: data go to a temporary file in the target folder that is renamed into place
only when complete, so a failed write never leaves a partial file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

EXTENSIONS = (".tif", ".tiff", ".h5", ".hdf5", ".npy")
H5_DATASET = "labels"


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise ValueError(f"unsupported file extension {suffix or '(none)'!r} for {path}; use one of {EXTENSIONS}")
    return suffix


def read_volume(path: str | os.PathLike, dataset: str | None = None) -> np.ndarray:
    """Read a 2D image or 3D volume.

    Parameters
    ----------
    path : path to ``.tif``/``.tiff``, ``.h5``/``.hdf5`` or ``.npy``
    dataset : str, optional
        HDF5 dataset name; default ``"labels"``, or the only dataset in the file.

    Raises
    ------
    ValueError
        Unknown extension, unreadable/corrupt file, or not a 2D/3D array.
    FileNotFoundError
        The file does not exist.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        if suffix in (".tif", ".tiff"):
            arr = _read_tiff(path)
        elif suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            import h5py

            with h5py.File(path, "r") as f:
                name = dataset or (H5_DATASET if H5_DATASET in f else None)
                if name is None:
                    names = [k for k in f if isinstance(f[k], h5py.Dataset)]
                    if len(names) != 1:
                        raise ValueError(f"{path}: pass dataset=... (datasets: {names})")
                    name = names[0]
                arr = f[name][()]
    except ValueError:
        raise
    except Exception as err:  # corrupt or truncated files raise many different types
        raise ValueError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    arr = np.asarray(arr)
    if arr.size == 0:
        raise ValueError(f"cannot read {path}: no image data (empty, truncated or corrupt file)")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{path}: expected a 2D image or 3D volume, got an array of shape {arr.shape}")
    return arr


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _read_tiff(path: Path) -> np.ndarray:
    """tifffile recovers what it can from a damaged file and logs the damage; we refuse it."""
    import tifffile

    errors = _ErrorLog()
    logger = logging.getLogger("tifffile")
    logger.addHandler(errors)
    try:
        arr = tifffile.imread(path)
    finally:
        logger.removeHandler(errors)
    if errors.messages:
        raise ValueError(f"cannot read {path}: damaged or truncated TIFF ({errors.messages[0]})")
    return arr


def check_output(path: str | os.PathLike, *, overwrite: bool = False, extensions=EXTENSIONS) -> Path:
    """Check, before any work, that ``path`` can be written: known extension, existing writable
    folder, and no existing file unless ``overwrite``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in extensions:
        raise ValueError(f"unsupported file extension {suffix or '(none)'!r} for {path}; use one of {extensions}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --overwrite to replace it)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"output folder is not writable: {path.parent}")
    return path


def write_volume(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    metadata: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``array`` atomically; ``metadata`` goes to TIFF ImageJ metadata / HDF5 attributes."""
    path = check_output(path, overwrite=overwrite)
    suffix = path.suffix.lower()
    metadata = dict(metadata or {})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            imagej_meta = {"microgen": json.dumps(metadata, default=str)}
            if "voxel_size" in metadata:
                imagej_meta["spacing"] = float(metadata["voxel_size"])
                imagej_meta["unit"] = metadata.get("unit", "um")
            tifffile.imwrite(
                tmp, np.asarray(array), imagej=array.dtype == np.uint8, metadata=imagej_meta, compression=None
            )
        elif suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(array), allow_pickle=False)
        else:
            import h5py

            with h5py.File(tmp, "w") as f:
                ds = f.create_dataset(H5_DATASET, data=np.asarray(array), compression="gzip")
                for key, value in metadata.items():
                    ds.attrs[key] = value if isinstance(value, (int, float, str)) else json.dumps(value, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
