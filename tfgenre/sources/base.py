"""The track record every source yields, and the source registry."""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".au", ".flac", ".ogg", ".mp3")


@dataclasses.dataclass(frozen=True)
class Track:
    """One labelled audio file.

    Attributes:
        track_id: Unique id within the dataset (e.g. ``blues.00000`` or ``000002``).
        path: Path of the audio file (local or ``gs://``).
        label: Genre name.
        group: Group that must never span two splits (artist id when known), or None
            to group by the track itself.
        split: The split the source assigns (``train``/``validation``/``test``), or None.
    """

    track_id: str
    path: str
    label: str
    group: str | None = None
    split: str | None = None


@dataclasses.dataclass(frozen=True)
class Skip:
    """An input that was not written, with the reason."""

    path: str
    reason: str


class Source(Protocol):
    """A dataset source: lists tracks, and inputs it had to skip while listing."""

    name: str

    def tracks(self) -> list[Track]:
        """Returns every usable track, sorted by track_id."""

    @property
    def skipped(self) -> list[Skip]:
        """Inputs found while listing that cannot be used (with reasons)."""


_SOURCES: dict[str, Callable[..., Source]] = {}


def register_source(name: str) -> Callable[[Callable[..., Source]], Callable[..., Source]]:
    """Class decorator that registers a source under ``name``."""

    def wrap(cls: Callable[..., Source]) -> Callable[..., Source]:
        if name in _SOURCES:
            raise ConfigError(f"source {name!r} is registered twice")
        _SOURCES[name] = cls
        return cls

    return wrap


def known_sources() -> list[str]:
    """Names of the registered sources, sorted."""
    _import_all()
    return sorted(_SOURCES)


def get_source(name: str, root: str, **options: Any) -> Source:
    """Builds the source ``name`` over ``root``.

    Raises:
        ConfigError: when the name is unknown (the message lists the known ones).
    """
    _import_all()
    if name not in _SOURCES:
        close = difflib.get_close_matches(name, list(_SOURCES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown source {name!r} (known: {', '.join(sorted(_SOURCES))}){hint}"
        )
    return _SOURCES[name](root, **options)


def _import_all() -> None:
    # Importing the modules runs their @register_source decorators.
    from tfgenre.sources import csv, fma, folder, gtzan, synthetic  # noqa: F401


def is_hidden(name: str) -> bool:
    """True for hidden and OS metadata files (``.DS_Store``, ``._x.wav``)."""
    return name.startswith(".")


def iter_audio_files(names: list[str]) -> Iterator[str]:
    """Yields the names in ``names`` that look like audio and are not hidden."""
    for name in names:
        if not is_hidden(name) and name.lower().endswith(AUDIO_EXTENSIONS):
            yield name
