"""The ``gtzan`` source: the GTZAN genre collection layout.

Layout: ``<root>/<genre>/<genre>.000NN.wav`` (or ``.au``, as in the original tarball).
The root may also be the folder that holds ``genres/``, ``genres_original/`` or
``Data/genres_original/`` (the Kaggle copy). The track id is the file stem
(``blues.00000``), the label is the genre folder, and the group is None: GTZAN has no
artist ids.

``split="fault_filtered"`` gives every track the split of the fault-filtered lists shipped
with tfgenre (Kereliuk, Sturm and Larsen 2015; see :mod:`tfgenre.splitting.protocols`).
``split_files`` takes the user's own lists (one track per line, written as
``blues/blues.00000.wav``, ``blues.00000.wav`` or ``blues.00000``). Either way, tracks in
no list are *excluded*: listed in :attr:`GtzanSource.excluded` (and counted in the
manifest), not skipped as errors. The collection's known-corrupt ``jazz.00054.wav`` is
listed like any other file: the decoder skips it later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import tfgenre.core.io as tfio
from tfgenre.core.tracks import (
    Skip,
    Track,
    iter_audio_files,
    strip_audio_extension,
    unsupported_audio_skips,
)
from tfgenre.errors import ConfigError, SourceError
from tfgenre.sources.folder import (
    ListedSource,
    normalize_split,
    require_folder,
    require_tracks,
    sorted_unique,
    walk,
)
from tfgenre.splitting import protocols

logger = logging.getLogger(__name__)

# Folders that hold the genre folders in the common distributions, tried in order.
GTZAN_SUBFOLDERS: tuple[tuple[str, ...], ...] = (
    ("genres",),
    ("genres_original",),
    ("Data", "genres_original"),
)

GTZAN_LAYOUT = "<root>/<genre>/<genre>.000NN.wav"


def resolve_genres_root(root: str) -> str:
    """The folder that holds the genre folders: ``root`` or a known sub-folder of it."""
    for parts in GTZAN_SUBFOLDERS:
        candidate = tfio.join(root, *parts)
        if tfio.isdir(candidate):
            logger.debug("gtzan: using genre folders in %s", candidate)
            return candidate
    return root


def list_genre_folders(root: str, source: str) -> tuple[list[Track], list[Skip]]:
    """Lists a ``<root>/<genre>/<file>`` tree, one flat folder per genre.

    Audio directly in the root and folders nested inside a genre folder are skipped;
    other non-audio files (``input.mf``, ``synthetic.json``) are ignored.

    Args:
        root: The folder holding the genre folders (already resolved).
        source: Name of the calling source, for messages.

    Returns:
        The tracks sorted by id (unchecked for emptiness), and the skipped inputs.

    Raises:
        SourceError: when the root is unreadable or two files have the same stem.
    """
    root = require_folder(root, source)
    skipped: list[Skip] = []
    found: list[Track] = []
    for dirpath, reldir, dirnames, filenames in walk(root, skipped):
        skipped.extend(unsupported_audio_skips(dirpath, filenames))
        if not reldir:
            for filename in iter_audio_files(filenames):
                skipped.append(
                    Skip(tfio.join(dirpath, filename), "not in a genre folder (no label)")
                )
            continue
        for name in dirnames:
            skipped.append(
                Skip(
                    tfio.join(dirpath, name),
                    "folder nested in a genre folder (the gtzan layout is flat; "
                    "use the folder source for nested trees)",
                )
            )
        dirnames[:] = []
        for filename in iter_audio_files(filenames):
            found.append(
                Track(strip_audio_extension(filename), tfio.join(dirpath, filename), reldir)
            )
    return sorted_unique(found, source), skipped


def read_split_lists(split_files: Mapping[str, str]) -> dict[str, str]:
    """Reads split lists into a ``track_id -> split`` mapping.

    Args:
        split_files: Split name (``train``/``validation``/``test`` or an alias) to a
            text file with one track per line (``blues/blues.00000.wav``,
            ``blues.00000.wav`` or ``blues.00000``). Blank lines and lines starting
            with ``#`` are ignored.

    Raises:
        SourceError: for an unknown split name, an unreadable file, or a track listed
            in two splits.
    """
    assigned: dict[str, tuple[str, str]] = {}
    for split_name, path in split_files.items():
        split = normalize_split(split_name, f"split_files={{{split_name!r}: {path!r}}}")
        try:
            text = tfio.read_text(path)
        except Exception as err:  # OSError locally, tf.errors.* for gs:// paths
            raise SourceError(
                f"gtzan source: split file {path!r} for split {split_name!r} cannot be "
                f"read ({getattr(err, 'strerror', None) or err})"
            ) from err
        for track_id in protocols.parse_split_list(text):
            previous = assigned.get(track_id)
            if previous is not None and previous[0] != split:
                raise SourceError(
                    f"gtzan source: track {track_id!r} is in two split lists: "
                    f"{previous[1]!r} ({previous[0]}) and {path!r} ({split}); "
                    "a track may be in one split only"
                )
            assigned[track_id] = (split, path)
    return {track_id: split for track_id, (split, _) in assigned.items()}


class GtzanSource(ListedSource):
    """The GTZAN genre collection (or anything laid out like it).

    Args:
        root: The folder holding the genre folders, or the one holding ``genres/``,
            ``genres_original/`` or ``Data/genres_original/``.
        split: A named split shipped with tfgenre (``fault_filtered``), or None.
        split_files: Optional split name -> split list file (the user's own lists).
            Give ``split`` or ``split_files``, not both. With either, tracks in no list
            are excluded (see :attr:`excluded`) and a track in two lists is an error.

    Raises:
        ConfigError: for an unknown ``split`` name (naming the known ones), or both
            ``split`` and ``split_files``.
        SourceError: for a missing or unreadable root, no audio, duplicate track ids,
            or bad split lists.
    """

    name = "gtzan"

    def __init__(
        self,
        root: str,
        *,
        split: str | None = None,
        split_files: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        if split is not None and split_files is not None:
            raise ConfigError(
                f"gtzan source: give split={split!r} (a named split) or split_files, not both"
            )
        named = protocols.get_named_split(split) if split is not None else None
        genres_root = resolve_genres_root(require_folder(root, self.name))
        tracks, self._skipped = list_genre_folders(genres_root, self.name)
        require_tracks(tracks, self.name, genres_root, GTZAN_LAYOUT)
        self._excluded: list[str] = []
        self._protocol: protocols.Protocol | None = None
        if named is not None:
            assignment = protocols.named_split_assignment(named.name)
            tracks = self._apply_assignment(tracks, assignment, f"split={split!r}")
            self._protocol = named.protocol
        elif split_files is not None:
            if not isinstance(split_files, Mapping) or not split_files:
                raise SourceError(
                    f"gtzan source: split_files={split_files!r} must be a non-empty mapping "
                    "of split name to list file"
                )
            assignment = read_split_lists(split_files)
            tracks = self._apply_assignment(
                tracks, assignment, f"split_files={dict(split_files)!r}"
            )
            self._protocol = self._split_files_protocol(tracks)
        self._tracks = tracks
        self._log_summary(genres_root)
        if self._excluded:
            logger.info(
                "gtzan: %d tracks are in no split list and are excluded (e.g. %s)",
                len(self._excluded),
                ", ".join(self._excluded[:5]),
            )

    @property
    def excluded(self) -> list[str]:
        """Track ids left out on purpose: in no list of ``split``/``split_files``."""
        return list(self._excluded)

    @property
    def protocol(self) -> protocols.Protocol | None:
        """The protocol of the source's own split (None: the source gives no split)."""
        return self._protocol

    @staticmethod
    def _split_files_protocol(tracks: list[Track]) -> protocols.Protocol:
        """``gtzan_fault_filtered`` when the user's lists agree with it, else split_files."""
        if protocols.matches_named_split({t.track_id: str(t.split) for t in tracks}):
            return protocols.get_named_split("fault_filtered").protocol
        return protocols.Protocol(
            protocols.SPLIT_FILES, grouping="unknown", dataset="gtzan", leaks_artists=None
        )

    def _apply_assignment(
        self, tracks: list[Track], splits: Mapping[str, str], what: str
    ) -> list[Track]:
        kept: list[Track] = []
        for track in tracks:
            split = splits.get(track.track_id)
            if split is None:
                self._excluded.append(track.track_id)
            else:
                kept.append(Track(track.track_id, track.path, track.label, track.group, split))
        unknown = sorted(set(splits) - {t.track_id for t in tracks})
        if unknown:
            # a subset of the shipped lists is normal (a sample of GTZAN); the user's
            # own lists naming absent clips more likely point at the wrong folder
            logger.log(
                logging.INFO if what.startswith("split=") else logging.WARNING,
                "gtzan: %d tracks in the split lists are not in the dataset (e.g. %s)",
                len(unknown),
                ", ".join(unknown[:5]),
            )
        if not kept:
            raise SourceError(
                f"gtzan source: none of the {len(tracks)} tracks is named in {what} "
                "(entries look like blues/blues.00000.wav)"
            )
        return kept
