"""Genre predictions for audio files with a trained run: decode, cut, view, model, average.

:class:`Predictor` loads a run folder (``run.json`` + ``model.keras``) and turns any
audio file (any length, sample rate or channel count) into a :class:`TrackPrediction`:
the file is decoded to mono at the run's sample rate, cut into the run's windows (a file
shorter than one window is zero-padded to one, as the records writer does), each window
goes through the same view code the records writer used (so the model sees exactly the
arrays it was trained on), and the per-window probabilities are averaged, the
track-level rule of :mod:`tfgenre.evaluation.metrics`.

Everything about the run comes from its :class:`~tfgenre.runs.run_info.RunInfo`: the framing
from ``run.audio`` and the view rebuilt from ``run.view_spec``. Feature models trained
from a features CSV frame audio as the CSV's rows did (``run.audio``: whole files for
the 30-second GTZAN table, 3-second windows for the per-segment one) and compute the
CSV's columns (``run.feature_names``) in its order.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tfgenre.core import audio, io, layout
from tfgenre.core.traced import batch_function
from tfgenre.errors import AudioDecodeError, ConfigError
from tfgenre.runs.run_info import RunInfo

logger = logging.getLogger(__name__)


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
        pads_below: Whole files shorter than this are padded by the view itself (an
            embeddings backbone pads to one patch): they are reported ``padded`` too.
    """

    sample_rate: int
    window_samples: int | None
    hop_samples: int | None
    min_samples: int = 0
    pads_below: int = 0

    def cut(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Segments of ``y`` and their start samples.

        Args:
            y: float32 ``(n_samples,)``.

        Returns:
            (segments float32 ``(n, length)``, starts int64 ``(n,)``, padded).
        """
        padded = False
        if self.window_samples is None:
            padded = len(y) < max(self.min_samples, self.pads_below)
            if len(y) < self.min_samples:
                y = np.pad(y, (0, self.min_samples - len(y)))
            return y[np.newaxis, :].astype(np.float32), np.zeros(1, np.int64), padded
        padded = len(y) < self.window_samples
        segments = audio.cut_segments(y, self.window_samples, self.hop_samples, short="pad")
        starts = np.arange(len(segments), dtype=np.int64) * int(self.hop_samples or 1)
        return segments, starts, padded


def framing_for(run: RunInfo) -> Framing:
    """How files are cut for ``run``: its audio framing (vector views: whole files or windows).

    Raises:
        ConfigError: for a raw or mel run whose audio has no window.
    """
    from tfgenre.views.registry import VECTOR_VIEWS

    spec = run.audio
    if spec.whole_tracks:
        if run.view not in VECTOR_VIEWS:
            raise ConfigError(
                f"run.json of view {run.view!r} has window_samples=None; a window is needed "
                "to frame audio for it"
            )
        from tfgenre.views.features import N_FFT

        pads_below = 0
        if run.view == "embeddings":  # it pads a file shorter than one backbone patch
            from tfgenre.backbones.runner import PATCH_SECONDS

            pads_below = int(np.ceil(PATCH_SECONDS * spec.sample_rate))
        return Framing(spec.sample_rate, None, None, min_samples=N_FFT, pads_below=pads_below)
    return Framing(spec.sample_rate, int(spec.window_samples or 0), int(spec.hop or 0))


def make_frontend(run: RunInfo) -> tuple[Framing, Frontend]:
    """The framing and the numpy view function of a run, as the records writer computed.

    The view is rebuilt from ``run.view_spec`` (:func:`tfgenre.views.from_spec`), so
    every parameter the writer used reaches predict without code here naming it.

    Args:
        run: The run's :class:`~tfgenre.runs.run_info.RunInfo`.

    Returns:
        ``(framing, frontend)`` where ``frontend(segments (n, length)) -> (n, *input
        shape)`` float32.

    Raises:
        ConfigError: when the run has no window (raw, mel) or names unknown features.
    """
    from tfgenre.records.reader import payload_scale
    from tfgenre.views.registry import from_spec

    framing = framing_for(run)
    rate = framing.sample_rate
    view = from_spec(run.view_spec)
    if run.view == "features":
        from tfgenre.views.features import FEATURE_NAMES

        index = {name: i for i, name in enumerate(FEATURE_NAMES)}
        columns = np.asarray([index[n] for n in run.feature_names or FEATURE_NAMES], dtype=np.int64)
        return framing, lambda s: view.compute(s, rate)[:, columns].astype(np.float32)
    scale = np.float32(payload_scale(run.view_spec))
    return framing, lambda s: view.compute(s, rate).astype(np.float32) / scale


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


def with_hop(framing: Framing, hop_seconds: float | None) -> Framing:
    """``framing`` with windows every ``hop_seconds`` (None: unchanged; whole files: unchanged).

    Raises:
        ConfigError: when ``hop_seconds`` is not > 0.
    """
    if hop_seconds is None:
        return framing
    if hop_seconds <= 0:
        raise ConfigError(f"hop_seconds={hop_seconds} must be > 0")
    if framing.window_samples is None:
        return framing
    hop = max(1, int(round(hop_seconds * framing.sample_rate)))
    return dataclasses.replace(framing, hop_samples=hop)


class WindowPreparer:
    """Decodes a file and computes a trained run's model inputs (picklable; numpy only).

    Args:
        run: The run's ``run.json``.
        framing: How files are cut (the run's, with any ``--hop-seconds``).
        batch_size: Windows per view call (bounds the view's working memory).
    """

    @classmethod
    def for_run(cls, run: RunInfo, hop_seconds: float | None, batch_size: int) -> WindowPreparer:
        """The preparer a :class:`Predictor` of ``run`` would use, without loading its model."""
        return cls(run, with_hop(framing_for(run), hop_seconds), batch_size)

    def __init__(self, run: RunInfo, framing: Framing, batch_size: int = 32) -> None:
        self.run = run
        self.framing = framing
        self.batch_size = int(batch_size)
        self._frontend: Frontend | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_frontend": None}  # rebuilt in each worker

    @property
    def sample_rate(self) -> int:
        """The rate files are decoded at."""
        return self.framing.sample_rate

    def prepare_waveform(self, y: np.ndarray, path: str = "") -> PreparedTrack:
        """Cuts a mono waveform ``(n_samples,)`` at :attr:`sample_rate` into model inputs."""
        if self._frontend is None:
            self._frontend = make_frontend(self.run)[1]
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        segments, starts, padded = self.framing.cut(y)
        x = np.concatenate(
            [
                self._frontend(segments[i : i + self.batch_size])
                for i in range(0, len(segments), self.batch_size)
            ],
            axis=0,
        )
        rate = float(self.framing.sample_rate)
        window = self.framing.window_samples
        length = (max(len(y), self.framing.min_samples) if window is None else window) / rate
        return PreparedTrack(
            path=path,
            inputs=x,
            starts=starts / rate,
            segment_seconds=length,
            duration_seconds=len(y) / rate,
            padded=padded,
            silent=audio.is_silent(y),
        )

    def __call__(self, path: str) -> PreparedTrack:
        """Decodes ``path`` and prepares it.

        Raises:
            AudioDecodeError: when the file cannot be decoded.
        """
        return self.prepare_waveform(audio.decode(path, self.framing.sample_rate), path)


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
        model = io.join(path, layout.MODEL)
        if not io.exists(io.join(path, layout.RUN_JSON)):
            raise ConfigError(
                f"--model {path!r} is not a tfgenre run folder (no {layout.RUN_JSON})"
            )
        if not io.exists(model):
            raise ConfigError(f"run folder {path!r} has no {layout.MODEL} (did the fit finish?)")
        return model, path
    if not io.exists(path):
        raise ConfigError(f"--model {path!r} does not exist")
    if not path.endswith(".keras"):
        raise ConfigError(f"--model {path!r} must be a run folder or a .keras file")
    folder = _parent(path)
    for candidate in (folder, _parent(folder)):
        if candidate and io.exists(io.join(candidate, layout.RUN_JSON)):
            return path, candidate
    raise ConfigError(
        f"--model {path!r} has no {layout.RUN_JSON} beside it or in its parent folder; it is "
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
        run: The run's ``run.json``.
        hop_seconds: Distance between window starts (default: the run's hop).
        batch_size: Segments per model call (bounds memory on long files).
    """

    def __init__(
        self,
        model: Any,
        run: RunInfo,
        *,
        hop_seconds: float | None = None,
        batch_size: int = 32,
    ) -> None:
        if batch_size <= 0:
            raise ConfigError(f"batch_size={batch_size} must be > 0")
        self.model = model
        self.run = run
        self.labels: tuple[str, ...] = run.labels
        self.view: str = run.view
        framing, self._frontend = make_frontend(run)
        self.framing = with_hop(framing, hop_seconds)
        self.batch_size = int(batch_size)
        self._preparer = WindowPreparer(run, self.framing, self.batch_size)
        self._preparer._frontend = self._frontend
        self._classify = batch_function(model, run.input_shape)
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
        model_path, run_dir = resolve_model_path(path)
        run = RunInfo.load(run_dir)
        logger.info("model %s (%s on %s)", model_path, run.model, run.view)
        return cls(load_keras_model(model_path), run, **kwargs)

    def with_hop(self, hop_seconds: float | None) -> Predictor:
        """This predictor hopping ``hop_seconds`` (a copy sharing the loaded model).

        ``self`` when ``hop_seconds`` is None. The copy's framing and its preparer's
        framing are the same object, so every path (``predict_file``, library mode's
        workers) cuts the same windows.

        Raises:
            ConfigError: when ``hop_seconds`` is not > 0.
        """
        if hop_seconds is None:
            return self
        other = copy.copy(self)
        other.framing = with_hop(self.framing, hop_seconds)
        other._preparer = copy.copy(self._preparer)
        other._preparer.framing = other.framing
        return other

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
        prepared = self.preparer().prepare_waveform(y, path)
        return self.assemble(prepared, self.classify(prepared.inputs))

    def preparer(self) -> WindowPreparer:
        """The picklable decode-and-frame step of this predictor (no TensorFlow in it).

        Worker processes of ``predict LIBRARY --workers N`` run it; the model stays in
        the main process (:meth:`classify`, :meth:`assemble`).
        """
        return self._preparer

    def finish(self, prepared: PreparedTrack) -> PreparedTrack:
        """The model inputs of a prepared track (already final for a trained run)."""
        return prepared

    def classify(self, x: np.ndarray) -> np.ndarray:
        """Probabilities float32 ``(n, classes)`` of inputs ``(n, *input shape)``.

        The model is called on at most ``batch_size`` windows at a time.
        """
        probs = [
            np.asarray(self._classify(x[i : i + self.batch_size]), np.float32)
            for i in range(0, len(x), self.batch_size)
        ]
        if not probs:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate(probs, axis=0)

    def assemble(self, prepared: PreparedTrack, probs: np.ndarray) -> TrackPrediction:
        """The prediction of a prepared track from its windows' probabilities ``(n, classes)``."""
        return prepared.prediction(self.labels, probs)

    def predict_file(self, path: str) -> TrackPrediction:
        """Decodes ``path`` and predicts it.

        Raises:
            AudioDecodeError: when the file cannot be decoded.
        """
        y = audio.decode(path, self.framing.sample_rate)
        return self.predict_waveform(y, path)

    def predict_files(
        self,
        paths: Sequence[str],
        *,
        on_skip: Callable[[AudioDecodeError], Any] | None = None,
        on_step: Callable[[int], Any] | None = None,
    ) -> tuple[list[TrackPrediction], list[str]]:
        """Predicts every file of ``paths``; a file that cannot be decoded is skipped.

        Args:
            paths: Audio files.
            on_skip: Called with the error of each skipped file, when it happens.
            on_step: Called with the number of files done after each file (progress).

        Returns:
            (the predictions in the order of ``paths``, the skipped files).
        """
        return predict_each(self.predict_file, paths, on_skip=on_skip, on_step=on_step)


def predict_each(
    predict_file: Callable[[str], TrackPrediction],
    paths: Sequence[str],
    *,
    on_skip: Callable[[AudioDecodeError], Any] | None = None,
    on_step: Callable[[int], Any] | None = None,
) -> tuple[list[TrackPrediction], list[str]]:
    """``predict_file`` on every file of ``paths``; a file that cannot be decoded is skipped.

    The one file loop of genre prediction (:class:`Predictor`) and tagging
    (:class:`tfgenre.inference.tagging.Tagger`).

    Args:
        predict_file: Decodes and predicts one file; raises ``AudioDecodeError``.
        paths: Audio files.
        on_skip: Called with the error of each skipped file, when it happens.
        on_step: Called with the number of files done after each file (progress).

    Returns:
        (the predictions in the order of ``paths``, the skipped files).
    """
    results: list[TrackPrediction] = []
    failed: list[str] = []
    for n, path in enumerate(paths, start=1):
        try:
            results.append(predict_file(path))
        except AudioDecodeError as err:
            failed.append(path)
            if on_skip is not None:
                on_skip(err)
        if on_step is not None:
            on_step(n)
    return results, failed


def list_audio_files(paths: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files named in ``paths``, with folders expanded (recursively, sorted) to their audio.

    Files given by name are kept whatever their extension (a bad one fails to decode and
    is reported); inside folders only :data:`~tfgenre.core.tracks.AUDIO_EXTENSIONS`
    files that are not hidden count, and audio in a format that is not decoded
    (``.m4a``, ``.aac``, ``.wma`` ...) is returned as skipped with its reason. Only
    regular files are opened (a named pipe would block forever): others are returned as
    skipped, with the reason; each real folder and file is visited once, so a symbolic
    link loop neither hangs nor repeats files.

    Returns:
        (files to predict, ``(path, reason)`` of the files skipped up front).

    Raises:
        ConfigError: when a folder holds no audio file.
    """
    out: list[str] = []
    skipped: list[tuple[str, str]] = []
    seen_folders: set[str] = set()
    seen_files: dict[str, str] = {}
    for path in paths:
        if not io.isdir(path):
            reason = io.irregular_reason(path)  # named files: as given, if regular
            if reason is None:
                out.append(path)
            else:
                skipped.append((path, reason))
            continue
        found: list[str] = []
        unsupported: list[tuple[str, str]] = []
        for file, reason in walk_audio_folder(path, seen_folders, seen_files):
            if reason is None:
                found.append(file)
            else:
                unsupported.append((file, reason))
        out.extend(sorted(found))
        skipped.extend(sorted(unsupported))
    return out, skipped


def walk_audio_folder(
    path: str, seen_folders: set[str], seen_files: dict[str, str]
) -> Iterator[tuple[str, str | None]]:
    """The audio files under folder ``path``, one folder listed at a time.

    Depth first: a folder's files (sorted), then its subfolders (sorted). Only
    non-hidden files with an :data:`~tfgenre.core.tracks.AUDIO_EXTENSIONS` extension
    count; formats that are not decoded and irregular files come with the reason they
    are skipped. Each real folder and file is visited once across calls that share
    ``seen_folders`` and ``seen_files``, so a symbolic link loop ends.

    Yields:
        ``(file, None)`` to predict, or ``(file, reason)`` skipped up front.

    Raises:
        ConfigError: when the folder holds no audio file (raised when its walk ends).
    """
    from tfgenre.core.tracks import (
        AUDIO_EXTENSIONS,
        iter_audio_files,
        unsupported_audio_skips,
    )

    count = 0
    stack = [path]
    while stack:
        folder = stack.pop()
        if not io.is_remote(folder):  # each real folder once: a link loop ends here
            real = os.path.realpath(folder)
            if real in seen_folders:
                continue
            seen_folders.add(real)
        names = sorted(io.listdir(folder))
        for name in iter_audio_files(names):
            file = io.join(folder, name)
            count += 1
            yield file, io.first_visit_reason(file, seen_files, "predicted once")
        for skip in unsupported_audio_skips(folder, names):
            count += 1
            yield skip.path, skip.reason
        subfolders = [
            io.join(folder, n)
            for n in names
            if not n.startswith(".") and io.isdir(io.join(folder, n))
        ]
        stack.extend(reversed(subfolders))  # popped in sorted order
    if not count:
        raise ConfigError(f"folder {path!r} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
