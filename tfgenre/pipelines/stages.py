"""Pipelines: a YAML of stages that ``python -m tfgenre.run`` executes in order.

Words used here and in the stage modules:

* **pipeline**: the YAML, a mapping of stage sections (``write_records:``, ``fit:``,
  ``evaluate:``, ...) plus an optional ``name`` and ``description``;
* **stage**: a section name and the function that executes it, registered with
  :func:`stage` by the module of the command it belongs to (``tfgenre.fit`` registers
  ``fit``); a stage may also register an up-front check;
* **step**: one execution of a stage, i.e. its section, or one item of a section
  given as a list (several fits on the same records);
* **run folder**: the output folder of a fit (``fit.run_dir``), which ``evaluate:``
  scores; never the pipeline itself.

This module knows no stage: the command that executes a pipeline
(:mod:`tfgenre.run`) imports the stage modules, whose decorators fill the registry.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from tfgenre.core import config
from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

#: ``fn(section, pipeline)``: executes one step of a stage.
StageFn = Callable[[dict[str, Any], dict[str, Any]], None]
#: ``check(section, pipeline)``: builds a step's config without doing any work.
CheckFn = Callable[[dict[str, Any], dict[str, Any]], Any]
_STAGES: dict[str, StageFn] = {}
_CHECKS: dict[str, CheckFn] = {}


def stage(name: str, check: CheckFn | None = None) -> Callable[[StageFn], StageFn]:
    """Registers the function that executes stage ``name`` as ``fn(section, pipeline)``.

    Args:
        name: The section name, one of :data:`tfgenre.core.config.STAGES`.
        check: Optional ``check(section, pipeline)`` that builds the stage's config
            without doing any work, raising ``ConfigError`` on a bad key or value. It
            runs for every step before the first step starts.
    """

    def wrap(fn: StageFn) -> StageFn:
        _STAGES[name] = fn
        if check is not None:
            _CHECKS[name] = check
        return fn

    return wrap


def registered_stages() -> list[str]:
    """Names of the stages registered so far, sorted."""
    return sorted(_STAGES)


def with_default_records(section: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    """``section`` with ``records`` taken from ``write_records.output`` when it names no data.

    The one rule by which every stage that reads data (``fit``, ``tune``,
    ``baselines``, ``explore``) finds the records the pipeline wrote.

    Args:
        section: A stage section (or the ``fit:`` section another stage reads).
        pipeline: The whole pipeline.

    Returns:
        A copy of ``section``; ``records`` is added only when neither ``records`` nor
        ``features_csv`` is set and ``write_records:`` names an ``output``.
    """
    section = dict(section)
    if not section.get("records") and not section.get("features_csv"):
        output = (pipeline.get("write_records") or {}).get("output")
        if output:
            section["records"] = output
    return section


@dataclasses.dataclass(frozen=True)
class Step:
    """One execution of a stage.

    Attributes:
        stage: The stage name.
        item: Index of the section in a list-valued stage (0 otherwise).
        items: Number of sections the stage has (1 unless given as a list).
        section: The section this step executes.
        pipeline: The pipeline as this step sees it: its own section in place of the
            stage's list, the first item of every other list-valued stage.
    """

    stage: str
    item: int
    items: int
    section: dict[str, Any]
    pipeline: dict[str, Any]


def steps(pipeline: dict[str, Any]) -> list[Step]:
    """Every step of ``pipeline``, in the order written.

    A list of sections executes the stage once per item (e.g. several fits). Stages that
    read another stage's section (tune and baselines read fit's) see the item being
    executed, or the first item of another stage's list.

    Raises:
        ConfigError: when a section is neither a mapping nor empty.
    """
    found = []
    for name in [k for k in pipeline if k in config.STAGES]:
        sections = pipeline[name] if isinstance(pipeline[name], list) else [pipeline[name]]
        for i, section in enumerate(sections):
            if section is not None and not isinstance(section, dict):
                raise ConfigError(
                    f"pipeline section {name}{f'.{i}' if len(sections) > 1 else ''} must be "
                    f"a mapping of keys, got {section!r}"
                )
            view = {
                k: (v[0] if v else {}) if k in config.STAGES and isinstance(v, list) else v
                for k, v in pipeline.items()
            }
            view[name] = section
            found.append(Step(name, i, len(sections), dict(section or {}), view))
    return found


def check_pipeline(pipeline: dict[str, Any]) -> None:
    """Checks every step of ``pipeline`` without executing anything.

    Each step's config is built from its section (overrides applied) exactly as the
    stage will build it, so unknown keys and bad values surface before the first
    stage writes a file.

    Raises:
        ConfigError: naming the stage (and item) and the key or value at fault.
    """
    stages = [k for k in pipeline if k in config.STAGES]
    unknown = [k for k in pipeline if k not in config.STAGES and k not in ("name", "description")]
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
    for step in steps(pipeline):
        fn = _CHECKS.get(step.stage)
        if fn is None:
            logger.debug("stage %s has no up-front check", step.stage)
            continue
        try:
            fn(copy.deepcopy(step.section), copy.deepcopy(step.pipeline))
        except ConfigError as err:
            where = f"{step.stage}[{step.item}]" if step.items > 1 else step.stage
            raise ConfigError(f"stage {where}: {err} (nothing was run)") from err


def run_pipeline(pipeline: dict[str, Any]) -> None:
    """Checks every step of ``pipeline`` (:func:`check_pipeline`), then executes them in order.

    Raises:
        ConfigError: when the file lists no stage or an unknown one, or a section does
            not build a valid config (before any step has been executed).
    """
    check_pipeline(pipeline)
    for step in steps(pipeline):
        logger.info("stage %s%s", step.stage, f" [{step.item}]" if step.items > 1 else "")
        _STAGES[step.stage](step.section, step.pipeline)
