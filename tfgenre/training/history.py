"""``history.csv``: one row per epoch, written so that a resumed epoch replaces its row."""

from __future__ import annotations

import csv
import io as stringio
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfgenre.core import io

__all__ = ["HistoryLogger"]


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
