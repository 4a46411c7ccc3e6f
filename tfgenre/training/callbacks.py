"""Keras callbacks for a training run: TensorBoard, checkpoints, resume, history.

:func:`standard_callbacks` assembles everything a run folder holds::

    run_dir/
      tb/train, tb/validation    TensorBoard scalars (loss, accuracy, learning_rate),
                                 the confusion-matrix image (validation) and hparams
      checkpoints/best.keras     the best model by ``monitor``
      backup/                    BackupAndRestore state; a killed run resumes from it
      history.csv                one row per epoch; a resumed epoch replaces its row

Paths are joined as strings and written by Keras/TensorFlow through ``tf.io.gfile``,
so ``run_dir`` may be a ``gs://`` folder.
"""

from __future__ import annotations

import csv
import io as stringio
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from tfgenre.core import io, layout
from tfgenre.errors import ConfigError
from tfgenre.evaluation.figures import confusion_matrix_figure, figure_to_png, read_history
from tfgenre.training.strategy import is_chief, task_info

logger = logging.getLogger(__name__)

__all__ = [
    "ConfusionMatrixImage",
    "EpochSeeds",
    "HistoryLogger",
    "LearningRateLogger",
    "hparams_callback",
    "sanitize_hparams",
    "standard_callbacks",
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


def seed_generators(model: keras.Model) -> list[Any]:
    """Every ``keras.random.SeedGenerator`` of ``model``'s layers, in layer order."""
    found: list[Any] = []
    seen: set[int] = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", []):
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found


def epoch_seed_state(seed: int, index: int, epoch: int) -> np.ndarray:
    """The state of a model's ``index``-th SeedGenerator at the start of ``epoch``.

    ``[a, epoch << 20]`` with ``a`` from ``(seed, index)``: each draw adds 1 to the
    second word, so epochs of up to 2**20 steps draw apart.
    """
    first = ((seed + 1) * 1_000_003 + index * 7_919) % 2**32
    return np.asarray([first, (epoch << 20) % 2**32], dtype=np.uint32)


class EpochSeeds(keras.callbacks.Callback):
    """Draws each epoch's randomness from ``(seed, epoch)``, so a resumed epoch equals it.

    At each epoch's start (after ``BackupAndRestore`` restored the run, and before
    Keras makes the epoch's data iterator) it sets the training data's
    :class:`tfgenre.tfdata.epochs.EpochCounter` (the pass's file and example order and its
    augmentation) and reseeds every ``keras.random.SeedGenerator`` of the model
    (dropout...), whose state a backup does not hold. A run resumed at epoch ``e``
    then trains epoch ``e`` exactly as the uninterrupted run did.

    Args:
        seed: The run's seed.
        epochs: The training dataset's counter (None: only the model is reseeded).
    """

    def __init__(self, seed: int, epochs: Any = None) -> None:
        super().__init__()
        self.seed = int(seed)
        self.epochs = epochs

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epochs is not None:
            self.epochs.set(epoch)
        for index, generator in enumerate(seed_generators(self.model)):
            state = epoch_seed_state(self.seed, index, epoch)
            generator.state.assign(state.astype(generator.state.dtype))


def _csv_value(value: Any) -> Any:
    """A log value as Keras' ``CSVLogger`` writes it (lists as ``"[a, b]"``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
        return f'"[{", ".join(map(str, value))}]"'
    if isinstance(value, np.generic):
        return value.item()
    return value


class HistoryLogger(keras.callbacks.Callback):
    """Writes ``history.csv`` (one row per epoch) so that a resumed epoch replaces its row.

    Keras' ``CSVLogger(append=True)`` appends a row at each epoch's end; a run killed
    after that row but before the backup of the same epoch reruns the epoch on resume
    and appended it a second time. Here each epoch's row drops the rows of that epoch
    and later ones, and the file is rewritten atomically: the write is idempotent. The
    format is ``CSVLogger``'s: ``epoch`` then the logged keys, sorted.

    Args:
        path: The CSV file (local or ``gs://``).
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        if not io.exists(self.path):
            return [], []
        with tf.io.gfile.GFile(self.path, "r") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return list(reader.fieldnames or []), rows

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        header, rows = self._read()
        keys = sorted(logs)
        if not header or "epoch" not in header:
            header = ["epoch", *keys]
        else:
            header += [k for k in keys if k not in header]
        kept = [r for r in rows if not _is_epoch_at_or_after(r.get("epoch"), epoch)]
        row = {"epoch": epoch, **{k: _csv_value(v) for k, v in logs.items()}}
        out = stringio.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, restval="NA", lineterminator="\n")
        writer.writeheader()
        writer.writerows([*kept, row])
        io.write_text_atomic(self.path, out.getvalue())


def _is_epoch_at_or_after(value: str | None, epoch: int) -> bool:
    try:
        return int(float(value)) >= epoch
    except (TypeError, ValueError):
        return False


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
        image = tf.image.decode_png(figure_to_png(figure), channels=4)[tf.newaxis]
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


_MAXIMISED = ("acc", "auc", "f1", "precision", "recall")


def _monitor_mode(monitor: str, mode: str) -> str | None:
    if mode in ("min", "max"):
        return mode
    if "loss" in monitor or "error" in monitor:
        return "min"
    if any(word in monitor for word in _MAXIMISED):
        return "max"
    return None


def _best_so_far(history_csv: str, monitor: str, mode: str) -> float | None:
    """Best ``monitor`` value logged before an interruption, to seed ModelCheckpoint."""
    direction = _monitor_mode(monitor, mode)
    if direction is None or not tf.io.gfile.exists(history_csv):
        return None
    try:
        values = [v for v in read_history(history_csv).get(monitor, []) if not math.isnan(v)]
    except (ValueError, OSError) as error:
        logger.warning("cannot read %s to resume the best %s: %s", history_csv, monitor, error)
        return None
    if not values:
        return None
    return max(values) if direction == "max" else min(values)


def standard_callbacks(
    run_dir: str | os.PathLike[str],
    *,
    class_names: list[str] | tuple[str, ...],
    val_data: DatasetLike | None = None,
    hparams: Mapping[str, Any] | None = None,
    monitor: str = "val_accuracy",
    mode: str = "auto",
    patience: int = 10,
    min_delta: float = 0.0,
    early_stopping: bool = True,
    confusion_matrix: bool = True,
    confusion_max_batches: int | None = None,
    histogram_freq: int = 0,
    backup_save_freq: str | int = "epoch",
    chief: bool | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks of a training run, in the order they must run.

    Order: learning-rate logger (so later callbacks see ``learning_rate``), confusion
    matrix image, TensorBoard, hparams, HistoryLogger, ModelCheckpoint, EarlyStopping and
    last BackupAndRestore, so that an epoch counts as done only once everything else
    about it has been written. A killed run re-run with the same ``run_dir`` resumes
    after its last finished epoch; its best-model checkpoint keeps the best value seen
    before the interruption. EarlyStopping's patience counter restarts on resume. In a
    multi-worker job only the chief writes TensorBoard, history, checkpoints and images;
    every worker keeps its own backup folder (``backup``, ``backup-worker-<i>``).

    Args:
        run_dir: The run's folder (local or ``gs://``).
        class_names: Class names in index order (for the confusion matrix image).
        val_data: Validation data for the confusion-matrix image (see
            :class:`ConfusionMatrixImage`); None skips the image.
        hparams: Hyperparameters for the HParams dashboard; None skips it.
        monitor: Quantity for the best checkpoint and early stopping.
        mode: ``auto``, ``min`` or ``max`` for ``monitor``.
        patience: Epochs without improvement before early stopping.
        min_delta: Smallest change counted as an improvement.
        early_stopping: Whether to stop early (restoring the best weights).
        confusion_matrix: Whether to log the confusion-matrix image.
        confusion_max_batches: Batch cap for the image (needed for infinite data).
        histogram_freq: TensorBoard weight histograms every n epochs (0: none).
        backup_save_freq: ``"epoch"`` or a number of batches between backups.
        chief: Whether this process writes; None asks :func:`is_chief`.

    Returns:
        The callbacks, ready for ``model.fit(callbacks=...)``.

    Raises:
        ConfigError: For an invalid ``mode``, ``patience`` or ``histogram_freq``.
    """
    _check_options(mode, patience, histogram_freq)
    root = os.fspath(run_dir)
    chief = is_chief() if chief is None else chief
    backup_dir = _backup_dir(root, chief)
    resuming = tf.io.gfile.exists(os.path.join(backup_dir, "training_metadata.json"))
    callbacks: list[keras.callbacks.Callback] = [LearningRateLogger()]
    if chief:
        image = _confusion_image(
            root, val_data if confusion_matrix else None, class_names, confusion_max_batches
        )
        callbacks += _chief_callbacks(root, image, hparams, monitor, mode, histogram_freq, resuming)
    if early_stopping:
        callbacks.append(_early_stopping(monitor, mode, patience, min_delta))
    callbacks.append(keras.callbacks.BackupAndRestore(backup_dir, save_freq=backup_save_freq))
    if resuming:
        logger.info("found a backup in %s: training resumes from it", backup_dir)
    return callbacks


def _check_options(mode: str, patience: int, histogram_freq: int) -> None:
    """Refuses an unknown ``mode`` or a negative ``patience`` or ``histogram_freq``."""
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"unknown mode {mode!r} (known: auto, min, max)")
    if patience < 0:
        raise ConfigError(f"patience={patience} must be >= 0")
    if histogram_freq < 0:
        raise ConfigError(f"histogram_freq={histogram_freq} must be >= 0")


def _backup_dir(root: str, chief: bool) -> str:
    """``backup`` for the chief, ``backup-worker-<i>`` for the other workers."""
    if chief:
        return os.path.join(root, layout.BACKUP)
    return os.path.join(root, f"{layout.BACKUP}-worker-{task_info()[1]}")


def _confusion_image(
    root: str,
    val_data: DatasetLike | None,
    class_names: list[str] | tuple[str, ...],
    max_batches: int | None,
) -> ConfusionMatrixImage | None:
    """The validation confusion-matrix image callback; None without validation data."""
    if val_data is None:
        return None
    log_dir = os.path.join(root, layout.TENSORBOARD, "validation")
    return ConfusionMatrixImage(val_data, class_names, log_dir, max_batches=max_batches)


def _chief_callbacks(
    root: str,
    image: ConfusionMatrixImage | None,
    hparams: Mapping[str, Any] | None,
    monitor: str,
    mode: str,
    histogram_freq: int,
    resuming: bool,
) -> list[keras.callbacks.Callback]:
    """What only the chief writes: image, TensorBoard, hparams, history, best checkpoint."""
    tb_dir = os.path.join(root, layout.TENSORBOARD)
    history_csv = os.path.join(root, layout.HISTORY_CSV)
    callbacks: list[keras.callbacks.Callback] = [image] if image is not None else []
    callbacks.append(
        keras.callbacks.TensorBoard(
            log_dir=tb_dir,
            histogram_freq=histogram_freq,
            write_graph=False,
            profile_batch=0,
        )
    )
    if hparams:
        callbacks.append(hparams_callback(tb_dir, hparams))
    callbacks.append(HistoryLogger(history_csv))
    threshold = _best_so_far(history_csv, monitor, mode) if resuming else None
    if threshold is not None:
        logger.info("resuming: best %s so far is %s", monitor, threshold)
    callbacks.append(
        keras.callbacks.ModelCheckpoint(
            os.path.join(root, layout.CHECKPOINTS, layout.BEST_CHECKPOINT),
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            initial_value_threshold=threshold,
        )
    )
    return callbacks


def _early_stopping(
    monitor: str, mode: str, patience: int, min_delta: float
) -> keras.callbacks.EarlyStopping:
    """Early stopping on ``monitor`` that restores the best weights."""
    return keras.callbacks.EarlyStopping(
        monitor=monitor,
        mode=mode,
        patience=patience,
        min_delta=min_delta,
        restore_best_weights=True,
    )
