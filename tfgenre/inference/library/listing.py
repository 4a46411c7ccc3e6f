"""The audio files of a library, streamed: one folder listed at a time, never the whole tree.

The rules are those of :func:`tfgenre.inference.audio_files.list_audio_files` (files named on the
command line are kept whatever their extension; folders are walked by the same
:func:`tfgenre.inference.audio_files.walk_audio_folder`), but the files come in the walk's order,
depth first: a folder's files (sorted), then its subfolders (sorted).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence

from tfgenre.core import io


@dataclasses.dataclass(frozen=True)
class Entry:
    """One file of the library.

    Attributes:
        path: The file as listed (the row's ``path``).
        skip: Why it is skipped without decoding (None: predict it).
    """

    path: str
    skip: str | None = None


def iter_library(paths: Sequence[str]) -> Iterator[Entry]:
    """The files under ``paths``, streamed (see the module docstring).

    Raises:
        ConfigError: when a folder holds no audio file (raised when its walk ends).
    """
    from tfgenre.inference.audio_files import walk_audio_folder

    seen_folders: set[str] = set()
    seen_files: dict[str, str] = {}
    for path in paths:
        if not io.isdir(path):
            yield Entry(path, io.irregular_reason(path))
            continue
        for file, reason in walk_audio_folder(path, seen_folders, seen_files):
            yield Entry(file, reason)


def stamp(path: str) -> tuple[int, int]:
    """``(size in bytes, mtime in ns)`` of a local file: what resume compares."""
    st = os.stat(path)
    return int(st.st_size), int(st.st_mtime_ns)
