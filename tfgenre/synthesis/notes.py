"""The notes of a clip's parts: bass, chords and melody, as onsets, lengths and pitches.

Each part is a :class:`Notes` drawn from a :class:`~tfgenre.synthesis.styles.Style`, the
clip's mode and chord progression, and the clip's random generator; :func:`step_times`
turns step numbers into seconds with the style's swing.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgenre.synthesis.styles import STEPS_PER_BAR, Style


@dataclasses.dataclass(frozen=True)
class Notes:
    """Notes of one part.

    Attributes:
        steps: Onsets in steps (16th notes), float64, shape ``(notes,)``.
        lengths: Durations in steps, float64, shape ``(notes,)``.
        pitches: MIDI pitches, shape ``(notes, voices)``.
        velocities: Velocities in ``[0, 1]``, shape ``(notes,)``.
    """

    steps: np.ndarray
    lengths: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray


def scale_semitones(mode: tuple[int, ...], degrees: np.ndarray) -> np.ndarray:
    """Semitones above the key of scale ``degrees`` (any shape; 7 and up are octaves up)."""
    degrees = np.asarray(degrees, dtype=np.int64)
    return np.asarray(mode, dtype=np.int64)[degrees % 7] + 12 * (degrees // 7)


def chord_tones(style: Style, mode: tuple[int, ...], degrees: np.ndarray) -> np.ndarray:
    """Semitones above the key of each chord's tones: shape (chords, voices)."""
    degrees = np.asarray(degrees, dtype=np.int64)[:, None]
    if style.chord_kind == "power":
        return scale_semitones(mode, degrees) + np.array([0, 7, 12])
    stack = np.array([0, 2, 4, 6] if style.chord_kind == "seventh" else [0, 2, 4])
    return scale_semitones(mode, degrees + stack)


def strikes(positions: tuple[int, ...], num_bars: int) -> np.ndarray:
    """Absolute step numbers of a per-bar strike pattern over ``num_bars`` bars."""
    bars = np.arange(num_bars)[:, None] * STEPS_PER_BAR
    return (bars + np.asarray(positions, dtype=np.int64)[None, :]).reshape(-1)


def chord_notes(
    style: Style,
    rng: np.random.Generator,
    mode: tuple[int, ...],
    degrees: np.ndarray,
    num_bars: int,
) -> Notes:
    """The chords (or, for an arpeggio style, one voice cycling through them)."""
    steps = strikes(style.chord_steps, num_bars)
    tones = chord_tones(style, mode, degrees[steps // style.steps_per_chord])
    pitches = style.chord_octave + tones
    if style.arpeggio:
        # One voice cycling up and down the chord: root, 3rd, 5th, octave, 5th, 3rd.
        cycle = np.array([0, 1, 2, 3, 2, 1])
        with_octave = np.concatenate([pitches[:, :3], pitches[:, :1] + 12], axis=1)
        pitches = with_octave[np.arange(len(steps)), cycle[np.arange(len(steps)) % 6]][:, None]
    velocities = rng.uniform(0.6, 1.0, len(steps))
    lengths = np.full(len(steps), style.chord_len)
    return Notes(steps.astype(np.float64), lengths, pitches, velocities)


def bass_notes(
    style: Style,
    rng: np.random.Generator,
    mode: tuple[int, ...],
    degrees: np.ndarray,
    num_bars: int,
) -> Notes:
    """The bass line: chord roots (sometimes the 5th or an octave up), or a walking bass."""
    steps = strikes(style.bass_steps, num_bars)
    chord_degree = degrees[steps // style.steps_per_chord]
    if style.bass_walk:
        # Walking bass: the chord root when the chord changes, else a nearby scale tone.
        offsets = rng.choice([0, 2, 4, 1, -1, 5, 3], len(steps))
        offsets[steps % style.steps_per_chord == 0] = 0
    else:
        offsets = np.where(rng.random(len(steps)) < 0.2, 4, 0)
    semitones = scale_semitones(mode, chord_degree + offsets)
    octave_up = np.where(rng.random(len(steps)) < 0.1, 12, 0)
    pitches = (style.bass_octave + semitones + octave_up)[:, None]
    velocities = rng.uniform(0.7, 1.0, len(steps))
    return Notes(steps.astype(np.float64), np.full(len(steps), style.bass_len), pitches, velocities)


def lead_notes(
    style: Style,
    rng: np.random.Generator,
    mode: tuple[int, ...],
    degrees: np.ndarray,
    num_bars: int,
) -> Notes:
    """The melody: a random walk over the scale on 8th notes, following the chords."""
    eighths = np.arange(0, num_bars * STEPS_PER_BAR, 2)
    steps = eighths[rng.random(len(eighths)) < style.lead_density]
    if len(steps) == 0:
        return Notes(np.zeros(0), np.zeros(0), np.zeros((0, 1)), np.zeros(0))
    walk = np.cumsum(rng.choice([-2, -1, -1, 0, 1, 1, 2], len(steps)))
    # Fold the walk into two octaves of the scale, starting near a chord tone.
    start = int(rng.choice([0, 2, 4]))
    span = 9
    folded = np.abs((walk + start) % (2 * span) - span)
    # Degrees count from the current chord's root, so the melody follows the harmony.
    chord_degree = degrees[steps // style.steps_per_chord]
    semitones = scale_semitones(mode, folded + chord_degree)
    pitches = (style.lead_octave + semitones)[:, None]
    gaps = np.diff(np.append(steps, steps[-1] + 4))
    lengths = np.minimum(gaps, rng.choice([1.0, 2.0, 4.0], len(steps)))
    velocities = rng.uniform(0.5, 1.0, len(steps))
    return Notes(steps.astype(np.float64), lengths.astype(np.float64), pitches, velocities)


def step_times(steps: np.ndarray, style: Style, step_s: float, offset_s: float) -> np.ndarray:
    """Seconds of each step, with swing (integer steps only), relative to the clip start."""
    steps = np.asarray(steps, dtype=np.float64)
    whole = np.floor(steps) == steps
    position = np.mod(steps, 4)
    delay = np.where(whole & (position == 2), style.swing, 0.0)
    delay = delay + np.where(whole & (np.mod(steps, 2) == 1), style.swing16, 0.0)
    return (steps + delay) * step_s - offset_s
