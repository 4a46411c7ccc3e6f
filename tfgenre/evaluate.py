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

from tfgenre.core import cli, layout


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
    from tfgenre.evaluation.metrics_file import MetricsFile
    from tfgenre.evaluation.predictions import evaluate_run
    from tfgenre.runs.run_folder import report_dir

    metrics = MetricsFile.from_json(evaluate_run(args.run_dir, args.split))
    if metrics.note:
        sys.stdout.write(f"note: {metrics.note}\n")
    for level in ("segment", "track", "track_vote"):
        sys.stdout.write(metrics.level(level).line(level) + "\n")
    sys.stdout.write(f"report: {report_dir(args.run_dir, args.split)}/{layout.REPORT_MD}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
