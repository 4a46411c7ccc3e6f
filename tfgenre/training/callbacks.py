"""The Keras callbacks of a training run: TensorBoard, checkpoints, resume, history.

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

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from tfgenre.core import layout
from tfgenre.errors import ConfigError
from tfgenre.evaluation.figures import read_history
from tfgenre.training.history import HistoryLogger
from tfgenre.training.strategy import is_chief, task_info
from tfgenre.training.tensorboard_logs import (
    ConfusionMatrixImage,
    DatasetLike,
    LearningRateLogger,
    hparams_callback,
)

logger = logging.getLogger(__name__)

__all__ = ["standard_callbacks"]


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
