"""A trained run's front end: how a decoded file is cut and turned into model inputs.

:func:`framing_for` is how files are cut for a run (its
:class:`~tfgenre.core.framing.Framing`, plus what its view needs of a whole file),
:func:`make_frontend` the numpy view function the records writer used, rebuilt from
``run.view_spec``, and :class:`WindowPreparer` the picklable decode-and-cut step that
library mode's workers run (numpy only, no TensorFlow).

Feature models trained from a features CSV frame audio as the CSV's rows did
(``run.framing``: whole files for the 30-second GTZAN table, 3-second windows for the
per-segment one) and compute the CSV's columns (``run.feature_names``) in its order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from tfgenre.core import audio
from tfgenre.core.framing import Framing
from tfgenre.errors import ConfigError
from tfgenre.inference.prediction import PreparedTrack
from tfgenre.runs.run_info import RunInfo

Frontend = Callable[[np.ndarray], np.ndarray]


def framing_for(run: RunInfo) -> Framing:
    """How files are cut for ``run``: its :attr:`~RunInfo.framing`, plus its view's minimums.

    A whole-file run (vector views only) pads a file to one FFT frame, and an embeddings
    run reports a file shorter than one backbone patch as ``padded`` (the view pads it).

    Raises:
        ConfigError: for a raw or mel run whose audio has no window.
    """
    from tfgenre.views.registry import VECTOR_VIEWS

    framing = run.framing
    if not framing.whole_tracks:
        return framing
    if run.view not in VECTOR_VIEWS:
        raise ConfigError(
            f"run.json of view {run.view!r} has window_samples=None; a window is needed "
            "to frame audio for it"
        )
    from tfgenre.views.features import N_FFT

    pads_below = 0
    if run.view == "embeddings":  # it pads a file shorter than one backbone patch
        from tfgenre.backbones.runner import PATCH_SECONDS

        pads_below = int(np.ceil(PATCH_SECONDS * framing.sample_rate))
    return dataclasses.replace(framing, min_samples=N_FFT, pads_below=pads_below)


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


class WindowPreparer:
    """Decodes a file and computes a trained run's model inputs (picklable; numpy only).

    Args:
        run: The run's ``run.json``.
        framing: How files are cut (the run's, with any ``--hop-seconds``).
        batch_size: Windows per view call (bounds the view's working memory).
    """

    @classmethod
    def for_run(cls, run: RunInfo, hop_seconds: float | None, batch_size: int) -> WindowPreparer:
        """The preparer a :class:`~tfgenre.inference.predictor.Predictor` of ``run`` would use.

        Without loading its model; ``hop_seconds`` (None: the run's hop) as
        :meth:`~tfgenre.core.framing.Framing.with_hop_seconds`.
        """
        return cls(run, framing_for(run).with_hop_seconds(hop_seconds), batch_size)

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
