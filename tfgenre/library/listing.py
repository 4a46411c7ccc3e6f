"""The audio files of a library, streamed: one folder listed at a time, never the whole tree.

The rules are those of :func:`tfgenre.inference.list_audio_files` (files named on the
command line are kept whatever their extension; in folders only non-hidden audio by
extension; undecodable formats and irregular files are skipped with a reason; each
real folder and file once, so a link loop ends) but the order is depth first: a
folder's files (sorted), then its subfolders (sorted).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence

from tfgenre import io
from tfgenre.errors import ConfigError


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
    from tfgenre.sources.base import (
        AUDIO_EXTENSIONS,
        iter_audio_files,
        unsupported_audio_skips,
    )

    seen_folders: set[str] = set()
    seen_files: dict[str, str] = {}
    for path in paths:
        if not io.isdir(path):
            yield Entry(path, io.irregular_reason(path))
            continue
        count = 0
        stack = [path]
        while stack:
            folder = stack.pop()
            if not io.is_remote(folder):  # each real folder once: a link loop ends here
                real = os.path.realpath(folder)
                if real in seen_folders:
                    continue
                seen_folders.add(real)
            names = sorted(io.listdir(folder))
            for name in iter_audio_files(names):
                file = io.join(folder, name)
                count += 1
                yield Entry(file, io.first_visit_reason(file, seen_files, "predicted once"))
            for skip in unsupported_audio_skips(folder, names):
                count += 1
                yield Entry(skip.path, skip.reason)
            subfolders = [
                io.join(folder, n)
                for n in names
                if not n.startswith(".") and io.isdir(io.join(folder, n))
            ]
            stack.extend(reversed(subfolders))  # popped in sorted order
        if not count:
            raise ConfigError(
                f"folder {path!r} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})"
            )


def stamp(path: str) -> tuple[int, int]:
    """``(size in bytes, mtime in ns)`` of a local file: what resume compares."""
    st = os.stat(path)
    return int(st.st_size), int(st.st_mtime_ns)
