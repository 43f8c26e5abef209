"""microgen: microstructures with exact phase fractions by Discrete Spatial Diffusion."""

__version__ = "0.1.0"

__all__ = ["__version__"]
