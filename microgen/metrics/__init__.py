"""Microstructure metrics on label arrays (pure functions; heavy libraries imported lazily)."""

from .fidelity import (
    PASS_RATIO,
    crop_axes,
    describe,
    descriptors_from_json,
    descriptors_to_json,
    distance,
    fidelity_table,
    match_by_fraction,
    random_crops,
    reference_sets,
    summary,
)
from .morphology import (
    chord_lengths,
    euler_density,
    euler_number,
    interface_density,
    local_thickness,
    phase_fractions,
    two_point_autocovariance,
)
from .transport import TransportResult, percolates, tortuosity, triple_phase_boundary_density

__all__ = [
    "PASS_RATIO",
    "crop_axes",
    "TransportResult",
    "percolates",
    "tortuosity",
    "triple_phase_boundary_density",
    "chord_lengths",
    "describe",
    "descriptors_from_json",
    "descriptors_to_json",
    "distance",
    "euler_density",
    "euler_number",
    "fidelity_table",
    "interface_density",
    "local_thickness",
    "summary",
    "match_by_fraction",
    "phase_fractions",
    "random_crops",
    "reference_sets",
    "two_point_autocovariance",
]
