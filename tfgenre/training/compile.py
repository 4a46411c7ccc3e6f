"""Compiling a model for a run: optimizer, learning-rate schedule, L2, class weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfgenre.training.fit_config import FitConfig


def make_optimizer(cfg: FitConfig, learning_rate: Any) -> Any:
    """The Keras optimizer for ``cfg.optimizer`` with ``learning_rate`` (float or schedule)."""
    import keras

    o = cfg.optimizer
    common: dict[str, Any] = {"learning_rate": learning_rate}
    if o.weight_decay:
        common["weight_decay"] = o.weight_decay
    if o.clipnorm:
        common["clipnorm"] = o.clipnorm
    if o.name == "adam":
        return keras.optimizers.Adam(**common)
    if o.name == "adamw":
        return keras.optimizers.AdamW(**{"weight_decay": 1e-4, **common})
    if o.name == "sgd":
        return keras.optimizers.SGD(momentum=o.momentum, nesterov=o.nesterov, **common)
    return keras.optimizers.RMSprop(momentum=o.momentum, **common)


def apply_l2(model: Any, l2: float) -> int:
    """Puts an L2 regulariser on every kernel variable; returns how many."""
    import keras

    if not l2:
        return 0
    count = 0
    for v in model.trainable_weights:
        if v.path.rsplit("/", 1)[-1] in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            v.regularizer = keras.regularizers.L2(l2)
            count += 1
    return count


def class_weight_dict(counts: np.ndarray, mode: str) -> dict[int, float] | None:
    """``balanced`` weights n / (k * count_c), or None."""
    if mode != "balanced" or counts.sum() == 0:
        return None
    k = int((counts > 0).sum())
    return {i: float(counts.sum() / (k * c)) if c else 0.0 for i, c in enumerate(counts)}


def compile_model(model: Any, cfg: FitConfig, learning_rate: Any) -> None:
    """Compiles with one-hot cross-entropy (label smoothing) and accuracy."""
    import keras

    model.compile(
        optimizer=make_optimizer(cfg, learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def learning_rate_schedule(cfg: FitConfig, total_steps: int, scale: float = 1.0) -> Any:
    """The learning-rate schedule of ``cfg.schedule`` over ``total_steps`` optimizer steps.

    Args:
        cfg: The fit config.
        total_steps: Steps of the phase the schedule runs over.
        scale: Factor on the learning rates (a fine-tune's second phase).
    """
    from tfgenre.models.schedules import make_schedule

    options = dict(cfg.schedule.options)
    if scale != 1.0 and "base_lr" in options:
        options["base_lr"] = float(options["base_lr"]) * scale
    return make_schedule(
        cfg.schedule.name,
        learning_rate=cfg.optimizer.learning_rate * scale,
        total_steps=max(total_steps, 1),
        **options,
    )
