"""What genre prediction returns: one file's probabilities, and a file ready for the model.

:class:`TrackPrediction` is the genres of one audio file (mean of its windows'
probabilities, the track-level rule of :mod:`tfgenre.evaluation.metrics`, with every
window's); :class:`PreparedTrack` is a decoded file cut into the model's inputs, what a
decoding worker hands to the process that runs the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class TrackPrediction:
    """The genres of one audio file.

    Attributes:
        path: The file.
        labels: Genre names in model output order.
        duration_seconds: Length of the decoded audio.
        probabilities: float32 ``(num_classes,)``: mean of the segment probabilities.
        segment_probabilities: float32 ``(num_segments, num_classes)``.
        segment_starts: float64 ``(num_segments,)``: start of each segment in seconds.
        segment_seconds: Length of one segment in seconds (the whole file for
            whole-track feature models).
        padded: The file was shorter than one window and was zero-padded.
        silent: The file is silent (peak amplitude below 1e-5, the records writer's
            default ``silence_threshold``, under which it skips a track): its
            probabilities say nothing about it.
        kind: What the labels are (``genre``, or ``tag`` for a pretrained tagger): the
            JSON key is its plural and the CSV columns ``<kind>_1`` ...
    """

    path: str
    labels: tuple[str, ...]
    duration_seconds: float
    probabilities: np.ndarray
    segment_probabilities: np.ndarray
    segment_starts: np.ndarray
    segment_seconds: float
    padded: bool = False
    kind: str = "genre"
    silent: bool = False

    @property
    def num_segments(self) -> int:
        """Number of segments the probabilities average over."""
        return int(self.segment_probabilities.shape[0])

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable genres, ``[(label, probability), ...]``, best first."""
        return _top(self.probabilities, self.labels, k)

    def segment_top(self, index: int, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable genres of segment ``index``."""
        return _top(self.segment_probabilities[index], self.labels, k)

    def segment_span(self, index: int) -> tuple[float, float]:
        """``(start, end)`` of segment ``index`` in seconds.

        The end is capped at the duration, except for a padded file, whose one segment
        spans the whole window the model saw.
        """
        start = float(self.segment_starts[index])
        end = start + self.segment_seconds
        return start, end if self.padded else min(end, max(self.duration_seconds, start))

    def to_json(self, top_k: int = 3, segments: bool = False) -> dict[str, Any]:
        """Plain data: ``{"path", "<kind>s": [[label, p], ...], ...}`` (+ ``segments``)."""
        out: dict[str, Any] = {
            "path": self.path,
            f"{self.kind}s": [[label, round(p, 6)] for label, p in self.top(top_k)],
            "duration_seconds": round(self.duration_seconds, 3),
            "num_segments": self.num_segments,
            "padded": self.padded,
            "silent": self.silent,
        }
        if segments:
            out["segments"] = [
                {
                    "start_seconds": round(self.segment_span(i)[0], 3),
                    "end_seconds": round(self.segment_span(i)[1], 3),
                    f"{self.kind}s": [
                        [label, round(p, 6)] for label, p in self.segment_top(i, top_k)
                    ],
                }
                for i in range(self.num_segments)
            ]
        return out


def _top(probs: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    k = max(1, min(int(k), len(labels)))
    order = np.argsort(-np.asarray(probs, np.float64), kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in order]


@dataclasses.dataclass(frozen=True)
class PreparedTrack:
    """One decoded file cut into the model's inputs, before the model runs.

    What a decoding worker hands to the process that runs the model; with the
    windows' probabilities it becomes a :class:`TrackPrediction`
    (:meth:`prediction`).

    Attributes:
        path: The file.
        inputs: float32 ``(n, *input shape)`` (for a tagger before :meth:`finish`:
            the 16-kHz waveform ``(1, samples)``).
        starts: float64 ``(n,)``: start of each segment in seconds.
        segment_seconds: Length of one segment in seconds.
        duration_seconds: Length of the decoded audio.
        padded: The file was shorter than one window and was zero-padded.
        silent: Peak amplitude below 1e-5.
    """

    path: str
    inputs: np.ndarray
    starts: np.ndarray
    segment_seconds: float
    duration_seconds: float
    padded: bool
    silent: bool

    def prediction(
        self, labels: tuple[str, ...], probs: np.ndarray, kind: str = "genre"
    ) -> TrackPrediction:
        """The :class:`TrackPrediction` for the segments' probabilities ``(n, classes)``."""
        probs = np.asarray(probs, np.float32)
        return TrackPrediction(
            path=self.path,
            labels=labels,
            duration_seconds=self.duration_seconds,
            probabilities=probs.mean(axis=0),
            segment_probabilities=probs,
            segment_starts=np.asarray(self.starts, np.float64),
            segment_seconds=self.segment_seconds,
            padded=self.padded,
            kind=kind,
            silent=self.silent,
        )
