"""The audio files to predict: files named, and folders walked for their audio.

:func:`list_audio_files` is predict's listing (each folder sorted);
:func:`walk_audio_folder` the one folder walk it shares with library mode's streamed
listing (hidden files, unsupported formats, pipes, each real folder and file once).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from tfgenre.core import io
from tfgenre.errors import ConfigError


def list_audio_files(paths: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files named in ``paths``, with folders expanded (recursively, sorted) to their audio.

    Files given by name are kept whatever their extension (a bad one fails to decode and
    is reported); inside folders only :data:`~tfgenre.core.tracks.AUDIO_EXTENSIONS`
    files that are not hidden count, and audio in a format that is not decoded
    (``.m4a``, ``.aac``, ``.wma`` ...) is returned as skipped with its reason. Only
    regular files are opened (a named pipe would block forever): others are returned as
    skipped, with the reason; each real folder and file is visited once, so a symbolic
    link loop neither hangs nor repeats files.

    Returns:
        (files to predict, ``(path, reason)`` of the files skipped up front).

    Raises:
        ConfigError: when a folder holds no audio file.
    """
    out: list[str] = []
    skipped: list[tuple[str, str]] = []
    seen_folders: set[str] = set()
    seen_files: dict[str, str] = {}
    for path in paths:
        if not io.isdir(path):
            reason = io.irregular_reason(path)  # named files: as given, if regular
            if reason is None:
                out.append(path)
            else:
                skipped.append((path, reason))
            continue
        found: list[str] = []
        unsupported: list[tuple[str, str]] = []
        for file, reason in walk_audio_folder(path, seen_folders, seen_files):
            if reason is None:
                found.append(file)
            else:
                unsupported.append((file, reason))
        out.extend(sorted(found))
        skipped.extend(sorted(unsupported))
    return out, skipped


def walk_audio_folder(
    path: str, seen_folders: set[str], seen_files: dict[str, str]
) -> Iterator[tuple[str, str | None]]:
    """The audio files under folder ``path``, one folder listed at a time.

    Depth first: a folder's files (sorted), then its subfolders (sorted). Only
    non-hidden files with an :data:`~tfgenre.core.tracks.AUDIO_EXTENSIONS` extension
    count; formats that are not decoded and irregular files come with the reason they
    are skipped. Each real folder and file is visited once across calls that share
    ``seen_folders`` and ``seen_files``, so a symbolic link loop ends.

    Yields:
        ``(file, None)`` to predict, or ``(file, reason)`` skipped up front.

    Raises:
        ConfigError: when the folder holds no audio file (raised when its walk ends).
    """
    from tfgenre.core.tracks import (
        AUDIO_EXTENSIONS,
        iter_audio_files,
        unsupported_audio_skips,
    )

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
            yield file, io.first_visit_reason(file, seen_files, "predicted once")
        for skip in unsupported_audio_skips(folder, names):
            count += 1
            yield skip.path, skip.reason
        subfolders = [
            io.join(folder, n)
            for n in names
            if not n.startswith(".") and io.isdir(io.join(folder, n))
        ]
        stack.extend(reversed(subfolders))  # popped in sorted order
    if not count:
        raise ConfigError(f"folder {path!r} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
