"""The sweep of the baselines: every model fitted and scored on every fold.

:func:`run_baselines` returns the summary (one row per model) and the per-fold scores.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from tfgenre.classical.baselines_config import BaselinesConfig
from tfgenre.classical.models import fit_neighbours_to, make_model
from tfgenre.classical.rows import FeatureRows, load_feature_rows
from tfgenre.classical.scoring import score
from tfgenre.classical.splitting import folds_of, protocol_of
from tfgenre.classical.tuning import summary_text, tune_in_fold, tuning_enabled
from tfgenre.core.stats import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    score_t_interval,
    score_t_interval_method,
)
from tfgenre.splitting.protocols import warn_if_leaky

logger = logging.getLogger(__name__)


def load_rows(cfg: BaselinesConfig) -> FeatureRows:
    """The rows of ``cfg``'s data; warns when GTZAN is split at random (one line)."""
    rows = load_feature_rows(
        records=cfg.records,
        features_csv=cfg.features_csv,
        splits=cfg.splits,
        seed=cfg.seed,
        named_split=cfg.named_split,
        view=cfg.view,
    )
    fix = (
        "--split fault_filtered"
        if cfg.features_csv
        else "records written with --set source_options.split=fault_filtered"
    )
    warn_if_leaky(protocol_of(cfg, rows), f"GTZAN ({cfg.records or cfg.features_csv})", fix)
    if rows.excluded:
        logger.info(
            "%d track(s) in no list of the %s split are excluded",
            len(rows.excluded),
            rows.protocol.name,
        )
    return rows


def fold_interval(scores: np.ndarray) -> list[float]:
    """The [low, high] of :func:`tfgenre.core.stats.score_t_interval` of per-fold scores."""
    return list(score_t_interval(scores)["ci"])


def fold_interval_method(folds: int) -> str:
    """How the fold interval was made (:func:`tfgenre.core.stats.score_t_interval_method`)."""
    return score_t_interval_method(folds)


def run_baselines(
    cfg: BaselinesConfig, rows: FeatureRows | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fits and scores every model on every fold.

    Args:
        cfg: The settings.
        rows: The data (read from ``cfg`` when None).

    Returns:
        ``(summary rows, fold rows)``: per model the mean and std of accuracy and
        macro-F1 over the folds; per model and fold the scores.
    """
    if rows is None:
        rows = load_rows(cfg)
    folds = folds_of(rows, cfg)
    logger.info(
        "%d rows of %s (%s), %d columns, %d classes, %s",
        len(rows.y),
        cfg.view,
        "segments, scored per track" if rows.segments else "one per track",
        rows.x.shape[1],
        len(rows.labels),
        f"{cfg.folds}-fold" if cfg.folds else f"{cfg.train_split} -> {cfg.eval_split}",
    )
    from threadpoolctl import threadpool_limits

    summary, per_fold = [], []
    for name in cfg.models:  # imports the models' modules, so that the limits reach them
        make_model(name, options=cfg.model_options.get(name))
    # jobs also caps the BLAS/OpenMP threads (gradient boosting): oversubscribed threads
    # on a shared machine are many times slower than one.
    limits = threadpool_limits(limits=cfg.jobs if cfg.jobs > 0 else None)
    try:
        for name in cfg.models:
            _score_on_folds(name, cfg, rows, folds, summary, per_fold)
    finally:
        limits.restore_original_limits()
    return summary, per_fold


def _score_on_folds(
    name: str,
    cfg: BaselinesConfig,
    rows: FeatureRows,
    folds: list[tuple[np.ndarray, np.ndarray]],
    summary: list[dict[str, Any]],
    per_fold: list[dict[str, Any]],
) -> None:
    """Fits and scores model ``name`` on every fold; appends its rows.

    Args:
        name: One of :data:`~tfgenre.classical.models.MODELS`.
        cfg: The settings (seed, jobs, model options, folds).
        rows: The data.
        folds: ``(train_index, test_index)`` pairs into ``rows``.
        summary: Gets the model's summary row (mean, spread and interval of the scores).
        per_fold: Gets one row of scores per fold.
    """
    level = "track" if rows.segments else "clip"
    scores = []
    start = time.perf_counter()
    for k, (train, test) in enumerate(folds):
        model = make_model(
            name,
            seed=cfg.seed,
            jobs=cfg.jobs,
            options=cfg.model_options.get(name),
        )
        fit_neighbours_to(model, len(train))
        tuned = tune_in_fold(name, model, cfg, rows, train)  # never reads the test rows
        model.fit(rows.x[train], rows.y[train])
        s = score(
            model,
            rows.x[test],
            rows.y[test],
            rows.track_ids[test],
            len(rows.labels),
            segments=rows.segments,
        )
        scores.append(s)
        per_fold.append({"model": name, "fold": k, **s})
        if tuning_enabled(cfg.tune, cfg.view):
            per_fold[-1].update(tuned)
    seconds = time.perf_counter() - start
    acc = np.array([s["accuracy"] for s in scores])
    f1 = np.array([s["macro_f1"] for s in scores])
    if cfg.folds:  # spread over folds: a t-interval of the mean, clipped to [0, 1]
        acc_ci, f1_ci = fold_interval(acc), fold_interval(f1)
        method = fold_interval_method(len(folds))
    else:  # one split: a bootstrap over its scored tracks
        acc_ci = [scores[0]["accuracy_lo"], scores[0]["accuracy_hi"]]
        f1_ci = [scores[0]["macro_f1_lo"], scores[0]["macro_f1_hi"]]
        method = (
            f"{100 * DEFAULT_LEVEL:.0f} % bootstrap over tracks ({DEFAULT_RESAMPLES} resamples, "
            f"seed {DEFAULT_SEED})"
        )
    summary.append(
        {
            "model": name,
            "level": level,
            "folds": len(folds) if cfg.folds else 0,
            "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std()) if cfg.folds else None,
            "accuracy_lo": float(acc_ci[0]),
            "accuracy_hi": float(acc_ci[1]),
            "macro_f1_mean": float(f1.mean()),
            "macro_f1_std": float(f1.std()) if cfg.folds else None,
            "macro_f1_lo": float(f1_ci[0]),
            "macro_f1_hi": float(f1_ci[1]),
            "interval": method,
            "segment_accuracy_mean": (
                float(np.mean([s["segment_accuracy"] for s in scores])) if rows.segments else None
            ),
            "seconds": round(seconds, 2),
        }
    )
    if tuning_enabled(cfg.tune, cfg.view):
        summary[-1]["tuned"] = summary_text(per_fold[-len(folds) :])
    logger.info("%s: accuracy %.4f, macro-F1 %.4f (%.1f s)", name, acc.mean(), f1.mean(), seconds)
