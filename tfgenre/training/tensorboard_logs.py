"""What a run shows in TensorBoard beyond Keras' own scalars.

The learning rate (:class:`LearningRateLogger`), the validation confusion-matrix image
(:class:`ConfusionMatrixImage`) and the hyperparameters for the HParams dashboard
(:func:`hparams_callback`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from tfgenre.errors import ConfigError
from tfgenre.evaluation.figures import confusion_matrix_figure, figure_to_rgba

__all__ = [
    "ConfusionMatrixImage",
    "DatasetLike",
    "LearningRateLogger",
    "hparams_callback",
    "sanitize_hparams",
]

DatasetLike = tf.data.Dataset | Callable[[], tf.data.Dataset] | tuple[Any, Any]


def _current_learning_rate(model: keras.Model) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs as ``learning_rate``.

    Place it before ``HistoryLogger`` and ``TensorBoard`` in the callback list so that they
    record it. With a schedule, the value is the rate of the epoch's next step.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        rate = _current_learning_rate(self.model)
        if rate is not None:
            logs["learning_rate"] = rate


class ConfusionMatrixImage(keras.callbacks.Callback):
    """Writes the validation confusion matrix as a TensorBoard image every epoch.

    Args:
        data: Validation data yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches:
            a ``tf.data.Dataset``, a zero-argument callable returning one, or an
            ``(x, y)`` tuple of arrays. ``y`` holds class indices, shape (batch,), or
            one-hot rows, shape (batch, n_classes).
        class_names: The n_classes class names, in index order.
        log_dir: Folder of the summary writer (e.g. ``run_dir/tb/validation``).
        every_n_epochs: Write on every n-th epoch (and always on the first).
        max_batches: Read at most this many batches per epoch (needed for a repeated,
            infinite dataset).
        batch_size: Batch size used when ``data`` is an ``(x, y)`` tuple.
        tag: Summary tag of the image.
    """

    def __init__(
        self,
        data: DatasetLike,
        class_names: list[str] | tuple[str, ...],
        log_dir: str | os.PathLike[str],
        *,
        every_n_epochs: int = 1,
        max_batches: int | None = None,
        batch_size: int = 256,
        tag: str = "confusion_matrix",
    ) -> None:
        super().__init__()
        if every_n_epochs < 1:
            raise ConfigError(f"every_n_epochs={every_n_epochs} must be >= 1")
        if max_batches is not None and max_batches < 1:
            raise ConfigError(f"max_batches={max_batches} must be >= 1")
        if not class_names:
            raise ConfigError("class_names must not be empty")
        self.data = data
        self.class_names = list(class_names)
        self.log_dir = os.fspath(log_dir)
        self.every_n_epochs = every_n_epochs
        self.max_batches = max_batches
        self.batch_size = batch_size
        self.tag = tag
        self._writer: Any = None

    def _dataset(self) -> tf.data.Dataset:
        data = self.data
        if isinstance(data, tuple):
            return tf.data.Dataset.from_tensor_slices(data).batch(self.batch_size)
        if callable(data) and not isinstance(data, tf.data.Dataset):
            data = data()
        if not isinstance(data, tf.data.Dataset):
            raise ConfigError(
                f"validation data must be a tf.data.Dataset, a callable returning one or "
                f"an (x, y) tuple; got {type(data).__name__}"
            )
        if self.max_batches is not None:
            data = data.take(self.max_batches)
        elif data.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ConfigError("the validation dataset is infinite (repeat()); set max_batches")
        return data

    def confusion_matrix(self) -> np.ndarray:
        """Predicts on the data and counts.

        Returns:
            Counts, shape (n_classes, n_classes), int64, rows true, columns predicted.
        """
        n = len(self.class_names)
        matrix = np.zeros((n, n), dtype=np.int64)
        for batch in self._dataset():
            x, y = batch[0], batch[1]
            scores = np.asarray(self.model.predict_on_batch(np.asarray(x)))  # numpy: any backend
            y = np.asarray(y)
            if y.ndim > 1 and y.shape[-1] > 1:
                y = y.argmax(axis=-1)
            y = y.reshape(-1).astype(np.int64)
            predicted = scores.reshape(len(y), -1).argmax(axis=-1)
            matrix += np.bincount(y * n + predicted, minlength=n * n).reshape(n, n)
        return matrix

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch % self.every_n_epochs and epoch != 0:
            return
        matrix = self.confusion_matrix()
        total = int(matrix.sum())
        accuracy = float(np.trace(matrix) / total) if total else 0.0
        figure = confusion_matrix_figure(
            matrix,
            self.class_names,
            title=f"Validation, epoch {epoch + 1} (accuracy {accuracy:.3f})",
        )
        image = figure_to_rgba(figure)[np.newaxis]
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image(self.tag, image, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


def sanitize_hparams(hparams: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    """Makes hyperparameters acceptable to the TensorBoard HParams plugin.

    Nested mappings are flattened with dotted keys (``{"model": {"name": "x"}}`` ->
    ``{"model.name": "x"}``); numpy scalars become Python scalars; bool, int, float and
    str pass; anything else (None, lists, paths, ...) becomes its ``str``.

    Args:
        hparams: Hyperparameter names to values, possibly nested.

    Returns:
        Flat ``{name: bool | int | float | str}``.
    """
    flat: dict[str, Any] = {}
    _flatten("", hparams, flat)
    clean: dict[str, bool | int | float | str] = {}
    for key, value in flat.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, int, float, str)):
            clean[key] = value
        elif isinstance(value, (list, tuple)):
            clean[key] = ", ".join(str(item) for item in value)
        else:
            clean[key] = str(value)
    return clean


def hparams_callback(
    log_dir: str | os.PathLike[str],
    hparams: Mapping[str, Any],
    *,
    trial_id: str | None = None,
) -> keras.callbacks.Callback:
    """Records a run's hyperparameters for TensorBoard's HParams dashboard.

    Args:
        log_dir: The TensorBoard callback's ``log_dir`` (the run's root, whose
            ``train``/``validation`` folders hold the metrics).
        hparams: Hyperparameters; sanitised with :func:`sanitize_hparams`.
        trial_id: Optional trial name; defaults to a hash of the values.

    Returns:
        A ``hp.KerasCallback`` (valid for a single ``fit``).
    """
    return hp.KerasCallback(os.fspath(log_dir), sanitize_hparams(hparams), trial_id=trial_id)
