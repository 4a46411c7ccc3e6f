"""``python -m tfgenre.evaluate --run-dir DIR [--split test]``: score a trained run.

Reports accuracy, per-class precision/recall/F1, macro and weighted averages and the
confusion matrix, per segment and per track (mean probability, and majority vote), in
``report/`` (``report_<split>/`` for splits other than test).

Example:
    python -m tfgenre.evaluate --run-dir runs/demo --split test
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre import cli, io
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.protocols import Protocol


def report_dir(run_dir: str, split: str) -> str:
    """``report`` for the test split, ``report_<split>`` for the others."""
    return io.join(run_dir, "report" if split == "test" else f"report_{split}")


def predict_split(
    run_dir: str, split: str, model: Any = None, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Predicts every example of ``split`` with the run's model.

    Returns:
        (probs ``(n, classes)``, labels ``(n,)``, track_ids ``(n,)``, class names).
    """
    from tfgenre.models.saving import load_model
    from tfgenre.training import (
        load_run_config,
        load_run_info,
        record_selections,
        unknown_length_ok,
    )

    cfg = load_run_config(run_dir)
    info = load_run_info(run_dir)
    if model is None:
        path = io.join(run_dir, "model.keras")
        if not io.exists(path):
            raise ConfigError(f"{run_dir!r} has no model.keras (did the fit finish?)")
        model = load_model(path, compile=False)
    labels = list(info["labels"])
    if cfg.features_csv:
        from tfgenre.training import feature_table

        table = feature_table(cfg)
        trained_on = list(info.get("feature_names") or table.feature_names)
        if list(table.feature_names) != trained_on:
            missing = [n for n in trained_on if n not in table.feature_names]
            extra = [n for n in table.feature_names if n not in trained_on]
            raise ConfigError(
                f"features CSV {cfg.features_csv!r} no longer holds the run's features "
                f"(missing: {', '.join(missing) or 'none'}; new: {', '.join(extra) or 'none'}"
                "; or another order)"
            )
        if split not in table.splits:
            raise ConfigError(
                f"split {split!r} is not in {cfg.features_csv} (have: {', '.join(table.splits)})"
            )
        x, y, ids = table.splits[split]
        probs = model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(probs, np.float32), y, ids, labels
    from tfgenre.data import records_dataset, split_index
    from tfgenre.records.manifest import Manifest

    m = Manifest.load(cfg.records)
    selections, _ = record_selections(cfg, m)
    if split not in (selections if cfg.fold is not None else m.splits):
        have = list(selections) if cfg.fold is not None else m.splits
        raise RecordsError(f"split {split!r} is not in {cfg.records} (have: {have})")
    select = selections.get(split)
    index = split_index(m, cfg.view, split, skip_corrupt=cfg.skip_corrupt, select=select)
    ds = records_dataset(
        m,
        cfg.view,
        split,
        batch_size=batch_size,
        training=False,
        skip_corrupt=cfg.skip_corrupt,
        select=select,
    )
    with unknown_length_ok(cfg.skip_corrupt):
        probs = model.predict(ds.map(lambda x, y: x), verbose=0)
    return np.asarray(probs, np.float32), index.label, index.track_id, labels


def evaluate_run(
    run_dir: str, split: str = "test", model: Any = None, note: str | None = None
) -> dict[str, Any]:
    """Evaluates a run on ``split`` and writes its report; returns the metrics.

    Args:
        run_dir: The run folder.
        split: The split to evaluate.
        model: The run's model when already loaded.
        note: A remark kept in ``metrics.json`` (e.g. why ``split`` was chosen).
    """
    from tfgenre.evaluation import evaluate_predictions, write_report
    from tfgenre.training import load_run_info

    probs, labels, track_ids, names = predict_split(run_dir, split, model)
    metrics = evaluate_predictions(probs, labels, track_ids, names)
    info = load_run_info(run_dir)
    history = io.join(run_dir, "history.csv")
    out = report_dir(run_dir, split)
    # Context that is not a metric level goes into metrics.json and report.md too.
    extra: dict[str, Any] = {"split": split, "model": info.get("model"), "view": info.get("view")}
    extra["skipped_corrupt"] = info.get("skipped_corrupt") or {}
    # How the data was split (run.json; "unknown" for runs made before it was kept).
    extra["protocol"] = Protocol.from_json(info.get("protocol")).to_json()
    # tracks left out on purpose (in no list of a named split), as run.json counts them
    extra["excluded_tracks"] = int((info.get("excluded") or {}).get("count", 0))
    if note:
        extra["note"] = note
    metrics = {**metrics, **extra}
    write_report(
        metrics,
        out,
        history_csv=history if io.exists(history) else None,
        title=f"tfgenre report: {info.get('model')} on {info.get('view')} ({split})",
        predictions=(probs, labels, track_ids),
    )
    cli.logger.info(
        "%s: segment accuracy %.3f, track accuracy %.3f (report in %s)",
        split,
        metrics["segment"]["accuracy"],
        metrics["track"]["accuracy"],
        out,
    )
    return metrics


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.evaluate", description="Evaluate a trained run."
    )
    p.add_argument("--run-dir", required=True, help="run folder written by tfgenre.fit")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _main(args: argparse.Namespace) -> int:
    metrics = evaluate_run(args.run_dir, args.split)
    from tfgenre.stats import format_interval

    for level in ("segment", "track", "track_vote"):
        m = metrics[level]
        sys.stdout.write(
            f"{level:>10}: accuracy {format_interval(m['accuracy'], m.get('accuracy_ci'))}  "
            f"macro-F1 {format_interval(m['macro_f1'], m.get('macro_f1_ci'))}  "
            f"(n={m['num_examples']})\n"
        )
    sys.stdout.write(f"report: {report_dir(args.run_dir, args.split)}/report.md\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
