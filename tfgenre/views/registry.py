"""The one list of views: names, classes, and rebuilding a view from its spec.

Every module that needs the view names (the writer's config, model input checks, the
CLI's choices) reads :data:`VIEW_NAMES`; every module that must compute what the records
hold (predict, export's checks) calls :func:`from_spec`.
"""

from __future__ import annotations

import importlib
from typing import Any

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.views.base import View, ViewSpec

#: name -> "module:Class"; imported on first use (features pulls in librosa and scipy).
_VIEWS: dict[str, str] = {
    "raw": "tfgenre.views.raw:RawView",
    "mel": "tfgenre.views.mel:MelView",
    "features": "tfgenre.views.features:FeaturesView",
    "embeddings": "tfgenre.views.embeddings:EmbeddingsView",
}

VIEW_NAMES: tuple[str, ...] = tuple(_VIEWS)
#: Views that store one vector per segment of any length: whole tracks work for them,
#: their models take ``(n_features,)`` and they are normalised with per-column stats.
VECTOR_VIEWS: tuple[str, ...] = ("features", "embeddings")


def check_view_names(names: tuple[str, ...] | list[str]) -> None:
    """Raises ConfigError for an empty list or an unknown view name."""
    if not names:
        raise ConfigError(f"views=[] must name at least one of {', '.join(VIEW_NAMES)}")
    for name in names:
        check_view_name(name)


def check_view_name(name: str) -> None:
    """Raises ConfigError naming the known views when ``name`` is not one."""
    if name not in _VIEWS:
        raise ConfigError(
            f"unknown view {name!r} (known: {', '.join(VIEW_NAMES)})"
            + config.did_you_mean(name, VIEW_NAMES)
        )


def view_class(name: str) -> Any:
    """The class registered as ``name``.

    Raises:
        ConfigError: for an unknown name.
    """
    check_view_name(name)
    module, attr = _VIEWS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def from_spec(spec: ViewSpec) -> View:
    """The view that wrote ``spec``: ``view.spec(...)`` gives ``spec`` back.

    Raises:
        ConfigError: for an unknown view name or parameters the view rejects.
    """
    return view_class(spec.name).from_spec(spec)
