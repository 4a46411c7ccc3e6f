"""Learning-rate schedules: constant, cosine with warm-up, cyclical and one-cycle.

Every schedule is a :class:`keras.optimizers.schedules.LearningRateSchedule`, registered
under the ``tfgenre`` package so that an optimizer that holds one survives a ``.keras``
save/load, and is written with ``keras.ops`` only so that it runs under any Keras
backend. Steps are optimizer steps (batches), counted from 0.

The cyclical schedules follow Smith, "Cyclical Learning Rates for Training Neural
Networks" (WACV 2017); ``one_cycle`` follows Smith & Topin, "Super-Convergence" (2018).

Example:
    >>> schedule = make_schedule("triangular2", learning_rate=1e-3, total_steps=8000,
    ...                          base_lr=1e-5, step_size=1000)
    >>> optimizer = keras.optimizers.Adam(learning_rate=schedule)
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEDULES",
    "ConstantSchedule",
    "CosineSchedule",
    "CyclicalSchedule",
    "OneCycleSchedule",
    "make_schedule",
]

CYCLICAL_MODES: tuple[str, ...] = ("triangular", "triangular2", "exp_range")
ANNEAL_STRATEGIES: tuple[str, ...] = ("cos", "linear")


def _check_positive(name: str, value: float) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"{name}={value!r} must be a number > 0")
    return float(value)


def _check_non_negative_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"{name}={value!r} must be an integer >= 0")
    return int(value)


def _check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name}={value!r} must be an integer >= 1")
    return int(value)


def _as_float_step(step: Any) -> Any:
    return ops.cast(step, "float32")


@keras.saving.register_keras_serializable(package="tfgenre")
class ConstantSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The same learning rate at every step.

    Args:
        learning_rate: The learning rate, > 0.
    """

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = _check_positive("learning_rate", learning_rate)

    def __call__(self, step: Any) -> Any:
        """Returns the learning rate at ``step`` (a scalar float32 tensor)."""
        del step
        return ops.convert_to_tensor(self.learning_rate, dtype="float32")

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate}


@keras.saving.register_keras_serializable(package="tfgenre")
class CosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay from ``learning_rate`` to ``alpha * learning_rate``, with warm-up.

    During the first ``warmup_steps`` steps the rate rises linearly from
    ``warmup_start_fraction * learning_rate`` to ``learning_rate``; it then follows half
    a cosine down to ``alpha * learning_rate`` at ``total_steps`` and stays there.

    Args:
        learning_rate: Peak learning rate, > 0.
        total_steps: Steps of the whole schedule, warm-up included, >= 1.
        warmup_steps: Steps of linear warm-up, 0 <= warmup_steps < total_steps.
        alpha: Final rate as a fraction of ``learning_rate``, in [0, 1].
        warmup_start_fraction: First warm-up rate as a fraction of ``learning_rate``,
            in [0, 1].
    """

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        alpha: float = 0.0,
        warmup_start_fraction: float = 0.0,
    ) -> None:
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.total_steps = _check_positive_int("total_steps", total_steps)
        self.warmup_steps = _check_non_negative_int("warmup_steps", warmup_steps)
        if self.warmup_steps >= self.total_steps:
            raise ConfigError(f"warmup_steps={warmup_steps} must be < total_steps={total_steps}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"alpha={alpha!r} must be in [0, 1]")
        if not 0.0 <= warmup_start_fraction <= 1.0:
            raise ConfigError(f"warmup_start_fraction={warmup_start_fraction!r} must be in [0, 1]")
        self.alpha = float(alpha)
        self.warmup_start_fraction = float(warmup_start_fraction)

    def __call__(self, step: Any) -> Any:
        """Returns the learning rate at ``step`` (a scalar float32 tensor)."""
        step = _as_float_step(step)
        peak = self.learning_rate
        warmup = float(self.warmup_steps)
        start = self.warmup_start_fraction * peak
        warm_lr = start + (peak - start) * step / max(warmup, 1.0)
        decay_steps = float(self.total_steps - self.warmup_steps)
        progress = ops.clip((step - warmup) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        decayed = peak * (self.alpha + (1.0 - self.alpha) * cosine)
        return ops.where(step < warmup, warm_lr, decayed)

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "alpha": self.alpha,
            "warmup_start_fraction": self.warmup_start_fraction,
        }


@keras.saving.register_keras_serializable(package="tfgenre")
class CyclicalSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Cyclical learning rate (Smith 2017) between ``base_lr`` and ``max_lr``.

    A cycle lasts ``2 * step_size`` steps: the rate climbs linearly from ``base_lr`` to
    the cycle's peak in ``step_size`` steps and falls back in as many. With
    ``cycle = floor(1 + step / (2 * step_size))`` and
    ``x = |step / step_size - 2 * cycle + 1|`` the rate is
    ``base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale`` where ``scale`` is

    - ``triangular``: 1 (every peak reaches ``max_lr``);
    - ``triangular2``: ``1 / 2 ** (cycle - 1)`` (the peak halves every cycle);
    - ``exp_range``: ``gamma ** step``.

    Args:
        base_lr: Lowest learning rate, > 0.
        max_lr: Highest learning rate, > base_lr.
        step_size: Steps of half a cycle, >= 1 (Smith suggests 2 to 10 epochs).
        mode: One of ``triangular``, ``triangular2``, ``exp_range``.
        gamma: Per-step decay of the amplitude for ``exp_range``, in (0, 1].
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size: int,
        mode: str = "triangular",
        gamma: float = 1.0,
    ) -> None:
        self.base_lr = _check_positive("base_lr", base_lr)
        self.max_lr = _check_positive("max_lr", max_lr)
        if self.max_lr <= self.base_lr:
            raise ConfigError(f"max_lr={max_lr!r} must be > base_lr={base_lr!r}")
        self.step_size = _check_positive_int("step_size", step_size)
        if mode not in CYCLICAL_MODES:
            raise ConfigError(
                f"unknown cyclical mode {mode!r} (known: {', '.join(CYCLICAL_MODES)})"
            )
        self.mode = mode
        if not 0.0 < gamma <= 1.0:
            raise ConfigError(f"gamma={gamma!r} must be in (0, 1]")
        self.gamma = float(gamma)

    def __call__(self, step: Any) -> Any:
        """Returns the learning rate at ``step`` (a scalar float32 tensor)."""
        step = _as_float_step(step)
        size = float(self.step_size)
        cycle = ops.floor(1.0 + step / (2.0 * size))
        x = ops.abs(step / size - 2.0 * cycle + 1.0)
        height = ops.maximum(0.0, 1.0 - x)
        if self.mode == "triangular":
            scale = ops.ones_like(step)
        elif self.mode == "triangular2":
            scale = ops.power(2.0, -(cycle - 1.0))
        else:
            scale = ops.power(self.gamma, step)
        return self.base_lr + (self.max_lr - self.base_lr) * height * scale

    def get_config(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
        }


@keras.saving.register_keras_serializable(package="tfgenre")
class OneCycleSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle policy: warm up to ``max_lr``, then anneal far below the start.

    The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start * total_steps`` steps, then anneals (cosine or linear) to
    ``max_lr / div_final`` at ``total_steps`` and stays there. Both phases use the
    same curve shape (``anneal``).

    Args:
        max_lr: Peak learning rate, > 0.
        total_steps: Steps of the whole schedule, >= 2.
        pct_start: Fraction of the steps spent rising, in (0, 1).
        div_factor: ``max_lr / initial_lr``, >= 1.
        div_final: ``max_lr / final_lr``, >= 1.
        anneal: ``cos`` or ``linear``.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        div_final: float = 1e4,
        anneal: str = "cos",
    ) -> None:
        self.max_lr = _check_positive("max_lr", max_lr)
        self.total_steps = _check_positive_int("total_steps", total_steps)
        if self.total_steps < 2:
            raise ConfigError(f"total_steps={total_steps} must be >= 2 for one_cycle")
        if not 0.0 < pct_start < 1.0:
            raise ConfigError(f"pct_start={pct_start!r} must be in (0, 1)")
        self.pct_start = float(pct_start)
        if not div_factor >= 1.0:
            raise ConfigError(f"div_factor={div_factor!r} must be >= 1")
        if not div_final >= 1.0:
            raise ConfigError(f"div_final={div_final!r} must be >= 1")
        self.div_factor = float(div_factor)
        self.div_final = float(div_final)
        if anneal not in ANNEAL_STRATEGIES:
            raise ConfigError(f"unknown anneal {anneal!r} (known: {', '.join(ANNEAL_STRATEGIES)})")
        self.anneal = anneal

    @property
    def peak_step(self) -> int:
        """Step at which the rate reaches ``max_lr``."""
        return max(1, min(self.total_steps - 1, round(self.pct_start * self.total_steps)))

    def _interpolate(self, start: float, end: float, fraction: Any) -> Any:
        if self.anneal == "cos":
            return end + (start - end) * 0.5 * (1.0 + ops.cos(math.pi * fraction))
        return start * (1.0 - fraction) + end * fraction

    def __call__(self, step: Any) -> Any:
        """Returns the learning rate at ``step`` (a scalar float32 tensor)."""
        step = _as_float_step(step)
        peak = float(self.peak_step)
        initial = self.max_lr / self.div_factor
        final = self.max_lr / self.div_final
        rise = self._interpolate(initial, self.max_lr, ops.clip(step / peak, 0.0, 1.0))
        fall_fraction = ops.clip((step - peak) / float(self.total_steps - self.peak_step), 0.0, 1.0)
        fall = self._interpolate(self.max_lr, final, fall_fraction)
        return ops.where(step < peak, rise, fall)

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "div_final": self.div_final,
            "anneal": self.anneal,
        }


# ----------------------------------------------------------------------------- factory


def _make_constant(learning_rate: float, total_steps: int) -> ConstantSchedule:
    del total_steps
    return ConstantSchedule(learning_rate)


def _make_cosine(
    learning_rate: float,
    total_steps: int,
    *,
    warmup_steps: int | None = None,
    warmup_fraction: float | None = None,
    alpha: float = 0.0,
    warmup_start_fraction: float = 0.0,
) -> CosineSchedule:
    if warmup_steps is not None and warmup_fraction is not None:
        raise ConfigError(
            f"give warmup_steps={warmup_steps} or warmup_fraction={warmup_fraction}, not both"
        )
    if warmup_fraction is not None:
        if not 0.0 <= warmup_fraction < 1.0:
            raise ConfigError(f"warmup_fraction={warmup_fraction!r} must be in [0, 1)")
        warmup_steps = int(round(warmup_fraction * total_steps))
    return CosineSchedule(
        learning_rate,
        total_steps,
        warmup_steps=warmup_steps or 0,
        alpha=alpha,
        warmup_start_fraction=warmup_start_fraction,
    )


def _cyclical_factory(mode: str) -> Callable[..., CyclicalSchedule]:
    def factory(
        learning_rate: float,
        total_steps: int,
        *,
        base_lr: float | None = None,
        step_size: int | None = None,
        num_cycles: int | None = None,
        gamma: float | None = None,
    ) -> CyclicalSchedule:
        if step_size is not None and num_cycles is not None:
            raise ConfigError(f"give step_size={step_size} or num_cycles={num_cycles}, not both")
        if step_size is None:
            cycles = 4 if num_cycles is None else _check_positive_int("num_cycles", num_cycles)
            step_size = max(1, total_steps // (2 * cycles))
        if base_lr is None:
            base_lr = learning_rate / 100.0
        if gamma is None:
            # exp_range: the amplitude falls to 1% of its start by the last step.
            gamma = 0.01 ** (1.0 / total_steps) if mode == "exp_range" else 1.0
        elif mode != "exp_range":
            raise ConfigError(f"gamma={gamma!r} only applies to exp_range, not {mode!r}")
        return CyclicalSchedule(base_lr, learning_rate, step_size, mode=mode, gamma=gamma)

    return factory


def _make_one_cycle(
    learning_rate: float,
    total_steps: int,
    *,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    div_final: float = 1e4,
    anneal: str = "cos",
) -> OneCycleSchedule:
    return OneCycleSchedule(
        learning_rate,
        total_steps,
        pct_start=pct_start,
        div_factor=div_factor,
        div_final=div_final,
        anneal=anneal,
    )


#: Schedule name -> (factory, the options it accepts).
SCHEDULES: dict[
    str, tuple[Callable[..., keras.optimizers.schedules.LearningRateSchedule], tuple[str, ...]]
] = {
    "constant": (_make_constant, ()),
    "cosine": (
        _make_cosine,
        ("alpha", "warmup_fraction", "warmup_start_fraction", "warmup_steps"),
    ),
    "triangular": (_cyclical_factory("triangular"), ("base_lr", "num_cycles", "step_size")),
    "triangular2": (_cyclical_factory("triangular2"), ("base_lr", "num_cycles", "step_size")),
    "exp_range": (
        _cyclical_factory("exp_range"),
        ("base_lr", "gamma", "num_cycles", "step_size"),
    ),
    "one_cycle": (_make_one_cycle, ("anneal", "div_factor", "div_final", "pct_start")),
}


def make_schedule(
    name: str,
    *,
    learning_rate: float,
    total_steps: int,
    **options: Any,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Builds a learning-rate schedule by name.

    ``learning_rate`` is the schedule's peak (``max_lr`` for the cyclical and one-cycle
    schedules). Options per schedule:

    - ``constant``: none.
    - ``cosine``: ``warmup_steps`` or ``warmup_fraction`` (of ``total_steps``, default
      0), ``alpha`` (final fraction, 0.0), ``warmup_start_fraction`` (0.0).
    - ``triangular``, ``triangular2``, ``exp_range``: ``base_lr`` (default
      ``learning_rate / 100``), ``step_size`` (half-cycle steps) or ``num_cycles``
      (default 4 cycles over ``total_steps``); ``exp_range`` also takes ``gamma``
      (default: the amplitude falls to 1% by ``total_steps``).
    - ``one_cycle``: ``pct_start`` (0.3), ``div_factor`` (25), ``div_final`` (1e4),
      ``anneal`` (``cos`` or ``linear``).

    Args:
        name: Schedule name, one of :data:`SCHEDULES`.
        learning_rate: Peak learning rate, > 0.
        total_steps: Optimizer steps of the whole training run, >= 1.
        **options: Schedule-specific options listed above.

    Returns:
        A serialisable ``keras.optimizers.schedules.LearningRateSchedule``.

    Raises:
        ConfigError: For an unknown name or option, or a value out of range.
    """
    if name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r} (known: {', '.join(sorted(SCHEDULES))})")
    factory, known = SCHEDULES[name]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown option {unknown[0]!r} for schedule {name!r} "
            f"(known: {', '.join(known) if known else 'none'})"
        )
    _check_positive("learning_rate", learning_rate)
    _check_positive_int("total_steps", total_steps)
    schedule = factory(learning_rate, total_steps, **options)
    logger.debug("schedule %s: %s", name, schedule.get_config())
    return schedule
