"""Validation reports: generated vs reference, as JSON, PNG figures and self-contained HTML."""

from .basic import Report, build_report, write_report
from .validate import validate

__all__ = ["Report", "build_report", "validate", "write_report"]
