"""Genre predictions for audio files with a trained run: decode, cut, view, model, average.

:class:`Predictor` loads a run folder (``run.json`` + ``model.keras``) and turns any
audio file (any length, sample rate or channel count) into a :class:`TrackPrediction`:
the file is decoded to mono at the run's sample rate, cut into the run's windows (a file
shorter than one window is zero-padded to one, as the records writer does), each window
goes through the same view code the records writer used (so the model sees exactly the
arrays it was trained on), and the per-window probabilities are averaged, the
track-level rule of :mod:`tfgenre.scoring.metrics`.

Feature models trained from a features CSV describe the window the CSV's rows describe,
recorded in ``run.json`` as ``feature_window``: ``"whole_track"`` for the 30-second
GTZAN table (the features of the whole file, one "segment"), or a number of samples
(the 3-second table), and the CSV's column order.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tfgenre import audio, io
from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

#: The sample rate of the GTZAN feature tables (librosa's default), assumed for
#: features-CSV runs, whose ``run.json`` records no rate.
FEATURES_CSV_SAMPLE_RATE = 22050

#: Window of the 3-second GTZAN feature table, in samples at 22050 Hz (its ``length``).
GTZAN_3S_WINDOW = 66149

RUN_INFO = "run.json"
MODEL_FILE = "model.keras"


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
    """

    path: str
    labels: tuple[str, ...]
    duration_seconds: float
    probabilities: np.ndarray
    segment_probabilities: np.ndarray
    segment_starts: np.ndarray
    segment_seconds: float
    padded: bool = False

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
        """Plain data: ``{"path", "genres": [[label, p], ...], ...}`` (+ ``segments``)."""
        out: dict[str, Any] = {
            "path": self.path,
            "genres": [[label, round(p, 6)] for label, p in self.top(top_k)],
            "duration_seconds": round(self.duration_seconds, 3),
            "num_segments": self.num_segments,
            "padded": self.padded,
        }
        if segments:
            out["segments"] = [
                {
                    "start_seconds": round(self.segment_span(i)[0], 3),
                    "end_seconds": round(self.segment_span(i)[1], 3),
                    "genres": [[label, round(p, 6)] for label, p in self.segment_top(i, top_k)],
                }
                for i in range(self.num_segments)
            ]
        return out


def _top(probs: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    k = max(1, min(int(k), len(labels)))
    order = np.argsort(-np.asarray(probs, np.float64), kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in order]


# ----------------------------------------------------------------------------- front ends


Frontend = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Framing:
    """How a decoded file is cut for a run.

    Attributes:
        sample_rate: Decode rate in Hz.
        window_samples: Window length, or None for one segment = the whole file.
        hop_samples: Distance between window starts (None for whole files).
        min_samples: Files are zero-padded to at least this length.
    """

    sample_rate: int
    window_samples: int | None
    hop_samples: int | None
    min_samples: int = 0

    def cut(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Segments of ``y`` and their start samples.

        Args:
            y: float32 ``(n_samples,)``.

        Returns:
            (segments float32 ``(n, length)``, starts int64 ``(n,)``, padded).
        """
        padded = False
        if self.window_samples is None:
            if len(y) < self.min_samples:
                y = np.pad(y, (0, self.min_samples - len(y)))
                padded = True
            return y[np.newaxis, :].astype(np.float32), np.zeros(1, np.int64), padded
        padded = len(y) < self.window_samples
        segments = audio.cut_segments(y, self.window_samples, self.hop_samples, short="pad")
        starts = np.arange(len(segments), dtype=np.int64) * int(self.hop_samples or 1)
        return segments, starts, padded


def make_frontend(info: dict[str, Any]) -> tuple[Framing, Frontend]:
    """The framing and the numpy view function of a run, as the records writer computed.

    Args:
        info: The run's ``run.json`` content.

    Returns:
        ``(framing, frontend)`` where ``frontend(segments (n, length)) -> (n, *input
        shape)`` float32.

    Raises:
        ConfigError: when ``run.json`` lacks what is needed or names unknown features.
    """
    view = info.get("view")
    entry = info.get("view_entry") or {}
    params = dict(entry.get("params") or {})
    if view == "features":
        return _features_frontend(info, entry)
    rate = int(info.get("sample_rate") or 0)
    window = info.get("window_samples")
    if not rate or not window:
        raise ConfigError(
            f"run.json of view {view!r} has sample_rate={rate or None}, "
            f"window_samples={window}; both are needed"
        )
    framing = Framing(rate, int(window), int(info.get("hop_samples") or window))
    if view == "mel":
        from tfgenre.views.mel import MelView

        mel = MelView(
            n_mels=int(params["n_mels"]),
            n_fft=int(params["n_fft"]),
            hop_length=int(params["hop_length"]),
            fmin=float(params.get("fmin") or 0.0),
            fmax=params.get("fmax"),
            top_db=float(params.get("top_db", 80.0)),
            image_size=params.get("image_size"),
        )
        return framing, lambda s: mel.compute(s, rate).astype(np.float32)
    if view == "raw":
        from tfgenre.records.reader import payload_scale
        from tfgenre.views.raw import RawView

        raw = RawView(
            dtype=str(entry.get("dtype", "int16")),
            max_samples=params.get("max_samples"),
            downsample=int(params.get("downsample") or 1),
        )
        scale = payload_scale(entry)
        return framing, lambda s: raw.compute(s, rate).astype(np.float32) / scale
    raise ConfigError(f"run.json view={view!r} must be raw, mel or features")


def _features_frontend(info: dict[str, Any], entry: dict[str, Any]) -> tuple[Framing, Frontend]:
    from tfgenre.views.features import FEATURE_NAMES, N_FFT, FeaturesView

    if info.get("source") == "features_csv":
        rate = int(info.get("sample_rate") or FEATURES_CSV_SAMPLE_RATE)
        window: Any = info.get("feature_window", "whole_track")
        names = info.get("feature_names") or list(FEATURE_NAMES)
        if window == "segment":  # a per-segment CSV whose rows give no length
            logger.warning(
                "features CSV run: rows describe segments of unknown length; assuming the "
                "3-second GTZAN table (%d samples)",
                GTZAN_3S_WINDOW,
            )
            window = GTZAN_3S_WINDOW
        hop = window
    else:
        rate = int(info.get("sample_rate") or FEATURES_CSV_SAMPLE_RATE)
        window = info.get("window_samples")
        hop = info.get("hop_samples") or window
        names = entry.get("feature_names") or list(FEATURE_NAMES)
    if window in (None, "whole_track"):
        framing = Framing(rate, None, None, min_samples=N_FFT)
    else:
        framing = Framing(rate, int(window), int(hop))
    index = {name: i for i, name in enumerate(FEATURE_NAMES)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise ConfigError(
            f"the run's features {unknown[:5]} are not among the 57 tfgenre computes "
            f"({', '.join(FEATURE_NAMES[:3])}, ...): predict cannot compute them"
        )
    columns = np.asarray([index[n] for n in names], dtype=np.int64)
    view = FeaturesView()
    return framing, lambda s: view.compute(s, rate)[:, columns].astype(np.float32)


# ----------------------------------------------------------------------------- runs


def resolve_model_path(path: str) -> tuple[str, str]:
    """The ``(model file, run folder)`` for a run folder or a ``.keras`` file in one.

    A ``.keras`` file's run is the folder holding it or its parent (for
    ``checkpoints/best.keras``).

    Raises:
        ConfigError: when no ``run.json`` and model can be found.
    """
    path = str(path).rstrip("/") or str(path)
    if io.isdir(path):
        model = io.join(path, MODEL_FILE)
        if not io.exists(io.join(path, RUN_INFO)):
            raise ConfigError(f"--model {path!r} is not a tfgenre run folder (no {RUN_INFO})")
        if not io.exists(model):
            raise ConfigError(f"run folder {path!r} has no {MODEL_FILE} (did the fit finish?)")
        return model, path
    if not io.exists(path):
        raise ConfigError(f"--model {path!r} does not exist")
    if not path.endswith(".keras"):
        raise ConfigError(f"--model {path!r} must be a run folder or a .keras file")
    folder = _parent(path)
    for candidate in (folder, _parent(folder)):
        if candidate and io.exists(io.join(candidate, RUN_INFO)):
            return path, candidate
    raise ConfigError(
        f"--model {path!r} has no {RUN_INFO} beside it or in its parent folder; it is "
        "needed for the labels and the audio settings"
    )


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if io.is_remote(path) else os.path.dirname(path)


def load_keras_model(path: str) -> Any:
    """Loads a tfgenre ``.keras`` file for inference (no optimizer state)."""
    from tfgenre.models.saving import load_model

    return load_model(path, compile=False)


class Predictor:
    """Predicts genres of audio files with a trained Keras model and its run info.

    Args:
        model: Keras model ``(batch, *input shape)`` -> ``(batch, classes)`` probabilities.
        info: The run's ``run.json`` content.
        hop_seconds: Distance between window starts (default: the run's hop).
        batch_size: Segments per model call (bounds memory on long files).
    """

    def __init__(
        self,
        model: Any,
        info: dict[str, Any],
        *,
        hop_seconds: float | None = None,
        batch_size: int = 32,
    ) -> None:
        if batch_size <= 0:
            raise ConfigError(f"batch_size={batch_size} must be > 0")
        self.model = model
        self.info = dict(info)
        self.labels: tuple[str, ...] = tuple(info["labels"])
        self.view: str = str(info.get("view"))
        framing, self._frontend = make_frontend(info)
        if hop_seconds is not None:
            if hop_seconds <= 0:
                raise ConfigError(f"hop_seconds={hop_seconds} must be > 0")
            if framing.window_samples is not None:
                hop = max(1, int(round(hop_seconds * framing.sample_rate)))
                framing = dataclasses.replace(framing, hop_samples=hop)
        self.framing = framing
        self.batch_size = int(batch_size)
        self._classify = _batch_function(model, tuple(info["input_spec"]["shape"]))
        out = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else None
        if out is not None and out != len(self.labels):
            raise ConfigError(
                f"the model has {out} outputs but run.json lists {len(self.labels)} labels"
            )

    @classmethod
    def load(cls, path: str, **kwargs: Any) -> Predictor:
        """A predictor for a run folder, or a ``.keras`` file inside one.

        Args:
            path: Run folder or ``.keras`` file.
            **kwargs: :class:`Predictor` options.

        Raises:
            ConfigError: when ``path`` is not a run (see :func:`resolve_model_path`).
        """
        import json

        model_path, run_dir = resolve_model_path(path)
        info = json.loads(io.read_text(io.join(run_dir, RUN_INFO)))
        logger.info("model %s (%s on %s)", model_path, info.get("model"), info.get("view"))
        return cls(load_keras_model(model_path), info, **kwargs)

    @property
    def sample_rate(self) -> int:
        """The rate files are decoded at."""
        return self.framing.sample_rate

    def model_inputs(self, y: np.ndarray) -> tuple[Iterator[np.ndarray], np.ndarray, bool]:
        """The model's inputs for a waveform, in chunks of ``batch_size`` segments.

        Args:
            y: float32 ``(n_samples,)`` at :attr:`sample_rate`.

        Returns:
            (iterator of float32 ``(<= batch_size, *input shape)``, starts in samples
            ``(n,)``, padded).
        """
        segments, starts, padded = self.framing.cut(y)

        def chunks() -> Iterator[np.ndarray]:
            for i in range(0, len(segments), self.batch_size):
                yield self._frontend(segments[i : i + self.batch_size])

        return chunks(), starts, padded

    def predict_waveform(self, y: np.ndarray, path: str = "") -> TrackPrediction:
        """Predicts a decoded mono waveform at :attr:`sample_rate`.

        Args:
            y: float32 ``(n_samples,)``.
            path: Name to report.

        Returns:
            The prediction; its segment probabilities have shape ``(n, num_classes)``.
        """
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        chunks, starts, padded = self.model_inputs(y)
        probs = [np.asarray(self._classify(x), np.float32) for x in chunks]
        seg = np.concatenate(probs, axis=0)
        rate = float(self.framing.sample_rate)
        window = self.framing.window_samples
        length = (max(len(y), self.framing.min_samples) if window is None else window) / rate
        return TrackPrediction(
            path=path,
            labels=self.labels,
            duration_seconds=len(y) / rate,
            probabilities=seg.mean(axis=0),
            segment_probabilities=seg,
            segment_starts=starts / rate,
            segment_seconds=length,
            padded=padded,
        )

    def predict_file(self, path: str) -> TrackPrediction:
        """Decodes ``path`` and predicts it.

        Raises:
            AudioDecodeError: when the file cannot be decoded.
        """
        y = audio.decode(path, self.framing.sample_rate)
        return self.predict_waveform(y, path)


def _batch_function(model: Any, shape: tuple[int, ...]) -> Callable[[np.ndarray], Any]:
    """``x -> probabilities``, traced once for every batch size (TensorFlow backend)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch
    import tensorflow as tf

    spec = tf.TensorSpec([None, *(int(d) for d in shape)], tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])


def list_audio_files(paths: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files named in ``paths``, with folders expanded (recursively, sorted) to their audio.

    Files given by name are kept whatever their extension (a bad one fails to decode and
    is reported); inside folders only :data:`~tfgenre.sources.base.AUDIO_EXTENSIONS`
    files that are not hidden count, and audio in a format that is not decoded
    (``.m4a``, ``.aac``, ``.wma`` ...) is returned as skipped with its reason.

    Returns:
        (files to predict, ``(path, reason)`` of the files skipped up front).

    Raises:
        ConfigError: when a folder holds no audio file.
    """
    from tfgenre.sources.base import (
        AUDIO_EXTENSIONS,
        iter_audio_files,
        unsupported_audio_skips,
    )

    out: list[str] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        if not io.isdir(path):
            out.append(path)
            continue
        found: list[str] = []
        unsupported: list[tuple[str, str]] = []
        stack = [path]
        while stack:
            folder = stack.pop()
            names = io.listdir(folder)
            found.extend(io.join(folder, n) for n in iter_audio_files(names))
            unsupported.extend((s.path, s.reason) for s in unsupported_audio_skips(folder, names))
            stack.extend(
                io.join(folder, n)
                for n in names
                if not n.startswith(".") and io.isdir(io.join(folder, n))
            )
        if not found and not unsupported:
            raise ConfigError(
                f"folder {path!r} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})"
            )
        out.extend(sorted(found))
        skipped.extend(sorted(unsupported))
    return out, skipped
