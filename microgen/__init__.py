"""microgen: microstructures with exact phase fractions by Discrete Spatial Diffusion."""

__version__ = "0.1.0"

from .api import generate, generate_cathode, generate_counts, generate_rock, list_models, load_model  # noqa: E402
from .inpaint import inpaint  # noqa: E402
from .report import validate  # noqa: E402

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
