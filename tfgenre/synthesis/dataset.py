"""Writing a synthetic dataset: clips in the GTZAN layout, and its marker.

:func:`synthesize_dataset` writes ``<root>/<genre>/<genre>.000NN.wav`` (16-bit PCM) and
``<root>/synthetic.json`` (:mod:`tfgenre.synthesis.marker`), reuses a set that is
already there, and never writes into a folder holding anything else.
"""

from __future__ import annotations

import io
import logging
import os
import time
from typing import Any

import numpy as np

import tfgenre.core.io as tfio
from tfgenre.core import layout
from tfgenre.core.framing import DEFAULT_SAMPLE_RATE
from tfgenre.synthesis.clip import clip_rng, synthesize_clip
from tfgenre.synthesis.marker import (
    check_root_is_ours,
    clip_paths,
    parameters,
    read_marker,
    read_parameters,
    validate,
    write_marker,
)

logger = logging.getLogger(__name__)


def _remove_old(root: str, old: dict[str, Any], keep: set[str]) -> None:
    """Deletes the clips an earlier call wrote with other parameters."""
    try:
        paths = clip_paths(root, old)
    except (KeyError, TypeError):
        return
    for path in paths:
        if path not in keep:
            tfio.remove(path)
    if not tfio.is_remote(root):
        for genre in old.get("genres", []):
            folder = os.path.join(root, str(genre))
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)


def _write_wav(path: str, samples: np.ndarray, sample_rate: int) -> None:
    """Writes 16-bit PCM wav via a ``.incomplete`` file and a rename.

    Local files are not fsynced (a crash leaves no complete ``synthetic.json``, so the
    dataset is rebuilt), which keeps writing many small clips fast.
    """
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    if tfio.is_remote(path):
        tfio.write_bytes_atomic(path, buffer.getvalue())
        return
    partial = path + layout.INCOMPLETE_SUFFIX
    with open(partial, "wb") as f:
        f.write(buffer.getvalue())
    os.replace(partial, path)


def _is_up_to_date(
    marker: dict[str, Any] | None,
    old: dict[str, Any] | None,
    params: dict[str, Any],
    paths: list[str],
) -> bool:
    """Whether the marker is complete, records ``params``, and every clip exists."""
    complete = marker is not None and marker.get("complete", True) is True
    return complete and old == params and all(tfio.exists(p) for p in paths)


def synthesize_dataset(
    root: str,
    num_genres: int = 8,
    clips_per_genre: int = 10,
    clip_seconds: float = 10.0,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    seed: int = 0,
) -> list[str]:
    """Writes a synthetic labelled dataset in the GTZAN layout, unless it is already there.

    ``<root>/synthetic.json`` (the marker) records the parameters first, then the clips
    go to ``<root>/<genre>/<genre>.000NN.wav`` (16-bit PCM), then the marker is marked
    complete. When it already holds the same parameters and every clip exists, nothing
    is written; clips left by a call with other parameters are deleted first. Each file
    is written atomically. The root must be missing, empty or hold only a set written
    here (:func:`~tfgenre.synthesis.marker.check_root_is_ours`): nothing else is ever
    written over.

    Args:
        root: Output folder (created when missing; local or ``gs://``).
        num_genres: Number of genres (the first 8 are hand-made styles).
        clips_per_genre: Clips per genre.
        clip_seconds: Duration of each clip in seconds.
        sample_rate: Sample rate in Hz.
        seed: Dataset seed; clip ``i`` of genre ``g`` uses the generator
            ``numpy.random.default_rng([seed, g, i])``.

    Returns:
        The paths of all clips, genre by genre, in clip order.

    Raises:
        ConfigError: for invalid parameters.
        SourceError: when the root holds anything but a synthetic set written here.
    """
    validate(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
    root = os.fspath(root)
    params = parameters(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
    paths = clip_paths(root, params)
    marker = read_marker(root)
    old = read_parameters(root)
    check_root_is_ours(root)  # reused or rewritten only when it is all ours
    if _is_up_to_date(marker, old, params, paths):
        logger.info("synthetic dataset in %s is up to date (%d clips)", root, len(paths))
        return paths
    if old is not None:
        _remove_old(root, old, set(paths))
    # The marker goes first (incomplete), so clips of an interrupted run are known ours.
    tfio.makedirs(root)
    write_marker(root, params, complete=False)

    started = time.perf_counter()
    logger.info(
        "synthesising %d genres x %d clips of %.1f s at %d Hz in %s",
        num_genres,
        clips_per_genre,
        clip_seconds,
        sample_rate,
        root,
    )
    for genre_index, genre in enumerate(params["genres"]):
        tfio.makedirs(tfio.join(root, genre))
        for clip_index in range(clips_per_genre):
            samples = synthesize_clip(
                genre_index, clip_rng(seed, genre_index, clip_index), clip_seconds, sample_rate
            )
            _write_wav(paths[genre_index * clips_per_genre + clip_index], samples, sample_rate)
        logger.debug("synthesised genre %s", genre)
    write_marker(root, params, complete=True)
    logger.info("synthesised %d clips in %.1f s", len(paths), time.perf_counter() - started)
    return paths
