"""The ``synthetic`` source: a labelled dataset of synthesised music, made at test time.

:func:`synthesize_dataset` writes ``<root>/<genre>/<genre>.000NN.wav`` (the GTZAN layout,
16-bit PCM) plus a ``synthetic.json`` describing the parameters, and
:class:`SyntheticSource` lists the result with the gtzan listing code.

Each genre is a :class:`Style`: a tempo range, a one-bar drum pattern with its own kit,
a set of modes and chord progressions, a chord rhythm and voicing, a bass line and a
melody, each played by an FM voice (:class:`Timbre`: modulator ratio and index for
harmonic content, envelope, distortion, vibrato). Genres overlap on purpose (tempo
ranges, distorted power chords in rock and metal, drum-less ambient and classical,
sine bass in techno and hiphop), and every clip draws its own tempo, key, mode,
progression, start offset, timbre variations, part gains, dropped parts, hit
velocities, timing jitter, noise level and spectral tilt. A small CNN on log-mels
learns the genres well above chance without finding them trivial.

Every clip's random generator derives from ``(seed, genre_index, clip_index)``, so the
same seed gives byte-identical files whatever order the clips are made in. Synthesis
is vectorised numpy (loops run over notes and drum hits, never over samples).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import time
from typing import Any

import numpy as np

import tfgenre.io as tfio
from tfgenre.errors import ConfigError, SourceError
from tfgenre.sources.folder import ListedSource, require_tracks
from tfgenre.sources.gtzan import GTZAN_LAYOUT, list_genre_folders

logger = logging.getLogger(__name__)

GENRE_NAMES: tuple[str, ...] = (
    "ambient",
    "techno",
    "rock",
    "jazz",
    "hiphop",
    "classical",
    "reggae",
    "metal",
)

METADATA_FILE = "synthetic.json"

# Bump when the synthesis changes, so that datasets written by older code are rebuilt.
SYNTH_VERSION = 1

MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
}

STEPS_PER_BAR = 16

_BLOCK = 16384  # samples per block in _render
_VIBRATO_HZ = 5.5


def _grid(pattern: str) -> tuple[float, ...]:
    """A one-bar pattern of 16 steps: ``x`` = 1.0, ``o`` = 0.65, ``-`` = 0.3, ``.`` = rest."""
    if len(pattern) != STEPS_PER_BAR:
        raise ValueError(f"pattern {pattern!r} must have {STEPS_PER_BAR} steps")
    return tuple({"x": 1.0, "o": 0.65, "-": 0.3, ".": 0.0}[c] for c in pattern)


@dataclasses.dataclass(frozen=True)
class Timbre:
    """An FM voice: a sine carrier at the note's pitch, modulated at ``ratio`` times it.

    Attributes:
        ratio: Modulator to carrier frequency ratio (1: all harmonics, saw-like; 2: odd
            harmonics, organ/clarinet-like; non-integer: bell-like, inharmonic).
        index: Peak modulation index: 0 is a pure sine, 3 and above is bright.
        index_decay_s: Time constant of the index's decay (plucked brightness); 0 keeps
            it constant.
        attack_s: Attack time in seconds.
        decay_s: Exponential amplitude decay time constant in seconds.
        release_s: Fade after the note's duration, in seconds.
        drive: tanh distortion gain applied to the part (0: clean).
        vibrato: Relative vibrato depth (0.005 is about 9 cents).
    """

    ratio: float = 1.0
    index: float = 1.0
    index_decay_s: float = 0.0
    attack_s: float = 0.005
    decay_s: float = 1.0
    release_s: float = 0.03
    drive: float = 0.0
    vibrato: float = 0.0


@dataclasses.dataclass(frozen=True)
class Drums:
    """A one-bar drum pattern (16 velocities per instrument) and its kit."""

    kick: tuple[float, ...]
    snare: tuple[float, ...]
    hat: tuple[float, ...]
    kick_hz: tuple[float, float] = (120.0, 50.0)
    kick_decay_s: float = 0.25
    snare_tone_hz: float = 190.0
    snare_decay_s: float = 0.12
    hat_decay_s: float = 0.04


@dataclasses.dataclass(frozen=True)
class Style:
    """Everything that makes a synthetic genre what it is.

    Steps are 16th notes; patterns and strike positions are given within one bar.
    """

    name: str
    bpm: tuple[float, float]
    drums: Drums | None
    modes: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]
    steps_per_chord: int
    chord_kind: str  # "triad", "seventh" or "power"
    chord_steps: tuple[int, ...]
    chord_len: float
    chord_octave: int
    chord_timbre: Timbre
    bass_steps: tuple[int, ...]
    bass_len: float
    bass_octave: int
    bass_timbre: Timbre
    lead_density: float
    lead_octave: int
    lead_timbre: Timbre
    mix: tuple[float, float, float, float]  # drums, bass, chords, lead
    swing: float = 0.0  # delay of off-beat 8ths, in steps
    swing16: float = 0.0  # delay of odd 16ths, in steps
    arpeggio: bool = False
    bass_walk: bool = False


EIGHTHS = tuple(range(0, 16, 2))
SIXTEENTHS = tuple(range(16))

STYLES: tuple[Style, ...] = (
    Style(
        name="ambient",
        bpm=(60.0, 92.0),
        drums=Drums(
            kick=_grid("-..............."),
            snare=_grid("................"),
            hat=_grid("........-......."),
            kick_hz=(80.0, 45.0),
            kick_decay_s=0.5,
            hat_decay_s=0.3,
        ),
        modes=("lydian", "major"),
        progressions=((0, 4, 5, 3), (0, 3, 0, 4), (0, 5, 3, 4)),
        steps_per_chord=32,
        chord_kind="seventh",
        chord_steps=(0,),
        chord_len=32.0,
        chord_octave=52,
        chord_timbre=Timbre(index=0.4, attack_s=0.9, decay_s=6.0, release_s=0.6, vibrato=0.003),
        bass_steps=(0,),
        bass_len=32.0,
        bass_octave=36,
        bass_timbre=Timbre(index=0.1, attack_s=0.5, decay_s=5.0, release_s=0.5),
        lead_density=0.15,
        lead_octave=72,
        lead_timbre=Timbre(ratio=3.5, index=1.5, index_decay_s=0.5, attack_s=0.002, decay_s=1.2),
        mix=(0.25, 0.6, 1.0, 0.5),
    ),
    Style(
        name="techno",
        bpm=(118.0, 136.0),
        drums=Drums(
            kick=_grid("x...x...x...x..."),
            snare=_grid("....o.......o..."),
            hat=_grid("-.x.-.x.-.x.-.x."),
            kick_hz=(150.0, 45.0),
            kick_decay_s=0.3,
            snare_tone_hz=900.0,
            snare_decay_s=0.08,
            hat_decay_s=0.05,
        ),
        modes=("minor", "phrygian"),
        progressions=((0, 0, 0, 0), (0, 0, 5, 5), (0, 6, 0, 6)),
        steps_per_chord=16,
        chord_kind="triad",
        chord_steps=(3, 6, 10, 13),
        chord_len=1.5,
        chord_octave=60,
        chord_timbre=Timbre(index=3.5, index_decay_s=0.08, attack_s=0.002, decay_s=0.2),
        bass_steps=(2, 6, 10, 14),
        bass_len=1.5,
        bass_octave=36,
        bass_timbre=Timbre(index=1.2, index_decay_s=0.05, attack_s=0.003, decay_s=0.15),
        lead_density=0.1,
        lead_octave=72,
        lead_timbre=Timbre(index=2.0, attack_s=0.003, decay_s=0.3),
        mix=(1.0, 0.8, 0.6, 0.3),
    ),
    Style(
        name="rock",
        bpm=(100.0, 148.0),
        drums=Drums(
            kick=_grid("x.......x.o....."),
            snare=_grid("....x.......x..."),
            hat=_grid("o.o.o.o.o.o.o.o."),
            kick_hz=(110.0, 55.0),
            kick_decay_s=0.2,
            hat_decay_s=0.06,
        ),
        modes=("mixolydian", "major"),
        progressions=((0, 3, 4, 0), (0, 6, 3, 0), (0, 4, 5, 3)),
        steps_per_chord=16,
        chord_kind="power",
        chord_steps=EIGHTHS,
        chord_len=2.0,
        chord_octave=52,
        chord_timbre=Timbre(index=2.0, attack_s=0.003, decay_s=1.0, drive=4.0),
        bass_steps=EIGHTHS,
        bass_len=1.8,
        bass_octave=40,
        bass_timbre=Timbre(index=1.0, attack_s=0.003, decay_s=0.4),
        lead_density=0.3,
        lead_octave=64,
        lead_timbre=Timbre(index=2.5, attack_s=0.005, decay_s=0.8, drive=3.0, vibrato=0.004),
        mix=(0.9, 0.7, 0.9, 0.5),
    ),
    Style(
        name="jazz",
        bpm=(92.0, 160.0),
        drums=Drums(
            kick=_grid("-.........-....."),
            snare=_grid("-......-......-."),
            hat=_grid("x...x.x.x...x.x."),
            kick_hz=(90.0, 50.0),
            kick_decay_s=0.2,
            snare_decay_s=0.1,
            hat_decay_s=0.25,
        ),
        modes=("major", "dorian"),
        progressions=((1, 4, 0, 0), (1, 4, 0, 5), (0, 5, 1, 4)),
        steps_per_chord=8,
        chord_kind="seventh",
        chord_steps=(0, 6, 10),
        chord_len=3.0,
        chord_octave=55,
        chord_timbre=Timbre(index=1.2, index_decay_s=0.3, attack_s=0.004, decay_s=1.5),
        bass_steps=(0, 4, 8, 12),
        bass_len=3.6,
        bass_octave=36,
        bass_timbre=Timbre(index=0.6, index_decay_s=0.1, attack_s=0.004, decay_s=0.8),
        lead_density=0.45,
        lead_octave=67,
        lead_timbre=Timbre(index=2.2, attack_s=0.03, decay_s=2.0, vibrato=0.006),
        mix=(0.5, 0.8, 0.7, 0.7),
        swing=0.67,
        bass_walk=True,
    ),
    Style(
        name="hiphop",
        bpm=(78.0, 100.0),
        drums=Drums(
            kick=_grid("x......x..x....."),
            snare=_grid("....x.......x..."),
            hat=_grid("o.o.o.o.o.o.o.o."),
            kick_hz=(70.0, 40.0),
            kick_decay_s=0.6,
            snare_decay_s=0.18,
            hat_decay_s=0.04,
        ),
        modes=("minor", "dorian"),
        progressions=((0, 5, 3, 4), (0, 0, 5, 5), (0, 3, 5, 4)),
        steps_per_chord=16,
        chord_kind="seventh",
        chord_steps=(0,),
        chord_len=12.0,
        chord_octave=55,
        chord_timbre=Timbre(ratio=2.0, index=0.8, attack_s=0.01, decay_s=2.5),
        bass_steps=(0, 7, 10),
        bass_len=3.0,
        bass_octave=33,
        bass_timbre=Timbre(index=0.05, attack_s=0.005, decay_s=0.8),
        lead_density=0.12,
        lead_octave=72,
        lead_timbre=Timbre(ratio=4.0, index=0.8, index_decay_s=0.2, attack_s=0.002, decay_s=0.6),
        mix=(1.0, 0.9, 0.6, 0.3),
        swing16=0.3,
    ),
    Style(
        name="classical",
        bpm=(60.0, 120.0),
        drums=None,
        modes=("major", "harmonic_minor"),
        progressions=((0, 3, 4, 0), (0, 5, 1, 4), (0, 4, 5, 3)),
        steps_per_chord=16,
        chord_kind="triad",
        chord_steps=SIXTEENTHS,
        chord_len=1.8,
        chord_octave=55,
        chord_timbre=Timbre(index=1.0, index_decay_s=0.4, attack_s=0.005, decay_s=1.5),
        bass_steps=(0, 8),
        bass_len=8.0,
        bass_octave=36,
        bass_timbre=Timbre(index=1.6, attack_s=0.15, decay_s=4.0, release_s=0.2, vibrato=0.005),
        lead_density=0.5,
        lead_octave=72,
        lead_timbre=Timbre(index=1.8, attack_s=0.12, decay_s=3.0, release_s=0.15, vibrato=0.007),
        mix=(0.0, 0.6, 0.7, 0.8),
        arpeggio=True,
    ),
    Style(
        name="reggae",
        bpm=(66.0, 96.0),
        drums=Drums(
            kick=_grid("........x......."),
            snare=_grid("........x......."),
            hat=_grid("o.o.o.o.o.o.o.o."),
            kick_hz=(100.0, 50.0),
            kick_decay_s=0.3,
            snare_tone_hz=330.0,
            snare_decay_s=0.06,
            hat_decay_s=0.05,
        ),
        modes=("major", "mixolydian"),
        progressions=((0, 3, 4, 3), (0, 4, 3, 0), (0, 5, 3, 4)),
        steps_per_chord=16,
        chord_kind="triad",
        chord_steps=(4, 12),
        chord_len=1.0,
        chord_octave=60,
        chord_timbre=Timbre(ratio=2.0, index=1.5, attack_s=0.003, decay_s=0.15),
        bass_steps=(0, 3, 6, 8, 11),
        bass_len=2.0,
        bass_octave=33,
        bass_timbre=Timbre(index=0.3, attack_s=0.005, decay_s=0.5),
        lead_density=0.15,
        lead_octave=72,
        lead_timbre=Timbre(ratio=2.0, index=1.0, attack_s=0.005, decay_s=0.5),
        mix=(0.8, 1.0, 0.7, 0.3),
        swing=0.25,
    ),
    Style(
        name="metal",
        bpm=(130.0, 190.0),
        drums=Drums(
            kick=_grid("oooooooooooooooo"),
            snare=_grid("....x.......x..."),
            hat=_grid("x.x.x.x.x.x.x.x."),
            kick_hz=(130.0, 60.0),
            kick_decay_s=0.12,
            snare_decay_s=0.14,
            hat_decay_s=0.15,
        ),
        modes=("phrygian", "harmonic_minor", "minor"),
        progressions=((0, 1, 0, 5), (0, 0, 1, 6), (0, 5, 6, 1)),
        steps_per_chord=16,
        chord_kind="power",
        chord_steps=SIXTEENTHS,
        chord_len=0.8,
        chord_octave=40,
        chord_timbre=Timbre(index=2.5, attack_s=0.002, decay_s=0.25, drive=12.0),
        bass_steps=SIXTEENTHS,
        bass_len=0.8,
        bass_octave=28,
        bass_timbre=Timbre(index=1.0, attack_s=0.002, decay_s=0.3, drive=2.0),
        lead_density=0.2,
        lead_octave=64,
        lead_timbre=Timbre(index=2.0, attack_s=0.005, decay_s=0.6, drive=8.0, vibrato=0.01),
        mix=(0.9, 0.6, 1.0, 0.4),
    ),
)


def genre_names(num_genres: int) -> list[str]:
    """The names of the first ``num_genres`` synthetic genres (``genre8`` ... after 8)."""
    return [GENRE_NAMES[i] if i < len(GENRE_NAMES) else f"genre{i}" for i in range(num_genres)]


def genre_style(genre_index: int) -> Style:
    """The style of genre ``genre_index``: a hand-made one, or a random one from index 8.

    Generated styles depend on the genre index only (never on the dataset seed), so a
    genre sounds alike in every dataset.
    """
    if genre_index < 0:
        raise ConfigError(f"genre_index={genre_index} must be >= 0")
    if genre_index < len(STYLES):
        return STYLES[genre_index]
    return _random_style(genre_index)


def _random_timbre(rng: np.random.Generator) -> Timbre:
    return Timbre(
        ratio=float(rng.choice([1.0, 1.0, 2.0, 3.0, 0.5, 3.5])),
        index=float(rng.uniform(0.2, 3.5)),
        index_decay_s=float(rng.choice([0.0, 0.1, 0.4])),
        attack_s=float(rng.choice([0.003, 0.02, 0.3])),
        decay_s=float(rng.uniform(0.15, 3.0)),
        drive=float(rng.choice([0.0, 0.0, 0.0, 3.0, 8.0])),
        vibrato=float(rng.choice([0.0, 0.004])),
    )


def _random_grid(rng: np.random.Generator, probability: float) -> tuple[float, ...]:
    hits = rng.random(STEPS_PER_BAR) < probability
    return tuple(float(v) for v in np.where(hits, rng.choice([0.3, 0.65, 1.0], 16), 0.0))


def _random_style(genre_index: int) -> Style:
    rng = np.random.default_rng([genre_index, 7919])
    low = float(rng.uniform(60.0, 160.0))
    drums = None
    if rng.random() > 0.15:
        kick = list(_random_grid(rng, 0.15))
        kick[0] = 1.0
        snare = _grid("....x.......x...") if rng.random() < 0.6 else _random_grid(rng, 0.12)
        hat_choices = [
            _grid("o.o.o.o.o.o.o.o."),
            _grid("oooooooooooooooo"),
            _grid("..x...x...x...x."),
        ]
        hat = hat_choices[int(rng.integers(3))] if rng.random() < 0.7 else _random_grid(rng, 0.4)
        drums = Drums(
            kick=tuple(kick),
            snare=snare,
            hat=hat,
            kick_hz=(float(rng.uniform(70.0, 160.0)), float(rng.uniform(40.0, 60.0))),
            kick_decay_s=float(rng.uniform(0.1, 0.6)),
            snare_tone_hz=float(rng.uniform(150.0, 350.0)),
            hat_decay_s=float(rng.uniform(0.02, 0.2)),
        )
    mode_names = sorted(MODES)
    modes = tuple(mode_names[i] for i in rng.choice(len(mode_names), 2, replace=False))
    progressions = tuple((0, *(int(d) for d in rng.integers(0, 7, 3))) for _ in range(2))
    chord_steps = tuple(sorted(int(s) for s in rng.choice(16, int(rng.integers(1, 7)), False)))
    extra_bass = rng.choice(16, int(rng.integers(0, 5)))
    bass_steps = tuple(sorted({0, *(int(s) for s in extra_bass)}))
    return Style(
        name=f"genre{genre_index}",
        bpm=(low, low + float(rng.uniform(15.0, 40.0))),
        drums=drums,
        modes=modes,
        progressions=progressions,
        steps_per_chord=int(rng.choice([8, 16, 32])),
        chord_kind=str(rng.choice(["triad", "seventh", "power"])),
        chord_steps=chord_steps,
        chord_len=float(rng.uniform(0.8, 8.0)),
        chord_octave=int(rng.integers(50, 62)),
        chord_timbre=_random_timbre(rng),
        bass_steps=bass_steps,
        bass_len=float(rng.uniform(1.0, 6.0)),
        bass_octave=int(rng.integers(30, 40)),
        bass_timbre=_random_timbre(rng),
        lead_density=float(rng.uniform(0.0, 0.5)),
        lead_octave=int(rng.integers(62, 76)),
        lead_timbre=_random_timbre(rng),
        mix=(
            0.0 if drums is None else float(rng.uniform(0.4, 1.0)),
            float(rng.uniform(0.4, 1.0)),
            float(rng.uniform(0.4, 1.0)),
            float(rng.uniform(0.2, 0.8)),
        ),
        swing=float(rng.choice([0.0, 0.0, 0.3, 0.6])),
        swing16=float(rng.choice([0.0, 0.0, 0.25])),
        arpeggio=bool(rng.random() < 0.25),
    )


# --------------------------------------------------------------------------- rendering


@dataclasses.dataclass
class _Notes:
    """Notes of one part: onsets and durations in steps, MIDI pitches (notes, voices)."""

    steps: np.ndarray
    lengths: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray


def _scale_semitones(mode: tuple[int, ...], degrees: np.ndarray) -> np.ndarray:
    degrees = np.asarray(degrees, dtype=np.int64)
    return np.asarray(mode, dtype=np.int64)[degrees % 7] + 12 * (degrees // 7)


def _chord_tones(style: Style, mode: tuple[int, ...], degrees: np.ndarray) -> np.ndarray:
    """Semitones above the key of each chord's tones: shape (chords, voices)."""
    degrees = np.asarray(degrees, dtype=np.int64)[:, None]
    if style.chord_kind == "power":
        return _scale_semitones(mode, degrees) + np.array([0, 7, 12])
    stack = np.array([0, 2, 4, 6] if style.chord_kind == "seventh" else [0, 2, 4])
    return _scale_semitones(mode, degrees + stack)


def _strikes(positions: tuple[int, ...], num_bars: int) -> np.ndarray:
    """Absolute step numbers of a per-bar strike pattern over ``num_bars`` bars."""
    bars = np.arange(num_bars)[:, None] * STEPS_PER_BAR
    return (bars + np.asarray(positions, dtype=np.int64)[None, :]).reshape(-1)


def _chord_notes(
    style: Style,
    rng: np.random.Generator,
    mode: tuple[int, ...],
    degrees: np.ndarray,
    num_bars: int,
) -> _Notes:
    steps = _strikes(style.chord_steps, num_bars)
    tones = _chord_tones(style, mode, degrees[steps // style.steps_per_chord])
    pitches = style.chord_octave + tones
    if style.arpeggio:
        # One voice cycling up and down the chord: root, 3rd, 5th, octave, 5th, 3rd.
        cycle = np.array([0, 1, 2, 3, 2, 1])
        with_octave = np.concatenate([pitches[:, :3], pitches[:, :1] + 12], axis=1)
        pitches = with_octave[np.arange(len(steps)), cycle[np.arange(len(steps)) % 6]][:, None]
    velocities = rng.uniform(0.6, 1.0, len(steps))
    lengths = np.full(len(steps), style.chord_len)
    return _Notes(steps.astype(np.float64), lengths, pitches, velocities)


def _bass_notes(
    style: Style,
    rng: np.random.Generator,
    mode: tuple[int, ...],
    degrees: np.ndarray,
    num_bars: int,
) -> _Notes:
    steps = _strikes(style.bass_steps, num_bars)
    chord_degree = degrees[steps // style.steps_per_chord]
    if style.bass_walk:
        # Walking bass: the chord root when the chord changes, else a nearby scale tone.
        offsets = rng.choice([0, 2, 4, 1, -1, 5, 3], len(steps))
        offsets[steps % style.steps_per_chord == 0] = 0
    else:
        offsets = np.where(rng.random(len(steps)) < 0.2, 4, 0)
    semitones = _scale_semitones(mode, chord_degree + offsets)
    octave_up = np.where(rng.random(len(steps)) < 0.1, 12, 0)
    pitches = (style.bass_octave + semitones + octave_up)[:, None]
    velocities = rng.uniform(0.7, 1.0, len(steps))
    return _Notes(
        steps.astype(np.float64), np.full(len(steps), style.bass_len), pitches, velocities
    )


def _lead_notes(
    style: Style,
    rng: np.random.Generator,
    mode: tuple[int, ...],
    degrees: np.ndarray,
    num_bars: int,
) -> _Notes:
    eighths = np.arange(0, num_bars * STEPS_PER_BAR, 2)
    steps = eighths[rng.random(len(eighths)) < style.lead_density]
    if len(steps) == 0:
        return _Notes(np.zeros(0), np.zeros(0), np.zeros((0, 1)), np.zeros(0))
    walk = np.cumsum(rng.choice([-2, -1, -1, 0, 1, 1, 2], len(steps)))
    # Fold the walk into two octaves of the scale, starting near a chord tone.
    start = int(rng.choice([0, 2, 4]))
    span = 9
    folded = np.abs((walk + start) % (2 * span) - span)
    # Degrees count from the current chord's root, so the melody follows the harmony.
    chord_degree = degrees[steps // style.steps_per_chord]
    semitones = _scale_semitones(mode, folded + chord_degree)
    pitches = (style.lead_octave + semitones)[:, None]
    gaps = np.diff(np.append(steps, steps[-1] + 4))
    lengths = np.minimum(gaps, rng.choice([1.0, 2.0, 4.0], len(steps)))
    velocities = rng.uniform(0.5, 1.0, len(steps))
    return _Notes(steps.astype(np.float64), lengths.astype(np.float64), pitches, velocities)


def _step_times(steps: np.ndarray, style: Style, step_s: float, offset_s: float) -> np.ndarray:
    """Seconds of each step, with swing (integer steps only), relative to the clip start."""
    steps = np.asarray(steps, dtype=np.float64)
    whole = np.floor(steps) == steps
    position = np.mod(steps, 4)
    delay = np.where(whole & (position == 2), style.swing, 0.0)
    delay = delay + np.where(whole & (np.mod(steps, 2) == 1), style.swing16, 0.0)
    return (steps + delay) * step_s - offset_s


def _midi_hz(pitches: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitches, dtype=np.float64) - 69.0) / 12.0)


def _render(
    notes: _Notes,
    timbre: Timbre,
    *,
    t: np.ndarray,
    sample_rate: int,
    step_s: float,
    times: np.ndarray,
) -> np.ndarray:
    """Renders one part.

    Each sample follows the latest note that started before it (so a part is
    monophonic per voice); a note's voices share its envelope.

    Args:
        notes: The part's notes.
        timbre: The FM voice that plays them.
        t: Time of each sample in seconds, float32, shape ``(num_samples,)``.
        sample_rate: Sample rate in Hz.
        step_s: Duration of a step (16th note) in seconds.
        times: Onset of each note in seconds (may be negative: notes already sounding).

    Returns:
        The part, float32, shape ``(num_samples,)``.
    """
    num_samples = len(t)
    out = np.zeros(num_samples, dtype=np.float32)
    if len(notes.steps) == 0:
        return out
    order = np.argsort(times, kind="stable")
    onsets = np.round(times[order] * sample_rate)
    # Sample k plays the latest note i with starts[i] <= k: a run-length expansion of
    # the note numbers (np.repeat), cheaper than a binary search per sample.
    starts = np.clip(onsets, 0, num_samples).astype(np.int64)
    counts = np.diff(starts, prepend=0, append=num_samples)
    first = int(counts[0])
    if first >= num_samples:
        return out
    note_of_sample = np.repeat(np.arange(len(starts), dtype=np.intp), counts[1:])

    f32 = np.float32
    onset_s = (onsets / sample_rate).astype(np.float32)
    gain = (notes.velocities[order] / notes.pitches.shape[1]).astype(np.float32)
    ends = (notes.lengths[order] * step_s + timbre.release_s).astype(np.float32)
    gated = bool(np.any(ends < np.diff(onset_s, append=np.inf)))  # notes end before the next
    omega = np.ascontiguousarray((2 * np.pi * _midi_hz(notes.pitches[order])).T, np.float32)
    minus_inv_decay = f32(-1.0 / timbre.decay_s)
    inv_attack = f32(1.0 / timbre.attack_s)
    inv_release = f32(1.0 / timbre.release_s)
    vibrato_scale = f32(timbre.vibrato / (2 * np.pi * _VIBRATO_HZ))
    # Blocks keep every temporary small and in cache: whole-clip temporaries cost more in
    # page faults than in arithmetic.
    for lo in range(first, num_samples, _BLOCK):
        hi = min(lo + _BLOCK, num_samples)
        note = note_of_sample[lo - first : hi - first]
        dt = t[lo:hi] - onset_s[note]
        # Exponents are clamped at -30: denormal results would make exp and the
        # products after it many times slower, and exp(-30) is inaudible.
        env = np.maximum(dt * minus_inv_decay, f32(-30.0))
        np.exp(env, out=env)
        env *= gain[note]
        env *= np.minimum(dt * inv_attack, f32(1.0))
        if gated:
            gate = ends[note] - dt
            gate *= inv_release
            env *= np.clip(gate, f32(0.0), f32(1.0), out=gate)
        index: np.ndarray | np.float32 = f32(timbre.index)
        if timbre.index_decay_s > 0:
            index = np.maximum(dt * f32(-1.0 / timbre.index_decay_s), f32(-30.0))
            np.exp(index, out=index)
            index *= f32(timbre.index)
        vibrato = None
        if timbre.vibrato > 0:
            # Phase modulation equal to a relative frequency deviation of `vibrato`.
            vibrato = np.sin(t[lo:hi] * f32(2 * np.pi * _VIBRATO_HZ))
            vibrato *= vibrato_scale
        block = out[lo:hi]
        for voice_omega in omega:
            w = voice_omega[note]
            phase = w * dt
            if vibrato is not None:
                w *= vibrato
                phase += w
            modulator = phase * f32(timbre.ratio)
            np.sin(modulator, out=modulator)
            modulator *= index
            phase += modulator
            block += np.sin(phase, out=phase)
        block *= env
        if timbre.drive > 0:
            block *= f32(timbre.drive)
            np.tanh(block, out=block)
            block *= f32(1.0 / math.tanh(timbre.drive))
    return out


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


def _render_drums(
    style: Style,
    rng: np.random.Generator,
    *,
    num_samples: int,
    sample_rate: int,
    step_s: float,
    offset_s: float,
    num_bars: int,
) -> np.ndarray:
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
        times = _step_times(steps, style, step_s, offset_s)
        times += rng.normal(0.0, 0.003, len(times))
        starts = np.round(times * sample_rate).astype(np.int64)
        _place(out, kernel / (np.abs(kernel).max() + 1e-9), starts, velocities[steps])
    return out.astype(np.float32)


def _jitter_timbre(timbre: Timbre, rng: np.random.Generator) -> Timbre:
    return dataclasses.replace(
        timbre,
        index=timbre.index * float(rng.uniform(0.7, 1.3)),
        decay_s=timbre.decay_s * float(rng.uniform(0.8, 1.25)),
        drive=timbre.drive * float(rng.uniform(0.7, 1.3)),
    )


def _peak_normalize(x: np.ndarray) -> np.ndarray:
    peak = max(float(x.max()), -float(x.min())) if len(x) else 0.0
    return x / np.float32(peak) if peak > 0 else x


def synthesize_clip(
    genre_index: int, rng: np.random.Generator, seconds: float, sample_rate: int
) -> np.ndarray:
    """Synthesises one clip of genre ``genre_index``.

    Args:
        genre_index: Index of the genre (see :func:`genre_names`, :func:`genre_style`).
        rng: The clip's random generator; every random choice of the clip is drawn
            from it, so equal generators give equal clips.
        seconds: Duration of the clip in seconds.
        sample_rate: Sample rate in Hz.

    Returns:
        Mono samples, shape ``(round(seconds * sample_rate),)``, float32, peak in
        ``[0.6, 0.95]`` (never clipping).
    """
    if seconds <= 0:
        raise ConfigError(f"seconds={seconds} must be > 0")
    if sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate} must be > 0")
    style = genre_style(genre_index)
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
    makers = (_bass_notes, _chord_notes, _lead_notes)
    timbres = (style.bass_timbre, style.chord_timbre, style.lead_timbre)
    for make, timbre in zip(makers, timbres, strict=True):
        notes = make(style, rng, mode, degrees, num_bars)
        notes.pitches = notes.pitches + key
        times = _step_times(notes.steps, style, step_s, offset_s)
        times = times + rng.normal(0.0, 0.004, len(times))
        parts.append(_render(notes, _jitter_timbre(timbre, rng), t=t, times=times, **common))
    drums = _render_drums(
        style, rng, num_samples=num_samples, offset_s=offset_s, num_bars=num_bars, **common
    )
    parts.insert(0, drums)

    mix = np.zeros(num_samples, dtype=np.float32)
    keep = rng.random(4) > np.array([0.1, 0.1, 0.1, 0.25])
    if not keep.any():
        keep[2] = True
    for part, gain, kept in zip(parts, style.mix, keep, strict=True):
        if kept and gain > 0:
            mix += _peak_normalize(part) * np.float32(gain * rng.uniform(0.6, 1.3))
    if not mix.any():  # every kept part was silent: fall back to the chords
        mix = _peak_normalize(parts[2])

    rms = math.sqrt(float(np.dot(mix, mix)) / num_samples) or 1.0
    snr_db = rng.uniform(15.0, 35.0)
    # Uniform white noise (cheaper to draw than Gaussian), scaled to unit variance.
    noise = rng.random(num_samples, dtype=np.float32)
    noise -= np.float32(0.5)
    mix += noise * np.float32(math.sqrt(12.0) * rms * 10 ** (-snr_db / 20))
    tilt = np.float32(rng.uniform(-0.6, 0.6))  # a first-order EQ: brighter or darker
    mix[1:] += tilt * mix[:-1]
    peak = np.float32(rng.uniform(0.6, 0.95))
    return (_peak_normalize(mix) * peak).astype(np.float32)


# --------------------------------------------------------------------------- dataset


def _clip_rng(seed: int, genre_index: int, clip_index: int) -> np.random.Generator:
    return np.random.default_rng([seed, genre_index, clip_index])


def _validate(
    num_genres: int, clips_per_genre: int, clip_seconds: float, sample_rate: int, seed: int
) -> None:
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


def _parameters(
    num_genres: int, clips_per_genre: int, clip_seconds: float, sample_rate: int, seed: int
) -> dict[str, Any]:
    return {
        "generator": "tfgenre.sources.synthetic",
        "version": SYNTH_VERSION,
        "num_genres": int(num_genres),
        "clips_per_genre": int(clips_per_genre),
        "clip_seconds": float(clip_seconds),
        "sample_rate": int(sample_rate),
        "seed": int(seed),
        "genres": genre_names(int(num_genres)),
    }


def _clip_paths(root: str, parameters: dict[str, Any]) -> list[str]:
    return [
        tfio.join(root, genre, f"{genre}.{i:05d}.wav")
        for genre in parameters["genres"]
        for i in range(parameters["clips_per_genre"])
    ]


def _read_marker(root: str) -> dict[str, Any] | None:
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


def _read_parameters(root: str) -> dict[str, Any] | None:
    """The parameters the marker records (without its ``complete`` flag), or None."""
    marker = _read_marker(root)
    if marker is None:
        return None
    return {k: v for k, v in marker.items() if k != "complete"}


def _marker_files(root: str, parameters: dict[str, Any] | None) -> set[str]:
    """What a dataset with these parameters may hold, relative to ``root``."""
    if parameters is None or parameters.get("generator") != "tfgenre.sources.synthetic":
        return set()
    try:
        clips = _clip_paths(root, parameters)
        genres = [str(g) for g in parameters["genres"]]
    except (KeyError, TypeError, ValueError):
        return set()
    allowed = {METADATA_FILE, METADATA_FILE + ".incomplete", *genres}
    for path in clips:
        rel = os.path.relpath(path, root) if not tfio.is_remote(root) else path[len(root) + 1 :]
        rel = rel.replace(os.sep, "/")
        allowed.update((rel, rel + ".incomplete"))
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
    """Refuses a root that holds anything but a synthetic dataset this module wrote.

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
    allowed = _marker_files(root, _read_parameters(root))
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


def _remove_old(root: str, old: dict[str, Any], keep: set[str]) -> None:
    """Deletes the clips an earlier call wrote with other parameters."""
    try:
        paths = _clip_paths(root, old)
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

    Local files are not fsynced (a crash leaves no ``synthetic.json``, so the dataset
    is rebuilt), which keeps writing many small clips fast.
    """
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    if tfio.is_remote(path):
        tfio.write_bytes_atomic(path, buffer.getvalue())
        return
    partial = path + ".incomplete"
    with open(partial, "wb") as f:
        f.write(buffer.getvalue())
    os.replace(partial, path)


def synthesize_dataset(
    root: str,
    num_genres: int = 8,
    clips_per_genre: int = 10,
    clip_seconds: float = 10.0,
    sample_rate: int = 22050,
    seed: int = 0,
) -> list[str]:
    """Writes a synthetic labelled dataset in the GTZAN layout, unless it is already there.

    ``<root>/synthetic.json`` (the marker) records the parameters first, then the clips
    go to ``<root>/<genre>/<genre>.000NN.wav`` (16-bit PCM), then the marker is marked
    complete. When it already holds the same parameters and every clip exists, nothing
    is written; clips left by a call with other parameters are deleted first. Each file
    is written atomically. The root must be missing, empty or hold only a set written
    here (:func:`check_root_is_ours`): nothing else is ever written over.

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
    _validate(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
    root = os.fspath(root)
    parameters = _parameters(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
    paths = _clip_paths(root, parameters)
    marker = _read_marker(root)
    complete = marker is not None and marker.get("complete", True) is True
    old = _read_parameters(root)
    check_root_is_ours(root)  # reused or rewritten only when it is all ours
    if complete and old == parameters and all(tfio.exists(p) for p in paths):
        logger.info("synthetic dataset in %s is up to date (%d clips)", root, len(paths))
        return paths
    if old is not None:
        _remove_old(root, old, set(paths))
    # The marker goes first (incomplete), so clips of an interrupted run are known ours.
    tfio.makedirs(root)
    _write_marker(root, parameters, complete=False)

    started = time.perf_counter()
    logger.info(
        "synthesising %d genres x %d clips of %.1f s at %d Hz in %s",
        num_genres,
        clips_per_genre,
        clip_seconds,
        sample_rate,
        root,
    )
    for genre_index, genre in enumerate(parameters["genres"]):
        tfio.makedirs(tfio.join(root, genre))
        for clip_index in range(clips_per_genre):
            samples = synthesize_clip(
                genre_index, _clip_rng(seed, genre_index, clip_index), clip_seconds, sample_rate
            )
            _write_wav(paths[genre_index * clips_per_genre + clip_index], samples, sample_rate)
        logger.debug("synthesised genre %s", genre)
    _write_marker(root, parameters, complete=True)
    logger.info("synthesised %d clips in %.1f s", len(paths), time.perf_counter() - started)
    return paths


def _write_marker(root: str, parameters: dict[str, Any], *, complete: bool) -> None:
    text = json.dumps({**parameters, "complete": complete}, indent=2, sort_keys=True)
    tfio.write_text_atomic(tfio.join(root, METADATA_FILE), text + "\n")


class SyntheticSource(ListedSource):
    """A synthetic dataset in the GTZAN layout, written on first use.

    Args:
        root: Folder of the dataset.
        generate: Write the dataset when ``synthetic.json`` does not describe the same
            parameters (see :func:`synthesize_dataset`). When False the folder must
            already hold a synthetic dataset, which is listed as it is.
        num_genres: Number of genres.
        clips_per_genre: Clips per genre.
        clip_seconds: Duration of each clip in seconds.
        sample_rate: Sample rate in Hz.
        seed: Dataset seed.

    Raises:
        ConfigError: for invalid parameters.
        SourceError: when ``generate=False`` and the folder holds no synthetic dataset.
    """

    name = "synthetic"

    def __init__(
        self,
        root: str,
        *,
        generate: bool = True,
        num_genres: int = 8,
        clips_per_genre: int = 10,
        clip_seconds: float = 10.0,
        sample_rate: int = 22050,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _validate(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
        root = os.fspath(root) if root is not None else ""
        if not root:
            raise SourceError(f"synthetic source: root={root!r} must name a folder")
        if generate:
            synthesize_dataset(root, num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
        else:
            marker = _read_marker(root)
            existing = _read_parameters(root)
            if existing is None or marker is None:
                raise SourceError(
                    f"synthetic source: root={root!r} holds no synthetic dataset "
                    f"({METADATA_FILE} is missing); pass generate=True to write one"
                )
            if marker.get("complete", True) is not True:
                raise SourceError(
                    f"synthetic source: the synthetic dataset in root={root!r} is incomplete "
                    "(its generation was interrupted); pass generate=True to finish it"
                )
            wanted = _parameters(num_genres, clips_per_genre, clip_seconds, sample_rate, seed)
            if existing != wanted:
                logger.warning(
                    "synthetic dataset in %s was made with other parameters; listing it as is",
                    root,
                )
        tracks, self._skipped = list_genre_folders(root, self.name)
        require_tracks(tracks, self.name, root, GTZAN_LAYOUT)
        self._tracks = tracks
        self._log_summary(root)
