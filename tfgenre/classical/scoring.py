"""Accuracy and macro-F1 of one fitted baseline, at track level for segment rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfgenre.core.stats import BootstrapSettings, bootstrap_metrics


def score(
    model: Any,
    x_test: np.ndarray,
    y_test: np.ndarray,
    track_ids: np.ndarray,
    num_classes: int,
    *,
    segments: bool,
    bootstrap: BootstrapSettings | None = None,
) -> dict[str, float]:
    """Accuracy and macro-F1 of a fitted pipeline, at track level for segment rows.

    A track is decided by the mean of its segments' class probabilities, or of their
    decision values for a model without probabilities (the SVM).

    Args:
        model: A fitted pipeline.
        x_test: Features, shape (n, d).
        y_test: Class indices, shape (n,).
        track_ids: Track of each row, shape (n,).
        num_classes: Number of classes.
        segments: Whether rows are segments (scored per track).
        bootstrap: Resamples, seed and level of the intervals (default 1000, 0, 0.95).

    Returns:
        ``{"accuracy", "accuracy_lo", "accuracy_hi", "macro_f1", "macro_f1_lo",
        "macro_f1_hi"}``, the bounds a percentile bootstrap over the scored tracks
        (plus ``segment_accuracy`` for segment rows). Macro-F1 averages over the
        classes with tracks in the scored split.
    """
    from sklearn.metrics import accuracy_score

    from tfgenre.core.stats import macro_f1_from_confusion

    if not segments:
        pred = model.predict(x_test)
        truth = y_test
        tracks = track_ids
        extra: dict[str, float] = {}
    else:
        scores = (
            model.predict_proba(x_test)
            if hasattr(model, "predict_proba")
            else model.decision_function(x_test)
        )
        if scores.ndim == 1:  # binary decision values
            scores = np.stack([-scores, scores], axis=1)
        probs = np.full((len(x_test), num_classes), -np.inf)
        probs[:, model.classes_] = scores
        order: dict[str, int] = {}
        index = np.asarray([order.setdefault(t, len(order)) for t in track_ids.tolist()])
        sums = np.zeros((len(order), num_classes))
        np.add.at(sums, index, probs)
        pred = sums.argmax(axis=1)
        truth = np.zeros(len(order), dtype=np.int64)
        truth[index] = y_test
        tracks = np.asarray(list(order), dtype=object)
        extra = {"segment_accuracy": float(accuracy_score(y_test, probs.argmax(axis=1)))}
    # Tracks resampled by id, as fit's report and compare do on the same tracks.
    ci = bootstrap_metrics(truth, pred, num_classes, groups=tracks, settings=bootstrap)
    confusion = np.zeros((num_classes, num_classes))
    np.add.at(confusion, (np.asarray(truth, np.int64), np.asarray(pred, np.int64)), 1.0)
    return {
        "accuracy": float(accuracy_score(truth, pred)),
        "accuracy_lo": ci["accuracy_ci"][0],
        "accuracy_hi": ci["accuracy_ci"][1],
        # over the classes with tracks in the scored split (absent ones are no zeros)
        "macro_f1": float(macro_f1_from_confusion(confusion)),
        "macro_f1_lo": ci["macro_f1_ci"][0],
        "macro_f1_hi": ci["macro_f1_ci"][1],
        **extra,
    }
