"""How decoded audio is cut into windows: one frozen type for every stage.

:class:`Framing` is the sample rate, the window and the hop, in samples; the rule
"the hop defaults to the window" lives here only (:func:`resolve_hop`). The writer
derives it from its config (:meth:`Framing.from_seconds`); the manifest and
``run.json`` store it as :class:`~tfgenre.records.info.AudioSpec`, never as itself
(:meth:`Framing.from_audio_spec` reads it back); predict cuts files with it
(:meth:`Framing.cut`), the serving graphs frame waveforms with it at the view's rate
(:meth:`Framing.resampled`), and the export metadata reports it. Runs trained on a
features CSV frame audio as the CSV's rows did (:func:`features_csv_framing`).

numpy is imported by :meth:`Framing.cut` alone, so that commands which only read the
defaults here (``write_records --help``) start without it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar

from tfgenre.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

#: The GTZAN feature tables of the Kaggle dataset "GTZAN Dataset - Music Genre
#: Classification" (``features_30_sec.csv`` and ``features_3_sec.csv``) were computed
#: with librosa at its default rate, 22050 Hz; the CSVs do not say so in any column.
GTZAN_FEATURES_SAMPLE_RATE = 22050
#: Samples per row of that dataset's ``features_3_sec.csv`` (its ``length`` column),
#: assumed for a per-segment features CSV whose rows give no length.
GTZAN_3S_WINDOW = 66149
#: The rate tfgenre decodes at unless told otherwise: that of the GTZAN feature tables,
#: so records written with the defaults and those tables describe the same audio.
DEFAULT_SAMPLE_RATE = GTZAN_FEATURES_SAMPLE_RATE

_T = TypeVar("_T", int, float)


def resolve_hop(window: _T | None, hop: _T | None) -> _T | None:
    """The hop between window starts: ``hop``, defaulting to ``window`` (no overlap).

    The one place of that rule, in samples or in seconds alike; None when there is no
    window (whole tracks).
    """
    if not window:
        return None
    return hop or window


@dataclasses.dataclass(frozen=True)
class Framing:
    """How decoded audio is cut into the segments a view sees.

    Attributes:
        sample_rate: Rate of the decoded audio in Hz.
        window_samples: Window length in samples; None = one segment is the whole input.
        hop_samples: Distance between window starts in samples; given as None it
            becomes ``window_samples`` (:func:`resolve_hop`), and it is None for whole
            inputs.
        min_samples: Whole inputs shorter than this are zero-padded to it (a view's
            minimum, e.g. one FFT frame); not part of the stored framing.
        pads_below: Whole inputs shorter than this are padded by the view itself (an
            embeddings backbone pads to one patch): they are reported ``padded`` too.
    """

    sample_rate: int
    window_samples: int | None = None
    hop_samples: int | None = None
    min_samples: int = 0
    pads_below: int = 0

    def __post_init__(self) -> None:
        if int(self.sample_rate) <= 0:
            raise ConfigError(f"sample_rate={self.sample_rate} must be > 0")
        window = self.window_samples
        if window is not None and int(window) <= 0:
            raise ConfigError(f"window_samples={window} must be > 0 (None: whole inputs)")
        hop = None if window is None else resolve_hop(int(window), self.hop_samples)
        if hop is not None and int(hop) <= 0:
            raise ConfigError(f"hop_samples={self.hop_samples} must be > 0")
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        object.__setattr__(self, "window_samples", None if window is None else int(window))
        object.__setattr__(self, "hop_samples", None if hop is None else int(hop))

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_seconds(
        cls, sample_rate: int, window_seconds: float | None, hop_seconds: float | None = None
    ) -> Framing:
        """The framing of a window and hop given in seconds (0 or None window: whole inputs)."""
        if not window_seconds:
            return cls(sample_rate)
        hop = resolve_hop(window_seconds, hop_seconds)
        return cls(
            sample_rate,
            int(round(window_seconds * sample_rate)),
            int(round(float(hop or 0) * sample_rate)),
        )

    @classmethod
    def from_audio_spec(cls, spec: Any) -> Framing:
        """The framing an :class:`~tfgenre.records.info.AudioSpec` records.

        Args:
            spec: Anything with ``sample_rate``, ``window_samples`` and ``hop_samples``.
        """
        return cls(spec.sample_rate, spec.window_samples, spec.hop_samples)

    # ------------------------------------------------------------------ derived facts

    @property
    def whole_tracks(self) -> bool:
        """True when one segment is the whole input."""
        return self.window_samples is None

    @property
    def window_seconds(self) -> float | None:
        """The window in seconds (None: whole inputs)."""
        return None if self.window_samples is None else self.window_samples / self.sample_rate

    @property
    def hop_seconds(self) -> float | None:
        """The hop in seconds (None: whole inputs)."""
        return None if self.hop_samples is None else self.hop_samples / self.sample_rate

    def with_hop_seconds(self, hop_seconds: float | None) -> Framing:
        """This framing with windows every ``hop_seconds`` (None or whole inputs: unchanged).

        Raises:
            ConfigError: when ``hop_seconds`` is not > 0.
        """
        if hop_seconds is None:
            return self
        if not hop_seconds > 0:
            raise ConfigError(f"hop_seconds={hop_seconds} must be > 0")
        if self.window_samples is None:
            return self
        hop = max(1, int(round(hop_seconds * self.sample_rate)))
        return dataclasses.replace(self, hop_samples=hop)

    def resampled(self, sample_rate: int, ratio: Fraction | None = None) -> Framing:
        """This framing for the audio resampled to ``sample_rate``.

        A window becomes the resampler's output length (``ceil(window * ratio)``, as
        soxr and librosa give), the hop ``round(hop * ratio)`` (at least 1).
        ``min_samples`` and ``pads_below`` are a view's and are not carried over.

        Args:
            sample_rate: The new rate in Hz.
            ratio: Output samples per input sample, when not ``sample_rate /
                self.sample_rate`` (a raw view downsampled by ``d`` resamples by exactly
                ``1/d`` and records the rate ``sample_rate // d``).
        """
        ratio = Fraction(sample_rate, self.sample_rate) if ratio is None else Fraction(ratio)
        if self.window_samples is None:
            return Framing(sample_rate)
        window = math.ceil(self.window_samples * ratio)
        hop = max(1, round(int(self.hop_samples or 0) * ratio))
        return Framing(sample_rate, window, hop)

    # ------------------------------------------------------------------ cutting

    def cut(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Segments of ``y`` and their start samples.

        A windowed input shorter than one window is zero-padded to one, as the records
        writer does (``short="pad"``); a whole input shorter than ``min_samples`` is
        zero-padded to it.

        Args:
            y: float32 ``(n_samples,)``.

        Returns:
            (segments float32 ``(n, length)``, starts int64 ``(n,)``, padded).
        """
        import numpy as np

        from tfgenre.core import audio

        if self.window_samples is None:
            padded = len(y) < max(self.min_samples, self.pads_below)
            if len(y) < self.min_samples:
                y = np.pad(y, (0, self.min_samples - len(y)))
            return y[np.newaxis, :].astype(np.float32), np.zeros(1, np.int64), padded
        padded = len(y) < self.window_samples
        segments = audio.cut_segments(y, self.window_samples, self.hop_samples, short="pad")
        starts = np.arange(len(segments), dtype=np.int64) * int(self.hop_samples or 1)
        return segments, starts, padded


def features_csv_framing(window: str | int) -> Framing:
    """The framing a features CSV's rows describe (the GTZAN tables' rate).

    Args:
        window: ``whole_track``, a row length in samples, or ``segment`` (rows of unknown
            length: the 3-second GTZAN table is assumed, and a warning says so).
    """
    if window == "whole_track":
        return Framing(GTZAN_FEATURES_SAMPLE_RATE)
    if window == "segment":
        logger.warning(
            "features CSV: rows describe segments of unknown length; assuming the "
            "3-second GTZAN table (%d samples)",
            GTZAN_3S_WINDOW,
        )
        window = GTZAN_3S_WINDOW
    return Framing(GTZAN_FEATURES_SAMPLE_RATE, int(window))
