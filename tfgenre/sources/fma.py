"""The ``fma`` source: the Free Music Archive (fma_small, fma_medium, fma_large, fma_full).

Audio: ``<root>/000/000002.mp3``. Metadata: fma_metadata's ``tracks.csv``, a CSV with a
two-row header read as ``pandas.read_csv(path, index_col=0, header=[0, 1])``. Per track:
label ``('track', 'genre_top')``, group ``('artist', 'id')`` (so an artist never spans
two splits), split ``('set', 'split')`` mapped from ``training``/``validation``/``test``,
and the smallest subset holding it, ``('set', 'subset')``: the subsets nest,
small ⊂ medium ⊂ large.

The six known short or empty fma_small files are listed like any other (the decoder
skips them when they are empty); ``exclude_known_bad=True`` skips them up front.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from typing import Any

import tfgenre.core.io as tfio
from tfgenre.core.tracks import (
    Skip,
    Track,
    iter_audio_files,
    strip_audio_extension,
    unsupported_audio_skips,
)
from tfgenre.errors import SourceError
from tfgenre.sources.folder import (
    ListedSource,
    normalize_split,
    require_folder,
    require_tracks,
    walk,
)

logger = logging.getLogger(__name__)

FMA_SUBSETS: tuple[str, ...] = ("small", "medium", "large")

KNOWN_BAD_FMA_SMALL: frozenset[str] = frozenset(
    {"098565", "098567", "098569", "099134", "108925", "133297"}
)

SPLIT_COLUMN = ("set", "split")
SUBSET_COLUMN = ("set", "subset")
GENRE_COLUMN = ("track", "genre_top")
ARTIST_COLUMN = ("artist", "id")
REQUIRED_COLUMNS: tuple[tuple[str, str], ...] = (
    SPLIT_COLUMN,
    SUBSET_COLUMN,
    GENRE_COLUMN,
    ARTIST_COLUMN,
)

FMA_LAYOUT = "<root>/000/000002.mp3"


def default_metadata_paths(root: str) -> list[str]:
    """Where ``tracks.csv`` is looked for when no ``metadata`` path is given."""
    if tfio.is_remote(root):
        parent = root.rstrip("/").rsplit("/", 1)[0]
    else:
        parent = os.path.dirname(os.path.abspath(root))
    return [
        tfio.join(parent, "fma_metadata", "tracks.csv"),
        tfio.join(root, "tracks.csv"),
        tfio.join(root, "fma_metadata", "tracks.csv"),
    ]


def infer_subset(root: str) -> str | None:
    """The subset named by the root folder (``fma_small`` -> ``small``), else None."""
    match = re.fullmatch(r"fma_(small|medium|large|full)", os.path.basename(root.rstrip("/")))
    if match is None:
        return None
    return "large" if match.group(1) == "full" else match.group(1)


def read_tracks_csv(path: str) -> Any:
    """Reads the required columns of fma_metadata's ``tracks.csv``.

    Only the index and the four columns the source uses are parsed, which keeps the
    real 100k-row file fast to load.

    Args:
        path: Local path or ``gs://`` URL of ``tracks.csv``.

    Returns:
        A ``pandas.DataFrame`` indexed by track id with two-level columns.

    Raises:
        SourceError: when the file cannot be read or lacks a required column.
    """
    import pandas as pd

    def source() -> Any:
        return io.StringIO(text) if text is not None else path

    text = tfio.read_text(path) if tfio.is_remote(path) else None
    try:
        header = pd.read_csv(source(), index_col=0, header=[0, 1], nrows=0)
        missing = [col for col in REQUIRED_COLUMNS if col not in header.columns]
        if missing:
            raise SourceError(
                f"fma source: metadata={path!r} lacks the columns "
                f"{', '.join(map(str, missing))} (it must be fma_metadata's tracks.csv with "
                "its two-row header)"
            )
        # pandas refuses usecols with a two-row header, so read the data rows alone.
        # After the two header rows, tracks.csv has a third holding the index name.
        first_cells = pd.read_csv(source(), header=None, nrows=3, usecols=[0], dtype=str)
        third = first_cells.iloc[2, 0] if len(first_cells) > 2 else None
        header_rows = 3 if isinstance(third, str) and not third.strip().isdigit() else 2
        wanted = sorted((header.columns.get_loc(col) + 1, col) for col in REQUIRED_COLUMNS)
        frame = pd.read_csv(
            source(),
            header=None,
            skiprows=header_rows,
            usecols=[0] + [position for position, _ in wanted],
            index_col=0,
            low_memory=False,
        )
        frame.columns = pd.MultiIndex.from_tuples([col for _, col in wanted])
    except SourceError:
        raise
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise SourceError(
            f"fma source: metadata={path!r} cannot be read as fma_metadata's two-row-header "
            f"tracks.csv ({err})"
        ) from err
    return frame[list(REQUIRED_COLUMNS)]


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _artist_group(value: Any) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class FmaSource(ListedSource):
    """The Free Music Archive dataset with its ``tracks.csv`` metadata.

    Args:
        root: The audio folder (``fma_small``: ``<root>/000/000002.mp3``).
        metadata: Path of ``tracks.csv``. Default: ``<root>/../fma_metadata/tracks.csv``,
            else ``<root>/tracks.csv``, else ``<root>/fma_metadata/tracks.csv``.
        subset: ``small``, ``medium`` or ``large``: keep rows whose ``('set',
            'subset')`` is within it. None infers it from the root's name (``fma_small``
            ... ``fma_full``), and keeps every row when the name says nothing.
        use_official_split: Take the split from ``('set', 'split')``; when False every
            track's split is None and the splitter decides.
        exclude_known_bad: Skip the known short or empty fma_small files up front.

    Raises:
        SourceError: for a missing root or metadata file, a metadata file without the
            required columns, an unknown subset or split value, or no usable audio.
    """

    name = "fma"

    def __init__(
        self,
        root: str,
        *,
        metadata: str | None = None,
        subset: str | None = None,
        use_official_split: bool = True,
        exclude_known_bad: bool = False,
    ) -> None:
        super().__init__()
        root = require_folder(root, self.name)
        if subset is not None and subset not in FMA_SUBSETS:
            raise SourceError(f"fma source: subset={subset!r} must be one of {FMA_SUBSETS}")
        if subset is None:
            subset = infer_subset(root)
            if subset is not None:
                logger.info("fma: subset=%r inferred from the root folder's name", subset)
        metadata_path = self._find_metadata(root, metadata)
        frame = read_tracks_csv(metadata_path)
        audio = self._list_audio(root)

        all_ids = {self._track_id(raw_id, metadata_path) for raw_id in frame.index}
        if subset is not None:
            rank = frame[SUBSET_COLUMN].map({name: i for i, name in enumerate(FMA_SUBSETS)})
            frame = frame[rank <= FMA_SUBSETS.index(subset)]
        frame = frame.sort_index()

        tracks: list[Track] = []
        listed: set[str] = set()
        for raw_id, split, _, genre, artist in frame.itertuples(index=True, name=None):
            track_id = self._track_id(raw_id, metadata_path)
            listed.add(track_id)
            path = audio.get(track_id, tfio.join(root, track_id[:3], f"{track_id}.mp3"))
            if _missing(genre):
                self._skipped.append(Skip(path, "no ('track', 'genre_top') in the fma metadata"))
                continue
            if exclude_known_bad and track_id in KNOWN_BAD_FMA_SMALL:
                self._skipped.append(Skip(path, "known short/empty fma_small track"))
                continue
            if track_id not in audio:
                self._skipped.append(Skip(path, "audio file not found"))
                continue
            track_split = None
            if use_official_split and not _missing(split):
                track_split = normalize_split(split, f"track {track_id} of {metadata_path}")
            tracks.append(
                Track(track_id, path, str(genre).strip(), _artist_group(artist), track_split)
            )

        unknown = sorted(set(audio) - all_ids)
        for track_id in unknown:
            self._skipped.append(Skip(audio[track_id], "no row in the fma metadata"))
        outside = len(set(audio) - listed) - len(unknown)
        if outside:
            logger.info("fma: %d audio files are outside subset=%r and not listed", outside, subset)
        self._tracks = tracks
        require_tracks(tracks, self.name, root, FMA_LAYOUT)
        self._log_summary(root)

    @staticmethod
    def _find_metadata(root: str, metadata: str | None) -> str:
        if metadata is not None:
            if not tfio.exists(metadata) or tfio.isdir(metadata):
                raise SourceError(f"fma source: metadata={metadata!r} is not a file")
            return metadata
        candidates = default_metadata_paths(root)
        for candidate in candidates:
            if tfio.exists(candidate) and not tfio.isdir(candidate):
                return candidate
        raise SourceError(
            f"fma source: no tracks.csv found for root={root!r} (looked at "
            f"{', '.join(candidates)}); pass metadata='.../fma_metadata/tracks.csv'"
        )

    def _list_audio(self, root: str) -> dict[str, str]:
        """Audio files in ``<root>/<NNN>/``, by track id."""
        audio: dict[str, str] = {}
        for dirpath, reldir, dirnames, filenames in walk(root, self._skipped):
            if reldir:
                dirnames[:] = []
            self._skipped.extend(unsupported_audio_skips(dirpath, filenames))
            for filename in iter_audio_files(filenames):
                path = tfio.join(dirpath, filename)
                track_id = strip_audio_extension(filename)
                if track_id in audio:
                    raise SourceError(
                        f"fma source: duplicate track_id {track_id!r} for {audio[track_id]!r} "
                        f"and {path!r} (track ids must be unique)"
                    )
                audio[track_id] = path
        return audio

    @staticmethod
    def _track_id(raw_id: Any, metadata_path: str) -> str:
        try:
            return f"{int(raw_id):06d}"
        except (TypeError, ValueError) as err:
            raise SourceError(
                f"fma source: track id {raw_id!r} in {metadata_path!r} must be an integer"
            ) from err
