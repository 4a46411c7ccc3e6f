"""``python -m tfgenre.baselines``: classical models on the engineered features or embeddings.

Logistic regression, k-nearest neighbours, Gaussian naive Bayes, an RBF SVM, a random
forest and gradient boosting (scikit-learn's histogram-based
``HistGradientBoostingClassifier``), each in a pipeline after a ``StandardScaler``
fitted on the training rows only.

Evaluation is either the same split as ``tfgenre.fit`` (train on ``train_split``,
score ``eval_split``; with ``--config`` the data settings come from its ``fit:``
section, so the split is literally the same), or stratified k-fold over all rows with
``--folds K``, grouped by track when rows are segments so that no track is in two
folds. When rows are segments, a track is decided by the mean class probability (for
the SVM, the mean decision value) of its segments and the scores are at track level.
The table reports accuracy and macro-F1 as mean ± std (population std) over the
folds with a 95 % t-interval of the mean, or on one split with a 95 % percentile
bootstrap interval over its scored tracks (1000 resamples, seed 0), in Markdown and CSV.

With ``--split fault_filtered`` the GTZAN table is split by the fault-filtered lists
shipped with tfgenre (train -> test; rows in no list are excluded and counted). A GTZAN
table split any other way gets a one-line warning: random splits leak artists.

Examples:
    python -m tfgenre.baselines --features-csv features_30_sec.csv \
        --split fault_filtered --out runs/baselines_ff
    python -m tfgenre.baselines --features-csv features_30_sec.csv \
        --splits train=0.7,test=0.3 --seed 0 --out runs/baselines
    python -m tfgenre.baselines --records records/gtzan --folds 10 --out runs/baselines
    python -m tfgenre.baselines --records records/emb --view embeddings --models logistic_regression

C of logistic regression and the SVM is chosen from a small grid (0.01 .. 100) without
the scored split: on the validation split when there is one (fit split mode), else by
cross-validation inside the training rows grouped by artist or track (leave-one-group-out
with two tracks per class). The grid scores and the choice are printed below the table and
written to ``baselines.md`` and ``baselines_folds.csv``. This is the default for the
embeddings view (``--tune auto``); the features view keeps C=1 unless ``--tune on``. Fix
C with ``--tune off`` (C=1) or ``--set model_options.logistic_regression.C=10``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tfgenre.classical.baselines_config import FIT_DATA_KEYS, BaselinesConfig
from tfgenre.classical.models import MODELS
from tfgenre.classical.sweep import load_rows, run_baselines
from tfgenre.classical.tables import (
    describe,
    markdown_table,
    missing_label_lines,
    write_tables,
)
from tfgenre.classical.tuning import tuning_markdown
from tfgenre.core import cli, config, io
from tfgenre.pipelines.stages import stage, with_default_records


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.baselines",
        description="Classical baselines (scikit-learn) on the engineered features.",
    )
    p.add_argument("--records", help="records folder with a features or embeddings view")
    p.add_argument(
        "--view",
        help="the records' vector view: features (default) or embeddings (a linear probe "
        "on pretrained embeddings)",
    )
    p.add_argument("--features-csv", help="a features CSV")
    p.add_argument("--splits", help="fractions for a CSV without a split column")
    p.add_argument(
        "--split",
        help="a named split for a features CSV: fault_filtered (the GTZAN fault-filtered "
        "lists shipped with tfgenre; rows in no list are excluded)",
    )
    p.add_argument("--folds", type=int, help="stratified k-fold over all rows (default: fit split)")
    p.add_argument("--seed", type=int)
    p.add_argument("--models", help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--out", help="output folder of the tables")
    p.add_argument("--jobs", type=int, help="parallel jobs (random forest, kNN)")
    p.add_argument(
        "--tune",
        choices=("auto", "on", "off"),
        help="choose C of logistic_regression and svm from tune_grid (0.01..100) on the "
        "validation split or by grouped CV inside train, never on the scored split: auto "
        "(default: on for --view embeddings, off for features), on, or off (C=1); a C set "
        "with --set model_options.<model>.C=... is kept fixed",
    )
    cli.add_config_flags(
        p,
        config_help="pipeline YAML: data from fit:, options from baselines:",
        set_help="override a baselines key, e.g. --set model_options.svm.C=10",
    )
    return p


def layer_config(
    fit: Mapping[str, Any], section: Mapping[str, Any], flags: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The data keys of a ``fit:`` section, then ``baselines:``, then flags.

    A later layer that names a data source (records or features_csv) replaces the
    earlier one's source.
    """
    data: dict[str, Any] = {k: fit[k] for k in FIT_DATA_KEYS if k in fit}
    for layer in (section, {k: v for k, v in (flags or {}).items() if v is not None}):
        if layer.get("records") or layer.get("features_csv"):
            data.pop("records", None)
            data.pop("features_csv", None)
        data = config.merge(data, layer)
    return data


def resolve_config(
    config_path: str | None, overrides: Sequence[str], flags: Mapping[str, Any]
) -> BaselinesConfig:
    """Defaults, the data keys of ``fit:``, ``baselines:``, flags, then ``--set``."""
    fit = config.load_section(config_path, "fit") if config_path else {}
    section = config.load_section(config_path, "baselines") if config_path else {}
    data = config.apply_overrides(layer_config(fit, section, flags), overrides)
    return config.from_dict(BaselinesConfig, data, prefix="baselines.")


def _main(args: argparse.Namespace) -> int:
    from tfgenre.splitting.splits import parse_fractions

    flags = {
        "records": args.records,
        "view": args.view,
        "features_csv": args.features_csv,
        "splits": parse_fractions(args.splits) if args.splits else None,
        "named_split": args.split,
        "folds": args.folds,
        "seed": args.seed,
        "models": args.models,
        "out": args.out,
        "jobs": args.jobs,
        "tune": args.tune,
    }
    cfg = resolve_config(args.config, args.overrides, flags)
    if args.dry_run:
        cli.print_config(config.to_dict(cfg))
        return 0
    _evaluate_and_print(cfg)
    return 0


def _evaluate_and_print(cfg: BaselinesConfig) -> None:
    io.check_output_folder(cfg.out, "out")
    rows = load_rows(cfg)
    for line in missing_label_lines(cfg, rows):
        sys.stdout.write(f"WARNING: {line}\n")
    summary, per_fold = run_baselines(cfg, rows)
    tuning = tuning_markdown(per_fold)
    sys.stdout.write(markdown_table(summary, describe(cfg, rows)) + tuning)
    if cfg.out:
        paths = write_tables(cfg, summary, per_fold, rows)
        if tuning:  # the grid and the choice go into the report too
            report = io.join(cfg.out, "baselines.md")
            io.write_text_atomic(report, io.read_text(report) + tuning)
        for path in paths:
            sys.stdout.write(f"wrote {path}\n")


def stage_config(section: dict[str, Any], pipeline: dict[str, Any]) -> BaselinesConfig:
    """The ``baselines:`` section's config, data and split from ``fit:`` (or the records)."""
    fit = with_default_records(dict(pipeline.get("fit") or {}), pipeline)
    return config.from_dict(BaselinesConfig, layer_config(fit, section), prefix="baselines.")


@stage("baselines", check=stage_config)
def _baselines_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """Pipeline stage: the ``baselines:`` section, data and split from ``fit:``."""
    _evaluate_and_print(stage_config(section, pipeline))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
