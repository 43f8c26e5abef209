"""Reading and writing label volumes (TIFF, HDF5, .npy) and PNG previews. NumPy arrays in and out."""

from .preview import colourise, write_preview
from .volumes import EXTENSIONS, check_output, read_volume, write_volume

__all__ = ["EXTENSIONS", "check_output", "colourise", "read_volume", "write_preview", "write_volume"]
