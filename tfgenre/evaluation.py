"""Metrics at segment and track level, and the written evaluation report.

Models classify fixed-length segments; a track's genre is decided from all of its
segments, either by the mean of their class probabilities (``track``) or by a majority
vote of their predicted classes (``track_vote``, ties broken by mean probability).
Everything here works on plain arrays, so it can be reused with any model or source of
predictions, and returns plain Python numbers that ``json.dump`` accepts.

Plots use matplotlib's object-oriented API on the Agg canvas (no pyplot state, no
display needed) and are written through ``tf.io.gfile`` so ``gs://`` folders work.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn import metrics as skm

from tfgenre.errors import ConfigError
from tfgenre.stats import BootstrapSettings, bootstrap_metrics, format_interval

logger = logging.getLogger(__name__)

__all__ = [
    "LEVELS",
    "aggregate_tracks",
    "classification_metrics",
    "confusion_matrix_figure",
    "evaluate_predictions",
    "figure_to_png",
    "read_history",
    "read_track_predictions",
    "track_prediction_rows",
    "training_curves_figure",
    "write_report",
]

#: The per-track predictions file written beside metrics.json.
TRACKS_CSV = "tracks.csv"

#: The levels :func:`evaluate_predictions` reports, in report order.
LEVELS: tuple[str, ...] = ("segment", "track", "track_vote")

_SUMMARY_KEYS: tuple[str, ...] = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
)


# ----------------------------------------------------------------------------- metrics


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, F1, precision, recall and the confusion matrix of hard predictions.

    Averages run over all ``len(class_names)`` classes (a class absent from both
    ``y_true`` and ``y_pred`` counts with zero scores), with ``zero_division=0``.

    Args:
        y_true: True class indices, shape (n,), ints in [0, n_classes).
        y_pred: Predicted class indices, shape (n,).
        class_names: The n_classes class names, in index order.

    Returns:
        ``{"accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall":
        float, "per_class": {name: {"precision", "recall", "f1": float, "support":
        int}}, "confusion_matrix": list[list[int]] (rows true, columns predicted),
        "num_examples": int}``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labels = list(range(len(class_names)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    _, _, weighted_f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="weighted", zero_division=0
    )
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f1)),
        "weighted_f1": float(weighted_f1),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "per_class": {
            str(name): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": [[int(v) for v in row] for row in matrix],
        "num_examples": len(y_true),
    }


def aggregate_tracks(
    probs: np.ndarray, labels: np.ndarray, track_ids: np.ndarray | Sequence[Any]
) -> dict[str, np.ndarray]:
    """Groups segments by track and decides each track by mean and by vote.

    Args:
        probs: Segment class probabilities (or scores), shape (n_segments, n_classes).
        labels: Segment true class indices, shape (n_segments,).
        track_ids: Segment track ids (str, bytes or int), shape (n_segments,).

    Returns:
        Dict of arrays over the n_tracks tracks, in order of first appearance:
        ``track_ids`` (n_tracks,) object, ``labels`` (n_tracks,) int64,
        ``mean_probs`` (n_tracks, n_classes) float64, ``pred_mean`` (n_tracks,) int64,
        ``pred_vote`` (n_tracks,) int64, ``num_segments`` (n_tracks,) int64.

    Raises:
        ConfigError: If the segments of one track carry different labels.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    index: dict[Any, int] = {}
    inverse = np.fromiter(
        (index.setdefault(_hashable(t), len(index)) for t in track_ids),
        dtype=np.int64,
        count=len(labels),
    )
    n_tracks, n_classes = len(index), probs.shape[1]
    counts = np.bincount(inverse, minlength=n_tracks)
    sums = np.zeros((n_tracks, n_classes))
    np.add.at(sums, inverse, probs)
    mean_probs = sums / np.maximum(counts, 1)[:, None]
    votes = np.zeros((n_tracks, n_classes))
    np.add.at(votes, (inverse, probs.argmax(axis=1)), 1.0)
    # Majority vote; among tied classes the highest mean probability wins.
    tied = votes == votes.max(axis=1, keepdims=True)
    pred_vote = np.where(tied, mean_probs, -np.inf).argmax(axis=1)

    track_labels = np.full(n_tracks, -1, dtype=np.int64)
    track_labels[inverse] = labels
    if np.any(track_labels[inverse] != labels):
        bad = int(inverse[np.flatnonzero(track_labels[inverse] != labels)[0]])
        track = list(index)[bad]
        raise ConfigError(f"track {track!r} has segments with different labels")
    return {
        "track_ids": np.array(list(index), dtype=object),
        "labels": track_labels,
        "mean_probs": mean_probs,
        "pred_mean": mean_probs.argmax(axis=1).astype(np.int64),
        "pred_vote": pred_vote.astype(np.int64),
        "num_segments": counts.astype(np.int64),
    }


def _hashable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def evaluate_predictions(
    probs: np.ndarray,
    labels: np.ndarray,
    track_ids: np.ndarray | Sequence[Any],
    class_names: Sequence[str],
    *,
    bootstrap: BootstrapSettings | None = None,
) -> dict[str, dict[str, Any]]:
    """Scores segment predictions at segment level and at track level, with intervals.

    Args:
        probs: Segment class probabilities (or logits), shape (n_segments, n_classes).
        labels: True class indices, shape (n_segments,).
        track_ids: Track id of each segment, shape (n_segments,).
        class_names: The n_classes class names, in index order.
        bootstrap: Resamples, seed and level of the intervals (default 1000, 0, 0.95).

    Returns:
        ``{"segment": m, "track": m, "track_vote": m}`` where each ``m`` is the dict of
        :func:`classification_metrics` plus ``accuracy_ci`` and ``macro_f1_ci``
        (``[lo, hi]``, percentile bootstrap over tracks: at segment level a resampled
        track brings all its segments) and ``ci`` (``{"method", "resamples", "seed",
        "level"}``). ``track`` decides a track by the argmax of its segments' mean
        probability, ``track_vote`` by majority vote of the segments' argmax (ties
        broken by mean probability). Only plain ints, floats, strs, lists and dicts:
        JSON-safe.

    Raises:
        ConfigError: On inconsistent shapes, labels out of range, or a track whose
            segments carry different labels.
    """
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    n_classes = len(class_names)
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        raise ConfigError(
            f"probs has shape {probs.shape}; expected (n_segments, {n_classes}) for "
            f"{n_classes} class_names"
        )
    if labels.shape != (probs.shape[0],) or len(track_ids) != probs.shape[0]:
        raise ConfigError(
            f"labels shape {labels.shape} and {len(track_ids)} track_ids must both match "
            f"the {probs.shape[0]} rows of probs"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ConfigError(
            f"labels must be in [0, {n_classes}); got min={labels.min()} max={labels.max()}"
        )
    tracks = aggregate_tracks(probs, labels, track_ids)
    settings = bootstrap or BootstrapSettings()
    out: dict[str, dict[str, Any]] = {}
    for level, y_true, y_pred, groups in (
        ("segment", labels, probs.argmax(axis=1), track_ids),
        ("track", tracks["labels"], tracks["pred_mean"], None),
        ("track_vote", tracks["labels"], tracks["pred_vote"], None),
    ):
        out[level] = classification_metrics(y_true, y_pred, class_names)
        if len(y_true):
            out[level].update(
                bootstrap_metrics(y_true, y_pred, n_classes, groups=groups, settings=settings)
            )
    return out


def track_prediction_rows(
    probs: np.ndarray,
    labels: np.ndarray,
    track_ids: np.ndarray | Sequence[Any],
    class_names: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per track: what :func:`evaluate_predictions` scored at track level.

    Args:
        probs: Segment class probabilities, shape (n_segments, n_classes).
        labels: True class indices, shape (n_segments,).
        track_ids: Track id of each segment, shape (n_segments,).
        class_names: The n_classes class names.

    Returns:
        Rows ``{"track_id", "label", "predicted", "predicted_vote", "num_segments",
        "p_<class>"...}`` (labels as class names, ``p_`` the mean probability), in order
        of first appearance.
    """
    tracks = aggregate_tracks(probs, labels, track_ids)
    names = [str(n) for n in class_names]
    rows = []
    for i, track in enumerate(tracks["track_ids"]):
        row: dict[str, Any] = {
            "track_id": track.decode() if isinstance(track, bytes) else str(track),
            "label": names[tracks["labels"][i]],
            "predicted": names[tracks["pred_mean"][i]],
            "predicted_vote": names[tracks["pred_vote"][i]],
            "num_segments": int(tracks["num_segments"][i]),
        }
        row.update(
            {f"p_{name}": f"{tracks['mean_probs'][i, j]:.6g}" for j, name in enumerate(names)}
        )
        rows.append(row)
    return rows


def read_track_predictions(path: str) -> list[dict[str, str]]:
    """Reads a ``tracks.csv`` written by :func:`write_report` (rows of strings).

    Raises:
        ConfigError: If the file lacks the ``track_id``, ``label`` or ``predicted`` column.
    """
    with tf.io.gfile.GFile(path, "r") as handle:
        reader = csv.DictReader(handle)
        missing = {"track_id", "label", "predicted"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        return list(reader)


# ----------------------------------------------------------------------------- plots


def figure_to_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """Renders a matplotlib figure to PNG bytes with the Agg canvas."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


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


# ----------------------------------------------------------------------------- report


def _write_bytes(path: str, data: bytes) -> None:
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(data)


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(str(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return lines


def _levels(metrics: dict[str, Any]) -> list[str]:
    """The metric levels of ``metrics`` (dicts with an accuracy), in report order."""
    found = [k for k, v in metrics.items() if isinstance(v, dict) and "accuracy" in v]
    return [level for level in LEVELS if level in found] + [
        level for level in found if level not in LEVELS
    ]


def _with_ci(entry: dict[str, Any], key: str) -> str:
    return format_interval(entry[key], entry.get(f"{key}_ci"))


def _protocol_lines(metrics: dict[str, Any], levels: Sequence[str]) -> list[str]:
    """The protocol line, the interval method, and published anchors when they match."""
    from tfgenre.anchors import anchors_for, protocol_name

    lines: list[str] = []
    name = protocol_name(metrics)
    protocol = metrics.get("protocol")
    if name:
        text = f"Protocol: `{name}`"
        if isinstance(protocol, dict) and protocol.get("description"):
            text += f" ({protocol['description']})"
        lines += [text + ".", ""]
    ci = next((metrics[lv]["ci"] for lv in levels if "ci" in metrics[lv]), None)
    if ci:
        lines += [
            f"Intervals: {100 * ci['level']:.0f} % percentile {ci['method']} "
            f"({ci['resamples']} resamples, seed {ci['seed']}); a segment-level resample "
            "draws whole tracks.",
            "",
        ]
    entry = anchors_for(metrics)
    if entry and entry["anchors"] and "track" in metrics:
        own = metrics["track"]
        split = metrics.get("split", "test")
        run = f"this run ({metrics['model']})" if metrics.get("model") else "this run"
        lines += [f"## Published figures on `{name}`", ""]
        if entry.get("description"):
            lines += [entry["description"], ""]
        rows = [[run, f"track accuracy, {split}", _with_ci(own, "accuracy"), "this report"]]
        rows += [
            [a.name, f"{a.level} {a.metric}, {a.split}", a.text(), a.citation]
            for a in entry["anchors"]
        ]
        lines += _markdown_table(["system", "figure", "value", "source"], rows)
        if split != "test":
            lines += ["", f"The published figures are on test; this report is on {split}."]
        if entry.get("split_citation"):
            lines += ["", f"Split: {entry['split_citation']}"]
        lines += [""]
    return lines


def _report_markdown(metrics: dict[str, Any], title: str, images: dict[str, str]) -> str:
    levels = _levels(metrics)
    first = metrics[levels[0]]
    class_names = list(first["per_class"])
    lines = [f"# {title}", ""]
    descriptions = {
        "segment": "each segment on its own",
        "track": "a track's segments by mean probability",
        "track_vote": "a track's segments by majority vote",
    }
    lines += _protocol_lines(metrics, levels)
    lines += ["## Overall", ""]
    others = [key for key in _SUMMARY_KEYS if key not in ("accuracy", "macro_f1")]
    lines += _markdown_table(
        ["level", "examples", "accuracy [95 % CI]", "macro_f1 [95 % CI]", *others],
        [
            [
                f"{level} ({descriptions.get(level, level)})",
                metrics[level]["num_examples"],
                _with_ci(metrics[level], "accuracy"),
                _with_ci(metrics[level], "macro_f1"),
            ]
            + [_fmt(metrics[level][key]) for key in others]
            for level in levels
        ],
    )
    lines += ["", "## Per class", ""]
    per_class_levels = [level for level in ("segment", "track") if level in metrics] or levels[:1]
    header = ["class"]
    for level in per_class_levels:
        header += [f"{level} precision", f"{level} recall", f"{level} f1", f"{level} support"]
    rows = []
    for name in class_names:
        row: list[Any] = [name]
        for level in per_class_levels:
            scores = metrics[level]["per_class"][name]
            row += [
                _fmt(scores["precision"]),
                _fmt(scores["recall"]),
                _fmt(scores["f1"]),
                scores["support"],
            ]
        rows.append(row)
    lines += _markdown_table(header, rows)
    for level in [level for level in ("segment", "track") if level in metrics]:
        lines += [
            "",
            f"## Confusion matrix ({level})",
            "",
            "Rows are true classes, columns predicted classes.",
            "",
        ]
        matrix = metrics[level]["confusion_matrix"]
        lines += _markdown_table(
            ["true \\ predicted", *class_names],
            [[name, *matrix[i]] for i, name in enumerate(class_names)],
        )
        image = images.get(f"confusion_matrix_{level}")
        if image:
            lines += ["", f"![confusion matrix ({level})]({image})"]
    if "training_curves" in images:
        lines += ["", "## Training curves", "", f"![training curves]({images['training_curves']})"]
    return "\n".join(lines) + "\n"


def write_report(
    metrics: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    history_csv: str | os.PathLike[str] | None = None,
    title: str = "tfgenre evaluation report",
    predictions: tuple[np.ndarray, np.ndarray, np.ndarray | Sequence[Any]] | None = None,
) -> dict[str, str]:
    """Writes ``metrics.json``, ``report.md`` and the figures into ``out_dir``.

    Files: ``metrics.json``; ``report.md`` (protocol, overall table per level with
    bootstrap intervals, published anchors of the protocol, per-class table, confusion
    matrices); ``confusion_matrix_segment.png`` and ``confusion_matrix_track.png``
    (normalised per row, counts annotated); when ``history_csv`` is given,
    ``training_curves.png``; when ``predictions`` are given, ``tracks.csv`` (one row
    per track, see :func:`track_prediction_rows`), which ``tfgenre.compare`` reads.

    Args:
        metrics: Output of :func:`evaluate_predictions`, optionally with context keys
            that are not levels (``split``, ``model``, ``protocol``: ``{"name": ...}``).
        out_dir: Folder to write into (local or ``gs://``); created if missing.
        history_csv: Optional Keras ``CSVLogger`` file of the training run.
        title: Report heading.
        predictions: ``(probs (n, classes), labels (n,), track_ids (n,))`` that were
            scored, for ``tracks.csv``.

    Returns:
        ``{artifact: path}`` of every file written.

    Raises:
        ConfigError: If ``metrics`` is empty or ``history_csv`` does not exist.
    """
    if not metrics:
        raise ConfigError("metrics is empty; pass the output of evaluate_predictions")
    out = os.fspath(out_dir)
    tf.io.gfile.makedirs(out)
    written: dict[str, str] = {}

    path = os.path.join(out, "metrics.json")
    _write_bytes(path, (json.dumps(metrics, indent=2) + "\n").encode("utf-8"))
    written["metrics"] = path

    if predictions is not None:
        rows = track_prediction_rows(*predictions, list(metrics[_levels(metrics)[0]]["per_class"]))
        path = os.path.join(out, TRACKS_CSV)
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        _write_bytes(path, buffer.getvalue().encode("utf-8"))
        written["tracks"] = path

    images: dict[str, str] = {}
    for level in ("segment", "track"):
        if level not in metrics:
            continue
        name = f"confusion_matrix_{level}.png"
        figure = confusion_matrix_figure(
            metrics[level]["confusion_matrix"],
            list(metrics[level]["per_class"]),
            title=f"Confusion matrix ({level}, accuracy {metrics[level]['accuracy']:.3f})",
        )
        _write_bytes(os.path.join(out, name), figure_to_png(figure))
        images[f"confusion_matrix_{level}"] = name
        written[f"confusion_matrix_{level}"] = os.path.join(out, name)

    if history_csv is not None:
        history_path = os.fspath(history_csv)
        if not tf.io.gfile.exists(history_path):
            raise ConfigError(f"history_csv={history_path!r} does not exist")
        history = read_history(history_path)
        if history and any(history.values()):
            name = "training_curves.png"
            _write_bytes(os.path.join(out, name), figure_to_png(training_curves_figure(history)))
            images["training_curves"] = name
            written["training_curves"] = os.path.join(out, name)
        else:
            logger.warning("history %s has no rows; no training curves drawn", history_path)

    path = os.path.join(out, "report.md")
    _write_bytes(path, _report_markdown(metrics, title, images).encode("utf-8"))
    written["report"] = path
    logger.info("evaluation report written to %s", out)
    return written
