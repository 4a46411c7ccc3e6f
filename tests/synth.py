"""Tiny audio written at test time (no downloads): tones, a GTZAN-layout folder, a long
stereo file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf


def tone(seconds: float, sr: int, freq: float, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A noisy tone with a pulse, float32 ``(n,)`` or ``(n, channels)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * (np.sin(2 * np.pi * 2 * t) > 0))
    y = (y + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    return y


def make_gtzan(
    root: str,
    genres: tuple[str, ...] = ("blues", "jazz", "rock"),
    per_genre: int = 4,
    seconds: float = 2.0,
    sr: int = 22050,
    ext: str = ".wav",
) -> list[str]:
    """Writes ``<root>/<genre>/<genre>.000NN<ext>``; returns the paths."""
    paths = []
    for gi, genre in enumerate(genres):
        os.makedirs(os.path.join(root, genre), exist_ok=True)
        for i in range(per_genre):
            path = os.path.join(root, genre, f"{genre}.{i:05d}{ext}")
            y = tone(seconds, sr, 220.0 * (gi + 1) + 7 * i, seed=gi * 100 + i)
            fmt = "AU" if ext == ".au" else None
            sf.write(path, y, sr, format=fmt, subtype="PCM_16")
            paths.append(path)
    return paths


def write_long_stereo(path: Path, audio_root: Path, seconds: float = 125.0,
                      sample_rate: int = 44100) -> np.ndarray:
    """A long stereo file made of the clips under ``audio_root``, resampled and tiled.

    Returns:
        The written samples, float ``(seconds * sample_rate, 2)``; the right channel is
        the left one, scaled by 0.7 and delayed by 50 samples.
    """
    import librosa

    clips = sorted(audio_root.rglob("*.wav"))
    parts = []
    for clip in clips:
        y, rate = sf.read(clip, dtype="float32")
        parts.append(librosa.resample(y, orig_sr=rate, target_sr=sample_rate))
    mono = np.concatenate(parts)
    n = int(seconds * sample_rate)
    mono = np.tile(mono, -(-n // len(mono)))[:n]
    stereo = np.stack([mono, 0.7 * np.roll(mono, 50)], axis=1)
    sf.write(path, stereo, sample_rate, subtype="PCM_16")
    return stereo
