"""The models a server holds: each ``--model`` loaded once, warmed up, and described.

A :class:`ServedModel` wraps a genre :class:`~tfgenre.inference.predictor.Predictor` (a run
folder) or a tag :class:`~tfgenre.inference.tagging.Tagger` (a published weight set) and predicts
a decoded file exactly as ``python -m tfgenre.predict`` does, so the API's JSON equals
``predict --format json``. :meth:`ServedModel.describe` is the ``/api/models`` entry.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre.core import io
from tfgenre.errors import ConfigError
from tfgenre.inference.prediction import TrackPrediction

logger = logging.getLogger(__name__)


def check_model_argument(model: str) -> None:
    """Checks one ``--model`` before anything is loaded, as predict does.

    Raises:
        ConfigError: the message ``predict`` gives for the same value.
    """
    from tfgenre.backbones.weights import find_weights
    from tfgenre.inference import tagging
    from tfgenre.inference.predictor import resolve_model_path

    if io.exists(model):
        resolve_model_path(model)
    elif tagging.is_weight_set(model):
        find_weights(model)  # the musicnn package is installed
    else:
        raise tagging.unknown_model_error(model)


def model_names(models: Sequence[str]) -> list[str]:
    """The name each ``--model`` is served under: a weight set's name, a run's folder name.

    A name that repeats gets ``-2``, ``-3`` ... so every name is unique.
    """
    from tfgenre.inference import tagging

    names: list[str] = []
    for model in models:
        if not io.exists(model) and tagging.is_weight_set(model):
            base = model
        else:
            path = model.rstrip("/") or model
            if path.endswith(".keras"):
                from tfgenre.inference.predictor import resolve_model_path

                path = resolve_model_path(path)[1].rstrip("/")
            base = os.path.basename(path) or "model"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def run_accuracy(run_dir: str) -> dict[str, Any] | None:
    """The test accuracy of a run with its interval, from ``report/metrics.json``.

    Returns:
        ``{"value", "low", "high", "level", "scope"}`` (``level`` the interval's
        confidence level, e.g. 0.95; ``scope`` ``track`` or ``segment``; ``low``,
        ``high``, ``level`` None without an interval), or None without a report (or
        with one this version cannot read, which is logged).
    """
    from tfgenre.errors import DamagedFileError
    from tfgenre.evaluation.metrics_file import MetricsFile, metrics_path

    path = metrics_path(run_dir)
    if not io.exists(path):
        return None
    try:
        metrics = MetricsFile.load(path)
    except (OSError, DamagedFileError) as err:
        logger.warning("no accuracy shown for %s: %s", run_dir, err)
        return None
    scope, entry = metrics.headline()
    interval = entry.accuracy_ci
    return {
        "value": float(entry.accuracy),
        "low": None if interval is None else float(interval[0]),
        "high": None if interval is None else float(interval[1]),
        "level": entry.ci.level if interval is not None and entry.ci is not None else None,
        "scope": scope,
    }


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What ``/api/models`` says about one served model (see :meth:`to_json`)."""

    name: str
    kind: str
    labels: tuple[str, ...]
    sample_rate: int
    window_seconds: float | None
    hop_seconds: float | None
    description: str
    protocol: dict[str, Any] | None
    accuracy: dict[str, Any] | None
    licence: str | None

    def to_json(self) -> dict[str, Any]:
        """The JSON entry of ``/api/models``."""
        out = dataclasses.asdict(self)
        out["labels"] = list(self.labels)
        return out


class ServedModel:
    """One loaded model: predicts uploaded files, safely from several threads.

    Args:
        name: The name requests use.
        argument: The ``--model`` value it was loaded from.
        predictor: A genre ``Predictor`` or a tag ``Tagger``.
        info: Its description.
    """

    def __init__(self, name: str, argument: str, predictor: Any, info: ModelInfo) -> None:
        self.name = name
        self.argument = argument
        self.predictor = predictor
        self.info = info

    @property
    def kind(self) -> str:
        """``genre`` or ``tag``."""
        return self.info.kind

    @property
    def sample_rate(self) -> int:
        """The rate uploads are decoded at."""
        return int(self.predictor.sample_rate)

    @classmethod
    def load(cls, argument: str, name: str, *, batch_size: int = 32) -> ServedModel:
        """Loads ``argument`` (a run folder, a ``.keras`` file in one, or a weight set).

        Raises:
            ConfigError: as ``predict --model`` would.
        """
        from tfgenre.inference import tagging
        from tfgenre.inference.predictor import Predictor, resolve_model_path

        if not io.exists(argument) and tagging.is_weight_set(argument):
            tagger = tagging.Tagger.load(argument, batch_size=batch_size)
            return cls(name, argument, tagger, _tagger_info(name, argument, tagger))
        predictor = Predictor.load(argument, batch_size=batch_size)
        run_dir = resolve_model_path(argument)[1]
        return cls(name, argument, predictor, _run_info(name, run_dir, predictor))

    def with_hop(self, hop_seconds: float | None) -> Any:
        """The predictor, or a copy of it sharing the model that hops ``hop_seconds``.

        Raises:
            ConfigError: when ``hop_seconds`` is not > 0.
        """
        if hop_seconds is None:
            return self.predictor
        if not hop_seconds > 0:
            raise ConfigError(f"hop_seconds={hop_seconds} must be > 0")
        if self.kind == "tag":
            from tfgenre.inference.tagging import hop_frames

            tagger = copy.copy(self.predictor)
            tagger.runner = copy.copy(self.predictor.runner)
            tagger.runner.hop_frames = hop_frames(hop_seconds)
            return tagger
        return self.predictor.with_hop(hop_seconds)

    def predict_file(
        self, path: str, name: str, hop_seconds: float | None = None
    ) -> TrackPrediction:
        """Decodes ``path`` and predicts it, reported as ``name``.

        Raises:
            AudioDecodeError: when the file cannot be decoded.
        """
        pred = self.with_hop(hop_seconds).predict_file(path)
        return dataclasses.replace(pred, path=name)

    def warm_up(self) -> None:
        """One inference on a few seconds of quiet noise, so the first request is not slower.

        Traces the model's graph and touches every code path a request takes after
        decoding (framing, view, model call).
        """
        rng = np.random.default_rng(0)
        y = (rng.standard_normal(int(4 * self.sample_rate)) * 0.01).astype(np.float32)
        self.predictor.predict_waveform(y, "warm-up")


def _tagger_info(name: str, argument: str, tagger: Any) -> ModelInfo:
    from tfgenre.inference.tagging import list_weight_sets

    entry = next((e for e in list_weight_sets() if e.name == argument), None)
    weights = tagger.runner.weights
    source = entry.source if entry else weights.source
    licence = entry.licence if entry else weights.licence
    patch = float(tagger.patch_seconds)
    hop = tagger.runner.hop_frames * patch / max(1, _patch_frames())
    return ModelInfo(
        name=name,
        kind="tag",
        labels=tuple(tagger.labels),
        sample_rate=int(tagger.sample_rate),
        window_seconds=round(patch, 6),
        hop_seconds=round(hop, 6),
        description=f"{argument}: published tagger trained on {source}; {licence}",
        protocol=None,
        accuracy=None,
        licence=licence,
    )


def _patch_frames() -> int:
    from tfgenre.backbones.runner import PATCH_FRAMES

    return int(PATCH_FRAMES)


def _run_info(name: str, run_dir: str, predictor: Any) -> ModelInfo:
    from tfgenre.core.stats import format_interval

    run = predictor.run
    framing = predictor.framing
    rate, window, hop = framing.sample_rate, framing.window_seconds, framing.hop_seconds
    protocol = run.protocol.to_json()
    accuracy = run_accuracy(run_dir)
    parts = [
        f"{run.model} on {run.view}",
        f"protocol {run.protocol.name} ({run.protocol.describe()})",
    ]
    if accuracy is not None:
        interval = None if accuracy["low"] is None else (accuracy["low"], accuracy["high"])
        level = f", {100 * accuracy['level']:.0f} % interval" if accuracy["level"] else ""
        parts.append(
            f"test accuracy {format_interval(accuracy['value'], interval, 3)} "
            f"({accuracy['scope']}{level})"
        )
    else:
        parts.append("no test report")
    return ModelInfo(
        name=name,
        kind="genre",
        labels=tuple(run.labels),
        sample_rate=rate,
        window_seconds=None if window is None else round(window, 6),
        hop_seconds=None if hop is None else round(hop, 6),
        description="; ".join(parts),
        protocol=protocol,
        accuracy=accuracy,
        licence=None,
    )


def load_models(arguments: Sequence[str], *, warm_up: bool = True) -> dict[str, ServedModel]:
    """Loads every ``--model`` once (and warms it up), by served name, in the given order.

    Raises:
        ConfigError: for a ``--model`` predict would refuse.
    """
    models: dict[str, ServedModel] = {}
    for argument, name in zip(arguments, model_names(arguments), strict=True):
        model = ServedModel.load(argument, name)
        if warm_up:
            model.warm_up()
        logger.info("model %s loaded from %s (%s)", name, argument, model.kind)
        models[name] = model
    return models
