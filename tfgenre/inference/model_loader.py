"""The predictor of a ``--model`` value: a trained run folder or a published weight set."""

from __future__ import annotations

from typing import Any

from tfgenre.core import io


def load_predictor(
    model: str,
    *,
    hop_seconds: float | None = None,
    batch_size: int = 32,
    precision: str = "float32",
) -> Any:
    """The predictor for ``model``, a run folder or model file, or a weight set's name.

    A genre :class:`~tfgenre.inference.predictor.Predictor` for a run, a
    :class:`~tfgenre.inference.tagging.Tagger` for a weight set.

    Args:
        model: A run folder, a model file, or a weight set's name (e.g. ``musicnn_msd``).
        hop_seconds: Hop between windows (None: the run's or weight set's own).
        batch_size: Windows per model call.
        precision: The tagger's compute precision (weight sets only).

    Returns:
        An object with ``predict_file`` and ``predict_files``.
    """
    from tfgenre.inference import tagging
    from tfgenre.inference.predictor import Predictor

    options = {"hop_seconds": hop_seconds, "batch_size": batch_size}
    if not io.exists(model) and tagging.is_weight_set(model):
        return tagging.Tagger.load(model, precision=precision, **options)
    return Predictor.load(model, **options)
