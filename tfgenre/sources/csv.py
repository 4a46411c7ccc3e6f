"""The ``csv`` source: a CSV file listing audio files with their labels.

Columns (header names are matched case-insensitively):

* ``path`` (or ``filename``, ``file``): the audio file; relative paths resolve against
  the CSV's folder (or ``audio_root``).
* ``label`` (or ``genre``): the genre; must not be empty.
* ``group`` (or ``artist``, ``artist_id``), optional: rows of one group never span two
  splits.
* ``split``, optional: ``train``, ``validation`` or ``test`` (also ``training``, ``val``,
  ``valid``); empty means the splitter decides.
* ``track_id`` (or ``id``), optional: default is the path as written, without its
  extension.

Rows are numbered as in a spreadsheet: the header is row 1, the first track row 2.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
from collections.abc import Iterable

import tfgenre.core.io as tfio
from tfgenre.core.tracks import (
    Skip,
    Track,
    is_hidden,
    strip_audio_extension,
    unsupported_reason,
)
from tfgenre.errors import SourceError
from tfgenre.sources.folder import (
    ListedSource,
    normalize_split,
    require_tracks,
)

logger = logging.getLogger(__name__)

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "path": ("path", "filename", "file"),
    "label": ("label", "genre"),
    "group": ("group", "artist", "artist_id"),
    "split": ("split",),
    "track_id": ("track_id", "id"),
}


def _find_columns(header: list[str], csv_path: str) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    columns: dict[str, int] = {}
    for column, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in names:
                columns[column] = names.index(alias)
                break
    missing = [c for c in ("path", "label") if c not in columns]
    if missing:
        wanted = " and ".join(f"{c} ({' or '.join(COLUMN_ALIASES[c])})" for c in missing)
        raise SourceError(
            f"csv source: {csv_path!r} has columns {header} but needs a column for {wanted}"
        )
    return columns


def _is_absolute(path: str) -> bool:
    return tfio.is_remote(path) or os.path.isabs(path)


class CsvSource(ListedSource):
    """Tracks listed in a CSV file.

    Args:
        root: Path of the CSV file.
        labels: The allowed labels; a row with any other label is an error.
        audio_root: Folder that relative paths resolve against (default: the CSV's
            folder). When ``<audio_root>/<path>`` is missing, ``<audio_root>/<label>/<path>``
            is tried too, so a GTZAN feature table (``filename`` = ``blues.00000.wav``)
            can point at a GTZAN genre tree.

    Raises:
        SourceError: for a missing or unreadable CSV, missing required columns, a row
            with an empty path or label, an unknown label, a bad split value, a
            duplicate track id, or no existing audio file at all.
    """

    name = "csv"

    def __init__(
        self,
        root: str,
        *,
        labels: Iterable[str] | None = None,
        audio_root: str | None = None,
    ) -> None:
        super().__init__()
        csv_path = os.fspath(root) if root is not None else ""
        known = None if labels is None else tuple(labels)
        if known is not None and not known:
            raise SourceError("csv source: labels=() must name at least one label (or be None)")
        rows = self._read_rows(csv_path)
        if tfio.is_remote(csv_path):
            base = audio_root or csv_path.rsplit("/", 1)[0]
        else:
            base = audio_root or os.path.dirname(os.path.abspath(csv_path))

        header, body = rows[0], rows[1:]
        columns = _find_columns(header, csv_path)

        def cell(row: list[str], column: str) -> str:
            index = columns.get(column)
            return row[index].strip() if index is not None and index < len(row) else ""

        first_row: dict[str, tuple[int, str]] = {}
        tracks: list[tuple[Track, str | None]] = []
        for row_number, row in enumerate(body, start=2):
            if not any(value.strip() for value in row):
                continue
            where = f"row {row_number} of {csv_path}"
            written = cell(row, "path").replace("\\", "/")
            label = cell(row, "label")
            if not written:
                raise SourceError(f"csv source: {where} has an empty path")
            if not label:
                raise SourceError(f"csv source: {where} has an empty label ({written!r})")
            if known is not None and label not in known:
                raise SourceError(
                    f"csv source: unknown label {label!r} in {where} (known: {', '.join(known)})"
                )
            split_value = cell(row, "split")
            split = normalize_split(split_value, where) if split_value else None
            track_id = cell(row, "track_id") or strip_audio_extension(
                written[2:] if written.startswith("./") else written
            )
            path = written if _is_absolute(written) else tfio.join(base, written)
            if not tfio.is_remote(path):
                path = os.path.normpath(path)
            if track_id in first_row:
                other_row, other_path = first_row[track_id]
                raise SourceError(
                    f"csv source: duplicate track_id {track_id!r} in rows {other_row} "
                    f"({other_path!r}) and {row_number} ({path!r}) of {csv_path} "
                    "(track ids must be unique)"
                )
            first_row[track_id] = (row_number, path)
            track = Track(track_id, path, label, cell(row, "group") or None, split)
            tracks.append((track, None if _is_absolute(written) else written))

        self._tracks = self._existing(tracks, base)
        require_tracks(self._tracks, self.name, csv_path, "rows naming existing audio files")
        self._log_summary(csv_path)

    @staticmethod
    def _read_rows(csv_path: str) -> list[list[str]]:
        if not csv_path:
            raise SourceError(f"csv source: root={csv_path!r} must name a CSV file")
        if not tfio.exists(csv_path):
            raise SourceError(f"csv source: root={csv_path!r} does not exist")
        if tfio.isdir(csv_path):
            raise SourceError(f"csv source: root={csv_path!r} is a folder, not a CSV file")
        try:
            text = tfio.read_text(csv_path)
        except UnicodeDecodeError as err:
            raise SourceError(f"csv source: {csv_path!r} is not UTF-8 text ({err})") from err
        except Exception as err:  # OSError locally, tf.errors.* for gs:// paths
            reason = getattr(err, "strerror", None) or err
            raise SourceError(f"csv source: {csv_path!r} cannot be read ({reason})") from err
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        if not rows or not any(h.strip() for h in rows[0]):
            raise SourceError(f"csv source: {csv_path!r} is empty (it needs a header row)")
        return rows

    def _existing(self, tracks: list[tuple[Track, str | None]], base: str) -> list[Track]:
        """Keeps the tracks whose file exists; the others become skips.

        Args:
            tracks: Each track with its path as written when it was relative, else None.
            base: The folder relative paths resolve against.
        """
        kept: list[Track] = []
        for track, relative in tracks:
            if is_hidden(os.path.basename(track.path)):
                self._skipped.append(Skip(track.path, "hidden file (OS metadata, not audio)"))
            elif (reason := unsupported_reason(track.path)) is not None:
                self._skipped.append(Skip(track.path, reason))
            elif tfio.exists(track.path):
                kept.append(track)
            elif relative and tfio.exists(
                fallback := os.path.normpath(tfio.join(base, track.label, relative))
                if not tfio.is_remote(base)
                else tfio.join(base, track.label, relative)
            ):
                kept.append(dataclasses.replace(track, path=fallback))
            else:
                self._skipped.append(Skip(track.path, "file not found"))
        return sorted(kept, key=lambda t: t.track_id)
