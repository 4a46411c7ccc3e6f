"""A trained run's predictions on one of its splits, and its evaluation on that split.

:func:`evaluate_run` predicts the split with the run's model
(:func:`predict_split`), scores it at segment and track level
(:func:`tfgenre.evaluation.metrics.evaluate_predictions`) and writes the report
(:func:`tfgenre.evaluation.report.write_report`) into ``report/`` (``report_<split>/``
for splits other than test). Everything about the run's data comes from its ``run.json``
(:mod:`tfgenre.evaluation.run_inputs`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tfgenre.core import io, layout
from tfgenre.errors import ConfigError
from tfgenre.evaluation.run_inputs import run_feature_table, run_record_selections
from tfgenre.records.info import RecordsInfo
from tfgenre.runs import run_folder
from tfgenre.runs.run_info import RunInfo
from tfgenre.splitting.protocols import SYNTHETIC_DATASET, SYNTHETIC_NOTE
from tfgenre.tfdata.corrupt_shards import unknown_length_ok

logger = logging.getLogger(__name__)

#: ``(probs (n, classes), labels (n,), track_ids (n,))`` of one split.
Predictions = tuple[np.ndarray, np.ndarray, np.ndarray]


def predict_split(
    run_dir: str, split: str, model: Any = None, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Predicts every example of ``split`` with the run's model.

    Args:
        run_dir: The run folder.
        split: The split to predict (of the run's records or features CSV).
        model: The run's model when already loaded (else ``model.keras`` is loaded).
        batch_size: Examples per ``predict`` batch.

    Returns:
        (probs ``(n, classes)``, labels ``(n,)``, track_ids ``(n,)``, class names).

    Raises:
        ConfigError: without a model, when the features CSV changed, or when the
            records or the features CSV lack ``split`` (a usage error: exit 2).
    """
    from tfgenre.models.saving import load_model

    info = RunInfo.load(run_dir)
    if model is None:
        path = io.join(run_dir, layout.MODEL)
        if not io.exists(path):
            raise ConfigError(f"{run_dir!r} has no model.keras (did the fit finish?)")
        model = load_model(path, compile=False)
    if info.source == "features_csv":
        probs, labels, track_ids = _predict_features_csv(info, split, model, batch_size)
    else:
        probs, labels, track_ids = _predict_records(info, split, model, batch_size)
    return probs, labels, track_ids, list(info.labels)


def _predict_features_csv(info: RunInfo, split: str, model: Any, batch_size: int) -> Predictions:
    """Predicts ``split`` of the run's features CSV, refusing a CSV whose columns changed."""
    table = run_feature_table(info)
    trained_on = list(info.feature_names or table.feature_names)
    if list(table.feature_names) != trained_on:
        missing = [n for n in trained_on if n not in table.feature_names]
        extra = [n for n in table.feature_names if n not in trained_on]
        raise ConfigError(
            f"features CSV {info.data_path!r} no longer holds the run's features "
            f"(missing: {', '.join(missing) or 'none'}; new: {', '.join(extra) or 'none'}"
            "; or another order)"
        )
    if split not in table.splits:
        raise ConfigError(
            f"split {split!r} is not in {info.data_path} (have: {', '.join(table.splits)})"
        )
    x, y, ids = table.splits[split]
    probs = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(probs, np.float32), y, ids


def _predict_records(info: RunInfo, split: str, model: Any, batch_size: int) -> Predictions:
    """Predicts ``split`` of the run's records (its fold's tracks in a cross-validation)."""
    from tfgenre.tfdata.records_dataset import records_dataset, split_index

    m = RecordsInfo.load(info.data_path)
    selections = run_record_selections(info, m)
    folded = info.selection.fold is not None
    if split not in (selections if folded else m.split_names):
        have = list(selections) if folded else m.split_names
        raise ConfigError(f"split {split!r} is not in {info.data_path} (have: {have})")
    select = selections.get(split)
    skip = info.selection.skip_corrupt
    index = split_index(m, info.view, split, skip_corrupt=skip, select=select)
    ds = records_dataset(
        m,
        info.view,
        split,
        batch_size=batch_size,
        training=False,
        skip_corrupt=skip,
        select=select,
    )
    with unknown_length_ok(skip):
        probs = model.predict(ds.map(lambda x, y: x), verbose=0)
    return np.asarray(probs, np.float32), index.label, index.track_id


def evaluate_run(
    run_dir: str,
    split: str = "test",
    model: Any = None,
    note: str | None = None,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluates a run on ``split`` and writes its report; returns the metrics.

    The metrics are the object written to ``metrics.json``; read them typed with
    :meth:`tfgenre.evaluation.metrics_file.MetricsFile.from_json`.

    Args:
        run_dir: The run folder.
        split: The split to evaluate.
        model: The run's model when already loaded.
        note: A remark kept in ``metrics.json`` (e.g. why ``split`` was chosen).
        training: What early stopping did and which weights are scored
            (:func:`tfgenre.training.stopping.stopping_summary`), for the report.

    Raises:
        ConfigError: For a cross-validation's folder (its folds are the runs).
    """
    from tfgenre.evaluation.metrics import evaluate_predictions
    from tfgenre.evaluation.metrics_file import MetricsFile
    from tfgenre.evaluation.report import write_report

    check_not_cross_validation(run_dir)

    probs, labels, track_ids, names = predict_split(run_dir, split, model)
    metrics = evaluate_predictions(probs, labels, track_ids, names)
    info = RunInfo.load(run_dir)
    history = io.join(run_dir, layout.HISTORY_CSV)
    out = run_folder.report_dir(run_dir, split)
    metrics = {**metrics, **_report_context(info, split, note)}
    if training:
        metrics["training"] = dict(training)
    written = write_report(
        metrics,
        out,
        history_csv=history if io.exists(history) else None,
        title=f"tfgenre report: {info.model} on {info.view} ({split})",
        predictions=(probs, labels, track_ids),
    )
    # --overwrite deletes only what the run's ledger (or a fixed name) proves is ours
    run_folder.record_written(run_dir, written.values())
    typed = MetricsFile.from_json(metrics)
    logger.info(
        "%s: segment accuracy %.3f, track accuracy %.3f (report in %s)",
        split,
        typed.level("segment").accuracy,
        typed.level("track").accuracy,
        out,
    )
    return metrics


def check_not_cross_validation(run_dir: str) -> None:
    """Refuses a cross-validation's folder, saying where its figures are and what to run.

    Raises:
        ConfigError: When ``run_dir`` holds ``folds/`` and no ``run.json``.
    """
    from tfgenre.evaluation.comparison import fold_dirs, is_cross_validation

    if not is_cross_validation(run_dir):
        return
    folds = fold_dirs(run_dir)
    first = folds[0][1] if folds else io.join(run_dir, layout.FOLDS, "0")
    raise ConfigError(
        f"{run_dir!r} is a cross-validation ({len(folds)} folds, fit --folds): fit already "
        f"evaluated each fold in {layout.FOLDS}/<k>/{layout.REPORT}/ and summarised them in "
        f"{layout.FOLDS_SUMMARY_MD}; evaluate one fold with --run-dir {first}, or compare "
        "the cross-validation with other runs on its pooled test folds (python -m "
        "tfgenre.compare)"
    )


def _report_context(info: RunInfo, split: str, note: str | None) -> dict[str, Any]:
    """What goes into ``metrics.json`` and ``report.md`` beside the metric levels."""
    extra: dict[str, Any] = {"split": split, "model": info.model, "view": info.view}
    extra["skipped_corrupt"] = dict(info.skipped_corrupt)
    # How the data was split ("unknown" for runs made before it was kept).
    extra["protocol"] = info.protocol.to_json()
    # tracks left out on purpose (in no list of a named split)
    extra["excluded_tracks"] = len(info.excluded)
    if info.protocol.dataset == SYNTHETIC_DATASET:
        # said beside the figures: fit and evaluate print the note, report.md a line
        extra["data"] = SYNTHETIC_DATASET
        note = f"{note}; {SYNTHETIC_NOTE}" if note else SYNTHETIC_NOTE
    if note:
        extra["note"] = note
    return extra
