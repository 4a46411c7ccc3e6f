"""Synthetic feature tables in the GTZAN (Kaggle) layout, written without audio.

``write_gtzan_feature_table`` is the one writer the tests use for a features CSV whose
values are drawn at random around one center per genre (so the genres are learnable).
Tables of features computed from real audio clips are made by
``builders.write_audio_feature_table``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: The ten GTZAN genres in their usual order; ``classes=k`` takes the first k.
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
          "reggae", "rock")
#: Five column names of the GTZAN table, used unless ``features`` says otherwise.
FEATURES = ("chroma_stft_mean", "rms_mean", "spectral_centroid_mean", "tempo", "mfcc1_mean")
#: Typical magnitudes of ``FEATURES`` (very different units), for ``units=True``.
UNITS = np.array([0.1, 0.05, 1500.0, 30.0, 100.0])
#: The ``length`` column (samples at 22050 Hz) of a 30-s track and of a 3-s segment.
TRACK_LENGTH, SEGMENT_LENGTH = 661794, 66149


def write_gtzan_feature_table(
    path: Path,
    *,
    classes: int | Sequence[str] = 4,
    tracks_per_class: int = 12,
    segments_per_track: int = 0,
    features: Sequence[str] = FEATURES,
    seed: int = 0,
    spread: float = 2.0,
    track_noise: float = 1.0,
    segment_noise: float = 0.0,
    units: bool = False,
    offset: float = 0.0,
    decimals: int = 6,
    groups_per_class: int = 0,
    splits: Sequence[str] = (),
) -> Path:
    """Writes a learnable feature table; returns ``path``.

    Columns: ``filename, length, *features, label`` then ``group`` (with
    ``groups_per_class``) and ``split`` (with ``splits``). Each genre has a center drawn
    from N(0, ``spread``) per feature; each track adds N(0, ``track_noise``) and each row
    N(0, ``segment_noise``) (a zero noise draws nothing, so the random stream only
    depends on the noises used).

    Args:
        path: the CSV file to write.
        classes: how many GTZAN genres (the first ones of ``GENRES``), or the labels.
        tracks_per_class: tracks per genre, named ``<genre>.<i:05d>``.
        segments_per_track: 0 writes one whole-track row per track (``blues.00000.wav``,
            length 661794); k > 0 writes k rows per track (``blues.00000.<s>.wav``,
            length 66149), as the 3-s table does.
        features: the feature column names.
        seed: the seed of the random generator.
        spread: standard deviation of the genre centers.
        track_noise: standard deviation of a track around its genre center.
        segment_noise: standard deviation of a row around its track.
        units: multiply each value by the typical magnitude of its feature (``UNITS``;
            only with the default ``features``).
        offset: added to every value (in the same units as the values).
        decimals: values are rounded to this many decimals.
        groups_per_class: > 0 adds a ``group`` column ``<genre>-artist<i % groups>``.
        splits: non-empty adds a ``split`` column: track i of a genre is in
            ``splits[i % len(splits)]``.

    Returns:
        ``path``.
    """
    labels = list(GENRES[:classes] if isinstance(classes, int) else classes)
    if isinstance(classes, int) and classes > len(GENRES):
        raise ValueError(f"classes must be at most {len(GENRES)}; Received: classes={classes}")
    scales = _scales(features) if units else np.ones(len(features))
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, spread, (len(labels), len(features)))
    header = ["filename", "length", *features, "label"]
    header += ["group"] * bool(groups_per_class) + ["split"] * bool(splits)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for c, label in enumerate(labels):
            for i in range(tracks_per_class):
                track = _noisy(rng, centers[c], track_noise)
                extra = [f"{label}-artist{i % groups_per_class}"] if groups_per_class else []
                extra += [splits[i % len(splits)]] if splits else []
                for s in range(max(segments_per_track, 1)):
                    x = _noisy(rng, track, segment_noise) * scales + offset * scales
                    name = f"{label}.{i:05d}" + (f".{s}" if segments_per_track else "") + ".wav"
                    length = SEGMENT_LENGTH if segments_per_track else TRACK_LENGTH
                    writer.writerow([name, length, *np.round(x, decimals), label, *extra])
    return path


def _noisy(rng: np.random.Generator, x: np.ndarray, scale: float) -> np.ndarray:
    return x + rng.normal(0.0, scale, len(x)) if scale else x


def _scales(features: Sequence[str]) -> np.ndarray:
    if tuple(features) != FEATURES:
        raise ValueError(f"units=True needs the default features {FEATURES}; "
                         f"Received: features={tuple(features)}")
    return UNITS
