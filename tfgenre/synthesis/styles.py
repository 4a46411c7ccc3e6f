"""What makes a synthetic genre: :class:`Style`, its FM voices and drum kit, and the table.

The hand-made genres (ambient, techno, rock, jazz, hiphop, classical, reggae, metal) are
data, not code: ``styles.yaml`` beside this module lists them in genre-index order and
:func:`load_styles` turns each entry into a :class:`Style`. Genres from index 8 on are
drawn at random from the genre index alone (:func:`random_style`), so a genre sounds
alike in every dataset.

>>> genre_names(3)
['ambient', 'techno', 'rock']
>>> genre_style(1).bpm
(118.0, 136.0)
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import Any

import numpy as np
import yaml

from tfgenre.core import config
from tfgenre.errors import ConfigError

#: Scale degrees (semitones above the key) of every mode a style may use.
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

CHORD_KINDS: tuple[str, ...] = ("triad", "seventh", "power")

STYLES_FILE = "styles.yaml"

_GRID_VELOCITY = {"x": 1.0, "o": 0.65, "-": 0.3, ".": 0.0}


def grid(pattern: str) -> tuple[float, ...]:
    """A one-bar pattern of 16 steps: ``x`` = 1.0, ``o`` = 0.65, ``-`` = 0.3, ``.`` = rest.

    Raises:
        ConfigError: when the pattern is not 16 of those characters.
    """
    if len(pattern) != STEPS_PER_BAR or not set(pattern) <= set(_GRID_VELOCITY):
        raise ConfigError(
            f"drum pattern {pattern!r} must be {STEPS_PER_BAR} steps of "
            f"{''.join(_GRID_VELOCITY)} (Received: {len(pattern)} characters)"
        )
    return tuple(_GRID_VELOCITY[c] for c in pattern)


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
    """A one-bar drum pattern (16 velocities per instrument) and its kit.

    Attributes:
        kick: Kick velocities, one per 16th note, shape ``(16,)``.
        snare: Snare velocities, shape ``(16,)``.
        hat: Hi-hat velocities, shape ``(16,)``.
        kick_hz: The kick's pitch sweep, start and end frequency in Hz.
        kick_decay_s: Kick decay time constant in seconds.
        snare_tone_hz: Frequency of the snare's tone in Hz.
        snare_decay_s: Snare decay time constant in seconds.
        hat_decay_s: Hi-hat decay time constant in seconds.
    """

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

    Steps are 16th notes; patterns and strike positions are given within one bar. The
    fields are described in ``styles.yaml``.
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

    def __post_init__(self) -> None:
        where = f"style {self.name!r}:"
        for mode in self.modes:
            if mode not in MODES:
                raise ConfigError(
                    f"{where} mode {mode!r} in modes={list(self.modes)} is unknown "
                    f"(known: {', '.join(sorted(MODES))}){config.did_you_mean(mode, MODES)}"
                )
        config.require(
            self.chord_kind in CHORD_KINDS,
            f"{where} chord_kind={self.chord_kind!r} must be one of {', '.join(CHORD_KINDS)}",
        )
        config.require(len(self.bpm) == 2, f"{where} bpm={self.bpm} must be [low, high]")
        config.require(len(self.mix) == 4, f"{where} mix={self.mix} must have 4 gains")
        config.require(
            self.steps_per_chord > 0, f"{where} steps_per_chord={self.steps_per_chord} must be > 0"
        )
        config.require(bool(self.progressions), f"{where} progressions must not be empty")


def load_styles(text: str) -> tuple[Style, ...]:
    """Parses a style table (the format of ``styles.yaml``).

    Args:
        text: YAML with a ``styles`` list; drum patterns are 16-character grids.

    Returns:
        One :class:`Style` per entry, in order.

    Raises:
        ConfigError: on unknown keys (with the closest name) or invalid values.
    """
    data = yaml.safe_load(text) or {}
    entries = data.get("styles") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"a style table needs a non-empty 'styles' list (Received: {data!r})")
    styles = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"styles[{i}]={entry!r} must be a mapping")
        entry = dict(entry)
        if isinstance(entry.get("drums"), dict):
            drums = dict(entry["drums"])
            for part in ("kick", "snare", "hat"):
                if isinstance(drums.get(part), str):
                    drums[part] = grid(drums[part])
            entry["drums"] = drums
        styles.append(config.from_dict(Style, entry, prefix=f"styles[{i}]."))
    names = [s.name for s in styles]
    config.require(len(set(names)) == len(names), f"style names {names} repeat a name")
    return tuple(styles)


def _read_table() -> tuple[Style, ...]:
    """The styles of the ``styles.yaml`` shipped with the package."""
    text = resources.files("tfgenre.synthesis").joinpath(STYLES_FILE).read_text("utf-8")
    return load_styles(text)


#: The hand-made styles, in genre-index order.
STYLES: tuple[Style, ...] = _read_table()

#: Their names: the genres of a dataset of up to ``len(STYLES)`` genres.
GENRE_NAMES: tuple[str, ...] = tuple(style.name for style in STYLES)


def genre_names(num_genres: int) -> list[str]:
    """The names of the first ``num_genres`` synthetic genres (``genre8`` ... after 8)."""
    return [GENRE_NAMES[i] if i < len(GENRE_NAMES) else f"genre{i}" for i in range(num_genres)]


def genre_style(genre_index: int) -> Style:
    """The style of genre ``genre_index``: a hand-made one, or a random one from index 8.

    Generated styles depend on the genre index only (never on the dataset seed), so a
    genre sounds alike in every dataset.

    Raises:
        ConfigError: when ``genre_index`` is negative.
    """
    if genre_index < 0:
        raise ConfigError(f"genre_index={genre_index} must be >= 0")
    if genre_index < len(STYLES):
        return STYLES[genre_index]
    return random_style(genre_index)


# --------------------------------------------------------------------------- random styles


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


def _random_drums(rng: np.random.Generator) -> Drums | None:
    """A random kit and pattern (a downbeat kick always), or None for no drums (15%)."""
    if rng.random() <= 0.15:
        return None
    kick = list(_random_grid(rng, 0.15))
    kick[0] = 1.0
    snare = grid("....x.......x...") if rng.random() < 0.6 else _random_grid(rng, 0.12)
    hat_choices = [grid("o.o.o.o.o.o.o.o."), grid("oooooooooooooooo"), grid("..x...x...x...x.")]
    hat = hat_choices[int(rng.integers(3))] if rng.random() < 0.7 else _random_grid(rng, 0.4)
    return Drums(
        kick=tuple(kick),
        snare=snare,
        hat=hat,
        kick_hz=(float(rng.uniform(70.0, 160.0)), float(rng.uniform(40.0, 60.0))),
        kick_decay_s=float(rng.uniform(0.1, 0.6)),
        snare_tone_hz=float(rng.uniform(150.0, 350.0)),
        hat_decay_s=float(rng.uniform(0.02, 0.2)),
    )


def random_style(genre_index: int) -> Style:
    """A random style named ``genre<genre_index>``, drawn from the genre index alone."""
    rng = np.random.default_rng([genre_index, 7919])
    low = float(rng.uniform(60.0, 160.0))
    drums = _random_drums(rng)
    mode_names = sorted(MODES)
    modes = tuple(mode_names[i] for i in rng.choice(len(mode_names), 2, replace=False))
    progressions = tuple((0, *(int(d) for d in rng.integers(0, 7, 3))) for _ in range(2))
    chord_steps = tuple(sorted(int(s) for s in rng.choice(16, int(rng.integers(1, 7)), False)))
    extra_bass = rng.choice(16, int(rng.integers(0, 5)))
    bass_steps = tuple(sorted({0, *(int(s) for s in extra_bass)}))
    fields: dict[str, Any] = {
        "name": f"genre{genre_index}",
        "bpm": (low, low + float(rng.uniform(15.0, 40.0))),
        "drums": drums,
        "modes": modes,
        "progressions": progressions,
        "steps_per_chord": int(rng.choice([8, 16, 32])),
        "chord_kind": str(rng.choice(["triad", "seventh", "power"])),
        "chord_steps": chord_steps,
        "chord_len": float(rng.uniform(0.8, 8.0)),
        "chord_octave": int(rng.integers(50, 62)),
        "chord_timbre": _random_timbre(rng),
        "bass_steps": bass_steps,
        "bass_len": float(rng.uniform(1.0, 6.0)),
        "bass_octave": int(rng.integers(30, 40)),
        "bass_timbre": _random_timbre(rng),
        "lead_density": float(rng.uniform(0.0, 0.5)),
        "lead_octave": int(rng.integers(62, 76)),
        "lead_timbre": _random_timbre(rng),
    }
    fields["mix"] = (
        0.0 if drums is None else float(rng.uniform(0.4, 1.0)),
        float(rng.uniform(0.4, 1.0)),
        float(rng.uniform(0.4, 1.0)),
        float(rng.uniform(0.2, 0.8)),
    )
    fields["swing"] = float(rng.choice([0.0, 0.0, 0.3, 0.6]))
    fields["swing16"] = float(rng.choice([0.0, 0.0, 0.25]))
    fields["arpeggio"] = bool(rng.random() < 0.25)
    return Style(**fields)
