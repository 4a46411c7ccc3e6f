"""The sections of a pipeline that have no command module of their own to check them.

Each ``*_section(section, pipeline)`` builds the typed config of one step from its YAML
section (and, where the section leaves it out, from the pipeline's ``fit:`` stage),
refusing a bad key or value before any stage runs. :func:`apply_overrides` applies
``--set`` to a pipeline whose stages may be lists of sections.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from tfgenre.core import config
from tfgenre.errors import ConfigError


def writer_section(section: dict[str, Any], pipeline: dict[str, Any]) -> tuple[Any, bool]:
    """The ``write_records:`` section: its WriterConfig, and whether it may overwrite."""
    from tfgenre.records.writer_config import WriterConfig

    section = dict(section)
    overwrite = section.pop("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"write_records.overwrite={overwrite!r} must be true or false")
    return config.from_dict(WriterConfig, section, prefix="write_records."), overwrite


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


def evaluate_section(section: dict[str, Any], pipeline: dict[str, Any]) -> EvaluateStageConfig:
    """The ``evaluate:`` section; its run folder defaults to the ``fit:`` stage's."""
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


def compare_section(section: dict[str, Any], pipeline: dict[str, Any]) -> CompareStageConfig:
    """The ``compare:`` section."""
    return config.from_dict(CompareStageConfig, section, prefix="compare.")


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


def export_section(section: dict[str, Any], pipeline: dict[str, Any]) -> ExportStageConfig:
    """The ``export:`` section; its run folder defaults to the ``fit:`` stage's."""
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
