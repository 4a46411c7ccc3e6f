"""Genre predictions for audio files with a trained run: decode, cut, view, model, average.

:class:`Predictor` loads a run folder (``run.json`` + ``model.keras``) and turns any
audio file (any length, sample rate or channel count) into a :class:`TrackPrediction`:
the file is decoded to mono at the run's sample rate, cut into the run's windows (a file
shorter than one window is zero-padded to one, as the records writer does), each window
goes through the same view code the records writer used (so the model sees exactly the
arrays it was trained on), and the per-window probabilities are averaged, the
track-level rule of :mod:`tfgenre.evaluation.metrics`.

Everything about the run comes from its :class:`~tfgenre.runs.run_info.RunInfo`: the framing
from ``run.framing`` and the view rebuilt from ``run.view_spec``
(:mod:`tfgenre.inference.preparer`). The results are
:mod:`tfgenre.inference.prediction`'s; the files to predict are listed by
:mod:`tfgenre.inference.audio_files`.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tfgenre.core import audio, io, layout
from tfgenre.core.traced import batch_function
from tfgenre.errors import AudioDecodeError, ConfigError
from tfgenre.inference.prediction import PreparedTrack, TrackPrediction
from tfgenre.inference.preparer import WindowPreparer, make_frontend
from tfgenre.runs.run_info import RunInfo

logger = logging.getLogger(__name__)


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
        self.framing = framing.with_hop_seconds(hop_seconds)
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
        other.framing = self.framing.with_hop_seconds(hop_seconds)
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
