"""microgen: microstructures with exact phase fractions by Discrete Spatial Diffusion."""

__version__ = "0.1.0"

from .api import generate, generate_cathode, generate_counts, generate_rock, list_models, load_model  # noqa: E402
from .inpaint import inpaint  # noqa: E402


def __getattr__(name: str):
    """``microgen.validate`` is imported on first use: the report stack (scipy.stats, the metrics)
    costs about 0.4 s that generating does not need."""
    if name == "validate":
        from .report import validate

        return validate
    raise AttributeError(f"module 'microgen' has no attribute {name!r}")


__all__ = [
    "__version__",
    "generate",
    "generate_cathode",
    "generate_counts",
    "generate_rock",
    "inpaint",
    "list_models",
    "load_model",
    "validate",
]
