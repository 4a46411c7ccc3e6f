"""A synthetic dataset's marker (``synthetic.json``) and the check that a folder is ours.

The marker records the parameters a dataset was made with (plus a ``complete`` flag).
It tells :func:`~tfgenre.synthesis.dataset.synthesize_dataset` whether the set can be
reused, which clips it may replace, and lets :func:`check_root_is_ours` refuse any
folder holding something this package did not write.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import numpy as np

import tfgenre.core.io as tfio
from tfgenre.core import layout
from tfgenre.errors import ConfigError, SourceError
from tfgenre.synthesis.styles import genre_names

logger = logging.getLogger(__name__)

METADATA_FILE = layout.SYNTHETIC_MARKER

# The generator markers record: the synthesiser's module before it became a package of
# its own. Kept so that datasets written before are recognised (and markers unchanged).
GENERATOR = "tfgenre.sources.synthetic"

# Bump when the synthesis changes, so that datasets written by older code are rebuilt.
SYNTH_VERSION = 1


def validate(
    num_genres: int, clips_per_genre: int, clip_seconds: float, sample_rate: int, seed: int
) -> None:
    """Checks a dataset's parameters.

    Raises:
        ConfigError: naming the first invalid parameter and its rule.
    """
    for name, value, low in (
        ("num_genres", num_genres, 1),
        ("clips_per_genre", clips_per_genre, 1),
        ("sample_rate", sample_rate, 4000),
        ("seed", seed, 0),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name}={value!r} must be an integer >= {low}")
    if not isinstance(clip_seconds, (int, float)) or not clip_seconds > 0:
        raise ConfigError(f"clip_seconds={clip_seconds!r} must be > 0")


def parameters(
    num_genres: int, clips_per_genre: int, clip_seconds: float, sample_rate: int, seed: int
) -> dict[str, Any]:
    """The marker's content for a dataset with these parameters (without ``complete``)."""
    return {
        "generator": GENERATOR,
        "version": SYNTH_VERSION,
        "num_genres": int(num_genres),
        "clips_per_genre": int(clips_per_genre),
        "clip_seconds": float(clip_seconds),
        "sample_rate": int(sample_rate),
        "seed": int(seed),
        "genres": genre_names(int(num_genres)),
    }


def clip_paths(root: str, params: dict[str, Any]) -> list[str]:
    """``<root>/<genre>/<genre>.000NN.wav`` for every clip, genre by genre, in order."""
    return [
        tfio.join(root, genre, f"{genre}.{i:05d}.wav")
        for genre in params["genres"]
        for i in range(params["clips_per_genre"])
    ]


def read_marker(root: str) -> dict[str, Any] | None:
    """The content of ``<root>/synthetic.json``, or None when it is missing or unreadable."""
    path = tfio.join(root, METADATA_FILE)
    if not tfio.exists(path):
        return None
    try:
        data = json.loads(tfio.read_text(path))
    except (OSError, ValueError) as err:
        logger.warning("ignoring unreadable %s: %s", path, err)
        return None
    return data if isinstance(data, dict) else None


def read_parameters(root: str) -> dict[str, Any] | None:
    """The parameters the marker records (without its ``complete`` flag), or None."""
    marker = read_marker(root)
    if marker is None:
        return None
    return {k: v for k, v in marker.items() if k != "complete"}


def write_marker(root: str, params: dict[str, Any], *, complete: bool) -> None:
    """Writes ``<root>/synthetic.json`` atomically."""
    text = json.dumps({**params, "complete": complete}, indent=2, sort_keys=True)
    tfio.write_text_atomic(tfio.join(root, METADATA_FILE), text + "\n")


def _marker_files(root: str, params: dict[str, Any] | None) -> set[str]:
    """What a dataset with these parameters may hold, relative to ``root``."""
    if params is None or params.get("generator") != GENERATOR:
        return set()
    try:
        clips = clip_paths(root, params)
        genres = [str(g) for g in params["genres"]]
    except (KeyError, TypeError, ValueError):
        return set()
    allowed = {METADATA_FILE, METADATA_FILE + layout.INCOMPLETE_SUFFIX, *genres}
    for path in clips:
        rel = os.path.relpath(path, root) if not tfio.is_remote(root) else path[len(root) + 1 :]
        rel = rel.replace(os.sep, "/")
        allowed.update((rel, rel + layout.INCOMPLETE_SUFFIX))
    return allowed


def _entries(root: str) -> list[str]:
    """Every non-hidden file and folder under ``root``, relative, ``/``-separated."""
    out: list[str] = []

    def visit(folder: str, rel: str) -> None:
        for name in sorted(tfio.listdir(folder)):
            name = name.rstrip("/")
            if name.startswith("."):
                continue
            sub = f"{rel}/{name}" if rel else name
            out.append(sub)
            path = tfio.join(folder, name)
            if tfio.isdir(path):
                visit(path, sub)

    visit(root, "")
    return out


def check_root_is_ours(root: str) -> None:
    """Refuses a root that holds anything but a synthetic dataset this package wrote.

    The root may be missing or empty. Otherwise its ``synthetic.json`` marker must be
    there, and every file and folder in it must be one the marker lists (its clips and
    genre folders): a real dataset, or anything else a user put there, is never written
    over or deleted. Hidden files (``.DS_Store``) are ignored: nothing here writes them.

    Raises:
        SourceError: when the root is a file, or holds anything the marker does not
            list (the message names it).
    """
    if not tfio.exists(root):
        return
    if not tfio.isdir(root):
        raise SourceError(f"synthetic source: root={root!r} is a file, not a folder")
    found = _entries(root)
    if not found:
        return
    allowed = _marker_files(root, read_parameters(root))
    foreign = [name for name in found if name not in allowed]
    if foreign:
        more = f", ... ({len(foreign) - 8} more)" if len(foreign) > 8 else ""
        why = (
            f"holds files that are not part of the synthetic dataset its {METADATA_FILE} lists"
            if allowed
            else f"is not empty and holds no synthetic dataset ({METADATA_FILE} is missing)"
        )
        raise SourceError(
            f"synthetic source: root={root!r} {why}: {', '.join(foreign[:8])}{more}. "
            "Generated clips are written only into an empty folder or one holding a "
            "generated set; choose another --input (nothing was written)"
        )
