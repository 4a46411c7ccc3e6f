"""Grouped, stratified k-fold cross-validation of a deep model (``fit --folds K``).

Every track of the data (all splits of the records, or every row of a features CSV) is
pooled and assigned to K folds by :func:`tfgenre.evaluation.folds.assign_folds` (stratified by
label, grouped by artist when the data knows it and by track otherwise, deterministic
from the seed): the same assignment as ``baselines --folds K``. Fold ``k`` is a normal
run in ``<run-dir>/folds/<k>/`` (its own ``config.yaml``, ``run.json``, ``model.keras``
and ``report/``): test = fold ``k``, validation (early stopping, best checkpoint) = a
grouped, stratified 20 % of the other folds' tracks, train = the rest. The test fold is
evaluated once, at the end of its run, at segment and track level. Fold runs log no
per-epoch confusion-matrix image to TensorBoard (their reports have the matrices).

The run folder holds the cross-validation's ``config.yaml`` and, when every fold is
done, ``folds_summary.json`` and ``folds_summary.md``: per fold and overall mean, std
and a 95 % t-interval over the folds of segment- and track-level accuracy and macro-F1.

Rerunning the same command after an interruption skips the finished folds (their
``report/metrics.json`` exists and their config matches), evaluates a fold whose model
was saved but not evaluated, and resumes an unfinished one from its backup; a folder
holding another config is refused unless ``overwrite``
(:func:`tfgenre.runs.run_folder.check_run_dir`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tfgenre.core import config, io, layout
from tfgenre.errors import ConfigError
from tfgenre.evaluation.metrics_file import MetricsFile
from tfgenre.evaluation.predictions import evaluate_run
from tfgenre.records.info import RecordsInfo
from tfgenre.runs import run_folder
from tfgenre.runs.run_info import RunInfo
from tfgenre.training.fit_config import check_names
from tfgenre.training.inputs import feature_table, records_fold
from tfgenre.training.loop import train

logger = logging.getLogger(__name__)

#: The metric levels and names summarised over the folds.
SUMMARY_METRICS: tuple[tuple[str, str], ...] = (
    ("segment", "accuracy"),
    ("segment", "macro_f1"),
    ("track", "accuracy"),
    ("track", "macro_f1"),
)


@dataclasses.dataclass(frozen=True)
class FoldOutcome:
    """One fold of a cross-validation.

    Attributes:
        fold: The fold index (its test fold).
        run_dir: The fold's run folder.
        metrics: Its test ``metrics.json``.
        status: ``trained``, ``evaluated`` (model found, evaluated now) or ``skipped``
            (finished before).
        seconds: Time spent on it in this call.
    """

    fold: int
    run_dir: str
    metrics: MetricsFile
    status: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class CrossValResult:
    """What :func:`run_folds` produced.

    Attributes:
        run_dir: The cross-validation's folder.
        folds: One outcome per fold, in order.
        summary: The content of ``folds_summary.json``.
        markdown: The content of ``folds_summary.md``.
    """

    run_dir: str
    folds: tuple[FoldOutcome, ...]
    summary: dict[str, Any]
    markdown: str


def fold_config(cfg: Any, fold: int) -> Any:
    """The fit config of fold ``fold``: ``fold`` set, run in ``<run_dir>/folds/<fold>``."""
    run_dir = io.join(cfg.run_dir, layout.FOLDS, str(fold))
    return config.replace(cfg, fold=fold, run_dir=run_dir)


def _metrics_path(run_dir: str) -> str:
    return io.join(run_dir, layout.REPORT, layout.METRICS_JSON)


def _same_config(fold_cfg: Any) -> bool:
    saved = run_folder.saved_fit_config(fold_cfg.run_dir)
    return saved is not None and not run_folder.config_differences(saved, fold_cfg)


def fold_finished(fold_cfg: Any) -> bool:
    """Whether the fold's ``report/metrics.json`` exists and its config matches."""
    return io.exists(_metrics_path(fold_cfg.run_dir)) and _same_config(fold_cfg)


def check_cross_validation(cfg: Any) -> None:
    """Checks a cross-validation config and its data before any work.

    Raises:
        ConfigError: when ``folds`` < 2, a fold is set, ``run_dir`` is empty, the split
            names are not the fold's ``train``/``validation``/``test``, the model or
            view is unknown, or the data cannot be cut into ``folds`` folds.
    """
    if cfg.folds < 2:
        raise ConfigError(f"folds={cfg.folds} must be >= 2 for a cross-validation")
    if cfg.fold is not None:
        raise ConfigError(f"fold={cfg.fold} is set by the cross-validation; leave it unset")
    if not cfg.run_dir:
        raise ConfigError("run_dir='' must name the cross-validation's folder")
    if not cfg.records and not cfg.features_csv:
        raise ConfigError("give records (a records folder) or features_csv")
    check_names(cfg)
    probe = fold_config(cfg, 0)
    if cfg.features_csv:
        feature_table(probe)
    else:
        records_fold(probe, RecordsInfo.load(cfg.records))


def run_folds(cfg: Any, *, overwrite: bool = False) -> CrossValResult:
    """Trains and evaluates every fold (resuming), then writes the summary.

    Args:
        cfg: A :class:`tfgenre.training.fit_config.FitConfig` with ``folds`` >= 2.
        overwrite: Replace a finished cross-validation, or one of another config.

    Returns:
        The folds' outcomes and the summary.

    Raises:
        ConfigError: on a bad config or a run folder that may not be used
            (see :func:`check_cross_validation` and
            :func:`tfgenre.runs.run_folder.check_run_dir`).
    """
    check_cross_validation(cfg)
    run_folder.check_run_dir(cfg, overwrite=overwrite)
    with run_folder.locked(cfg.run_dir):  # one cross-validation per folder
        return _run_folds_locked(cfg, overwrite)


def _run_folds_locked(cfg: Any, overwrite: bool) -> CrossValResult:
    """:func:`run_folds` once the folder's lock is held."""
    import keras

    plan = run_folder.check_run_dir(cfg, overwrite=overwrite)
    run_folder.clear_run_outputs(cfg.run_dir, plan.remove)
    io.makedirs(cfg.run_dir)
    run_folder.write_run_config(cfg)
    outcomes = []
    for k in range(cfg.folds):
        fcfg = fold_config(cfg, k)
        start = time.perf_counter()
        if fold_finished(fcfg):
            status = "skipped"
            logger.info("fold %d/%d: finished before, skipped (%s)", k, cfg.folds, fcfg.run_dir)
            metrics = MetricsFile.load(_metrics_path(fcfg.run_dir))
        elif io.exists(io.join(fcfg.run_dir, layout.MODEL)) and _same_config(fcfg):
            status = "evaluated"
            logger.info("fold %d/%d: model found, evaluating its test fold", k, cfg.folds)
            evaluated = evaluate_run(fcfg.run_dir, split="test")
            metrics = MetricsFile.from_json(evaluated, where=_metrics_path(fcfg.run_dir))
        else:
            status = "trained"
            logger.info("fold %d/%d: training in %s", k, cfg.folds, fcfg.run_dir)
            result = train(fcfg, evaluate=True, confusion_images=False)
            where = _metrics_path(fcfg.run_dir)
            metrics = MetricsFile.from_json(result.metrics or {}, where=where)
            keras.backend.clear_session()
        outcomes.append(FoldOutcome(k, fcfg.run_dir, metrics, status, time.perf_counter() - start))
    summary = summarise(cfg, outcomes)
    markdown = summary_markdown(summary)
    io.write_text_atomic(io.join(cfg.run_dir, layout.FOLDS_SUMMARY_MD), markdown)
    summary_json = io.join(cfg.run_dir, layout.FOLDS_SUMMARY_JSON)
    io.write_text_atomic(summary_json, json.dumps(summary, indent=2))
    return CrossValResult(cfg.run_dir, tuple(outcomes), summary, markdown)


def fold_interval(values: Sequence[float]) -> dict[str, Any]:
    """:func:`tfgenre.core.stats.score_t_interval` of per-fold scores ``(K,)``, within [0, 1]."""
    from tfgenre.core.stats import score_t_interval

    return score_t_interval(values)


def summarise(cfg: Any, outcomes: Sequence[FoldOutcome]) -> dict[str, Any]:
    """The ``folds_summary.json`` content: protocol, per-fold figures and their intervals."""
    from tfgenre.evaluation.folds import VALIDATION_FRACTION

    policy = dict(RunInfo.load(outcomes[0].run_dir).split_policy)
    per_fold = []
    for o in outcomes:
        row: dict[str, Any] = {"fold": o.fold, "run_dir": o.run_dir, "status": o.status}
        for level, name in SUMMARY_METRICS:
            row[f"{level}_{name}"] = float(getattr(o.metrics.level(level), name))
        row["test_tracks"] = o.metrics.level("track").num_examples
        row["test_segments"] = o.metrics.level("segment").num_examples
        per_fold.append(row)
    overall = {
        f"{level}_{name}": fold_interval([r[f"{level}_{name}"] for r in per_fold])
        for level, name in SUMMARY_METRICS
    }
    tracks = sum(r["test_tracks"] for r in per_fold)
    pooled = sum(r["track_accuracy"] * r["test_tracks"] for r in per_fold) / max(tracks, 1)
    return {
        "protocol": {
            "kind": "grouped_kfold",
            "k": cfg.folds,
            "stratified": "label",
            "grouped_by": policy.get("grouped_by", "track"),
            "seed": cfg.seed,
            "tracks": policy.get("tracks", tracks),
            "test": "fold k (each track is tested once, by the model that never saw it)",
            "validation": f"a grouped, stratified {VALIDATION_FRACTION:.0%} of the other "
            "folds' tracks (early stopping, best checkpoint)",
            "train": "the other folds' remaining tracks",
            "interval": "95 % Student-t interval of the mean over the folds (sample std, "
            "K-1 degrees of freedom), clipped to [0, 1]; std is the population std",
            "same_folds_as": f"baselines --folds {cfg.folds} --seed {cfg.seed} on the same data",
        },
        "model": cfg.model,
        "view": cfg.view,
        "data": cfg.records or cfg.features_csv,
        "folds": per_fold,
        "overall": overall,
        "pooled_track_accuracy": pooled,
    }


def _cell(stats: Mapping[str, float]) -> str:
    low, high = stats["ci"]
    return f"{stats['mean']:.4f} ± {stats['std']:.4f} [{low:.4f}, {high:.4f}]"


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """``folds_summary.md``: the protocol line and the per-fold and overall table."""
    p = summary["protocol"]
    columns = [f"{level}_{name}" for level, name in SUMMARY_METRICS]
    heads = ["segment accuracy", "segment macro-F1", "track accuracy", "track macro-F1"]
    lines = [
        f"### Cross-validation: {summary['model']} on {summary['view']} ({summary['data']})",
        "",
        f"Protocol: {p['k']}-fold, stratified by label, grouped by {p['grouped_by']}, "
        f"seed {p['seed']}, {p['tracks']} tracks; test = fold k, validation = "
        f"{p['validation']}, train = the rest (same folds as `{p['same_folds_as']}`).",
        "",
        "| fold | test tracks | " + " | ".join(heads) + " |",
        "| --- | --- | " + " | ".join("---" for _ in heads) + " |",
    ]
    for row in summary["folds"]:
        cells = " | ".join(f"{row[c]:.4f}" for c in columns)
        lines.append(f"| {row['fold']} | {row['test_tracks']} | {cells} |")
    overall = summary["overall"]
    lines.append(
        "| mean ± std [95 % CI] | "
        + str(sum(r["test_tracks"] for r in summary["folds"]))
        + " | "
        + " | ".join(_cell(overall[c]) for c in columns)
        + " |"
    )
    lines += [
        "",
        f"Pooled track accuracy (every track tested once): "
        f"{summary['pooled_track_accuracy']:.4f}. Interval: {p['interval']}.",
    ]
    return "\n".join(lines) + "\n"
