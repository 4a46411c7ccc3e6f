"""Metrics at segment and track level.

Models classify fixed-length segments; a track's genre is decided from all of its
segments, either by the mean of their class probabilities (``track``) or by a majority
vote of their predicted classes (``track_vote``, ties broken by mean probability).
Everything here works on plain arrays, so it can be reused with any model or source of
predictions, and returns plain Python numbers that ``json.dump`` accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from tfgenre.core.stats import BootstrapSettings, bootstrap_metrics
from tfgenre.errors import ConfigError

#: The levels :func:`evaluate_predictions` reports, in report order.
LEVELS: tuple[str, ...] = ("segment", "track", "track_vote")


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, F1, precision, recall and the confusion matrix of hard predictions.

    Macro averages run over the classes with support in ``y_true`` (scikit-learn's
    ``labels=<those classes>``, ``zero_division=0``): a class absent from the scored
    examples has no recall and no F1, and counting it as 0 would pull the average down
    for a class that was never asked about. Such a class is listed in
    ``absent_labels`` and its per-class precision, recall and F1 are None.

    Args:
        y_true: True class indices, shape (n,), ints in [0, n_classes).
        y_pred: Predicted class indices, shape (n,).
        class_names: The n_classes class names, in index order.

    Returns:
        ``{"accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall":
        float, "macro_labels": [names averaged over], "absent_labels": [names without
        support], "per_class": {name: {"precision", "recall", "f1": float or None,
        "support": int}}, "confusion_matrix": list[list[int]] (rows true, columns
        predicted), "num_examples": int}``.
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
    present = support > 0

    def macro(values: np.ndarray) -> float:
        return float(np.mean(values[present])) if present.any() else 0.0

    def per_class(i: int) -> dict[str, Any]:
        if not present[i]:
            return {"precision": None, "recall": None, "f1": None, "support": 0}
        return {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }

    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": macro(f1),
        "weighted_f1": float(weighted_f1),
        "macro_precision": macro(precision),
        "macro_recall": macro(recall),
        "macro_labels": [str(n) for n, p in zip(class_names, present) if p],
        "absent_labels": [str(n) for n, p in zip(class_names, present) if not p],
        "per_class": {str(name): per_class(i) for i, name in enumerate(class_names)},
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
        (``[lo, hi]``, percentile bootstrap over tracks, drawn in the order of
        :func:`tfgenre.core.stats.track_key` so every level, and ``tfgenre.compare`` on
        the same tracks, draws the same resamples: at segment level a resampled track
        brings all its segments) and ``ci`` (``{"method", "resamples", "seed",
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
        ("track", tracks["labels"], tracks["pred_mean"], tracks["track_ids"]),
        ("track_vote", tracks["labels"], tracks["pred_vote"], tracks["track_ids"]),
    ):
        out[level] = classification_metrics(y_true, y_pred, class_names)
        if len(y_true):
            out[level].update(
                bootstrap_metrics(y_true, y_pred, n_classes, groups=groups, settings=settings)
            )
    return out
