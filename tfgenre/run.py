"""``python -m tfgenre.run pipelines/NAME.yaml [--set stage.key=value]``: run a study.

A pipeline YAML lists stages by section name (``write_records``, ``fit``, ``evaluate``,
...); they run in the order written. ``--set`` keys start with the stage name, e.g.
``--set write_records.shards=2 --set fit.epochs=1``. A section may be a list of
sections, run one after the other (several fits on the same records); ``--set
fit.epochs=1`` then sets every item and ``--set fit.0.epochs=1`` the first.

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

    for module in (
        "tfgenre.fit",
        "tfgenre.evaluate",
        "tfgenre.tune",
        "tfgenre.baselines",
        "tfgenre.explore",
    ):
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
        # A list of sections runs the stage once per item (e.g. several fits). Stages
        # that read another stage's section (tune and baselines read fit's) see the
        # item being run, or the first item of another stage's list.
        sections = data[name] if isinstance(data[name], list) else [data[name]]
        for i, section in enumerate(sections):
            cli.logger.info("stage %s%s", name, f" [{i}]" if len(sections) > 1 else "")
            view = {
                k: (v[0] if v else {}) if k in config.STAGES and isinstance(v, list) else v
                for k, v in data.items()
            }
            view[name] = section
            _STAGES[name](dict(section or {}), view)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``config.apply_overrides`` that also reaches into stages given as lists.

    For a list-valued stage, ``fit.epochs=1`` sets the key in every item and
    ``fit.1.epochs=1`` in item 1 only.
    """
    plain: list[str] = []
    data = config.apply_overrides(data, [])
    for text in overrides:
        parts, _ = config.parse_override(text)
        if not isinstance(data.get(parts[0]), list) or len(parts) < 2:
            plain.append(text)
            continue
        data = config.apply_overrides(data, plain)
        plain = []
        items = data[parts[0]]
        rest, raw = text.split("=", 1)[0].split(".")[1:], text.split("=", 1)[1]
        indices = range(len(items))
        if rest[0].isdigit():
            index = int(rest[0])
            if index >= len(items) or len(rest) < 2:
                raise ConfigError(f"--set {text!r}: {parts[0]} has {len(items)} items")
            indices, rest = range(index, index + 1), rest[1:]
        for i in indices:
            items[i] = config.apply_overrides(items[i] or {}, [".".join(rest) + "=" + raw])
    return config.apply_overrides(data, plain)


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
    if args.dry_run:
        cli.print_config(data)
        return 0
    run_pipeline(data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    # Stage modules register into ``tfgenre.run``, not into this ``__main__`` copy.
    from tfgenre import run as _run

    sys.exit(_run.main())
