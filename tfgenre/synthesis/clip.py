"""One synthetic clip: a genre's parts drawn, rendered, mixed and coloured.

Every clip draws its own tempo, key, mode, progression, start offset, timbre
variations, part gains, dropped parts, hit velocities, timing jitter, noise level and
spectral tilt from its random generator, so equal generators give equal clips.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tfgenre.errors import ConfigError
from tfgenre.synthesis.drums import render_drums
from tfgenre.synthesis.notes import bass_notes, chord_notes, lead_notes, step_times
from tfgenre.synthesis.render import jitter_timbre, render_part
from tfgenre.synthesis.styles import MODES, STEPS_PER_BAR, Style, genre_style


def clip_rng(seed: int, genre_index: int, clip_index: int) -> np.random.Generator:
    """The random generator of clip ``clip_index`` of genre ``genre_index`` in a dataset."""
    return np.random.default_rng([seed, genre_index, clip_index])


def peak_normalize(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to a peak of 1 (unchanged when silent), same shape and dtype."""
    peak = max(float(x.max()), -float(x.min())) if len(x) else 0.0
    return x / np.float32(peak) if peak > 0 else x


def _parts(
    style: Style, rng: np.random.Generator, seconds: float, sample_rate: int
) -> list[np.ndarray]:
    """The clip's drums, bass, chords and lead, each float32, shape ``(num_samples,)``."""
    num_samples = int(round(seconds * sample_rate))
    bpm = float(rng.uniform(*style.bpm))
    step_s = 60.0 / bpm / 4.0
    key = int(rng.integers(0, 12)) - 5
    mode = MODES[style.modes[int(rng.integers(len(style.modes)))]]
    progression = np.asarray(style.progressions[int(rng.integers(len(style.progressions)))])
    # Start somewhere in the first two bars of the song, not always on a downbeat.
    offset_s = float(rng.uniform(0.0, 2 * STEPS_PER_BAR)) * step_s
    num_steps = math.ceil((seconds + offset_s) / step_s) + STEPS_PER_BAR
    num_bars = math.ceil(num_steps / STEPS_PER_BAR) + 1
    num_chords = num_bars * STEPS_PER_BAR // style.steps_per_chord + 1
    degrees = progression[np.arange(num_chords) % len(progression)]

    t = np.arange(num_samples, dtype=np.float32) / np.float32(sample_rate)
    common = {"sample_rate": sample_rate, "step_s": step_s}
    parts = []
    makers = (bass_notes, chord_notes, lead_notes)
    timbres = (style.bass_timbre, style.chord_timbre, style.lead_timbre)
    for make, timbre in zip(makers, timbres, strict=True):
        notes = make(style, rng, mode, degrees, num_bars)
        notes = dataclasses.replace(notes, pitches=notes.pitches + key)
        times = step_times(notes.steps, style, step_s, offset_s)
        times = times + rng.normal(0.0, 0.004, len(times))
        parts.append(render_part(notes, jitter_timbre(timbre, rng), t=t, times=times, **common))
    drums = render_drums(
        style, rng, num_samples=num_samples, offset_s=offset_s, num_bars=num_bars, **common
    )
    return [drums, *parts]


def _mix(style: Style, rng: np.random.Generator, parts: list[np.ndarray]) -> np.ndarray:
    """The parts at random gains (some dropped), plus noise and a tilt; float32."""
    num_samples = len(parts[0])
    mix = np.zeros(num_samples, dtype=np.float32)
    keep = rng.random(4) > np.array([0.1, 0.1, 0.1, 0.25])
    if not keep.any():
        keep[2] = True
    for part, gain, kept in zip(parts, style.mix, keep, strict=True):
        if kept and gain > 0:
            mix += peak_normalize(part) * np.float32(gain * rng.uniform(0.6, 1.3))
    if not mix.any():  # every kept part was silent: fall back to the chords
        mix = peak_normalize(parts[2])

    rms = math.sqrt(float(np.dot(mix, mix)) / num_samples) or 1.0
    snr_db = rng.uniform(15.0, 35.0)
    # Uniform white noise (cheaper to draw than Gaussian), scaled to unit variance.
    noise = rng.random(num_samples, dtype=np.float32)
    noise -= np.float32(0.5)
    mix += noise * np.float32(math.sqrt(12.0) * rms * 10 ** (-snr_db / 20))
    tilt = np.float32(rng.uniform(-0.6, 0.6))  # a first-order EQ: brighter or darker
    mix[1:] += tilt * mix[:-1]
    return mix


def synthesize_clip(
    genre_index: int, rng: np.random.Generator, seconds: float, sample_rate: int
) -> np.ndarray:
    """Synthesises one clip of genre ``genre_index``.

    Args:
        genre_index: Index of the genre (see :func:`~tfgenre.synthesis.styles.genre_names`,
            :func:`~tfgenre.synthesis.styles.genre_style`).
        rng: The clip's random generator; every random choice of the clip is drawn
            from it, so equal generators give equal clips.
        seconds: Duration of the clip in seconds.
        sample_rate: Sample rate in Hz.

    Returns:
        Mono samples, shape ``(round(seconds * sample_rate),)``, float32, peak in
        ``[0.6, 0.95]`` (never clipping).

    Raises:
        ConfigError: when ``seconds``, ``sample_rate`` or ``genre_index`` is invalid.
    """
    if seconds <= 0:
        raise ConfigError(f"seconds={seconds} must be > 0")
    if sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate} must be > 0")
    style = genre_style(genre_index)
    mix = _mix(style, rng, _parts(style, rng, seconds, sample_rate))
    peak = np.float32(rng.uniform(0.6, 0.95))
    return (peak_normalize(mix) * peak).astype(np.float32)
