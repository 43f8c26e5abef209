"""Microstructure metrics on label arrays (pure functions; heavy libraries imported lazily)."""

from .fidelity import (
    describe,
    descriptors_from_json,
    descriptors_to_json,
    distance,
    fidelity_table,
    match_by_fraction,
    random_crops,
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

__all__ = [
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
    "match_by_fraction",
    "phase_fractions",
    "random_crops",
    "two_point_autocovariance",
]
