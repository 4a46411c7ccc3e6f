"""``python -m tfgenre.compare RUN_DIR RUN_DIR... [--split test] [--out DIR]``.

Compares runs evaluated on the same tracks: track accuracy and macro-F1 with bootstrap
intervals, and each run's paired difference to the best run with its interval and
McNemar's p-value. Reads each run's ``report/tracks.csv`` (evaluating the run when it
is missing); a cross-validation's folder (``fit --folds K``) is compared on its K test
folds pooled. Refuses (exit 2) a folder given twice, runs whose tracks differ, and
fewer than 100 ``--resamples``. The intervals are the ones the runs' own reports show:
the same bootstrap over the same tracks with the same seed. Prints the Markdown table;
``--out`` also writes ``compare.md``, ``compare.csv`` and ``compare.png``.

Example:
    python -m tfgenre.compare runs/mel runs/features --split test --out runs/compare
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from tfgenre.core import cli
from tfgenre.core.stats import DEFAULT_RESAMPLES, DEFAULT_SEED, MIN_RESAMPLES, BootstrapSettings
from tfgenre.errors import ConfigError
from tfgenre.pipelines.sections import compare_section
from tfgenre.pipelines.stages import stage


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.compare",
        description="Compare runs on the same tracks, with intervals and McNemar's test.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders")
    p.add_argument("--split", default="test", help="split the runs were scored on (default test)")
    p.add_argument("--out", help="folder for compare.md, compare.csv and compare.png")
    p.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples, at least {MIN_RESAMPLES} (default {DEFAULT_RESAMPLES})",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed (default 0)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _main(args: argparse.Namespace) -> int:
    from tfgenre.core import io
    from tfgenre.evaluation.comparison import (
        check_distinct_runs,
        compare_runs,
        comparison_markdown,
        load_run_predictions,
        write_comparison,
    )

    if len(args.run_dirs) < 2:
        raise ConfigError(f"compare needs at least two run folders; got {len(args.run_dirs)}")
    if args.resamples < MIN_RESAMPLES:
        raise ConfigError(
            f"--resamples {args.resamples} is too few: a percentile bootstrap interval needs "
            f"at least {MIN_RESAMPLES} resamples (default {DEFAULT_RESAMPLES})"
        )
    settings = BootstrapSettings(resamples=args.resamples, seed=args.seed)
    io.check_output_folder(args.out or "", "--out")
    # Every folder is checked before a run that lacks its predictions is evaluated.
    for run in args.run_dirs:
        if not io.isdir(run):
            raise ConfigError(f"run folder {run!r} does not exist")
    check_distinct_runs(args.run_dirs)
    runs = [load_run_predictions(run, args.split) for run in args.run_dirs]
    rows = compare_runs(runs, settings)
    sys.stdout.write(comparison_markdown(rows, settings))
    if args.out:
        for path in write_comparison(rows, args.out, settings):
            sys.stdout.write(f"wrote {path}\n")
    return 0


@stage("compare", check=compare_section)
def _compare_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """The pipeline's ``compare:`` step."""
    from tfgenre.core import io
    from tfgenre.evaluation.comparison import (
        check_distinct_runs,
        compare_runs,
        comparison_markdown,
        load_run_predictions,
        write_comparison,
    )

    cfg = compare_section(section, pipeline)
    settings = BootstrapSettings(resamples=cfg.resamples, seed=cfg.seed)
    io.check_output_folder(cfg.out, "compare.out")
    for run in cfg.runs:
        if not io.isdir(run):
            raise ConfigError(f"compare.runs: run folder {run!r} does not exist")
    check_distinct_runs(cfg.runs)
    rows = compare_runs([load_run_predictions(run, cfg.split) for run in cfg.runs], settings)
    sys.stdout.write(f"[compare] {', '.join(cfg.runs)} ({cfg.split})\n")
    sys.stdout.write(comparison_markdown(rows, settings))
    if cfg.out:
        for path in write_comparison(rows, cfg.out, settings):
            sys.stdout.write(f"wrote {path}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
