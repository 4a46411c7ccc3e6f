"""``python -m tfgenre.explore``: look at the engineered features before modelling them.

Writes a correlation heatmap, a per-genre box plot of every feature, PCA scatters
and explained variance (``pca.csv``), and ``index.html`` showing them all into
``--out``; the file list is in :mod:`tfgenre.classical.exploration`, the figures in
:mod:`tfgenre.classical.feature_plots` (PCA on standardised features).

Examples:
    python -m tfgenre.explore --features-csv features_30_sec.csv --out runs/explore
    python -m tfgenre.explore --records records/gtzan --split train --out runs/explore

In a pipeline file, an ``explore:`` section (keys of :class:`ExploreConfig`) takes its
data from ``fit:`` or, failing that, from ``write_records:``'s output, like
``baselines:``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

from tfgenre.classical.baselines_config import FIT_DATA_KEYS
from tfgenre.classical.exploration import ExploreConfig, run_explore
from tfgenre.core import cli, config, io
from tfgenre.pipelines.stages import stage, with_default_records


def stage_config(section: dict[str, Any], pipeline: dict[str, Any]) -> ExploreConfig:
    """The ``explore:`` section's config, data from ``fit:`` or ``write_records:``."""
    data: dict[str, Any] = {}
    if not (section.get("records") or section.get("features_csv")):
        fit = pipeline.get("fit") or {}
        data = with_default_records({k: fit[k] for k in FIT_DATA_KEYS if k in fit}, pipeline)
    known = {f.name for f in dataclasses.fields(ExploreConfig)}
    data = {k: v for k, v in data.items() if k in known}
    return config.from_dict(ExploreConfig, config.merge(data, section), prefix="explore.")


@stage("explore", check=stage_config)
def _explore_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """Pipeline stage: the ``explore:`` section, data from ``fit:`` or ``write_records:``."""
    cfg = stage_config(section, pipeline)
    io.check_output_folder(cfg.out, "explore.out")
    result = run_explore(cfg)
    sys.stdout.write(f"[explore] wrote {len(result['images'])} images; open {result['index']}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.explore", description="Exploratory plots of the features."
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--features-csv", help="a features CSV")
    source.add_argument("--records", help="records folder with a features view")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="all", help="split to show, or all (default)")
    p.add_argument("--splits", help="fractions for a CSV without a split column (with --split)")
    p.add_argument("--seed", type=int, default=0, help="split seed for such a CSV")
    p.add_argument("--dry-run", action="store_true", help="print what would be read and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _main(args: argparse.Namespace) -> int:
    from tfgenre.splitting.splits import parse_fractions

    settings = {
        "records": args.records or "",
        "features_csv": args.features_csv or "",
        "split": args.split,
        "splits": parse_fractions(args.splits) if args.splits else None,
        "seed": args.seed,
        "out": args.out,
    }
    if args.dry_run:
        cli.print_config(settings)
        return 0
    cfg = config.from_dict(ExploreConfig, settings)
    io.check_output_folder(cfg.out, "--out")
    result = run_explore(cfg)
    sys.stdout.write(f"wrote {len(result['images'])} images; open {result['index']}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
