"""Tracks and audio files.

The record every source yields (:class:`Track`), the skips a source reports, the
:class:`Source` protocol, and which file names are audio.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Protocol

logger = logging.getLogger(__name__)

# File extensions of each container libsndfile decodes (soundfile.available_formats()
# also lists headerless RAW and rare formats such as PAF, SD2 or XI, left out here).
_FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "WAV": (".wav", ".wave"),
    "AU": (".au", ".snd"),
    "AIFF": (".aiff", ".aif", ".aifc"),
    "FLAC": (".flac",),
    "OGG": (".ogg", ".oga"),
    "MP3": (".mp3",),
    "CAF": (".caf",),
    "W64": (".w64",),
    "RF64": (".rf64",),
}

# Audio-looking extensions that libsndfile cannot decode: listed as skipped with reason
# ``unsupported format`` instead of being ignored without a word.
_OTHER_AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".m4a",
    ".m4b",
    ".mp4",
    ".aac",
    ".alac",
    ".wma",
    ".opus",
    ".ape",
    ".wv",
    ".mka",
    ".webm",
    ".weba",
    ".amr",
    ".ac3",
    ".dts",
    ".mpc",
    ".mp2",
    ".ra",
    ".3gp",
    ".mid",
    ".midi",
)

UNSUPPORTED_FORMAT = "unsupported format"


def _decodable_extensions() -> tuple[str, ...]:
    """The extensions of :data:`_FORMAT_EXTENSIONS` this libsndfile build decodes."""
    try:
        import soundfile as sf

        formats = set(sf.available_formats())
        opus = "OPUS" in sf.available_subtypes("OGG")
    except (ImportError, OSError):  # pragma: no cover - soundfile is a dependency
        return (".wav", ".au", ".flac", ".ogg", ".mp3")
    out = [ext for fmt, exts in _FORMAT_EXTENSIONS.items() if fmt in formats for ext in exts]
    if opus:
        out.append(".opus")
    return tuple(out)


AUDIO_EXTENSIONS: tuple[str, ...] = _decodable_extensions()

UNSUPPORTED_AUDIO_EXTENSIONS: tuple[str, ...] = tuple(
    ext
    for ext in (*_OTHER_AUDIO_EXTENSIONS, *(e for v in _FORMAT_EXTENSIONS.values() for e in v))
    if ext not in AUDIO_EXTENSIONS
)


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
    """A dataset source: lists tracks, and inputs it had to skip while listing.

    Building a source only lists. A source whose inputs are made rather than found
    (synthetic) also defines ``prepare(root, **options)``, run by
    :func:`~tfgenre.sources.registry.prepare_source` before the source is built.
    """

    name: str

    def tracks(self) -> list[Track]:
        """Returns every usable track, sorted by track_id."""

    @property
    def skipped(self) -> list[Skip]:
        """Inputs found while listing that cannot be used (with reasons)."""


def strip_audio_extension(name: str) -> str:
    """``name`` without a trailing audio extension (``blues.00000.wav`` -> ``blues.00000``).

    Only the extensions in :data:`AUDIO_EXTENSIONS` are removed, so dotted ids such as
    ``blues.00000`` are kept whole.
    """
    lower = name.lower()
    for ext in AUDIO_EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)]
    return name


def is_hidden(name: str) -> bool:
    """True for hidden and OS metadata files (``.DS_Store``, ``._x.wav``)."""
    return name.startswith(".")


def iter_audio_files(names: list[str]) -> Iterator[str]:
    """Yields the names in ``names`` that are decodable audio and not hidden."""
    for name in names:
        if not is_hidden(name) and name.lower().endswith(AUDIO_EXTENSIONS):
            yield name


def unsupported_reason(name: str) -> str | None:
    """The skip reason for an audio file that cannot be decoded, else None.

    Args:
        name: A file name or path.

    Returns:
        ``"unsupported format: ..."`` for audio-looking extensions that libsndfile does
        not decode (``.m4a``, ``.aac``, ``.wma`` ...), None for anything else.
    """
    lower = name.lower()
    if lower.endswith(AUDIO_EXTENSIONS) or not lower.endswith(UNSUPPORTED_AUDIO_EXTENSIONS):
        return None
    ext = "." + lower.rsplit(".", 1)[-1]
    return (
        f"{UNSUPPORTED_FORMAT}: {ext} is not decoded (supported: "
        f"{', '.join(AUDIO_EXTENSIONS)}); convert it, e.g. to .flac or .wav"
    )


def unsupported_audio_skips(dirpath: str, names: list[str]) -> list[Skip]:
    """A :class:`Skip` for each non-hidden name in ``names`` with an undecodable format."""
    from tfgenre.core import io as tfio

    skips = []
    for name in names:
        reason = None if is_hidden(name) else unsupported_reason(name)
        if reason is not None:
            skips.append(Skip(tfio.join(dirpath, name), reason))
    return skips
