"""The ``synthetic`` source: lists a set the synthesiser (:mod:`tfgenre.synthesis`) wrote.

Building the source only lists: ``<root>/<genre>/<genre>.000NN.wav`` with the gtzan
listing code, once ``<root>/synthetic.json`` says a complete set is there. Writing the
set is a step of its own, :meth:`SyntheticSource.prepare`, which the records writer
runs before it lists any source (:func:`tfgenre.sources.registry.prepare_source`).

>>> SyntheticSource.prepare("data/synth", num_genres=4)  # doctest: +SKIP
>>> tracks = SyntheticSource("data/synth", num_genres=4).tracks()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os

from tfgenre.core.framing import DEFAULT_SAMPLE_RATE
from tfgenre.errors import SourceError
from tfgenre.sources.folder import ListedSource, require_tracks
from tfgenre.sources.gtzan import GTZAN_LAYOUT, list_genre_folders
from tfgenre.synthesis.dataset import synthesize_dataset
from tfgenre.synthesis.marker import (
    METADATA_FILE,
    parameters,
    read_marker,
    read_parameters,
    validate,
)

logger = logging.getLogger(__name__)


class SyntheticSource(ListedSource):
    """A synthetic dataset in the GTZAN layout; listing it never writes.

    Args:
        root: Folder of the dataset.
        generate: Whether :meth:`prepare` writes the dataset (when ``synthetic.json``
            does not describe the same parameters). When False the folder must already
            hold a synthetic dataset, which is listed as it is.
        num_genres: Number of genres.
        clips_per_genre: Clips per genre.
        clip_seconds: Duration of each clip in seconds.
        sample_rate: Sample rate in Hz.
        seed: Dataset seed.

    Raises:
        ConfigError: for invalid parameters.
        SourceError: when the folder holds no complete synthetic dataset.
    """

    name = "synthetic"

    def __init__(
        self,
        root: str,
        *,
        generate: bool = True,
        num_genres: int = 8,
        clips_per_genre: int = 10,
        clip_seconds: float = 10.0,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        seed: int = 0,
    ) -> None:
        super().__init__()
        validate(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
        root = _require_root(root)
        marker = read_marker(root)
        existing = read_parameters(root)
        if existing is None or marker is None:
            raise SourceError(
                f"synthetic source: root={root!r} holds no synthetic dataset "
                f"({METADATA_FILE} is missing); {_hint(generate, 'write one')}"
            )
        if marker.get("complete", True) is not True:
            raise SourceError(
                f"synthetic source: the synthetic dataset in root={root!r} is incomplete "
                f"(its generation was interrupted); {_hint(generate, 'finish it')}"
            )
        wanted = parameters(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
        if existing != wanted:
            logger.warning(
                "synthetic dataset in %s was made with other parameters; listing it as is",
                root,
            )
        tracks, self._skipped = list_genre_folders(root, self.name)
        require_tracks(tracks, self.name, root, GTZAN_LAYOUT)
        self._tracks = tracks
        self._log_summary(root)

    @staticmethod
    def prepare(
        root: str,
        *,
        generate: bool = True,
        num_genres: int = 8,
        clips_per_genre: int = 10,
        clip_seconds: float = 10.0,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        seed: int = 0,
    ) -> None:
        """Writes the dataset the options describe, unless it is there or ``generate=False``.

        Takes the source's options (see the class); runs
        :func:`~tfgenre.synthesis.dataset.synthesize_dataset`.

        Raises:
            ConfigError: for invalid parameters.
            SourceError: when the root holds anything but a synthetic set written by
                the synthesiser (nothing is written then).
        """
        validate(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
        root = _require_root(root)
        if generate:
            synthesize_dataset(root, num_genres, clips_per_genre, clip_seconds, sample_rate, seed)


def _hint(generate: bool, action: str) -> str:
    """How to write or finish the set: the option to set, or the step to run."""
    if not generate:
        return f"pass generate=True to {action}"
    return f"{action} with SyntheticSource.prepare first (write_records does)"


def _require_root(root: str | os.PathLike[str] | None) -> str:
    """``root`` as a string.

    Raises:
        SourceError: when it is empty.
    """
    root = os.fspath(root) if root is not None else ""
    if not root:
        raise SourceError(f"synthetic source: root={root!r} must name a folder")
    return root
