"""Uncertainty of reported figures: bootstrap intervals over tracks, McNemar, t-intervals.

A test set of 100-300 tracks moves accuracy by 0.3-1 point per track, so every figure
tfgenre reports carries an interval:

* :func:`bootstrap_metrics`: percentile bootstrap of accuracy and macro-F1 that
  resamples *tracks* (with replacement). At segment level a resampled track brings all
  of its segments, since the segments of one track are not independent.
* :func:`paired_bootstrap` and :func:`mcnemar`: two classifiers scored on the same
  tracks; the bootstrap resamples tracks once for both, McNemar's exact test counts the
  tracks only one of them got right.
* :func:`t_interval`: mean, std and a Student-t interval of per-fold scores.

Everything is seeded (``numpy.random.default_rng(seed)``) and returns plain Python
numbers that ``json.dump`` accepts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre.errors import ConfigError

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "MIN_RESAMPLES",
    "BootstrapSettings",
    "bootstrap_counts",
    "bootstrap_metrics",
    "format_interval",
    "macro_f1_from_confusion",
    "mcnemar",
    "paired_bootstrap",
    "t_interval",
    "track_key",
]

DEFAULT_RESAMPLES = 1000
#: Fewer resamples give percentile bounds that are one or two draws: not an interval.
MIN_RESAMPLES = 100
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
METHOD = "bootstrap over tracks"


@dataclasses.dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are drawn.

    Attributes:
        resamples: Number of bootstrap resamples (>= :data:`MIN_RESAMPLES`).
        seed: Seed of the resampling.
        level: Coverage of the percentile interval, in (0, 1).
    """

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    level: float = DEFAULT_LEVEL

    def __post_init__(self) -> None:
        if self.resamples < MIN_RESAMPLES:
            raise ConfigError(
                f"resamples={self.resamples} is too few: a percentile bootstrap interval "
                f"needs at least {MIN_RESAMPLES} resamples (default {DEFAULT_RESAMPLES})"
            )
        if not 0.0 < self.level < 1.0:
            raise ConfigError(f"level={self.level} must be in (0, 1)")

    def describe(self) -> dict[str, Any]:
        """``{method, resamples, seed, level}`` as stored in metrics.json."""
        return {
            "method": METHOD,
            "resamples": self.resamples,
            "seed": self.seed,
            "level": self.level,
        }


def _percentile_interval(values: np.ndarray, level: float) -> list[float]:
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return [float(lo), float(hi)]


def bootstrap_counts(n: int, settings: BootstrapSettings) -> np.ndarray:
    """How often each of ``n`` items is drawn in each resample.

    Args:
        n: Number of items (tracks), >= 1.
        settings: Resamples and seed.

    Returns:
        int64 array of shape (resamples, n); each row sums to ``n``.
    """
    if n < 1:
        raise ConfigError("cannot bootstrap over 0 tracks")
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, n, size=(settings.resamples, n))
    offsets = (np.arange(settings.resamples) * n)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=settings.resamples * n)
    return counts.reshape(settings.resamples, n)


def macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 over the classes that are there, of one or many confusion matrices.

    The average runs over the classes with support (a true example) in each matrix:
    a class absent from the scored tracks has no F1 and is left out, as scikit-learn's
    ``f1_score(..., labels=<the labels with support>, average="macro")``. A matrix
    with no example scores 0.

    Args:
        confusion: Counts (or weights), shape (..., k, k), rows true, columns predicted.

    Returns:
        Macro-F1, shape (...).
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    denominator = support + confusion.sum(axis=-2)  # 2tp + fp + fn
    f1 = np.divide(2.0 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    present = support > 0
    count = present.sum(axis=-1)
    total = np.where(present, f1, 0.0).sum(axis=-1)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def track_key(track: Any) -> str:
    """A track id as text (bytes decoded), the order every bootstrap resamples tracks in.

    ``tracks.csv`` stores ids this way, so a run's report, evaluate and compare line
    the same tracks up in the same order and draw the same resamples.
    """
    if isinstance(track, np.ndarray | np.generic):
        track = track.item()
    if isinstance(track, bytes):
        return track.decode("utf-8", errors="replace")
    return str(track)


def _group_index(groups: Sequence[Any] | np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Each row's track as an index into the tracks sorted by :func:`track_key`."""
    if groups is None:
        return np.arange(n), n
    keys = [track_key(g) for g in groups]
    if len(keys) != n:
        raise ConfigError(f"{len(keys)} groups for {n} rows; give one track per row")
    order = {key: i for i, key in enumerate(sorted(set(keys)))}
    return np.fromiter((order[k] for k in keys), dtype=np.int64, count=n), len(order)


def bootstrap_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    settings: BootstrapSettings | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap intervals of accuracy and macro-F1, resampling tracks.

    Args:
        y_true: True class indices, shape (n,).
        y_pred: Predicted class indices, shape (n,).
        num_classes: k, the number of classes (macro-F1 averages over those with
            support in each resample, :func:`macro_f1_from_confusion`).
        groups: Track of each row, shape (n,): a resampled track brings all of its
            rows. Tracks are resampled in the order of :func:`track_key`, so the same
            tracks give the same intervals whatever order their rows come in. None:
            each row is its own track, in the given order.
        settings: Resamples, seed and level (defaults: 1000, 0, 0.95).

    Returns:
        ``{"accuracy_ci": [lo, hi], "macro_f1_ci": [lo, hi], "ci": {"method",
        "resamples", "seed", "level"}}``.
    """
    settings = settings or BootstrapSettings()
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ConfigError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal 1-D")
    inverse, n_groups = _group_index(groups, len(y_true))
    # Per track: its contribution to the flattened confusion matrix, (n_groups, k*k).
    cells = y_true * num_classes + y_pred
    per_group = np.zeros((n_groups, num_classes * num_classes))
    np.add.at(per_group, (inverse, cells), 1.0)
    counts = bootstrap_counts(n_groups, settings).astype(np.float64)
    confusion = (counts @ per_group).reshape(-1, num_classes, num_classes)
    totals = confusion.sum(axis=(1, 2))
    correct = np.trace(confusion, axis1=1, axis2=2)
    accuracy = np.divide(correct, totals, out=np.zeros_like(correct), where=totals > 0)
    return {
        "accuracy_ci": _percentile_interval(accuracy, settings.level),
        "macro_f1_ci": _percentile_interval(macro_f1_from_confusion(confusion), settings.level),
        "ci": settings.describe(),
    }


def paired_bootstrap(
    correct_a: np.ndarray, correct_b: np.ndarray, settings: BootstrapSettings | None = None
) -> dict[str, Any]:
    """Accuracy difference ``a - b`` of two classifiers on the same tracks, with interval.

    Both are scored on one set of resampled tracks per resample (a paired bootstrap).

    Args:
        correct_a: Whether classifier a got each track right, bool shape (n,).
        correct_b: The same for classifier b, in the same track order.
        settings: Resamples, seed and level.

    Returns:
        ``{"difference": float, "difference_ci": [lo, hi], "ci": {...}}``.
    """
    settings = settings or BootstrapSettings()
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"paired scores must have one shape; got {a.shape} and {b.shape}")
    n = len(a)
    counts = bootstrap_counts(n, settings).astype(np.float64)
    differences = counts @ (a - b) / n
    return {
        "difference": float((a - b).mean()),
        "difference_ci": _percentile_interval(differences, settings.level),
        "ci": settings.describe(),
    }


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """McNemar's test of two classifiers on the same tracks (two-sided).

    Only the discordant tracks count: ``b`` = right by a only, ``c`` = right by b only.
    Under the null hypothesis each discordant track is a fair coin, so the p-value is
    the exact binomial test of ``b`` successes in ``b + c`` trials at p = 0.5
    (``scipy.stats.binomtest``); with no discordant track it is 1.

    Args:
        correct_a: Whether classifier a got each track right, bool shape (n,).
        correct_b: The same for classifier b.

    Returns:
        ``{"a_only": b, "b_only": c, "p_value": float, "method": "exact binomial"}``.
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ConfigError(f"paired scores must have one shape; got {a.shape} and {b.shape}")
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(~a & b))
    p_value = 1.0 if a_only + b_only == 0 else binomtest(a_only, a_only + b_only, 0.5).pvalue
    return {
        "a_only": a_only,
        "b_only": b_only,
        "p_value": float(min(1.0, p_value)),
        "method": "exact binomial",
    }


def t_interval(
    values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL
) -> dict[str, Any]:
    """Mean, std and Student-t interval of the mean of per-fold scores.

    Args:
        values: One score per fold, shape (k,).
        level: Coverage, in (0, 1).

    Returns:
        ``{"mean", "std" (population, ddof=0), "ci": [lo, hi] (mean ± t * s / sqrt(k)
        with the sample std s, ddof=1; [mean, mean] for k < 2), "n": k}``.
    """
    from scipy.stats import t as student_t

    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or not len(x):
        raise ConfigError(f"t_interval needs a non-empty 1-D list of scores; got shape {x.shape}")
    mean = float(x.mean())
    if len(x) < 2:
        return {"mean": mean, "std": 0.0, "ci": [mean, mean], "n": len(x)}
    half = float(student_t.ppf(0.5 + level / 2.0, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return {"mean": mean, "std": float(x.std()), "ci": [mean - half, mean + half], "n": len(x)}


#: A column whose train-split std is at or below this is constant for standardising:
#: it is only centred (dividing by a float16-rounding-sized std would blow it up).
STD_FLOOR = 1e-6


def standardising_std(std: Sequence[float] | np.ndarray) -> np.ndarray:
    """The std to divide by: ``std`` where above :data:`STD_FLOOR`, else 1, float64 ``(d,)``."""
    x = np.asarray(std, dtype=np.float64)
    return np.where(x > STD_FLOOR, x, 1.0)


#: Below this many folds the t-interval of the mean is said to be wide.
FEW_FOLDS = 10


def score_t_interval(
    values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL
) -> dict[str, Any]:
    """:func:`t_interval` of per-fold scores in [0, 1], its interval clipped to [0, 1].

    With few folds the Student-t quantile is large (4.30 for 3 folds), so the unclipped
    interval of an accuracy can leave [0, 1] ([0.1162, 1.5504]); a score cannot. fit's
    cross-validation summary and the baselines' fold figures both use this one.

    Args:
        values: One accuracy or macro-F1 per fold, ``(K,)``.
        level: Coverage, in (0, 1).

    Returns:
        ``{"mean", "std" (population), "ci": [low, high] within [0, 1], "n"}``.
    """
    out = t_interval(values, level)
    out["ci"] = [max(0.0, float(out["ci"][0])), min(1.0, float(out["ci"][1]))]
    return out


def score_t_interval_method(folds: int, level: float = DEFAULT_LEVEL) -> str:
    """How :func:`score_t_interval` was made, with a warning when few folds make it wide."""
    text = f"{100 * level:.0f} % t-interval of the mean over {folds} folds, clipped to [0, 1]"
    if 1 < folds < FEW_FOLDS:
        from scipy.stats import t as student_t

        quantile = float(student_t.ppf(0.5 + level / 2.0, folds - 1))
        text += (
            f" (wide with few folds: t = {quantile:.2f} at {folds - 1} degrees of freedom; "
            "more folds narrow it)"
        )
    return text


def format_interval(value: float, interval: Sequence[float] | None, digits: int = 4) -> str:
    """``"0.6200 [0.5500, 0.6900]"``; just the value when there is no interval."""
    if not interval:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"
