"""The ``folder`` source, and the listing helpers the other file-layout sources share.

Layout: ``<root>/<label>/**/<name>.<ext>`` with ``ext`` one of
:data:`~tfgenre.core.tracks.AUDIO_EXTENSIONS` (any case). Sub-folders below the label
folder are walked recursively; the track id is the path relative to the root without the
extension, with ``/`` separators (``rock/live/song1``), so it is unique by construction
unless two files differ only in their extension.

The helpers here (:class:`ListedSource`, :func:`require_folder`, :func:`walk`,
:func:`sorted_unique`, :func:`require_tracks`, :func:`normalize_split`) are used by the
gtzan, fma, csv and synthetic sources as well.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator

import tfgenre.core.io as tfio
from tfgenre.core.tracks import (
    AUDIO_EXTENSIONS,
    Skip,
    Track,
    is_hidden,
    iter_audio_files,
    strip_audio_extension,
    unsupported_audio_skips,
)
from tfgenre.errors import SourceError

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "validation", "test")

SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "test": "test",
}


class ListedSource:
    """Base for sources that list their inputs once, when they are built.

    Subclasses fill ``self._tracks`` (sorted by track id) and ``self._skipped`` in
    their constructor, so every :class:`~tfgenre.errors.SourceError` is raised before
    any work starts.
    """

    name: str = ""

    def __init__(self) -> None:
        self._tracks: list[Track] = []
        self._skipped: list[Skip] = []

    def tracks(self) -> list[Track]:
        """Returns every usable track, sorted by track_id."""
        return list(self._tracks)

    @property
    def skipped(self) -> list[Skip]:
        """Inputs found while listing that cannot be used (with reasons)."""
        return list(self._skipped)

    def labels(self) -> list[str]:
        """The sorted distinct labels of the usable tracks."""
        return sorted({t.label for t in self._tracks})

    def _log_summary(self, root: str) -> None:
        logger.info(
            "%s source %s: %d tracks in %d labels, %d skipped",
            self.name,
            root,
            len(self._tracks),
            len(self.labels()),
            len(self._skipped),
        )
        for skip in self._skipped:
            logger.debug("skipped %s: %s", skip.path, skip.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tracks={len(self._tracks)}, skipped={len(self._skipped)})"


def require_folder(root: str, source: str) -> str:
    """Checks that ``root`` is a readable folder.

    Args:
        root: Local path or ``gs://`` URL.
        source: Name of the source, for the message.

    Returns:
        ``root`` as a string.

    Raises:
        SourceError: when ``root`` is empty, missing, not a folder or unreadable.
    """
    root = os.fspath(root) if root is not None else ""
    if not root:
        raise SourceError(f"{source} source: root={root!r} must name a folder")
    if not tfio.exists(root):
        raise SourceError(f"{source} source: root={root!r} does not exist")
    if not tfio.isdir(root):
        raise SourceError(f"{source} source: root={root!r} is not a folder")
    try:
        tfio.listdir(root)
    except Exception as err:  # OSError locally, tf.errors.* for gs:// paths
        reason = getattr(err, "strerror", None) or err
        raise SourceError(f"{source} source: root={root!r} cannot be read ({reason})") from err
    return root


def walk(root: str, skipped: list[Skip]) -> Iterator[tuple[str, str, list[str], list[str]]]:
    """Walks ``root`` top-down like :func:`os.walk`, sorted and without hidden entries.

    A folder that cannot be read is appended to ``skipped`` instead of raising. Local
    symbolic links to folders are followed, each real folder once (no loops). The
    caller may prune the yielded ``dirnames`` list in place, as with :func:`os.walk`.

    Args:
        root: The folder to walk (local path or ``gs://`` URL).
        skipped: List that receives a :class:`Skip` per unreadable folder.

    Yields:
        ``(dirpath, reldir, dirnames, filenames)``, where ``reldir`` is ``dirpath``
        relative to ``root`` with ``/`` separators (``""`` for the root itself).
    """
    if tfio.is_remote(root):
        yield from _walk_remote(root, "", skipped)
        return

    def onerror(err: OSError) -> None:
        reason = err.strerror or str(err)
        skipped.append(Skip(err.filename or root, f"cannot read folder: {reason}"))
        logger.warning("cannot read folder %s: %s", err.filename, reason)

    seen: set[str] = set()
    seen_files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            logger.warning("folder %s was already listed (symbolic link loop?)", dirpath)
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        rel = os.path.relpath(dirpath, root)
        reldir = "" if rel == os.curdir else rel.replace(os.sep, "/")
        files = []
        for f in sorted(f for f in filenames if not is_hidden(f)):
            reason = tfio.first_visit_reason(
                os.path.join(dirpath, f), seen_files, "listed once"
            )
            if reason is None:
                files.append(f)
            elif f.lower().endswith(AUDIO_EXTENSIONS):  # others would not be read anyway
                skipped.append(Skip(os.path.join(dirpath, f), reason))
        yield dirpath, reldir, dirnames, files


def _walk_remote(
    top: str, reldir: str, skipped: list[Skip]
) -> Iterator[tuple[str, str, list[str], list[str]]]:
    try:
        names = tfio.listdir(top)
    except Exception as err:  # tf.errors.* (not OSError) for gs:// paths
        skipped.append(Skip(top, f"cannot read folder: {err}"))
        logger.warning("cannot read folder %s: %s", top, err)
        return
    dirnames: list[str] = []
    filenames: list[str] = []
    for name in names:
        if not is_hidden(name):
            (dirnames if tfio.isdir(tfio.join(top, name)) else filenames).append(name)
    yield top, reldir, dirnames, filenames
    for name in dirnames:
        sub = f"{reldir}/{name}" if reldir else name
        yield from _walk_remote(tfio.join(top, name), sub, skipped)


def sorted_unique(tracks: Iterable[Track], source: str) -> list[Track]:
    """Sorts ``tracks`` by id, checking that no id appears twice.

    Raises:
        SourceError: naming the id and both paths when an id is duplicated.
    """
    by_id: dict[str, Track] = {}
    for track in tracks:
        previous = by_id.get(track.track_id)
        if previous is not None:
            raise SourceError(
                f"{source} source: duplicate track_id {track.track_id!r} for "
                f"{previous.path!r} and {track.path!r} (track ids must be unique)"
            )
        by_id[track.track_id] = track
    return [by_id[key] for key in sorted(by_id)]


def require_tracks(tracks: list[Track], source: str, root: str, layout: str) -> None:
    """Raises when a source found no usable audio at all.

    Args:
        tracks: The usable tracks found.
        source: Name of the source, for the message.
        root: The root that was listed.
        layout: The expected layout, for the message.

    Raises:
        SourceError: when ``tracks`` is empty.
    """
    if not tracks:
        raise SourceError(
            f"{source} source: no usable audio found in root={root!r} (expected {layout}; "
            f"extensions: {', '.join(AUDIO_EXTENSIONS)})"
        )


def normalize_split(value: str, where: str) -> str:
    """Maps a split name or alias to ``train``, ``validation`` or ``test``.

    Args:
        value: The name as written (``training``, ``val``, ``valid`` ... any case).
        where: Where the value comes from, for the message (``row 7 of x.csv``).

    Raises:
        SourceError: for any other value.
    """
    split = SPLIT_ALIASES.get(str(value).strip().lower())
    if split is None:
        raise SourceError(
            f"split {value!r} in {where} must be one of {', '.join(SPLITS)} "
            f"(also accepted: training, val, valid)"
        )
    return split


class FolderSource(ListedSource):
    """Any ``<root>/<label>/**/<file>`` tree of audio files.

    The label is the name of the first-level folder; deeper folders are walked
    recursively. Audio files directly in the root have no label and are skipped;
    unreadable folders are skipped; hidden files and folders are ignored.

    Args:
        root: The folder holding one sub-folder per label.

    Raises:
        SourceError: when the root is missing or unreadable, when no audio is found,
            or when two files map to the same track id.
    """

    name = "folder"

    def __init__(self, root: str) -> None:
        super().__init__()
        root = require_folder(root, self.name)
        found: list[Track] = []
        for dirpath, reldir, _, filenames in walk(root, self._skipped):
            self._skipped.extend(unsupported_audio_skips(dirpath, filenames))
            for filename in iter_audio_files(filenames):
                path = tfio.join(dirpath, filename)
                if not reldir:
                    reason = "not in a label folder (files directly in the root have no label)"
                    self._skipped.append(Skip(path, reason))
                    continue
                track_id = strip_audio_extension(f"{reldir}/{filename}")
                found.append(Track(track_id, path, reldir.split("/", 1)[0]))
        self._tracks = sorted_unique(found, self.name)
        require_tracks(self._tracks, self.name, root, "<root>/<label>/**/<file>")
        self._log_summary(root)
