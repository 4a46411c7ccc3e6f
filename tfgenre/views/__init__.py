"""Views: the representations stored per segment (raw window, log-mel, features, embeddings)."""

from __future__ import annotations

from tfgenre.views.base import View, ViewSpec
from tfgenre.views.registry import (
    VECTOR_VIEWS,
    VIEW_NAMES,
    check_view_names,
    from_spec,
    view_class,
)

__all__ = [
    "VECTOR_VIEWS",
    "VIEW_NAMES",
    "View",
    "ViewSpec",
    "check_view_names",
    "from_spec",
    "view_class",
]
