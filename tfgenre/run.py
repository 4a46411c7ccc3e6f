"""``python -m tfgenre.run pipelines/NAME.yaml [--set stage.key=value]``: run a study.

A pipeline YAML lists stages by section name (``write_records``, ``fit``, ``evaluate``,
...); they run in the order written. ``--set`` keys start with the stage name, e.g.
``--set write_records.shards=2 --set fit.epochs=1``.

Example:
    python -m tfgenre.run pipelines/demo.yaml --set fit.epochs=2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tfgenre import cli, config
from tfgenre.errors import ConfigError

StageFn = Callable[[dict[str, Any], dict[str, Any]], None]
_STAGES: dict[str, StageFn] = {}


def stage(name: str) -> Callable[[StageFn], StageFn]:
    """Registers a pipeline stage runner ``fn(section, pipeline)``."""

    def wrap(fn: StageFn) -> StageFn:
        _STAGES[name] = fn
        return fn

    return wrap


@stage("write_records")
def _write_records(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    from tfgenre.records.writer import WriterConfig, write_records
    from tfgenre.write_records import summarize

    overwrite = bool(section.pop("overwrite", False))
    cfg = config.from_dict(WriterConfig, section, prefix="write_records.")
    result = write_records(cfg, overwrite=overwrite)
    sys.stdout.write(f"[write_records] {cfg.output}\n{summarize(result.manifest)}\n")


def known_stages() -> list[str]:
    """Stage names that this installation can run."""
    _load_optional_stages()
    return sorted(_STAGES)


def _load_optional_stages() -> None:
    import importlib

    for module in ("tfgenre.fit", "tfgenre.evaluate", "tfgenre.tune", "tfgenre.baselines"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


def run_pipeline(data: dict[str, Any]) -> None:
    """Runs every stage section of ``data`` in order.

    Raises:
        ConfigError: when the file lists no stage or an unknown one.
    """
    _load_optional_stages()
    stages = [k for k in data if k in config.STAGES]
    unknown = [k for k in data if k not in config.STAGES and k not in ("name", "description")]
    if unknown:
        raise ConfigError(
            f"unknown pipeline section(s) {unknown} (known: name, description, "
            f"{', '.join(config.STAGES)})"
        )
    if not stages:
        raise ConfigError(f"the pipeline lists no stage (known: {', '.join(config.STAGES)})")
    for name in stages:
        if name not in _STAGES:
            raise ConfigError(f"stage {name!r} is not available in this installation")
    for name in stages:
        cli.logger.info("stage %s", name)
        _STAGES[name](dict(data[name] or {}), data)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="python -m tfgenre.run", description=__doc__.split("\n")[0])
    p.add_argument("pipeline", help="pipeline YAML, e.g. pipelines/demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dry-run", action="store_true", help="print the resolved pipeline and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _main(args: argparse.Namespace) -> int:
    data = config.apply_overrides(config.read_yaml(args.pipeline), args.overrides)
    if args.dry_run:
        cli.print_config(data)
        return 0
    run_pipeline(data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
