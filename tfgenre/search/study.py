"""A whole search: the tune settings, the backend run, and the study folder's outputs.

:func:`run_study` is what ``python -m tfgenre.tune`` and the ``tune`` pipeline stage
call. It checks the space against the fit config before the first trial, runs the
Optuna or keras-tuner backend, and writes the trials CSV, the best config, the Pareto
front, HParams, plots and ``summary.json`` (see :mod:`tfgenre.search.report`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from tfgenre.core import config, io, layout
from tfgenre.errors import ConfigError, TfgenreError
from tfgenre.search import report
from tfgenre.search.objectives import Objective, parse_objectives
from tfgenre.search.space import SearchSpace, load_space
from tfgenre.search.trials import KEEP_MODELS, TrialRunner

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("optuna", "keras_tuner")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """Settings of a search (the ``tune:`` section of a pipeline YAML).

    Attributes:
        space: The search-space YAML file (or the space itself as a mapping).
        backend: ``optuna`` or ``keras_tuner`` (``keras-tuner`` is accepted).
        run_dir: The study folder.
        trials: Finished trials the study should hold (a resumed study runs the rest).
        timeout_seconds: Start no new trial after this long (None: no limit).
        storage: Optuna storage URL or journal file ('' : SQLite in ``run_dir``).
        study_name: Study name ('' : the name of ``run_dir``); the same name resumes.
        sampler: Optuna: auto, tpe, random, grid, nsga2, cmaes; keras-tuner: auto,
            random, bayesian, hyperband. ``auto``: TPE (NSGA-II for several
            objectives) or keras-tuner's Bayesian optimisation.
        sampler_options: Keyword options of the sampler/oracle.
        pruner: Optuna pruner: median, hyperband or none.
        pruner_options: Keyword options of the pruner.
        objectives: The first is a history metric (e.g. ``val_accuracy``); more may be
            ``params`` and ``latency_ms`` (Optuna only).
        objective_reduce: A metric's value: its ``best`` epoch or its ``last`` epoch.
        keep_models: Which trials keep their model files: all, best (the best or the
            Pareto front), none.
        max_consecutive_failures: Stop after this many failed trials in a row (0: never).
        latency_batch_size: Batch size of the latency measurement.
        latency_repeats: Timed calls of the latency measurement.
        seed: Sampler seed.
        enqueue: Points ``{param: label}`` to try first.
        evaluate_best: Evaluate the best trial's model on the fit's ``eval_split``.
        plots: Write the plots.
    """

    space: str | dict[str, Any] = ""
    backend: str = "optuna"
    run_dir: str = ""
    trials: int = 20
    timeout_seconds: float | None = None
    storage: str = ""
    study_name: str = ""
    sampler: str = "auto"
    sampler_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    pruner: str = "median"
    pruner_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    objectives: tuple[str, ...] = ("val_accuracy",)
    objective_reduce: str = "best"
    keep_models: str = "best"
    max_consecutive_failures: int = 10
    latency_batch_size: int = 1
    latency_repeats: int = 20
    seed: int = 0
    enqueue: tuple[dict[str, Any], ...] = ()
    evaluate_best: bool = True
    plots: bool = True

    def __post_init__(self) -> None:
        backend = self.backend.replace("-", "_")
        object.__setattr__(self, "backend", backend)
        config.require(
            backend in BACKENDS,
            f"backend={self.backend!r} is unknown (known: optuna, keras-tuner)",
        )
        from tfgenre.search import keras_tuner_backend, optuna_backend

        samplers = optuna_backend.SAMPLERS if backend == "optuna" else keras_tuner_backend.SAMPLERS
        config.require(
            self.sampler in samplers,
            f"sampler={self.sampler!r} is unknown for {backend} (known: {', '.join(samplers)})",
        )
        config.require(
            self.pruner in optuna_backend.PRUNERS,
            f"pruner={self.pruner!r} is unknown (known: {', '.join(optuna_backend.PRUNERS)})",
        )
        config.require(self.trials > 0, f"trials={self.trials} must be > 0")
        config.require(
            self.timeout_seconds is None or self.timeout_seconds > 0,
            f"timeout_seconds={self.timeout_seconds} must be > 0 (or null)",
        )
        config.require(
            self.objective_reduce in ("best", "last"),
            f"objective_reduce={self.objective_reduce!r} must be best or last",
        )
        config.require(
            self.keep_models in KEEP_MODELS,
            f"keep_models={self.keep_models!r} must be one of {', '.join(KEEP_MODELS)}",
        )
        config.require(
            self.max_consecutive_failures >= 0,
            f"max_consecutive_failures={self.max_consecutive_failures} must be >= 0",
        )
        config.require(
            self.latency_batch_size > 0 and self.latency_repeats > 0,
            f"latency_batch_size={self.latency_batch_size} and latency_repeats="
            f"{self.latency_repeats} must be > 0",
        )
        objectives = parse_objectives(self.objectives)
        config.require(
            backend == "optuna" or len(objectives) == 1,
            f"objectives={list(self.objectives)}: keras-tuner optimises one objective; use "
            "backend optuna (NSGA-II) for several",
        )

    @property
    def study(self) -> str:
        """The study name (``study_name``, else the name of ``run_dir``)."""
        return self.study_name or os.path.basename(os.path.normpath(self.run_dir)) or "study"


@dataclasses.dataclass
class StudyResult:
    """What a finished search produced."""

    study: Any
    summary: dict[str, Any]
    plots: dict[str, Any]


def load_settings(section: Mapping[str, Any]) -> tuple[SearchSpace, TuneConfig]:
    """The space a ``tune:`` mapping names, and the settings with the space's defaults first.

    Raises:
        ConfigError: on a missing or invalid space, or an invalid setting.
    """
    space = load_space(section.get("space") or "")
    settings = config.from_dict(TuneConfig, config.merge(space.tune, section), prefix="tune.")
    return space, settings


def plan(base: Mapping[str, Any], space: SearchSpace, settings: TuneConfig) -> dict[str, Any]:
    """What ``tune --dry-run`` prints: the settings, the space and the first trial's fit."""
    runner = TrialRunner(base, space, (), run_dir=settings.run_dir or "<run_dir>")
    example = runner.fit_config(space.default_labels(), runner.trial_dir(0))
    out: dict[str, Any] = {
        "tune": config.to_dict(settings),
        "space": space.summary(),
        "first_trial_fit": config.to_dict(example),
    }
    if settings.sampler == "grid":
        out["grid_size"] = space.grid_size()
    return out



def check_validation_split(fit: Any, objectives: tuple[Objective, ...]) -> None:
    """Fails early when a ``val_`` objective has no validation split to come from.

    Raises:
        ConfigError: naming the split and the splits the data has.
    """
    if not any(o.kind == "metric" and o.name.startswith("val_") for o in objectives):
        return
    if fit.features_csv:
        from tfgenre.views.feature_table import fit_feature_table

        have = list(fit_feature_table(fit).splits)
        where = fit.features_csv
    elif fit.records:
        from tfgenre.records.info import RecordsInfo

        have = RecordsInfo.load(fit.records).split_names
        where = fit.records
    else:
        raise ConfigError("give records (a records folder) or features_csv")
    if fit.val_split not in have:
        raise ConfigError(
            f"objective {objectives[0].name!r} needs a validation split, but "
            f"fit.val_split={fit.val_split!r} is not in {where} (splits: {', '.join(have)}); "
            "set fit.splits with a validation fraction, or fit.val_split"
        )


def run_study(base: Mapping[str, Any], space: SearchSpace, settings: TuneConfig) -> StudyResult:
    """Runs (or resumes) a search and writes its outputs into ``settings.run_dir``.

    Args:
        base: The fit-config mapping every trial starts from.
        space: The search space.
        settings: The tune settings.

    Returns:
        The study, the summary (also in ``summary.json``) and the plots written.

    Raises:
        ConfigError: when the space and the fit config do not fit together.
        TfgenreError: when the study stopped on consecutive failed trials (after the
            outputs are written).
    """
    if not settings.run_dir:
        raise ConfigError("run_dir='' must name the study folder (--run-dir)")
    runner = TrialRunner(
        base,
        space,
        parse_objectives(settings.objectives),
        run_dir=settings.run_dir,
        reduce=settings.objective_reduce,
        keep_models=settings.keep_models,
        latency_batch_size=settings.latency_batch_size,
        latency_repeats=settings.latency_repeats,
    )
    epochs, enqueue, grid_size = _check_before_first_trial(runner, settings)
    _write_tune_yaml(base, space, settings)
    study, stop_reason, storage = _run_backend(runner, settings, epochs=epochs, enqueue=enqueue)
    summary, plots = write_outputs(study, runner, settings, storage=storage, grid_size=grid_size)
    if stop_reason:
        raise TfgenreError(stop_reason)
    return StudyResult(study, summary, plots)


def _check_before_first_trial(
    runner: TrialRunner, settings: TuneConfig
) -> tuple[int, list[dict[str, Any]], int | None]:
    """Builds the fit configs of the default and the enqueued points, so errors come early.

    Returns:
        ``(epochs of the fit, the enqueued points checked, the grid's size or None)``.

    Raises:
        ConfigError: when a point gives an invalid fit config, or a ``val_`` objective
            has no validation split.
    """
    space = runner.space
    first = runner.fit_config(space.default_labels(), runner.trial_dir(0))
    enqueue = [space.check_labels(p) for p in settings.enqueue]
    for point in enqueue:
        runner.fit_config(point, runner.trial_dir(0))
    check_validation_split(first, runner.objectives)
    grid_size = space.grid_size() if settings.sampler == "grid" else None
    if grid_size is not None and grid_size > settings.trials:
        logger.warning(
            "the grid has %d points and trials=%d: only part of it will run",
            grid_size,
            settings.trials,
        )
    return first.epochs, enqueue, grid_size


def _write_tune_yaml(base: Mapping[str, Any], space: SearchSpace, settings: TuneConfig) -> None:
    """``<run_dir>/tune.yaml``: the fit base, the tune settings and the space of the study."""
    io.makedirs(settings.run_dir)
    io.write_text_atomic(
        io.join(settings.run_dir, "tune.yaml"),
        yaml.safe_dump(
            {
                "fit": dict(base),
                "tune": config.to_dict(settings),
                "space": {"source": space.source, "params": space.summary()},
            },
            sort_keys=False,
        ),
    )


def _run_backend(
    runner: TrialRunner, settings: TuneConfig, *, epochs: int, enqueue: list[dict[str, Any]]
) -> tuple[Any, str | None, str]:
    """Runs the Optuna or keras-tuner search.

    Returns:
        ``(an Optuna study, why it stopped early or None, where its state is stored)``.
    """
    common = dict(
        study_name=settings.study,
        trials=settings.trials,
        timeout_seconds=settings.timeout_seconds,
        sampler=settings.sampler,
        sampler_options=settings.sampler_options,
        seed=settings.seed,
        epochs=epochs,
        max_consecutive_failures=settings.max_consecutive_failures,
        after_trial=_after_trial(runner),
    )
    if settings.backend == "optuna":
        from tfgenre.search.optuna_backend import default_storage_url, run_optuna

        storage = settings.storage or default_storage_url(settings.run_dir)
        study, stop_reason = run_optuna(
            runner,
            storage_url=storage,
            pruner=settings.pruner,
            pruner_options=settings.pruner_options,
            enqueue=enqueue,
            **common,
        )
        return study, stop_reason, storage
    from tfgenre.search.keras_tuner_backend import run_keras_tuner

    if enqueue:
        raise ConfigError("enqueue is supported by the optuna backend only")
    study, stop_reason = run_keras_tuner(runner, **common)
    return study, stop_reason, io.join(settings.run_dir, "keras_tuner", settings.study)


def _after_trial(runner: TrialRunner) -> Callable[[Any, Any], None]:
    """What runs after every trial: prune model files, rewrite the trials CSV and HParams."""

    def after_trial(study: Any, frozen: Any) -> None:
        _prune_models(study, runner)
        _write_trial_tables(study, runner)

    return after_trial


def _prune_models(study: Any, runner: TrialRunner) -> None:
    """Removes the model files of finished trials that ``keep_models`` does not keep."""
    finished = [
        t.user_attrs["run_dir"]
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and "run_dir" in t.user_attrs
    ]
    keep = [t.user_attrs.get("run_dir", "") for t in report.best_trials(study)]
    runner.prune_models(finished, keep)


def _write_trial_tables(study: Any, runner: TrialRunner) -> None:
    """``trials.csv`` and the HParams folder of the study so far."""
    run_dir, objectives, space = runner.run_dir, runner.objectives, runner.space
    report.write_csv(io.join(run_dir, "trials.csv"), report.trial_rows(study, objectives, space))
    report.write_hparams(io.join(run_dir, "hparams"), study, space, objectives)


def write_outputs(
    study: Any,
    runner: TrialRunner,
    settings: TuneConfig,
    *,
    storage: str,
    grid_size: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Writes the trials CSV, best config, HParams, plots and ``summary.json``.

    Returns:
        ``(summary, plots)``.
    """
    run_dir, objectives = settings.run_dir, runner.objectives
    _write_trial_tables(study, runner)
    best = report.write_best(run_dir, study, runner, settings.study)
    if best["best"] is not None:
        _prune_models(study, runner)
        if settings.evaluate_best:
            best["best"]["evaluation"] = _evaluate_best(best["best"]["run_dir"])
    plots: dict[str, Any] = {}
    if settings.plots and study.get_trials(deepcopy=False):
        from tfgenre.search.plots import write_plots

        plots = write_plots(study, io.join(run_dir, "plots"), objectives)
    summary = report.summarize(
        study,
        objectives,
        study_name=settings.study,
        backend=settings.backend,
        storage=storage,
        best=best,
        grid_size=grid_size,
    )
    summary["outputs"] = {
        "trials_csv": io.join(run_dir, "trials.csv"),
        "best_config": io.join(run_dir, "best_config.yaml") if best["best"] else None,
        "plots": io.join(run_dir, "plots", "index.html") if plots else None,
        "hparams": io.join(run_dir, "hparams"),
    }
    io.write_text_atomic(
        io.join(run_dir, "summary.json"), json.dumps(summary, indent=2, default=str)
    )
    return summary, plots


def _evaluate_best(trial_dir: str) -> dict[str, Any] | None:
    """Track-level accuracy and macro-F1 of the best trial on its eval split, if possible."""
    if not trial_dir or not io.exists(io.join(trial_dir, layout.MODEL)):
        return None
    from tfgenre.evaluation.metrics_file import MetricsFile
    from tfgenre.evaluation.predictions import evaluate_run
    from tfgenre.runs.run_info import RunInfo

    split = RunInfo.load(trial_dir).selection.eval_split
    try:
        return report.evaluation_summary(
            MetricsFile.from_json(evaluate_run(trial_dir, split=split)), split
        )
    except TfgenreError as err:
        logger.warning("could not evaluate the best trial on %r: %s", split, err)
        return None
