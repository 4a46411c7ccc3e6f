"""What early stopping did, and which epoch's weights a finished run scores, in one line.

``stopped at epoch 27 of 30 (patience 5); scoring the best checkpoint, epoch 22,
val_accuracy 0.8100``: fit prints it and ``report.md`` states it. Every figure comes
from what the run did: the epochs from ``history.csv`` (every epoch, resumed ones too),
the stop from the :class:`keras.callbacks.EarlyStopping` callback, the scored epoch
from the best checkpoint's record in the history (the first epoch with the best
monitored value: the checkpoint is saved on strict improvement only) or from what the
callback restored.

Epochs are counted from 1, as Keras prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

BEST_CHECKPOINT = "best checkpoint"
RESTORED = "best weights early stopping restored"
LAST_EPOCH = "last epoch's weights"


def _direction(monitor: str) -> str | None:
    from tfgenre.training.callbacks import _monitor_mode

    return _monitor_mode(monitor, "auto")


def best_epoch(history: Mapping[str, Sequence[float]], monitor: str) -> tuple[int, float] | None:
    """The first epoch (from 0) with the best ``monitor`` value, and that value.

    Args:
        history: ``{column: values}`` of the history, one value per epoch in order, with
            an ``epoch`` column (from 0) when read from ``history.csv``.
        monitor: The monitored quantity (``val_accuracy``, ``loss``, ...).

    Returns:
        ``(epoch, value)``, or None when the monitor was never logged.
    """
    values = list(history.get(monitor) or ())
    direction = _direction(monitor)
    epochs = list(history.get("epoch") or range(len(values)))
    best: tuple[int, float] | None = None
    for epoch, value in zip(epochs, values):
        if value is None or math.isnan(value):
            continue
        if (
            best is None
            or (direction == "max" and value > best[1])
            or (direction != "max" and value < best[1])
        ):
            best = (int(epoch), float(value))
    return best


def stopping_summary(
    history: Mapping[str, Sequence[float]],
    *,
    epochs: int,
    monitor: str,
    patience: int,
    early_stopping: Any = None,
    scored: str,
) -> dict[str, Any]:
    """What the run trained and which weights it scores.

    Args:
        history: The run's whole history (``history.csv`` read by
            :func:`tfgenre.evaluation.figures.read_history`: resumed epochs included).
        epochs: The epochs asked for.
        monitor: The quantity the checkpoint and early stopping watched.
        patience: Early stopping's patience (0: early stopping off).
        early_stopping: The run's ``EarlyStopping`` callback after the fit, or None.
        scored: :data:`BEST_CHECKPOINT`, :data:`RESTORED` or :data:`LAST_EPOCH`.

    Returns:
        ``{"epochs_asked", "epochs_run", "stopped_early", "stopped_epoch", "patience",
        "monitor", "scored", "scored_epoch", "scored_value", "summary"}``; epochs from 1.
    """
    ran = _epochs_run(history)
    stopped = bool(early_stopping is not None and early_stopping.stopped_epoch > 0)
    stopped_epoch = int(early_stopping.stopped_epoch) + 1 if stopped else None
    if stopped and ran and stopped_epoch != ran:
        stopped_epoch = ran  # the history is the record; they agree unless resumed oddly
    point: tuple[int, float] | None
    if scored == BEST_CHECKPOINT:
        point = best_epoch(history, monitor)
    elif scored == RESTORED and early_stopping is not None and early_stopping.best is not None:
        point = (int(early_stopping.best_epoch), float(early_stopping.best))
    else:
        scored = LAST_EPOCH
        values = list(history.get(monitor) or ())
        point = (ran - 1, float(values[-1])) if ran and values else None
    if stopped:
        head = f"stopped at epoch {stopped_epoch} of {epochs} (patience {patience})"
    elif ran < epochs:
        head = f"ran {ran} of {epochs} epochs"
    else:
        head = f"ran all {epochs} epochs" + ("" if patience else " (early stopping off)")
    tail = f"scoring the {scored}"
    if point is not None:
        tail += f", epoch {point[0] + 1}, {monitor} {point[1]:.4f}"
    return {
        "epochs_asked": int(epochs),
        "epochs_run": int(ran),
        "stopped_early": stopped,
        "stopped_epoch": stopped_epoch,
        "patience": int(patience),
        "monitor": monitor,
        "scored": scored,
        "scored_epoch": None if point is None else point[0] + 1,
        "scored_value": None if point is None else point[1],
        "summary": f"{head}; {tail}",
    }


def _epochs_run(history: Mapping[str, Sequence[float]]) -> int:
    """Epochs in the history: the last ``epoch`` + 1, else the number of rows."""
    epochs = [e for e in history.get("epoch") or () if not math.isnan(e)]
    if epochs:
        return int(max(epochs)) + 1
    return max((len(v) for v in history.values()), default=0)
