"""Figures of an evaluation: the confusion matrix and the training curves.

Plots use matplotlib's object-oriented API on the Agg canvas (no pyplot state, no
display needed); :func:`figure_to_png` renders them (:func:`figure_to_rgba` as pixels).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def figure_to_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """Renders a matplotlib figure to PNG bytes with the Agg canvas."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # The figures lay themselves out (tight_layout); a tight bounding box here would
    # lay out every text again (a third to half of the time) for a few pixels of margin.
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def figure_to_rgba(figure: Figure) -> np.ndarray:
    """Draws a matplotlib figure with the Agg canvas: ``(height, width, 4)`` uint8 RGBA.

    For images that go on as pixels (a TensorBoard summary): the pixels of
    :func:`figure_to_png` without a PNG to encode and decode.
    """
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.array(canvas.buffer_rgba(), dtype=np.uint8)


def confusion_matrix_figure(
    matrix: np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str],
    *,
    title: str = "Confusion matrix",
) -> Figure:
    """Draws a confusion matrix normalised per row (recall), annotated with counts.

    Args:
        matrix: Counts, shape (n_classes, n_classes), rows true, columns predicted.
        class_names: The n_classes names.
        title: Figure title.

    Returns:
        A matplotlib ``Figure`` (render with :func:`figure_to_png`).
    """
    counts = np.asarray(matrix, dtype=np.int64)
    n = len(class_names)
    row_sums = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)
    size = max(4.0, 0.55 * n + 2.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot()
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of true class")
    axes.set_xticks(range(n), labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(range(n), labels=list(class_names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if n <= 30:
        fontsize = 9 if n <= 12 else 6
        for i in range(n):
            for j in range(n):
                axes.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if normalised[i, j] > 0.5 else "black",
                )
    figure.tight_layout()
    return figure


def read_history(history_csv: str) -> dict[str, list[float]]:
    """Reads a Keras ``CSVLogger`` history, keeping the last row of a repeated epoch.

    A resumed run (``BackupAndRestore``) may log an epoch twice; the later row wins.

    Args:
        history_csv: Path (``tf.io.gfile``) of the CSV, with an ``epoch`` column.

    Returns:
        ``{column: values}`` sorted by epoch; non-numeric cells become NaN.
    """
    with tf.io.gfile.GFile(history_csv, "r") as handle:
        rows = list(csv.DictReader(handle))
    by_epoch: dict[int, dict[str, str]] = {}
    for position, row in enumerate(rows):
        epoch = row.get("epoch")
        by_epoch[int(float(epoch)) if epoch not in (None, "") else position] = row
    columns = list(rows[0].keys()) if rows else []
    history: dict[str, list[float]] = {column: [] for column in columns}
    for epoch in sorted(by_epoch):
        for column in columns:
            history[column].append(_to_float(by_epoch[epoch].get(column)))
    return history


def _to_float(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def training_curves_figure(history: dict[str, list[float]]) -> Figure:
    """Plots loss and accuracy (train vs validation) and the learning rate if logged.

    Args:
        history: Output of :func:`read_history`.

    Returns:
        A matplotlib ``Figure`` with one panel per quantity.
    """
    epochs = history.get("epoch") or list(range(len(next(iter(history.values()), []))))
    epochs = [e + 1 for e in epochs]  # CSVLogger counts from 0; people count from 1.
    panels = [key for key in ("loss", "accuracy") if key in history or f"val_{key}" in history]
    if "learning_rate" in history:
        panels.append("learning_rate")
    figure = Figure(figsize=(5.0 * max(1, len(panels)), 4.0))
    for position, key in enumerate(panels, start=1):
        axes = figure.add_subplot(1, max(1, len(panels)), position)
        if key == "learning_rate":
            axes.plot(epochs, history[key], marker=".", color="tab:green")
            if all(v > 0 for v in history[key] if v == v):
                axes.set_yscale("log")
        else:
            if key in history:
                axes.plot(epochs, history[key], marker=".", label="train")
            if f"val_{key}" in history:
                axes.plot(epochs, history[f"val_{key}"], marker=".", label="validation")
            axes.legend()
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(key.replace("_", " "))
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure
