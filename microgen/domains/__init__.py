"""The only place that knows rocks and cathodes: material kinds, phases and their label codes."""

from .kinds import KINDS, MaterialKind, get_kind

__all__ = ["KINDS", "MaterialKind", "get_kind"]
