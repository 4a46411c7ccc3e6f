"""The synthesiser: a learnable labelled set of synthetic music, made at test time.

Modules, from what a genre is to the files on disk:

- :mod:`~tfgenre.synthesis.styles`: :class:`Style` (tempo range, drum pattern and kit,
  modes and progressions, chord rhythm and voicing, bass line, melody) with its FM
  voices (:class:`Timbre`) and :class:`Drums`; the hand-made genres are the data file
  ``styles.yaml``, genres from index 8 on are drawn at random.
- :mod:`~tfgenre.synthesis.notes`: the notes of the bass, chord and lead parts.
- :mod:`~tfgenre.synthesis.render`: a part's notes played by an FM voice.
- :mod:`~tfgenre.synthesis.drums`: the drum part.
- :mod:`~tfgenre.synthesis.clip`: :func:`synthesize_clip`, one mixed clip.
- :mod:`~tfgenre.synthesis.marker`: ``synthetic.json`` and the refusal of a folder
  holding anything this package did not write (:func:`check_root_is_ours`).
- :mod:`~tfgenre.synthesis.dataset`: :func:`synthesize_dataset`, the clips in the
  GTZAN layout (``<root>/<genre>/<genre>.000NN.wav``, 16-bit PCM) plus the marker.

Genres overlap on purpose (tempo ranges, distorted power chords in rock and metal,
drum-less ambient and classical, sine bass in techno and hiphop), and every clip draws
its own tempo, key, mode, progression, start offset, timbre variations, part gains,
dropped parts, hit velocities, timing jitter, noise level and spectral tilt. A small CNN
on log-mels learns the genres well above chance without finding them trivial.

Every clip's random generator derives from ``(seed, genre_index, clip_index)``, so the
same seed gives byte-identical files whatever order the clips are made in. Synthesis is
vectorised numpy (loops run over notes and drum hits, never over samples).

The ``synthetic`` source (:mod:`tfgenre.sources.synthetic`) lists a set written here.

>>> from tfgenre.synthesis import synthesize_dataset
>>> paths = synthesize_dataset("data/synth", num_genres=8, clips_per_genre=10)  # doctest: +SKIP
"""

from __future__ import annotations

from tfgenre.synthesis.clip import synthesize_clip
from tfgenre.synthesis.dataset import synthesize_dataset
from tfgenre.synthesis.marker import METADATA_FILE, check_root_is_ours
from tfgenre.synthesis.styles import (
    GENRE_NAMES,
    STYLES,
    Drums,
    Style,
    Timbre,
    genre_names,
    genre_style,
)

__all__ = [
    "GENRE_NAMES",
    "METADATA_FILE",
    "STYLES",
    "Drums",
    "Style",
    "Timbre",
    "check_root_is_ours",
    "genre_names",
    "genre_style",
    "synthesize_clip",
    "synthesize_dataset",
]
