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

from tfgenre.core import cli, layout
from tfgenre.pipelines.sections import evaluate_section
from tfgenre.pipelines.stages import stage


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.evaluate", description="Evaluate a trained run."
    )
    p.add_argument("--run-dir", required=True, help="run folder written by tfgenre.fit")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _evaluation_lines(run_dir: str, split: str) -> list[str]:
    """Evaluates ``run_dir`` on ``split`` (writing its report) and words the result."""
    from tfgenre.evaluation.metrics_file import MetricsFile
    from tfgenre.evaluation.predictions import evaluate_run
    from tfgenre.runs.run_folder import report_dir

    metrics = MetricsFile.from_json(evaluate_run(run_dir, split))
    lines = [f"note: {metrics.note}"] if metrics.note else []  # e.g. that the data is synthetic
    lines += [metrics.level(level).line(level) for level in ("segment", "track", "track_vote")]
    return [*lines, f"report: {report_dir(run_dir, split)}/{layout.REPORT_MD}"]


def _main(args: argparse.Namespace) -> int:
    sys.stdout.write("\n".join(_evaluation_lines(args.run_dir, args.split)) + "\n")
    return 0


@stage("evaluate", check=evaluate_section)
def _evaluate_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """The pipeline's ``evaluate:`` step: the same lines as the command, under a heading."""
    cfg = evaluate_section(section, pipeline)
    lines = _evaluation_lines(cfg.run_dir, cfg.split)
    sys.stdout.write("\n".join([f"[evaluate] {cfg.run_dir} ({cfg.split})", *lines]) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
