"""What a search optimises: a training metric, and optionally model size or latency.

Objectives are named by the ``--objectives`` flag, e.g. ``val_accuracy`` or
``val_accuracy,params``:

* a metric of the Keras history (``val_accuracy``, ``val_loss``, ``accuracy``...):
  maximised, unless its name contains ``loss``; its value is the best epoch's or the
  last epoch's (``objective_reduce``);
* ``params``: the model's parameter count, minimised;
* ``latency_ms`` (alias ``latency``): the median wall time of one inference call on a
  batch of ``latency_batch_size`` examples, in milliseconds, minimised.

The first objective must be a metric: it is the one reported to pruners.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre.errors import ConfigError

MEASURED: tuple[str, ...] = ("params", "latency_ms")
_ALIASES: dict[str, str] = {"latency": "latency_ms", "num_params": "params"}


@dataclasses.dataclass(frozen=True)
class Objective:
    """One objective of a study.

    Attributes:
        name: ``val_accuracy``, ``params``, ``latency_ms``...
        direction: ``maximize`` or ``minimize``.
        kind: ``metric`` (from the history) or ``measured`` (from the saved model).
    """

    name: str
    direction: str
    kind: str

    @property
    def maximize(self) -> bool:
        """Whether larger is better."""
        return self.direction == "maximize"


def parse_objectives(names: Sequence[str] | str) -> tuple[Objective, ...]:
    """Parses objective names (a list or a comma-separated string).

    Raises:
        ConfigError: when the list is empty, repeats a name, or does not start with a
            history metric.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise ConfigError("objectives=[] must name at least one (e.g. val_accuracy)")
    out: list[Objective] = []
    for raw in names:
        name = _ALIASES.get(raw, raw)
        if name in MEASURED:
            out.append(Objective(name, "minimize", "measured"))
        elif name.replace("_", "").isalnum():
            direction = "minimize" if "loss" in name or "error" in name else "maximize"
            out.append(Objective(name, direction, "metric"))
        else:
            raise ConfigError(f"objective {raw!r} is not a metric name, params or latency_ms")
    seen = [o.name for o in out]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"objectives={seen} repeat a name")
    if out[0].kind != "metric":
        raise ConfigError(
            f"objectives={seen}: the first must be a training metric such as val_accuracy "
            f"(then {', '.join(MEASURED)})"
        )
    return tuple(out)


def metric_value(
    history: dict[str, list[float]], objective: Objective, reduce: str = "best"
) -> float:
    """The objective's value from a Keras history.

    Args:
        history: ``{metric: per-epoch values}``.
        objective: A ``metric`` objective.
        reduce: ``best`` (best epoch in the objective's direction) or ``last``.

    Returns:
        The value; NaN when the metric never had a finite value.

    Raises:
        ConfigError: when the history lacks the metric.
    """
    if objective.name not in history:
        have = ", ".join(sorted(k for k in history if k != "learning_rate"))
        raise ConfigError(
            f"objective {objective.name!r} is not in the training history (have: {have}); "
            "a val_ metric needs a validation split (fit.val_split)"
        )
    values = [float(v) for v in history[objective.name]]
    if reduce == "last":
        return values[-1] if values else math.nan
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if objective.maximize else min(finite)


def count_params(model: Any) -> int:
    """Number of parameters (trainable and not) of a Keras model."""
    return int(model.count_params())


def measure_latency_ms(
    model: Any, input_shape: Sequence[int], *, batch_size: int = 1, repeats: int = 20
) -> float:
    """Median milliseconds of one inference call on a random batch.

    Args:
        model: A built Keras model.
        input_shape: One example's shape, e.g. ``(57,)`` or ``(128, 130, 1)``.
        batch_size: Examples per call.
        repeats: Timed calls (after 3 warm-up calls).

    Returns:
        The median latency of ``model.predict_on_batch`` in milliseconds.
    """
    x = np.random.default_rng(0).standard_normal((batch_size, *input_shape)).astype(np.float32)
    for _ in range(3):
        model.predict_on_batch(x)
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return float(statistics.median(times) * 1000.0)
