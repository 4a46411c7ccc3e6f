"""Rendering a melodic part: its notes played by an FM voice (:class:`Timbre`).

:func:`render_part` works in blocks of :data:`BLOCK` samples, vectorised over samples
(loops run over blocks and voices, never over samples). Each sample follows the latest
note that started before it, so a part is monophonic per voice; a note's voices share
its envelope.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tfgenre.synthesis.notes import Notes
from tfgenre.synthesis.styles import Timbre

BLOCK = 16384  # samples per block in render_part
VIBRATO_HZ = 5.5

_f32 = np.float32


@dataclasses.dataclass(frozen=True)
class _Voice:
    """The per-note arrays of a part, sorted by onset, and its timbre's constants.

    Attributes:
        note_of_sample: The note each sample from ``first`` on plays, shape ``(n - first,)``.
        first: The first sample a note plays.
        onset_s: Onsets in seconds, float32, shape ``(notes,)``.
        gain: Velocity over the number of voices, float32, shape ``(notes,)``.
        ends: Seconds from onset to the end of the release, float32, shape ``(notes,)``.
        gated: Whether some note ends before the next starts (apply the release gate).
        omega: Angular frequency of each voice of each note, float32, ``(voices, notes)``.
    """

    note_of_sample: np.ndarray
    first: int
    onset_s: np.ndarray
    gain: np.ndarray
    ends: np.ndarray
    gated: bool
    omega: np.ndarray


def midi_hz(pitches: np.ndarray) -> np.ndarray:
    """Frequencies in Hz of MIDI pitches (69 = A4 = 440 Hz), float64, same shape."""
    return 440.0 * 2.0 ** ((np.asarray(pitches, dtype=np.float64) - 69.0) / 12.0)


def jitter_timbre(timbre: Timbre, rng: np.random.Generator) -> Timbre:
    """The timbre with the clip's own brightness, decay and drive (about +-25%)."""
    return dataclasses.replace(
        timbre,
        index=timbre.index * float(rng.uniform(0.7, 1.3)),
        decay_s=timbre.decay_s * float(rng.uniform(0.8, 1.25)),
        drive=timbre.drive * float(rng.uniform(0.7, 1.3)),
    )


def _voice(
    notes: Notes, timbre: Timbre, times: np.ndarray, sample_rate: int, step_s: float, n: int
) -> _Voice | None:
    """The per-note arrays of ``notes`` over ``n`` samples, or None when none sounds."""
    order = np.argsort(times, kind="stable")
    onsets = np.round(times[order] * sample_rate)
    # Sample k plays the latest note i with starts[i] <= k: a run-length expansion of
    # the note numbers (np.repeat), cheaper than a binary search per sample.
    starts = np.clip(onsets, 0, n).astype(np.int64)
    counts = np.diff(starts, prepend=0, append=n)
    first = int(counts[0])
    if first >= n:
        return None
    onset_s = (onsets / sample_rate).astype(np.float32)
    ends = (notes.lengths[order] * step_s + timbre.release_s).astype(np.float32)
    return _Voice(
        note_of_sample=np.repeat(np.arange(len(starts), dtype=np.intp), counts[1:]),
        first=first,
        onset_s=onset_s,
        gain=(notes.velocities[order] / notes.pitches.shape[1]).astype(np.float32),
        ends=ends,
        gated=bool(np.any(ends < np.diff(onset_s, append=np.inf))),
        omega=np.ascontiguousarray((2 * np.pi * midi_hz(notes.pitches[order])).T, np.float32),
    )


def _envelope(voice: _Voice, timbre: Timbre, note: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Amplitude of each sample of a block: decay, velocity, attack and release gate."""
    # Exponents are clamped at -30: denormal results would make exp and the products
    # after it many times slower, and exp(-30) is inaudible.
    env = np.maximum(dt * _f32(-1.0 / timbre.decay_s), _f32(-30.0))
    np.exp(env, out=env)
    env *= voice.gain[note]
    env *= np.minimum(dt * _f32(1.0 / timbre.attack_s), _f32(1.0))
    if voice.gated:
        gate = voice.ends[note] - dt
        gate *= _f32(1.0 / timbre.release_s)
        env *= np.clip(gate, _f32(0.0), _f32(1.0), out=gate)
    return env


def _fm_block(
    voice: _Voice, timbre: Timbre, note: np.ndarray, dt: np.ndarray, t: np.ndarray, out: np.ndarray
) -> None:
    """Adds the FM tone of every voice of a block to ``out`` (before the envelope)."""
    index: np.ndarray | np.float32 = _f32(timbre.index)
    if timbre.index_decay_s > 0:
        index = np.maximum(dt * _f32(-1.0 / timbre.index_decay_s), _f32(-30.0))
        np.exp(index, out=index)
        index *= _f32(timbre.index)
    vibrato = None
    if timbre.vibrato > 0:
        # Phase modulation equal to a relative frequency deviation of `vibrato`.
        vibrato = np.sin(t * _f32(2 * np.pi * VIBRATO_HZ))
        vibrato *= _f32(timbre.vibrato / (2 * np.pi * VIBRATO_HZ))
    for voice_omega in voice.omega:
        w = voice_omega[note]
        phase = w * dt
        if vibrato is not None:
            w *= vibrato
            phase += w
        modulator = phase * _f32(timbre.ratio)
        np.sin(modulator, out=modulator)
        modulator *= index
        phase += modulator
        out += np.sin(phase, out=phase)


def render_part(
    notes: Notes,
    timbre: Timbre,
    *,
    t: np.ndarray,
    sample_rate: int,
    step_s: float,
    times: np.ndarray,
) -> np.ndarray:
    """Renders one part.

    Args:
        notes: The part's notes.
        timbre: The FM voice that plays them.
        t: Time of each sample in seconds, float32, shape ``(num_samples,)``.
        sample_rate: Sample rate in Hz.
        step_s: Duration of a step (16th note) in seconds.
        times: Onset of each note in seconds (may be negative: notes already sounding),
            shape ``(notes,)``.

    Returns:
        The part, float32, shape ``(num_samples,)``.
    """
    num_samples = len(t)
    out = np.zeros(num_samples, dtype=np.float32)
    if len(notes.steps) == 0:
        return out
    voice = _voice(notes, timbre, times, sample_rate, step_s, num_samples)
    if voice is None:
        return out
    # Blocks keep every temporary small and in cache: whole-clip temporaries cost more in
    # page faults than in arithmetic.
    for lo in range(voice.first, num_samples, BLOCK):
        hi = min(lo + BLOCK, num_samples)
        note = voice.note_of_sample[lo - voice.first : hi - voice.first]
        dt = t[lo:hi] - voice.onset_s[note]
        env = _envelope(voice, timbre, note, dt)
        block = out[lo:hi]
        _fm_block(voice, timbre, note, dt, t[lo:hi], block)
        block *= env
        if timbre.drive > 0:
            block *= _f32(timbre.drive)
            np.tanh(block, out=block)
            block *= _f32(1.0 / math.tanh(timbre.drive))
    return out
