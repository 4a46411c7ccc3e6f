"""Music tags without training: a published musicnn / vgg weight set on audio files.

``python -m tfgenre.predict song.mp3 --model musicnn_msd`` lands here. Each file is
decoded to mono 16 kHz (:func:`tfgenre.core.audio.decode`), cut into the backbone's 3-s
patches (no overlap unless a hop is given) and run through the Keras 3 port
(:class:`~tfgenre.backbones.runner.BackboneRunner`); the track's tags are the mean
taggram over its patches, and the per-patch taggram is the timeline (what musicnn's
own tagger prints). Results are :class:`~tfgenre.inference.prediction.TrackPrediction` with
``kind="tag"``, so every output format of predict applies::

    tagger = Tagger.load("musicnn_msd")
    results, failed = tagger.predict_files(["song.mp3"])
    results[0].top(5)          # [("rock", 0.61), ("guitar", 0.33), ...]

:func:`list_weight_sets` describes the four published weight sets (licence, training
data, whether installed) without loading TensorFlow.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tfgenre.backbones import weights as weights_module
from tfgenre.backbones.weights import WEIGHT_SETS, find_weights
from tfgenre.core import audio
from tfgenre.core.config import did_you_mean
from tfgenre.errors import AudioDecodeError, ConfigError
from tfgenre.inference.prediction import PreparedTrack, TrackPrediction
from tfgenre.inference.predictor import predict_each

logger = logging.getLogger(__name__)


def is_weight_set(name: str) -> bool:
    """True when ``name`` is one of the published weight sets (``musicnn_msd``, ...)."""
    return name in WEIGHT_SETS


def unknown_model_error(name: str) -> ConfigError:
    """The error for a ``--model`` that is neither a path nor a weight set, with a hint."""
    return ConfigError(
        f"file not found: --model {name}; it is neither a run folder nor a published "
        f"weight set ({', '.join(WEIGHT_SETS)}){did_you_mean(name, WEIGHT_SETS)}"
    )


def hop_frames(hop_seconds: float | None) -> int | None:
    """Frames between patch starts for a hop in seconds (None: the patch length).

    Raises:
        ConfigError: when ``hop_seconds`` is not > 0.
    """
    from tfgenre.backbones.frontend import FFT_HOP, SAMPLE_RATE

    if hop_seconds is None:
        return None
    if not hop_seconds > 0:
        raise ConfigError(f"hop_seconds={hop_seconds} must be > 0")
    return max(1, int(round(hop_seconds * SAMPLE_RATE / FFT_HOP)))


class Tagger:
    """Tags audio files with a published weight set.

    Args:
        runner: The backbone to run (its ``taggram`` output gives the tags).
    """

    def __init__(self, runner: Any) -> None:
        from tfgenre.backbones.frontend import SAMPLE_RATE
        from tfgenre.backbones.runner import PATCH_SECONDS

        self._sample_rate = SAMPLE_RATE
        self.runner = runner
        self.labels: tuple[str, ...] = tuple(runner.labels)
        self.patch_seconds = float(PATCH_SECONDS)

    @classmethod
    def load(
        cls,
        name: str,
        *,
        hop_seconds: float | None = None,
        batch_size: int = 32,
        precision: str = "float32",
    ) -> Tagger:
        """A tagger for a weight set (``musicnn_msd``, ...) or a checkpoint folder.

        Args:
            name: Weight-set name or checkpoint folder (see ``find_weights``).
            hop_seconds: Distance between patch starts (default: 2.992 s, no overlap).
            batch_size: Most patches per model call.
            precision: ``float32`` (default) or ``bfloat16`` (CPUs with native
                bfloat16 only; see :mod:`tfgenre.backbones.precision`).

        Raises:
            ConfigError: unknown name, missing ``musicnn`` package, bad hop,
                bfloat16 on a CPU without it.
        """
        from tfgenre.backbones.runner import BackboneRunner

        frames = hop_frames(hop_seconds)
        weights = find_weights(name)
        logger.info("tagging with %s (%s)", weights.name, weights.source)
        runner = BackboneRunner(
            weights, batch_size=batch_size, hop_frames=frames, precision=precision
        )
        return cls(runner)

    @property
    def sample_rate(self) -> int:
        """The rate files are decoded at."""
        return self._sample_rate

    def predict_waveform(self, y16: np.ndarray, path: str = "") -> TrackPrediction:
        """The tags of a mono waveform at 16 kHz.

        Args:
            y16: float32 ``(samples,)``.
            path: Name to report.

        Returns:
            The prediction: ``probabilities`` ``(50,)`` the mean taggram,
            ``segment_probabilities`` ``(patches, 50)`` the taggram.
        """
        y16 = np.asarray(y16, dtype=np.float32).reshape(-1)
        patches = self.runner.patches(y16)
        taggram = self.runner.run(patches.values)["taggram"]
        return TrackPrediction(
            path=path,
            labels=self.labels,
            duration_seconds=len(y16) / self.sample_rate,
            probabilities=taggram.mean(axis=0),
            segment_probabilities=taggram,
            segment_starts=np.asarray(patches.starts, np.float64),
            segment_seconds=self.patch_seconds,
            padded=patches.padded,
            kind="tag",
            silent=audio.is_silent(y16),
        )

    def predict_file(self, path: str) -> TrackPrediction:
        """Decodes ``path`` to 16 kHz and tags it.

        Raises:
            AudioDecodeError: when the file cannot be decoded.
        """
        return self.predict_waveform(audio.decode(path, self.sample_rate), path)

    def preparer(self) -> WaveformDecoder:
        """The picklable decode step (no TensorFlow): the front end runs in :meth:`finish`."""
        return WaveformDecoder(self.sample_rate, self.patch_seconds)

    def finish(self, prepared: PreparedTrack) -> PreparedTrack:
        """The log-mel patches ``(patches, 187, 96)`` of a decoded track."""
        y16 = prepared.inputs.reshape(-1)
        patches = self.runner.patches(y16)
        return dataclasses.replace(
            prepared,
            inputs=patches.values,
            starts=np.asarray(patches.starts, np.float64),
            padded=patches.padded,
        )

    def classify(self, x: np.ndarray) -> np.ndarray:
        """The taggram float32 ``(n, tags)`` of patches ``(n, 187, 96)``."""
        return self.runner.run(x)["taggram"]

    def assemble(self, prepared: PreparedTrack, probs: np.ndarray) -> TrackPrediction:
        """The tags of a finished track from its patches' taggram ``(n, tags)``."""
        return prepared.prediction(self.labels, probs, kind="tag")

    def predict_files(
        self,
        paths: Sequence[str],
        *,
        on_skip: Callable[[AudioDecodeError], Any] | None = None,
        on_step: Callable[[int], Any] | None = None,
    ) -> tuple[list[TrackPrediction], list[str]]:
        """Tags every file of ``paths``; files that cannot be decoded are skipped.

        Returns:
            (the predictions in the order of ``paths``, the skipped files).
        """
        return predict_each(self.predict_file, paths, on_skip=on_skip, on_step=on_step)


@dataclasses.dataclass(frozen=True)
class WaveformDecoder:
    """Decodes a file to mono at ``sample_rate`` for a tagger (picklable; no TensorFlow).

    The result's ``inputs`` is the waveform ``(1, samples)``; :meth:`Tagger.finish`
    cuts it into patches.
    """

    sample_rate: int
    patch_seconds: float

    def __call__(self, path: str) -> PreparedTrack:
        """Raises ``AudioDecodeError`` when ``path`` cannot be decoded."""
        y = np.asarray(audio.decode(path, self.sample_rate), np.float32).reshape(-1)
        return PreparedTrack(
            path=path,
            inputs=y[np.newaxis, :],
            starts=np.zeros(0, np.float64),
            segment_seconds=float(self.patch_seconds),
            duration_seconds=len(y) / self.sample_rate,
            padded=False,
            silent=audio.is_silent(y),
        )


# ----------------------------------------------------------------------------- catalogue


@dataclasses.dataclass(frozen=True)
class WeightSetEntry:
    """One published weight set as ``predict --list-models`` shows it.

    Attributes:
        name: ``musicnn_msd``, ...
        architecture: ``musicnn`` or ``vgg``.
        source: The training data, in words.
        licence: Licence and citation.
        folder: The installed checkpoint folder, or None when not installed.
        problem: Why it is not usable (None when installed).
    """

    name: str
    architecture: str
    source: str
    licence: str
    folder: str | None
    problem: str | None = None


def list_weight_sets() -> list[WeightSetEntry]:
    """The four published weight sets and whether each is installed (no TensorFlow)."""
    entries = []
    for name, (arch, dataset, _) in WEIGHT_SETS.items():
        try:
            ws = find_weights(name)
        except ConfigError as err:
            source, licence = weights_module.DATASETS[dataset], weights_module.LICENCE
            entries.append(WeightSetEntry(name, arch, source, licence, None, str(err)))
        else:
            entries.append(WeightSetEntry(name, arch, ws.source, ws.licence, ws.folder))
    return entries


def format_weight_sets(entries: Sequence[WeightSetEntry]) -> str:
    """The text of ``predict --list-models``: one block per weight set, then a note."""
    lines = ["Published weight sets (tags, no training): --model NAME", ""]
    for e in entries:
        installed = f"yes, {e.folder}" if e.folder else f"no: {e.problem}"
        lines += [
            e.name,
            f"  architecture: {e.architecture}",
            f"  trained on:   {e.source}",
            f"  licence:      {e.licence}",
            f"  installed:    {installed}",
            "",
        ]
    lines.append(
        "The other kind of --model is a run folder written by `python -m tfgenre.fit` "
        "(or a .keras file in one): it predicts the genres it was trained on."
    )
    return "\n".join(lines) + "\n"
