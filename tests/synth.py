"""Tiny audio fixtures written at test time (no downloads)."""

from __future__ import annotations

import os

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
