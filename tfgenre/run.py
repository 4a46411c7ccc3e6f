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
import copy
import dataclasses
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from tfgenre.core import cli, config, layout
from tfgenre.errors import ConfigError
from tfgenre.pipelines.stages import check_pipeline, registered_stages, run_pipeline, stage

#: The command modules that register a stage besides this one (write_records and
#: evaluate are registered below).
STAGE_MODULES: tuple[str, ...] = (
    "tfgenre.fit",
    "tfgenre.evaluate",
    "tfgenre.tune",
    "tfgenre.baselines",
    "tfgenre.explore",
)


# ----------------------------------------------------------------------------- stages


def _writer_config(section: dict[str, Any], pipeline: dict[str, Any]) -> tuple[Any, bool]:
    from tfgenre.records.writer_config import WriterConfig

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
    sys.stdout.write(f"[write_records] {cfg.output}\n{summarize(result.info)}\n")


@dataclasses.dataclass(frozen=True)
class EvaluateStageConfig:
    """The ``evaluate:`` section of a pipeline.

    Attributes:
        run_dir: The run folder to evaluate ('' : the ``fit:`` stage's ``run_dir``).
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
    from tfgenre.evaluation.metrics_file import MetricsFile
    from tfgenre.evaluation.predictions import evaluate_run
    from tfgenre.runs.run_folder import report_dir

    cfg = _evaluate_config(section, pipeline)
    metrics = MetricsFile.from_json(evaluate_run(cfg.run_dir, cfg.split))
    lines = [f"[evaluate] {cfg.run_dir} ({cfg.split})"]
    if metrics.note:  # e.g. that the data is synthetic
        lines.append(f"note: {metrics.note}")
    for level in ("segment", "track", "track_vote"):
        lines.append(metrics.level(level).line(level))
    lines.append(f"report: {report_dir(cfg.run_dir, cfg.split)}/{layout.REPORT_MD}")
    sys.stdout.write("\n".join(lines) + "\n")


@dataclasses.dataclass(frozen=True)
class CompareStageConfig:
    """The ``compare:`` section of a pipeline.

    Attributes:
        runs: Two or more run folders (fits of this pipeline or earlier runs).
        split: The split they were scored on.
        out: Folder for compare.md, compare.csv and compare.png ('' : print only).
        resamples: Bootstrap resamples.
        seed: Bootstrap seed.
    """

    runs: list[str] = dataclasses.field(default_factory=list)
    split: str = "test"
    out: str = ""
    resamples: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        from tfgenre.core.stats import DEFAULT_RESAMPLES, MIN_RESAMPLES

        config.require(
            len(self.runs) >= 2 and all(isinstance(r, str) and r for r in self.runs),
            f"compare.runs={self.runs!r} must list two or more run folders",
        )
        config.require(
            len(set(self.runs)) == len(self.runs), f"compare.runs={self.runs!r} repeats a run"
        )
        if not self.resamples:
            object.__setattr__(self, "resamples", DEFAULT_RESAMPLES)
        config.require(
            self.resamples >= MIN_RESAMPLES,
            f"compare.resamples={self.resamples} must be at least {MIN_RESAMPLES}",
        )


def _compare_config(section: dict[str, Any], pipeline: dict[str, Any]) -> CompareStageConfig:
    return config.from_dict(CompareStageConfig, section, prefix="compare.")


@stage("compare", check=_compare_config)
def _compare(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    from tfgenre.core import io
    from tfgenre.core.stats import BootstrapSettings
    from tfgenre.evaluation.comparison import (
        check_distinct_runs,
        compare_runs,
        comparison_markdown,
        load_run_predictions,
        write_comparison,
    )

    cfg = _compare_config(section, pipeline)
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


@dataclasses.dataclass(frozen=True)
class ExportStageConfig:
    """The ``export:`` section of a pipeline.

    Attributes:
        run_dir: The run to export ('' : the ``fit:`` stage's ``run_dir``, or its first
            item's).
        formats: Any of ``savedmodel``, ``tflite``, ``keras``.
        input: Embeddings runs: ``waveform`` (backbones in the graph) or ``embeddings``.
    """

    run_dir: str = ""
    formats: list[str] = dataclasses.field(default_factory=lambda: ["savedmodel"])
    input: str = "waveform"

    def __post_init__(self) -> None:
        from tfgenre.inference.artifacts import FORMATS

        bad = [f for f in self.formats if f not in FORMATS]
        config.require(
            bool(self.formats) and not bad,
            f"export.formats={self.formats!r} must list some of {', '.join(FORMATS)}",
        )
        config.require(
            self.input in ("waveform", "embeddings"),
            f"export.input={self.input!r} must be 'waveform' or 'embeddings'",
        )


def _export_config(section: dict[str, Any], pipeline: dict[str, Any]) -> ExportStageConfig:
    cfg = config.from_dict(ExportStageConfig, section, prefix="export.")
    if cfg.run_dir:
        return cfg
    fit = pipeline.get("fit") or {}
    fit = fit[0] if isinstance(fit, list) and fit else fit
    run_dir = fit.get("run_dir") if isinstance(fit, dict) else None
    if not run_dir:
        raise ConfigError(
            "export.run_dir='' and the pipeline's fit: section names no run_dir: set "
            "export.run_dir to the run to export"
        )
    return dataclasses.replace(cfg, run_dir=str(run_dir))


@stage("export", check=_export_config)
def _export(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    from tfgenre.inference.artifacts import export_run

    cfg = _export_config(section, pipeline)
    saved_model = None
    for fmt in dict.fromkeys(cfg.formats):
        result = export_run(
            cfg.run_dir,
            fmt,
            saved_model=saved_model if fmt == "tflite" else None,
            vector_input=cfg.input == "embeddings",
        )
        if fmt == "savedmodel":
            saved_model = result.path
        sys.stdout.write(
            f"[export] {fmt:<10} {result.path}  ({result.num_bytes / 1e6:.2f} MB, input "
            f"{result.input_name!r})\n"
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


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``config.apply_overrides`` that also reaches into stages given as lists.

    For a list-valued stage, ``fit.epochs=1`` sets the key in every item and
    ``fit.1.epochs=1`` in item 1 only.
    """
    data = config.apply_overrides(data, [])
    for text in overrides:
        parts, value = config.parse_override(text)
        items = data.get(parts[0])
        if not isinstance(items, list) or len(parts) < 2:
            config.set_path(data, parts, value)
            continue
        indices, rest = range(len(items)), parts[1:]
        if rest[0].isdigit():
            index = int(rest[0])
            if index >= len(items) or len(rest) < 2:
                raise ConfigError(f"--set {text!r}: {parts[0]} has {len(items)} items")
            indices, rest = range(index, index + 1), rest[1:]
        for i in indices:
            items[i] = items[i] or {}
            config.set_path(items[i], rest, copy.deepcopy(value))
    return data


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
