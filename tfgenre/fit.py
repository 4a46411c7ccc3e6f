"""``python -m tfgenre.fit``: train a Keras model on records (or a features CSV).

Example:
    python -m tfgenre.fit --records records/gtzan --view mel --model mel_cnn \
        --run-dir runs/mel_cnn --config pipelines/gtzan_mel_cnn_clr.yaml \
        --set optimizer.learning_rate=1e-3 --epochs 25 --batch-size 32
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from tfgenre.core import cli, config, layout
from tfgenre.errors import ConfigError
from tfgenre.pipelines.stages import stage, with_default_records


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="python -m tfgenre.fit", description="Train a model.")
    p.add_argument("--records", help="records folder written by tfgenre.write_records")
    p.add_argument("--features-csv", help="a features CSV instead of records (view features)")
    p.add_argument("--splits", help="fractions for a features CSV without a split column")
    p.add_argument(
        "--split",
        help="a named split for a features CSV: fault_filtered (the GTZAN fault-filtered "
        "lists shipped with tfgenre; rows in no list are excluded)",
    )
    p.add_argument("--view", help="raw | mel | features | embeddings")
    p.add_argument("--model", help="registered model name (see --list-models)")
    p.add_argument("--run-dir", help="output folder of the run")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--strategy", help="auto | default | mirrored | multi_worker | tpu")
    p.add_argument("--mixed-precision", action="store_true", default=None)
    p.add_argument("--seed", type=int)
    p.add_argument("--verify", action="store_true", default=None, help="check shard sha256")
    p.add_argument(
        "--skip-corrupt",
        action="store_true",
        default=None,
        help="skip corrupt records (counted and reported) instead of failing",
    )
    p.add_argument(
        "--folds",
        type=int,
        help="grouped, stratified K-fold cross-validation over every track (runs in "
        "RUN_DIR/folds/<k>, summary in RUN_DIR/folds_summary.md; same folds as baselines)",
    )
    p.add_argument(
        "--allow-missing-labels",
        action="store_true",
        help="train even when the train split has no example of a label that the "
        "validation or evaluation split has (refused by default: the model cannot learn "
        "it, and every such example counts as an error)",
    )
    p.add_argument("--no-evaluate", action="store_true", help="skip the final evaluation")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run (or a run of another config) in --run-dir",
    )
    p.add_argument(
        "--probe-tune",
        choices=("auto", "on", "off"),
        help="--model linear: choose optimizer.l2 from probe_l2_grid (0, 1e-4 .. 0.1) on the "
        "validation split (one short run each; the test split is not read), then train with "
        "it; auto (default): for --view embeddings; off, or --set optimizer.l2=..., fixes it",
    )
    p.add_argument("--list-models", action="store_true", help="print the model names and exit")
    cli.add_config_flags(p)
    return p


def data_flags(args: argparse.Namespace) -> dict[str, Any]:
    """Fit-config values of the data/model flags that fit and tune share."""
    from tfgenre.splitting.splits import parse_fractions  # here: it loads numpy and the sources

    return {
        "records": args.records,
        "features_csv": args.features_csv,
        "splits": parse_fractions(args.splits) if args.splits else None,
        "named_split": args.split,
        "view": "features" if args.features_csv and not args.view else args.view,
        "model": args.model,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
    }


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        **data_flags(args),
        "run_dir": args.run_dir,
        "optimizer.learning_rate": args.learning_rate,
        "strategy": args.strategy,
        "mixed_precision": args.mixed_precision,
        "seed": args.seed,
        "verify": args.verify,
        "skip_corrupt": args.skip_corrupt,
        "folds": args.folds,
        "probe_tune": args.probe_tune,
    }


def _main(args: argparse.Namespace) -> int:
    from tfgenre.training.fit_config import resolve_fit_config
    from tfgenre.training.probe_tuning import train_with_probe_tuning as train

    if args.list_models:
        from tfgenre.models.registry import get_entry, known_models

        for name in known_models():
            entry = get_entry(name)
            sys.stdout.write(f"{name:<16} views={','.join(entry.views):<10} {entry.summary}\n")
        return 0
    cfg = resolve_fit_config(args.config, args.overrides, _flags(args))
    if args.dry_run:
        cli.print_config(config.to_dict(cfg))
        return 0
    if cfg.folds:
        if args.no_evaluate:
            raise ConfigError("--no-evaluate does not go with --folds: each fold is evaluated")
        _print_folds(cfg, overwrite=args.overwrite)
        return 0
    check_split_labels(cfg, allow=args.allow_missing_labels)
    result = train(cfg, evaluate=not args.no_evaluate, overwrite=args.overwrite)
    _print_result(result)
    return 0


def check_split_labels(cfg: Any, *, allow: bool = False) -> None:
    """Names the labels each split lacks; refuses a train split without one another has.

    A train split that lacks a label of the validation or evaluation split is refused
    unless ``allow``. Runs before the run folder is created, so a refused fit leaves
    nothing behind.

    Raises:
        ConfigError: when train lacks such a label and ``allow`` is false.
    """
    from tfgenre.splitting import split_checks

    labels, present = _split_labels(cfg)
    used = [cfg.train_split, cfg.val_split, cfg.eval_split]
    missing = split_checks.missing_labels(
        labels, {s: present[s] for s in dict.fromkeys(used) if s in present}
    )
    source = cfg.records or cfg.features_csv
    gaps = split_checks.check_train_labels(present, cfg.train_split, used[1:], source, allow=allow)
    for line in split_checks.missing_label_lines(labels, missing):
        sys.stdout.write(f"WARNING: {line}\n")
    for line in gaps:
        sys.stdout.write(
            f"WARNING: {line}; training anyway ({split_checks.ALLOW_FLAG}): every such "
            "example will count as an error\n"
        )


def _split_labels(cfg: Any) -> tuple[tuple[str, ...], dict[str, set[str]]]:
    """The label names and ``{split: labels it holds}`` of the run's records or CSV."""
    from tfgenre.splitting import split_checks

    if cfg.records:
        from tfgenre.records.info import RecordsInfo

        info = RecordsInfo.load(cfg.records)
        return tuple(info.labels), split_checks.records_label_sets(info)
    from tfgenre.training.inputs import feature_table

    table = feature_table(cfg)
    present = {
        split: {table.labels[int(i)] for i in set(y.tolist())}
        for split, (_, y, _) in table.splits.items()
        if len(y)
    }
    return tuple(table.labels), present


def _print_folds(cfg: Any, *, overwrite: bool) -> None:
    from tfgenre.training.crossval import run_folds

    result = run_folds(cfg, overwrite=overwrite)
    sys.stdout.write(result.markdown)
    done = ", ".join(f"{o.fold}: {o.status}" for o in result.folds)
    sys.stdout.write(
        f"folds ({done})\nsummary: {result.run_dir}/folds_summary.md, "
        f"{result.run_dir}/folds_summary.json\n"
    )


def _print_result(result: Any) -> None:
    from tfgenre.runs.run_folder import report_dir

    sys.stdout.write(f"run: {result.run_dir} ({result.seconds:.0f} s)\n")
    if result.training:
        sys.stdout.write(f"training: {result.training['summary']}\n")
    if result.metrics:
        from tfgenre.core.stats import format_interval
        from tfgenre.evaluation.metrics_file import MetricsFile

        metrics = MetricsFile.from_json(result.metrics)
        seg, trk = metrics.level("segment"), metrics.level("track")
        split = metrics.split or "test"
        if metrics.note:
            sys.stdout.write(f"note: {metrics.note}\n")
        sys.stdout.write(
            f"{split} accuracy: segment {seg.accuracy:.4f}, track "
            f"{format_interval(trk.accuracy, trk.accuracy_ci)} (macro-F1 "
            f"{format_interval(trk.macro_f1, trk.macro_f1_ci)}"
            f"{'; 95 % bootstrap over tracks' if trk.accuracy_ci else ''})\n"
            f"report: {report_dir(result.run_dir, split)}/{layout.REPORT_MD}\n"
            f"tensorboard --logdir {result.run_dir}/tb\n"
        )


def stage_config(section: dict[str, Any], pipeline: dict[str, Any]) -> tuple[Any, bool]:
    """The ``fit:`` section as a FitConfig, and its ``overwrite`` flag.

    ``records`` comes from ``write_records:``'s output when the section names no data.
    """
    from tfgenre.training.fit_config import FitConfig

    section = dict(section)
    overwrite = section.pop("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"fit.overwrite={overwrite!r} must be true or false")
    _allow_missing_labels(section)
    section.pop("allow_missing_labels", None)
    data = with_default_records(section, pipeline)
    return config.from_dict(FitConfig, data, prefix="fit."), overwrite


def _check_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> Any:
    """The up-front check of the ``fit:`` stage: its config, names and run folder.

    Checks the model and schedule names and what is in ``run_dir`` (a finished run is
    refused unless ``overwrite: true``), which need nothing an earlier stage writes.
    """
    from tfgenre.runs.run_folder import check_run_dir
    from tfgenre.training.fit_config import check_names

    cfg, overwrite = stage_config(section, pipeline)
    if not cfg.run_dir:
        raise ConfigError("fit.run_dir='' must name the run folder")
    if not cfg.records and not cfg.features_csv:
        raise ConfigError("fit: give records (or a write_records: stage) or features_csv")
    check_names(cfg)
    check_run_dir(cfg, overwrite=overwrite)
    return cfg


def _allow_missing_labels(section: dict[str, Any]) -> bool:
    """The ``fit:`` section's ``allow_missing_labels`` (``--allow-missing-labels``)."""
    allow = section.get("allow_missing_labels", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"fit.allow_missing_labels={allow!r} must be true or false")
    return allow


@stage("fit", check=_check_stage)
def _fit_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    from tfgenre.training.probe_tuning import train_with_probe_tuning as train

    cfg, overwrite = stage_config(section, pipeline)
    if cfg.folds:
        _print_folds(cfg, overwrite=overwrite)
        return
    check_split_labels(cfg, allow=_allow_missing_labels(section))
    _print_result(train(cfg, evaluate=True, overwrite=overwrite))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
