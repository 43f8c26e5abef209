"""Validation reports: generated vs reference, as JSON, PNG figures and self-contained HTML."""

from .basic import write_report

__all__ = ["write_report"]
