"""The keras-tuner backend: RandomSearch, BayesianOptimization and Hyperband oracles.

The space file is declared up front on a ``kt.HyperParameters`` (conditionals become
``conditional_scope``), so the oracles know the whole space before the first trial.
A small ``BaseTuner`` subclass runs every trial through
:class:`~tfgenre.search.trials.TrialRunner`, i.e. tfgenre's own fit, exactly like the
Optuna backend; Hyperband's budget sets the trial's epochs. Hyperband trains a
promoted configuration again from scratch for its larger budget (tfgenre's fit does
not start from another run's weights), which costs the epochs of the lower rungs once
more. keras-tuner optimises one objective.

State lives in ``<run_dir>/keras_tuner/<study_name>``; rerunning with the same study
name resumes it. A trial that was running when its process died (kill -9) runs again
with its number and point: its unfinished fit resumes when the config is the same, and
is replaced otherwise (e.g. other ``--epochs``). At the end the trials are copied into
an in-memory Optuna study so that both backends share the trials CSV, the best config,
the plots and HParams.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from tfgenre.core import io, layout
from tfgenre.errors import ConfigError
from tfgenre.search.trials import TrialRunner

logger = logging.getLogger(__name__)

SAMPLERS: tuple[str, ...] = ("auto", "random", "bayesian", "hyperband")


class _StopSearch(Exception):
    """Internal: the timeout passed."""


def _interrupted_trials(oracle: Any) -> set[str]:
    """The trials a reloaded oracle queues again: they were running when the process died."""
    interrupted = set(getattr(oracle, "_retry_queue", ()))
    if interrupted:
        logger.warning(
            "trial(s) %s were running when the last search stopped (killed?): they run again",
            ", ".join(sorted(interrupted)),
        )
    return interrupted


def _fit_trial(runner: TrialRunner, trial: Any, *, replace_unfinished: bool) -> dict[str, float]:
    """Runs a keras-tuner trial as a tfgenre fit; returns ``{objective: value}``.

    Raises:
        keras_tuner.errors.FailedTrialError: when the fit or a measurement failed.
    """
    import keras_tuner as kt

    values = dict(trial.hyperparameters.values)
    labels = runner.space.labels_from_keras_tuner(values)
    try:
        result = runner.run(
            labels,
            int(trial.trial_id),
            epochs=values.get("tuner/epochs"),
            replace_unfinished=replace_unfinished,
        )
    except Exception as err:
        message = f"{type(err).__name__}: {err}"[:2000]
        logger.warning("trial %s failed: %s", trial.trial_id, message)
        raise kt.errors.FailedTrialError(message) from err
    return {runner.objectives[0].name: result.values[0]}


def _make_tuner_class() -> type:
    import keras_tuner as kt

    class FitTuner(kt.engine.base_tuner.BaseTuner):
        """Runs each keras-tuner trial as a tfgenre fit."""

        def __init__(
            self,
            oracle: Any,
            runner: TrialRunner,
            *,
            directory: str,
            project_name: str,
            timeout_seconds: float | None,
            trials: int,
            after_trial: Callable[[Any], None] | None,
        ) -> None:
            self.runner = runner
            self.timeout_seconds = timeout_seconds
            self.after_trial = after_trial
            self._start = time.monotonic()
            super().__init__(oracle, directory=directory, project_name=project_name)
            self.oracle.max_trials = trials  # also after a reload: the total to reach
            self.interrupted = _interrupted_trials(self.oracle)

        def _populate_initial_space(self) -> None:
            # keras-tuner reloads a project only when its tuner file exists, which is
            # written when the first trial ends: a search killed during its first trial
            # would start afresh and give trial 0 (and its folder) to another point.
            oracle_file = self.oracle._get_oracle_fname()
            if io.exists(oracle_file):
                logger.info("reloading the oracle from %s", oracle_file)
                self.oracle.reload()
                return
            super()._populate_initial_space()

        def pre_create_trial(self) -> None:
            if self.timeout_seconds is not None and (
                time.monotonic() - self._start > self.timeout_seconds
            ):
                logger.info("timeout of %.0f s reached: no new trials", self.timeout_seconds)
                self.oracle.max_trials = len(self.oracle.trials)

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            return _fit_trial(
                self.runner, trial, replace_unfinished=trial.trial_id in self.interrupted
            )

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            if self.after_trial is not None:
                self.after_trial(self)

        def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
            """Models are saved by tfgenre's fit in the trial folder."""

        def load_model(self, trial: Any) -> Any:
            from tfgenre.models.saving import load_model

            return load_model(io.join(self.runner.trial_dir(int(trial.trial_id)), layout.MODEL))

    return FitTuner


def make_oracle(
    name: str,
    *,
    objective: Any,
    hyperparameters: Any,
    trials: int,
    epochs: int,
    seed: int,
    options: dict[str, Any],
    max_consecutive_failures: int,
) -> Any:
    """The keras-tuner oracle called ``name`` (``auto``: bayesian).

    Raises:
        ConfigError: for an unknown name or option.
    """
    import keras_tuner as kt

    common = dict(
        objective=objective,
        hyperparameters=hyperparameters,
        seed=seed,
        max_consecutive_failed_trials=max_consecutive_failures or 10**9,
    )
    try:
        if name in ("auto", "bayesian"):
            return kt.oracles.BayesianOptimizationOracle(max_trials=trials, **common, **options)
        if name == "random":
            return kt.oracles.RandomSearchOracle(max_trials=trials, **common, **options)
        if name == "hyperband":
            options = {"factor": 3, **options}
            return kt.oracles.HyperbandOracle(max_epochs=epochs, **common, **options)
    except TypeError as err:
        raise ConfigError(f"sampler_options={options} for keras-tuner {name!r}: {err}") from err
    raise ConfigError(f"sampler={name!r} is unknown for keras-tuner (known: {', '.join(SAMPLERS)})")


def run_keras_tuner(
    runner: TrialRunner,
    *,
    study_name: str,
    trials: int,
    timeout_seconds: float | None = None,
    sampler: str = "auto",
    sampler_options: dict[str, Any] | None = None,
    seed: int = 0,
    epochs: int = 1,
    max_consecutive_failures: int = 10,
    after_trial: Callable[[Any, Any], None] | None = None,
) -> tuple[Any, str | None]:
    """Runs (or resumes) a keras-tuner search; returns it as an Optuna study.

    Args:
        runner: Runs one point through tfgenre's fit.
        study_name: The project name (resumes when it exists).
        trials: Trials the search should hold in total.
        timeout_seconds: Stop starting new trials after this long.
        sampler: ``random``, ``bayesian`` (``auto``) or ``hyperband``.
        sampler_options: Keyword options of the oracle (e.g. ``factor``).
        seed: Oracle seed.
        epochs: The fit's epochs (Hyperband's ``max_epochs``).
        max_consecutive_failures: Stop after this many failed trials in a row.
        after_trial: Called as ``fn(study, frozen_trial)`` after every trial, with the
            search converted so far.

    Returns:
        ``(study, stop_reason)``: an in-memory ``optuna.Study`` holding the trials, and
        why the search stopped early (None when it did not).

    Raises:
        ConfigError: for several objectives or a bad oracle option.
    """
    oracle = _make_search_oracle(
        runner,
        sampler=sampler,
        options=dict(sampler_options or {}),
        trials=trials,
        epochs=epochs,
        seed=seed,
        max_consecutive_failures=max_consecutive_failures,
    )
    tuner = _make_tuner_class()(
        oracle,
        runner,
        directory=io.join(runner.run_dir, "keras_tuner"),
        project_name=study_name,
        timeout_seconds=timeout_seconds,
        trials=trials,
        after_trial=_study_hook(runner, after_trial),
    )
    stop_reason = _search(tuner, study_name, max_consecutive_failures)
    return to_optuna_study(tuner, runner), stop_reason


def _make_search_oracle(runner: TrialRunner, *, sampler: str, **kwargs: Any) -> Any:
    """The oracle for ``runner``'s one objective, with the whole space declared up front.

    Raises:
        ConfigError: for several objectives or a bad oracle option.
    """
    import keras_tuner as kt

    objectives = runner.objectives
    if len(objectives) != 1:
        raise ConfigError(
            f"objectives={[o.name for o in objectives]}: keras-tuner optimises one objective; "
            "use --backend optuna (NSGA-II) for several"
        )
    objective = objectives[0]
    hp = kt.HyperParameters()
    runner.space.declare_keras_tuner(hp)
    return make_oracle(
        sampler,
        objective=kt.Objective(objective.name, direction="max" if objective.maximize else "min"),
        hyperparameters=hp,
        **kwargs,
    )


def _study_hook(
    runner: TrialRunner, after_trial: Callable[[Any, Any], None] | None
) -> Callable[[Any], None]:
    """The tuner's end-of-trial hook: ``after_trial(study so far, last finished trial)``."""

    def hook(tuner: Any) -> None:
        if after_trial is None:
            return
        study = to_optuna_study(tuner, runner)
        finished = [t for t in study.trials if t.state.is_finished()]
        if finished:
            after_trial(study, finished[-1])

    return hook


def _search(tuner: Any, study_name: str, max_consecutive_failures: int) -> str | None:
    """Runs ``tuner.search()``; returns why it stopped on consecutive failures, or None."""
    from keras_tuner.src import config as kt_config

    debug = kt_config.DEBUG
    kt_config.DEBUG = False  # True prints the traceback of every failed trial
    try:
        tuner.search()
    except RuntimeError as err:
        if "consecutive failures" not in str(err):
            raise
        return (
            f"search {study_name!r} stopped after {max_consecutive_failures} failed trials in "
            f"a row; the last error: {str(err).splitlines()[-1] if str(err) else err}"
        )
    finally:
        kt_config.DEBUG = debug
    return None


def to_optuna_study(tuner: Any, runner: TrialRunner) -> Any:
    """The tuner's finished trials as an in-memory Optuna study (for reports and plots)."""
    import keras_tuner as kt
    import optuna

    objective = runner.objectives[0]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study" line per call
    try:
        study = optuna.create_study(direction=objective.direction)
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.set_user_attr("objectives", [objective.name])
    status = kt.engine.trial.TrialStatus
    oracle = tuner.oracle
    for trial_id in oracle.start_order:
        trial = oracle.trials[trial_id]
        if trial.status not in (status.COMPLETED, status.FAILED, status.INVALID):
            continue
        values = dict(trial.hyperparameters.values)
        labels = runner.space.labels_from_keras_tuner(values)
        attrs: dict[str, Any] = {
            "run_dir": runner.trial_dir(int(trial_id)),
            "keras_tuner_trial_id": trial_id,
        }
        for key in ("tuner/epochs", "tuner/bracket", "tuner/round"):
            if key in values:
                attrs[key.replace("/", "_")] = int(values[key])
        if "tuner/epochs" in values:
            attrs["fit_epochs"] = int(values["tuner/epochs"])
        score = trial.score
        completed = trial.status == status.COMPLETED and score is not None
        if completed and not math.isfinite(float(score)):
            completed = False
        if completed:
            record = runner.read_record(attrs["run_dir"])
            if record is not None:
                attrs.update(seconds=record.seconds, epochs=record.epochs)
        elif trial.message:
            lines = [line for line in str(trial.message).strip().splitlines() if line.strip()]
            last = lines[-1] if lines else ""
            attrs["error"] = last.split("FailedTrialError: ", 1)[-1][:2000]
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE
                if completed
                else optuna.trial.TrialState.FAIL,
                value=float(score) if completed else None,
                params=labels,
                distributions=runner.space.distributions(labels),
                user_attrs=attrs,
            )
        )
    return study
