"""The drum part: kick, snare and hi-hat kernels placed on a style's one-bar pattern.

Every clip draws its own kit variation (pitch, decay), drops a few hits, adds ghost
hi-hats, varies velocities and jitters timing, all from the clip's random generator.
"""

from __future__ import annotations

import numpy as np

from tfgenre.synthesis.notes import step_times
from tfgenre.synthesis.styles import Drums, Style


def _kick_kernel(drums: Drums, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    scale = rng.uniform(0.85, 1.15)
    decay = drums.kick_decay_s * rng.uniform(0.8, 1.25)
    t = np.arange(int(decay * 5 * sample_rate)) / sample_rate
    f_start, f_end = drums.kick_hz[0] * scale, drums.kick_hz[1] * scale
    f = f_end + (f_start - f_end) * np.exp(-t / 0.04)
    kernel = np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * np.exp(-t / decay)
    click = min(len(t), int(0.003 * sample_rate))
    kernel[:click] += 0.3 * rng.standard_normal(click)
    return kernel


def _snare_kernel(drums: Drums, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    decay = drums.snare_decay_s * rng.uniform(0.8, 1.25)
    t = np.arange(int(decay * 5 * sample_rate)) / sample_rate
    noise = rng.standard_normal(len(t) + 1)
    bright = np.diff(noise) * 0.5 + noise[1:] * 0.5
    tone = drums.snare_tone_hz * rng.uniform(0.9, 1.1)
    return 0.8 * bright * np.exp(-t / decay) + 0.6 * np.sin(2 * np.pi * tone * t) * np.exp(
        -t / 0.05
    )


def _hat_kernel(drums: Drums, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    decay = drums.hat_decay_s * rng.uniform(0.8, 1.25)
    t = np.arange(int(decay * 5 * sample_rate)) / sample_rate
    noise = np.diff(rng.standard_normal(len(t) + 2), n=2) / 2.0
    return noise * np.exp(-t / decay)


def _place(out: np.ndarray, kernel: np.ndarray, starts: np.ndarray, gains: np.ndarray) -> None:
    """Adds ``gain * kernel`` at each start sample (one slice per hit)."""
    n, size = len(out), len(kernel)
    for start, gain in zip(starts.tolist(), gains.tolist(), strict=True):
        lo, hi = max(start, 0), min(start + size, n)
        if lo < hi:
            out[lo:hi] += gain * kernel[lo - start : hi - start]


def render_drums(
    style: Style,
    rng: np.random.Generator,
    *,
    num_samples: int,
    sample_rate: int,
    step_s: float,
    offset_s: float,
    num_bars: int,
) -> np.ndarray:
    """Renders the drum part of a clip (silence for a style without drums).

    Args:
        style: The genre's style.
        rng: The clip's random generator.
        num_samples: Length of the clip in samples.
        sample_rate: Sample rate in Hz.
        step_s: Duration of a step (16th note) in seconds.
        offset_s: Where in the song the clip starts, in seconds.
        num_bars: Bars to play (enough to cover the clip).

    Returns:
        The drum part, float32, shape ``(num_samples,)``.
    """
    out = np.zeros(num_samples, dtype=np.float64)
    drums = style.drums
    if drums is None:
        return out.astype(np.float32)
    kits = (
        (drums.kick, _kick_kernel(drums, rng, sample_rate), 0.0),
        (drums.snare, _snare_kernel(drums, rng, sample_rate), 0.0),
        (drums.hat, _hat_kernel(drums, rng, sample_rate), 0.12),
    )
    for pattern, kernel, ghost_probability in kits:
        velocities = np.tile(np.asarray(pattern, dtype=np.float64), num_bars)
        # Per-clip variation: drop a few hits, add ghost notes, vary velocities.
        velocities *= rng.random(len(velocities)) > 0.05
        ghosts = (velocities == 0) & (rng.random(len(velocities)) < ghost_probability)
        velocities = np.where(ghosts, 0.2, velocities) * rng.uniform(0.75, 1.0, len(velocities))
        steps = np.flatnonzero(velocities > 0)
        if len(steps) == 0:
            continue
        times = step_times(steps, style, step_s, offset_s)
        times += rng.normal(0.0, 0.003, len(times))
        starts = np.round(times * sample_rate).astype(np.int64)
        _place(out, kernel / (np.abs(kernel).max() + 1e-9), starts, velocities[steps])
    return out.astype(np.float32)
