"""The one list of sources: names, classes, and building one from a name and options.

Sources are imported on first use (fma pulls in pandas), from this table rather than by
decorators, so no source module has to be imported for its name to be known and
``sources.base`` imports no source.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from tfgenre.core import config
from tfgenre.core.tracks import Source
from tfgenre.errors import ConfigError

#: name -> "module:Class"
_SOURCES: dict[str, str] = {
    "csv": "tfgenre.sources.csv:CsvSource",
    "fma": "tfgenre.sources.fma:FmaSource",
    "folder": "tfgenre.sources.folder:FolderSource",
    "gtzan": "tfgenre.sources.gtzan:GtzanSource",
    "synthetic": "tfgenre.sources.synthetic:SyntheticSource",
}


def known_sources() -> list[str]:
    """Names of the sources, sorted."""
    return sorted(_SOURCES)


def source_class(name: str) -> Any:
    """The class of source ``name``.

    Raises:
        ConfigError: when the name is unknown (the message lists the known ones).
    """
    if name not in _SOURCES:
        raise ConfigError(
            f"unknown source {name!r} (known: {', '.join(known_sources())})"
            + config.did_you_mean(name, _SOURCES)
        )
    module, attr = _SOURCES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def source_options(name: str) -> list[str]:
    """The keyword options source ``name`` takes (``source_options.<key>``)."""
    params = inspect.signature(source_class(name)).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def get_source(name: str, root: str, **options: Any) -> Source:
    """Builds the source ``name`` over ``root``.

    Raises:
        ConfigError: for an unknown name or an option the source does not take (the
            message lists the known ones and the closest).
    """
    cls = source_class(name)
    _check_options(name, options)
    return cls(root, **options)


def _check_options(name: str, options: dict[str, Any]) -> None:
    known = source_options(name)
    for key in options:
        if key not in known:
            raise ConfigError(
                f"unknown option source_options.{key} for source {name!r} "
                f"(known: {', '.join(known)})" + config.did_you_mean(key, known)
            )


def prepare_source(name: str, root: str, **options: Any) -> None:
    """Makes the inputs of source ``name`` ready to list: runs its ``prepare`` step.

    Only sources that make their inputs have one (synthetic writes its dataset); for the
    others nothing runs. Options are checked as :func:`get_source` checks them.

    Args:
        name: Source name.
        root: The source's root.
        **options: The source's options, as :func:`get_source` takes them.
    """
    cls = source_class(name)
    _check_options(name, options)
    prepare = getattr(cls, "prepare", None)
    if prepare is not None:
        prepare(root, **options)
