"""The Optuna backend: samplers, pruners, storage and the study loop.

Each trial samples a point of the :class:`~tfgenre.search.space.SearchSpace`, runs it
through :class:`~tfgenre.search.trials.TrialRunner` (tfgenre's fit) with
optuna-integration's ``KerasPruningCallback`` on the first objective, and returns the
objective values. A trial that raises (NaN loss, out of memory, any exception) is
recorded as failed with its error and the study goes on.

Storage defaults to ``sqlite:///<run_dir>/study.db``. Any other Optuna storage URL
(``postgresql://...``, ``mysql://...``) or a journal file (``journal:/path/study.log``
or a path ending in ``.log``/``.journal``) lets several processes or machines share
one study: start the same command on each. Rerunning with the same study name resumes
the study; ``trials`` counts every finished trial (complete, pruned or failed), so a
resumed study runs only what is missing.

A trial whose process died is marked failed and run again once when the study
resumes (see :mod:`tfgenre.search.dead_trials`). A resumed study's
sampler is seeded from ``seed`` and the number of trials already in the study, so it
does not propose the points of the first run again (the grid sampler skips the points
already run by itself).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tfgenre.core import io
from tfgenre.errors import ConfigError
from tfgenre.search.dead_trials import fail_dead_trials, retry_trial, this_process
from tfgenre.search.objectives import Objective
from tfgenre.search.space import SearchSpace
from tfgenre.search.trials import TrialRunner

logger = logging.getLogger(__name__)

SAMPLERS: tuple[str, ...] = ("auto", "tpe", "random", "grid", "nsga2", "cmaes")
PRUNERS: tuple[str, ...] = ("median", "hyperband", "none")


def _finished_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def default_storage_url(run_dir: str) -> str:
    """``sqlite:///<absolute run_dir>/study.db``."""
    path = run_dir if io.is_remote(run_dir) else os.path.abspath(run_dir)
    if io.is_remote(path):
        raise ConfigError(
            f"run_dir={run_dir!r} is remote: give --storage (an Optuna storage URL) too"
        )
    return f"sqlite:///{os.path.join(path, 'study.db')}"


def make_storage(url: str) -> Any:
    """An Optuna storage from a URL or a journal-file path.

    Raises:
        ConfigError: when ``url`` is neither.
    """
    import optuna

    if url.startswith("journal:") or url.endswith((".log", ".journal")):
        from optuna.storages.journal import JournalFileBackend

        path = url.removeprefix("journal:")
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if "://" not in url:
        raise ConfigError(
            f"storage={url!r} must be an Optuna storage URL (sqlite:///path.db, "
            "postgresql://..., mysql://...) or a journal file (journal:/path/study.log)"
        )
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(os.path.abspath(url.removeprefix("sqlite:///"))), exist_ok=True)
    return _rdb_storage(url, engine_kwargs)


def _rdb_storage(url: str, engine_kwargs: dict[str, Any] | None, attempts: int = 5) -> Any:
    """``optuna.storages.RDBStorage(url)``, retried when another process creates it too.

    Two tune processes started together on a new database both create its tables and
    stamp its schema version; the loser gets an ``IntegrityError`` (``UNIQUE constraint
    failed: alembic_version.version_num``) or an ``OperationalError`` (``table ...
    already exists``). A moment later the database is complete, and opening it again
    succeeds, so those two errors are retried ``attempts`` times before they are raised.
    """
    import optuna
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are flagged experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=60,
                    grace_period=180,
                    heartbeat_stale_trial_callback=retry_trial,
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as err:
            if attempt == attempts - 1:
                raise
            logger.info(
                "storage %s is being created by another process (%s); retrying",
                url,
                type(err).__name__,
            )
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def resume_seed(seed: int, existing_trials: int) -> int:
    """The sampler seed of a run that finds ``existing_trials`` in its study.

    ``seed`` itself for a new study (reproducible); for a resumed one a seed derived
    from both, so the resumed sampler does not replay the first run's proposals.
    """
    if existing_trials <= 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, existing_trials]).generate_state(1)[0])


def _count_trials(storage: Any, study_name: str) -> int:
    """Trials the study ``study_name`` holds in ``storage`` (0 when it does not exist)."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


def make_sampler(
    name: str,
    options: Mapping[str, Any],
    *,
    seed: int,
    space: SearchSpace,
    num_objectives: int,
) -> Any:
    """The Optuna sampler called ``name`` (``auto``: TPE, or NSGA-II for several objectives).

    Raises:
        ConfigError: for an unknown name or option, a space the sampler cannot take,
            or a missing optional package.
    """
    import optuna

    if name == "auto":
        name = "nsga2" if num_objectives > 1 else "tpe"
    options = dict(options)
    try:
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, **options)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed, **options)
        if name == "grid":
            return optuna.samplers.GridSampler(space.grid(), seed=seed, **options)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, **options)
        if name == "cmaes":
            if num_objectives > 1:
                raise ConfigError("sampler=cmaes optimises one objective; use nsga2 or tpe")
            if importlib.util.find_spec("cmaes") is None:
                raise ConfigError("sampler=cmaes needs the 'cmaes' package: pip install cmaes")
            return optuna.samplers.CmaEsSampler(seed=seed, **options)
    except TypeError as err:
        raise ConfigError(f"sampler_options={options} for sampler {name!r}: {err}") from err
    raise ConfigError(f"sampler={name!r} is unknown for optuna (known: {', '.join(SAMPLERS)})")


def make_pruner(name: str, options: Mapping[str, Any], *, epochs: int, multi: bool) -> Any:
    """The Optuna pruner called ``name`` (none for multi-objective studies).

    Raises:
        ConfigError: for an unknown name or option.
    """
    import optuna

    if name not in PRUNERS:
        raise ConfigError(f"pruner={name!r} is unknown (known: {', '.join(PRUNERS)})")
    if multi and name != "none":
        logger.info("pruner=%s is off: Optuna prunes single-objective studies only", name)
        name = "none"
    try:
        if name == "median":
            return optuna.pruners.MedianPruner(
                **{"n_startup_trials": 5, "n_warmup_steps": 1, **options}
            )
        if name == "hyperband":
            return optuna.pruners.HyperbandPruner(
                **{"min_resource": 1, "max_resource": epochs, "reduction_factor": 3, **options}
            )
    except TypeError as err:
        raise ConfigError(f"pruner_options={dict(options)} for pruner {name!r}: {err}") from err
    return optuna.pruners.NopPruner()


def create_study(
    storage: Any,
    study_name: str,
    objectives: Sequence[Objective],
    *,
    sampler: Any = None,
    pruner: Any = None,
    space: SearchSpace | None = None,
) -> Any:
    """Creates the study, or loads it when the name exists (resume).

    Raises:
        ConfigError: when an existing study has other objectives.
    """
    import optuna

    directions = [o.direction for o in objectives]
    study = optuna.create_study(
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        study_name=study_name,
        directions=directions,
        load_if_exists=True,
    )
    names = [o.name for o in objectives]
    stored = study.user_attrs.get("objectives")
    have = [d.name.lower() for d in study.directions]
    if (stored is not None and stored != names) or have != directions:
        raise ConfigError(
            f"study {study_name!r} exists with objectives {stored or have}; this run asks "
            f"for {names}: use another --study-name"
        )
    if stored is None:
        study.set_user_attr("objectives", names)
        if space is not None:
            study.set_user_attr("space", space.summary())
    elif space is not None and study.user_attrs.get("space") != space.summary():
        logger.warning("study %r was started with another search space", study_name)
    return study


def run_optuna(
    runner: TrialRunner,
    *,
    study_name: str,
    storage_url: str,
    trials: int,
    timeout_seconds: float | None = None,
    sampler: str = "auto",
    sampler_options: Mapping[str, Any] | None = None,
    pruner: str = "median",
    pruner_options: Mapping[str, Any] | None = None,
    seed: int = 0,
    epochs: int = 1,
    max_consecutive_failures: int = 10,
    enqueue: Sequence[Mapping[str, Any]] = (),
    after_trial: Callable[[Any, Any], None] | None = None,
) -> tuple[Any, str | None]:
    """Runs (or resumes) an Optuna study until it holds ``trials`` finished trials.

    Args:
        runner: Runs one point through tfgenre's fit.
        study_name: The study's name in the storage.
        storage_url: Optuna storage URL or journal file.
        trials: Finished trials (complete, pruned, failed) the study should hold.
        timeout_seconds: Stop starting new trials after this long.
        sampler: One of :data:`SAMPLERS`.
        sampler_options: Keyword options of the sampler.
        pruner: One of :data:`PRUNERS`.
        pruner_options: Keyword options of the pruner.
        seed: Sampler seed.
        epochs: The fit's epochs (the Hyperband pruner's maximum resource).
        max_consecutive_failures: Stop the study after this many failed trials in a row.
        enqueue: Points ``{param: label}`` to try first (skipped when already tried).
        after_trial: Called as ``fn(study, frozen_trial)`` after every trial.

    Returns:
        ``(study, stop_reason)``: the ``optuna.Study``, and why it stopped early on
        consecutive failures (None when it did not).
    """
    import optuna

    objective = _trial_objective(runner)
    study = _open_study(
        runner,
        study_name,
        storage_url,
        sampler=sampler,
        sampler_options=sampler_options or {},
        pruner=pruner,
        pruner_options=pruner_options or {},
        seed=seed,
        epochs=epochs,
    )
    for point in enqueue:
        study.enqueue_trial(runner.space.check_labels(point), skip_if_exists=True)
    remaining = _trials_to_run(study, study_name, trials, storage_url)
    if remaining <= 0:
        return study, None
    stopper = _StopOnFailures(max_consecutive_failures, after_trial)
    start = time.monotonic()
    study.optimize(
        objective,
        n_trials=remaining,
        timeout=timeout_seconds,
        catch=(Exception,),
        callbacks=[optuna.study.MaxTrialsCallback(trials, states=_finished_states()), stopper],
        gc_after_trial=True,
    )
    logger.info("study %r ran for %.0f s", study_name, time.monotonic() - start)
    if stopper.last_error is not None:
        return study, (
            f"study {study_name!r} stopped after {max_consecutive_failures} failed trials in "
            f"a row; the last error: {stopper.last_error}"
        )
    return study, None


def _trials_to_run(study: Any, study_name: str, trials: int, storage_url: str) -> int:
    """How many more trials the study needs to hold ``trials`` finished ones (logged)."""
    done = len(study.get_trials(deepcopy=False, states=_finished_states()))
    remaining = trials - done
    if remaining <= 0:
        logger.info("study %r already holds %d finished trial(s) of %d", study_name, done, trials)
    else:
        logger.info(
            "study %r: %d finished trial(s), running up to %d more (storage %s)",
            study_name,
            done,
            remaining,
            storage_url,
        )
    return remaining


def _open_study(
    runner: TrialRunner,
    study_name: str,
    storage_url: str,
    *,
    sampler: str,
    sampler_options: Mapping[str, Any],
    pruner: str,
    pruner_options: Mapping[str, Any],
    seed: int,
    epochs: int,
) -> Any:
    """Creates the study, or resumes it: a reseeded sampler, dead trials failed and queued."""
    space, objectives = runner.space, runner.objectives
    storage = make_storage(storage_url)
    existing = _count_trials(storage, study_name)
    sampler_seed = resume_seed(seed, existing)
    if existing:
        logger.info(
            "study %r holds %d trial(s): sampler seed %d (from seed %d)",
            study_name,
            existing,
            sampler_seed,
            seed,
        )
    study = create_study(
        storage,
        study_name,
        objectives,
        sampler=make_sampler(
            sampler, sampler_options, seed=sampler_seed, space=space, num_objectives=len(objectives)
        ),
        pruner=make_pruner(pruner, pruner_options, epochs=epochs, multi=len(objectives) > 1),
        space=space,
    )
    if existing:
        fail_dead_trials(study)
    return study


def _trial_objective(runner: TrialRunner) -> Callable[[Any], float | list[float]]:
    """The function Optuna optimises: sample a point, fit it, return the objective values.

    It records the trial's process, folder, seconds and epochs as user attributes, and
    its error when the fit raised. One objective is reported every epoch (learning
    curves) through optuna-integration's ``KerasPruningCallback``, which also prunes.
    """
    import optuna
    from optuna_integration import KerasPruningCallback

    space, objectives = runner.space, runner.objectives
    multi = len(objectives) > 1

    def objective(trial: Any) -> float | list[float]:
        trial.set_user_attr("worker", this_process())
        labels = space.sample(trial)
        trial.set_user_attr("run_dir", runner.trial_dir(trial.number))
        callbacks = [] if multi else [KerasPruningCallback(trial, objectives[0].name)]
        try:
            result = runner.run(labels, trial.number, callbacks=callbacks)
        except optuna.TrialPruned:
            raise
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            raise
        trial.set_user_attr("seconds", round(result.seconds, 3))
        trial.set_user_attr("epochs", result.epochs)
        return list(result.values) if multi else result.values[0]

    return objective


class _StopOnFailures:
    """Study callback: ``after_trial``, then a stop after ``limit`` failed trials in a row.

    Attributes:
        last_error: The error of the last failed trial when the study was stopped.
    """

    def __init__(self, limit: int, after_trial: Callable[[Any, Any], None] | None) -> None:
        self.limit = limit
        self.after_trial = after_trial
        self.last_error: str | None = None

    def __call__(self, study: Any, frozen: Any) -> None:
        from optuna.trial import TrialState

        if self.after_trial is not None:
            self.after_trial(study, frozen)
        finished = sorted(
            study.get_trials(deepcopy=False, states=_finished_states()), key=lambda t: t.number
        )
        streak = 0
        for t in reversed(finished):
            if t.state != TrialState.FAIL:
                break
            streak += 1
        if self.limit and streak >= self.limit:
            self.last_error = finished[-1].user_attrs.get("error", "unknown error")
            study.stop()
