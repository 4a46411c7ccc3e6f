"""``python -m tfgenre.run pipelines/NAME.yaml [--set stage.key=value]``: run a study.

A pipeline YAML lists stages by section name (``write_records``, ``fit``, ``evaluate``,
...); they run in the order written. ``--set`` keys start with the stage name, e.g.
``--set write_records.shards=2 --set fit.epochs=1``. A section may be a list of
sections, run one after the other (several fits on the same records); ``--set
fit.epochs=1`` then sets every item and ``--set fit.0.epochs=1`` the first.

Every section is checked (its config built from the YAML and the overrides) before
the first stage starts, so that a typo in ``fit:`` is reported before
``write_records`` has written anything.

``evaluate:`` scores the ``fit:`` stage's run (or the section's own ``run_dir``) on a
split, ``test`` by default, and writes its report (see ``python -m tfgenre.evaluate``).

Example:
    python -m tfgenre.run pipelines/demo.yaml --set fit.epochs=2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tfgenre import cli, config
from tfgenre.errors import ConfigError

StageFn = Callable[[dict[str, Any], dict[str, Any]], None]
CheckFn = Callable[[dict[str, Any], dict[str, Any]], Any]
_STAGES: dict[str, StageFn] = {}
_CHECKS: dict[str, CheckFn] = {}


def stage(name: str, check: CheckFn | None = None) -> Callable[[StageFn], StageFn]:
    """Registers a pipeline stage runner ``fn(section, pipeline)``.

    Args:
        name: The section name, one of :data:`tfgenre.config.STAGES`.
        check: Optional ``check(section, pipeline)`` that builds the stage's config
            without doing any work, raising ``ConfigError`` on a bad key or value. It
            runs for every stage before the first stage starts.
    """

    def wrap(fn: StageFn) -> StageFn:
        _STAGES[name] = fn
        if check is not None:
            _CHECKS[name] = check
        return fn

    return wrap


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Registers the up-front check of stage ``name`` (see :func:`stage`)."""

    def wrap(fn: CheckFn) -> CheckFn:
        _CHECKS[name] = fn
        return fn

    return wrap


def data_source(section: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    """``section`` with ``records`` taken from ``write_records.output`` when it names no data.

    The rule the ``fit`` stage (and the stages that read ``fit:``) follow.
    """
    section = dict(section)
    if not section.get("records") and not section.get("features_csv"):
        output = (pipeline.get("write_records") or {}).get("output")
        if output:
            section["records"] = output
    return section


# ----------------------------------------------------------------------------- stages


def _writer_config(section: dict[str, Any], pipeline: dict[str, Any]) -> tuple[Any, bool]:
    from tfgenre.records.writer import WriterConfig

    section = dict(section)
    overwrite = section.pop("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"write_records.overwrite={overwrite!r} must be true or false")
    return config.from_dict(WriterConfig, section, prefix="write_records."), overwrite


@stage("write_records", check=_writer_config)
def _write_records(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    from tfgenre.records.writer import write_records
    from tfgenre.write_records import summarize

    cfg, overwrite = _writer_config(section, pipeline)
    result = write_records(cfg, overwrite=overwrite)
    sys.stdout.write(f"[write_records] {cfg.output}\n{summarize(result.manifest)}\n")


@check("tune")
def _tune_config(section: dict[str, Any], pipeline: dict[str, Any]) -> Any:
    """The tune settings and the fit config of the space's default point."""
    from tfgenre.trainer.config import FitConfig
    from tfgenre.tuning.space import load_space
    from tfgenre.tuning.study import TuneConfig

    space = load_space(section.get("space") or "")
    settings = config.from_dict(TuneConfig, config.merge(space.tune, section), prefix="tune.")
    base = data_source(config.merge(dict(pipeline.get("fit") or {}), space.fixed), pipeline)
    fit = space.apply(base, space.default_labels())
    fit["run_dir"] = settings.run_dir or "tune"
    config.from_dict(FitConfig, fit, prefix="tune: fit.")
    return settings


@dataclasses.dataclass(frozen=True)
class EvaluateStageConfig:
    """The ``evaluate:`` section of a pipeline.

    Attributes:
        run_dir: The run to evaluate ('' : the ``fit:`` stage's ``run_dir``).
        split: The split to score (``test``; others write ``report_<split>/``).
    """

    run_dir: str = ""
    split: str = "test"

    def __post_init__(self) -> None:
        config.require(bool(self.split), "evaluate.split='' must name a split (e.g. test)")


def _evaluate_config(section: dict[str, Any], pipeline: dict[str, Any]) -> EvaluateStageConfig:
    cfg = config.from_dict(EvaluateStageConfig, section, prefix="evaluate.")
    if cfg.run_dir:
        return cfg
    fit = pipeline.get("fit") or {}
    run_dir = fit.get("run_dir") if isinstance(fit, dict) else None
    if isinstance(fit, dict) and fit.get("folds"):
        raise ConfigError(
            f"evaluate: the fit: stage runs {fit['folds']} folds, each evaluated on its own "
            f"test fold (summary in {run_dir}/folds_summary.md); drop evaluate: or set "
            "evaluate.run_dir to one fold's run (e.g. <run_dir>/folds/0)"
        )
    if not run_dir:
        raise ConfigError(
            "evaluate.run_dir='' and the pipeline's fit: section names no run_dir: "
            "set evaluate.run_dir to the run to evaluate"
        )
    stages = [k for k in pipeline if k in config.STAGES]
    if "fit" in stages and stages.index("fit") > stages.index("evaluate"):
        raise ConfigError(
            "evaluate: comes before fit: in the pipeline, so the run it evaluates does "
            "not exist yet; move evaluate: after fit: or set evaluate.run_dir"
        )
    return dataclasses.replace(cfg, run_dir=str(run_dir))


@stage("evaluate", check=_evaluate_config)
def _evaluate(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    from tfgenre.run_folder import report_dir
    from tfgenre.scoring.predictions import evaluate_run
    from tfgenre.stats import format_interval

    cfg = _evaluate_config(section, pipeline)
    metrics = evaluate_run(cfg.run_dir, cfg.split)
    lines = [f"[evaluate] {cfg.run_dir} ({cfg.split})"]
    for level in ("segment", "track", "track_vote"):
        m = metrics[level]
        lines.append(
            f"{level:>10}: accuracy {format_interval(m['accuracy'], m.get('accuracy_ci'))}  "
            f"macro-F1 {format_interval(m['macro_f1'], m.get('macro_f1_ci'))}  "
            f"(n={m['num_examples']})"
        )
    lines.append(f"report: {report_dir(cfg.run_dir, cfg.split)}/report.md")
    sys.stdout.write("\n".join(lines) + "\n")


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


def _stage_runs(data: dict[str, Any]) -> list[tuple[str, int, int, dict[str, Any], dict]]:
    """``(stage, item, items, section, view)`` for every stage run, in order.

    A list of sections runs the stage once per item (e.g. several fits). Stages that
    read another stage's section (tune and baselines read fit's) see the item being
    run, or the first item of another stage's list.
    """
    runs = []
    for name in [k for k in data if k in config.STAGES]:
        sections = data[name] if isinstance(data[name], list) else [data[name]]
        for i, section in enumerate(sections):
            if section is not None and not isinstance(section, dict):
                raise ConfigError(
                    f"pipeline section {name}{f'.{i}' if len(sections) > 1 else ''} must be "
                    f"a mapping of keys, got {section!r}"
                )
            view = {
                k: (v[0] if v else {}) if k in config.STAGES and isinstance(v, list) else v
                for k, v in data.items()
            }
            view[name] = section
            runs.append((name, i, len(sections), dict(section or {}), view))
    return runs


def check_pipeline(data: dict[str, Any]) -> None:
    """Checks every stage section of ``data`` without running anything.

    Each stage's config is built from its section (overrides applied) exactly as the
    stage will build it, so unknown keys and bad values surface before the first
    stage writes a file.

    Raises:
        ConfigError: naming the stage (and item) and the key or value at fault.
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
    for name, i, count, section, view in _stage_runs(data):
        fn = _CHECKS.get(name)
        if fn is None:
            cli.logger.debug("stage %s has no up-front check", name)
            continue
        try:
            fn(copy.deepcopy(section), copy.deepcopy(view))
        except ConfigError as err:
            where = f"{name}[{i}]" if count > 1 else name
            raise ConfigError(f"stage {where}: {err} (nothing was run)") from err


def run_pipeline(data: dict[str, Any]) -> None:
    """Checks every stage section of ``data`` (:func:`check_pipeline`), then runs them in order.

    Raises:
        ConfigError: when the file lists no stage or an unknown one, or a section does
            not build a valid config (before any stage has run).
    """
    check_pipeline(data)
    for name, i, count, section, view in _stage_runs(data):
        cli.logger.info("stage %s%s", name, f" [{i}]" if count > 1 else "")
        _STAGES[name](section, view)


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
        check_pipeline(data)
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
