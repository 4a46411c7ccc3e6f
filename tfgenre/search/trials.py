"""One trial of a search: the fit config for a point, tfgenre's own fit, the objectives.

Every backend runs its trials through :class:`TrialRunner`, so a trial is exactly a
``python -m tfgenre.fit`` run (same data pipeline, model registry, optimizer, schedule,
callbacks, TensorBoard logs and hparams) in ``<run_dir>/trials/<number>/``; only the
per-epoch confusion-matrix image and the final test evaluation are left out (the search
must not look at the test split).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tfgenre.core import config, io, layout
from tfgenre.core.json_fields import Fields, load_object
from tfgenre.errors import ConfigError, DamagedFileError, TfgenreError
from tfgenre.search.objectives import (
    Objective,
    count_params,
    measure_latency_ms,
    metric_value,
)
from tfgenre.search.space import SearchSpace

logger = logging.getLogger(__name__)

#: What ``keep_models`` removes from the folders of trials that are not kept.
MODEL_FILES: tuple[str, ...] = (layout.MODEL, "checkpoints", "backup")
KEEP_MODELS: tuple[str, ...] = ("all", "best", "none")
#: What a finished trial writes into its folder: params, objective values, seconds.
RECORD = "trial.json"


class TrialFailed(TfgenreError):
    """A trial ran but its result is unusable (NaN loss, NaN objective)."""


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """``trial.json``: what a finished trial wrote into its folder.

    Attributes:
        params: ``{param: label}`` of the trial's point.
        objectives: ``{objective name: value}``, in objective order.
        seconds: Wall time of the fit and the measurements, rounded to ms.
        epochs: Epochs trained.
    """

    params: Mapping[str, Any]
    objectives: Mapping[str, float]
    seconds: float
    epochs: int

    def to_json(self) -> dict[str, Any]:
        """The file's object."""
        return {
            "params": dict(self.params),
            "objectives": dict(self.objectives),
            "seconds": self.seconds,
            "epochs": self.epochs,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = RECORD) -> TrialRecord:
        """Reads the object of a ``trial.json``.

        Raises:
            DamagedFileError: naming the file and the key that breaks the layout.
        """
        fields = Fields(data, where, DamagedFileError)
        objectives = fields.sub("objectives")
        return cls(
            params=fields.mapping("params"),
            objectives={str(name): objectives.number(name) for name in objectives.data},
            seconds=fields.number("seconds"),
            epochs=fields.integer("epochs"),
        )

    @classmethod
    def load(cls, run_dir: str) -> TrialRecord | None:
        """The ``trial.json`` in ``run_dir``; None when the trial wrote none.

        Raises:
            DamagedFileError: when the file is not JSON or breaks the layout.
        """
        path = io.join(run_dir, RECORD)
        if not io.exists(path):
            return None
        return cls.from_json(load_object(path, DamagedFileError), path)

    def write(self, run_dir: str) -> str:
        """Writes ``<run_dir>/trial.json`` atomically; returns its path."""
        path = io.join(run_dir, RECORD)
        io.write_text_atomic(path, json.dumps(self.to_json(), indent=2))
        return path


@dataclasses.dataclass(frozen=True)
class TrialResult:
    """What a finished trial measured.

    Attributes:
        values: One value per objective, in objective order.
        history: The Keras history ``{metric: per-epoch values}``.
        run_dir: The trial's run folder.
        seconds: Wall time of the fit and the measurements.
        epochs: Epochs trained.
    """

    values: tuple[float, ...]
    history: dict[str, list[float]]
    run_dir: str
    seconds: float
    epochs: int


class TrialRunner:
    """Builds each trial's fit config and runs it.

    Args:
        base: The fit config mapping every trial starts from (defaults, config file,
            the space's ``fixed``, flags and ``--set`` already applied).
        space: The search space.
        objectives: The study's objectives.
        run_dir: The study folder; trials go to ``<run_dir>/trials/<number>``.
        reduce: ``best`` or ``last`` epoch for metric objectives.
        keep_models: ``all``, ``best`` (only the best or Pareto-optimal trials keep
            their model files) or ``none``.
        latency_batch_size: Batch size of the latency measurement.
        latency_repeats: Timed calls of the latency measurement.
    """

    def __init__(
        self,
        base: Mapping[str, Any],
        space: SearchSpace,
        objectives: Sequence[Objective],
        *,
        run_dir: str,
        reduce: str = "best",
        keep_models: str = "best",
        latency_batch_size: int = 1,
        latency_repeats: int = 20,
    ) -> None:
        self.base = dict(base)
        self.space = space
        self.objectives = tuple(objectives)
        self.run_dir = run_dir
        self.reduce = reduce
        self.keep_models = keep_models
        self.latency_batch_size = latency_batch_size
        self.latency_repeats = latency_repeats

    @property
    def trials_dir(self) -> str:
        """``<run_dir>/trials``."""
        return io.join(self.run_dir, "trials")

    def trial_dir(self, number: int) -> str:
        """The run folder of trial ``number``."""
        return io.join(self.trials_dir, f"{number:05d}")

    def fit_data(
        self, labels: Mapping[str, Any], run_dir: str, epochs: int | None = None
    ) -> dict[str, Any]:
        """The plain fit-config mapping of a point (what the best-config YAML holds)."""
        data = self.space.apply(self.base, labels)
        data["run_dir"] = run_dir
        if epochs is not None:
            data["epochs"] = int(epochs)
        return data

    def fit_config(self, labels: Mapping[str, Any], run_dir: str, epochs: int | None = None) -> Any:
        """The validated ``FitConfig`` of a point.

        Raises:
            ConfigError: when the point gives an invalid config.
        """
        from tfgenre.training.fit_config import FitConfig

        return config.from_dict(FitConfig, self.fit_data(labels, run_dir, epochs), prefix="fit.")

    def run(
        self,
        labels: Mapping[str, Any],
        number: int,
        *,
        epochs: int | None = None,
        callbacks: Iterable[Any] = (),
        replace_unfinished: bool = False,
    ) -> TrialResult:
        """Trains one point and measures the objectives.

        The Keras session is cleared and garbage collected afterwards, whatever
        happened, so memory does not grow from trial to trial.

        Args:
            labels: ``{param: label}`` of the point.
            number: The trial number (names the folder).
            epochs: Override of the epochs (Hyperband's budget).
            callbacks: More Keras callbacks (e.g. a pruning callback).
            replace_unfinished: The trial runs again after its process died (a
                keras-tuner trial keeps its number): an unfinished run of it in its
                folder resumes when the config is the same, and is replaced otherwise
                (only the run's own files; a finished run is never replaced).

        Raises:
            TrialFailed: when the loss or an objective is not finite.
            Exception: whatever the fit raised (the backend records the trial as failed).
        """
        import keras

        from tfgenre.training.loop import train

        trial_dir = self.trial_dir(number)
        cfg = self.fit_config(labels, trial_dir, epochs)
        overwrite = replace_unfinished and _unfinished_of_another_config(cfg)
        if overwrite:
            logger.info("trial %d: replacing the unfinished run its killed process left", number)
        start = time.perf_counter()
        try:
            fit = train(
                cfg,
                evaluate=False,
                extra_callbacks=[keras.callbacks.TerminateOnNaN(), *callbacks],
                confusion_images=False,
                overwrite=overwrite,
            )
            history = _finite_history(fit.history)
            values = self._measure(history, trial_dir)
            seconds, epochs_run = time.perf_counter() - start, len(history.get("loss", []))
            result = TrialResult(values, history, trial_dir, seconds, epochs_run)
            self._write_record(labels, result)
            return result
        finally:
            keras.backend.clear_session()
            gc.collect()

    def _measure(self, history: Mapping[str, list[float]], trial_dir: str) -> tuple[float, ...]:
        """One value per objective: from the history, or from the trial's saved model.

        Raises:
            TrialFailed: when a value is not finite.
        """
        model = None
        values = []
        for objective in self.objectives:
            if objective.kind == "metric":
                value = metric_value(history, objective, self.reduce)
            else:
                if model is None:
                    from tfgenre.models.saving import load_model

                    model = load_model(io.join(trial_dir, layout.MODEL), compile=False)
                if objective.name == "params":
                    value = float(count_params(model))
                else:
                    value = measure_latency_ms(
                        model,
                        tuple(model.input_shape[1:]),
                        batch_size=self.latency_batch_size,
                        repeats=self.latency_repeats,
                    )
            if not math.isfinite(value):
                raise TrialFailed(f"objective {objective.name}={value} is not finite")
            values.append(value)
        return tuple(values)

    def _write_record(self, labels: Mapping[str, Any], result: TrialResult) -> None:
        TrialRecord(
            params=dict(labels),
            objectives={o.name: v for o, v in zip(self.objectives, result.values)},
            seconds=round(result.seconds, 3),
            epochs=result.epochs,
        ).write(result.run_dir)

    @staticmethod
    def read_record(run_dir: str) -> TrialRecord | None:
        """The ``trial.json`` a finished trial wrote (None when there is none).

        Raises:
            DamagedFileError: when the file is not JSON or breaks the layout.
        """
        return TrialRecord.load(run_dir)

    def prune_models(self, finished: Iterable[str], keep: Iterable[str]) -> list[str]:
        """Removes model files of finished trials that are not kept (per keep_models).

        Only ``finished`` folders are touched, so trials that other workers are still
        running keep their checkpoints and backups.

        Args:
            finished: Run folders of finished trials (complete, pruned or failed).
            keep: Run folders of the trials to keep (best or Pareto-optimal).

        Returns:
            The folders whose model files were removed.
        """
        if self.keep_models == "all":
            return []
        kept = {str(k) for k in keep} if self.keep_models == "best" else set()
        removed = []
        for folder in sorted({str(f) for f in finished} - kept):
            hit = False
            for item in MODEL_FILES:
                path = io.join(folder, item)
                if io.exists(path):
                    if io.isdir(path):
                        io.rmtree(path)
                    else:
                        io.remove(path)
                    hit = True
            if hit:
                removed.append(folder)
        if removed:
            logger.debug("removed the model files of %d trial(s)", len(removed))
        return removed


def _finite_history(history: Mapping[str, Sequence[Any]]) -> dict[str, list[float]]:
    """The Keras history as plain floats.

    Raises:
        TrialFailed: when the loss of an epoch is not finite (the trial diverged).
    """
    out = {k: [float(v) for v in vals] for k, vals in history.items()}
    for epoch, loss in enumerate(out.get("loss", []), start=1):
        if not math.isfinite(loss):
            raise TrialFailed(f"loss={loss} at epoch {epoch}: the trial diverged")
    return out


def _unfinished_of_another_config(cfg: Any) -> bool:
    """Whether ``cfg.run_dir`` holds an unfinished fit that ``cfg`` cannot resume."""
    from tfgenre.runs.run_folder import check_run_dir

    if io.exists(io.join(cfg.run_dir, layout.MODEL)):
        return False  # finished: never replaced here
    try:
        check_run_dir(cfg)
    except ConfigError:
        return True
    return False
