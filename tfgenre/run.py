"""``python -m tfgenre.run pipelines/NAME.yaml [--set stage.key=value]``: run a study.

A pipeline YAML lists stages by section name (``write_records``, ``fit``, ``evaluate``,
...); they run in the order written. ``--set`` keys start with the stage name, e.g.
``--set write_records.shards=2 --set fit.epochs=1``. A section may be a list of
sections, run one after the other (several fits on the same records); ``--set
fit.epochs=1`` then sets every item and ``--set fit.0.epochs=1`` the first.

Every section is checked (its config built from the YAML and the overrides) before
the first stage starts, so that a typo in ``fit:`` is reported before
``write_records`` has written anything.

``evaluate:`` scores the ``fit:`` stage's run folder (or the section's own ``run_dir``) on a
split, ``test`` by default, and writes its report (see ``python -m tfgenre.evaluate``).
``compare:`` compares the run folders it lists (``runs:``) on a split, as ``python -m
tfgenre.compare``; ``export:`` exports a run (``run_dir``, default the ``fit:`` stage's, or
its first item's) in ``formats`` (default ``[savedmodel]``), as ``python -m tfgenre.export``.

Example:
    python -m tfgenre.run pipelines/demo.yaml --set fit.epochs=2
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tfgenre.core import cli, config
from tfgenre.pipelines.sections import apply_overrides
from tfgenre.pipelines.stages import check_pipeline, registered_stages, run_pipeline

#: The command modules that register a stage (each with :func:`tfgenre.pipelines.stages.stage`).
STAGE_MODULES: tuple[str, ...] = (
    "tfgenre.write_records",
    "tfgenre.fit",
    "tfgenre.evaluate",
    "tfgenre.compare",
    "tfgenre.export",
    "tfgenre.tune",
    "tfgenre.baselines",
    "tfgenre.explore",
)


def load_stages() -> None:
    """Imports the stage modules, whose decorators register their stages.

    A module missing from this installation (e.g. ``tfgenre.tune`` without its extra)
    leaves its stage unavailable; any other import error propagates.
    """
    for module in STAGE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


def known_stages() -> list[str]:
    """Stage names that this installation can run."""
    load_stages()
    return registered_stages()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="python -m tfgenre.run", description=__doc__.split("\n")[0])
    p.add_argument("pipeline", help="pipeline YAML, e.g. pipelines/demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dry-run", action="store_true", help="print the resolved pipeline and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _main(args: argparse.Namespace) -> int:
    data = apply_overrides(config.read_yaml(args.pipeline), args.overrides)
    load_stages()
    if args.dry_run:
        check_pipeline(data)
        cli.print_config(data)
        return 0
    run_pipeline(data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
