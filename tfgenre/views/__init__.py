"""Views: the representations stored per segment (raw window, log-mel, features)."""

from __future__ import annotations

from tfgenre.views.base import VIEW_NAMES, View, ViewSpec, check_view_names

__all__ = ["VIEW_NAMES", "View", "ViewSpec", "check_view_names"]
