"""The audio every benchmark runs on: synthetic 30-s clips or the real GTZAN sample.

:func:`prepare_clips` picks them (real GTZAN sample clips when ``TFGENRE_REAL_DATA`` is
set), :func:`replicate` lists them several times so timed runs last long enough.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
from typing import Any

SAMPLE_RATE = 22050
WINDOW_SECONDS = 3.0
IMAGE_SIZE = 224


@dataclasses.dataclass(frozen=True)
class Clips:
    """The audio the benchmarks run on."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    source: str  # "synthetic" or "real"
    writer_source: str
    writer_input: str
    source_options: dict[str, Any]


def prepare_clips(
    workdir: str, *, num_genres: int, clips_per_genre: int, clip_seconds: float = 30.0
) -> Clips:
    """Real GTZAN sample clips when ``TFGENRE_REAL_DATA`` is set, else synthetic ones."""
    real = os.environ.get("TFGENRE_REAL_DATA")
    root = os.path.join(real, "gtzan_sample", "genres") if real else ""
    if root and os.path.isdir(root):
        genres = sorted(os.listdir(root))[:num_genres]
        paths = []
        for g in genres:
            paths += sorted(glob.glob(os.path.join(root, g, "*.wav")))[:clips_per_genre]
        names = tuple(genres)
        labels = tuple(names.index(os.path.basename(os.path.dirname(p))) for p in paths)
        # Exactly the chosen clips: a CSV list (the folder source would take them all).
        os.makedirs(workdir, exist_ok=True)
        listing = os.path.join(workdir, "real_clips.csv")
        with open(listing, "w") as f:
            f.write("path,label\n")
            f.writelines(f"{p},{names[i]}\n" for p, i in zip(paths, labels))
        return Clips(tuple(paths), labels, names, "real", "csv", listing, {})
    from tfgenre.synthesis import synthesize_dataset

    audio_root = os.path.join(workdir, "audio")
    opts = {
        "num_genres": num_genres,
        "clips_per_genre": clips_per_genre,
        "clip_seconds": clip_seconds,
        "sample_rate": SAMPLE_RATE,
        "seed": 0,
    }
    paths = synthesize_dataset(audio_root, **opts)
    names = tuple(sorted({os.path.basename(os.path.dirname(p)) for p in paths}))
    labels = tuple(names.index(os.path.basename(os.path.dirname(p))) for p in paths)
    return Clips(tuple(paths), labels, names, "synthetic", "synthetic", audio_root, opts)


#: The views the naive writer also writes (not ``embeddings``: see probe_time).
ALL_VIEWS: tuple[str, ...] = ("raw", "mel", "features")


def replicate(clips: Clips, copies: int, folder: str) -> Clips:
    """``clips`` listed ``copies`` times under distinct names (links), as a CSV source.

    The writer's timed runs last a few seconds this way, so per-run fixed costs (plan,
    manifest, pool hand-offs) do not dominate the rates; the audio, hence the per-clip
    work, is exactly that of ``clips``.
    """
    if copies <= 1:
        return clips
    os.makedirs(folder, exist_ok=True)
    paths, labels = [], []
    for path, label in zip(clips.paths, clips.labels, strict=True):
        stem, ext = os.path.splitext(os.path.basename(path))
        genre = clips.label_names[label]
        os.makedirs(os.path.join(folder, genre), exist_ok=True)
        for k in range(copies):
            link = os.path.join(folder, genre, f"{stem}.copy{k}{ext}")
            if not os.path.lexists(link):
                try:
                    os.symlink(os.path.abspath(path), link)
                except OSError:  # pragma: no cover - no symlinks on this filesystem
                    shutil.copyfile(path, link)
            paths.append(link)
            labels.append(label)
    listing = os.path.join(folder, "clips.csv")
    with open(listing, "w") as f:
        f.write("path,label\n")
        f.writelines(f"{p},{clips.label_names[i]}\n" for p, i in zip(paths, labels))
    return Clips(tuple(paths), tuple(labels), clips.label_names, clips.source, "csv", listing, {})
