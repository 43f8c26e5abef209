"""Reading and writing label volumes (TIFF, HDF5, .npy). NumPy arrays in and out."""

from .volumes import EXTENSIONS, read_volume, write_volume

__all__ = ["EXTENSIONS", "read_volume", "write_volume"]
