"""Process-wide state a run sets, scoped to the run and restored after it.

A run seeds Python, NumPy, TensorFlow and Keras, turns on TensorFlow's op determinism,
may set a mixed-precision dtype policy, and under ``MultiWorkerMirroredStrategy``
patches two Keras internals. Each is a context manager that restores what was there
before on exit, so that runs made one after another in one process (the trials of a
search, the folds of a cross-validation) start from the same state and a float32 run
after a mixed-precision one is float32.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Builds a model under the strategy with a dummy batch: ``(model, input_shape, classes)``.
BuildPatch = Callable[[Any, tuple[int, ...], int], None]


@dataclasses.dataclass(frozen=True)
class _Seeds:
    """The random state :func:`keras.utils.set_random_seed` replaces."""

    python: Any
    numpy: Any
    tf_seed: int | None
    keras_seed: Any
    keras_generator: Any


def _save_seeds() -> _Seeds:
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from tensorflow.python.eager import context

    return _Seeds(
        python=random.getstate(),
        numpy=np.random.get_state(),
        tf_seed=context.global_seed(),
        keras_seed=global_state.get_global_attribute("global_random_seed"),
        keras_generator=global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR),
    )


def _restore_seeds(saved: _Seeds) -> None:
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from tensorflow.python.eager import context

    random.setstate(saved.python)
    np.random.set_state(saved.numpy)
    context.set_global_seed(saved.tf_seed)
    global_state.set_global_attribute("global_random_seed", saved.keras_seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, saved.keras_generator)


def _set_determinism(enabled: bool) -> None:
    """Turns TensorFlow's op determinism on or off.

    The public API has only ``enable_op_determinism``; ``disable_op_determinism`` and
    ``is_op_determinism_enabled`` live in ``tensorflow.python.framework.config``.
    """
    from tensorflow.python.framework import config as tf_config

    if enabled:
        tf_config.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()


def determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on."""
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seeds every generator and turns op determinism on; restores both on exit.

    Args:
        seed: The run's seed (weights, shuffling, augmentation).
    """
    import keras

    saved = _save_seeds()
    was_deterministic = determinism_enabled()
    keras.utils.set_random_seed(seed)
    _set_determinism(True)
    try:
        yield
    finally:
        _set_determinism(was_deterministic)
        _restore_seeds(saved)


@contextlib.contextmanager
def dtype_policy(name: str | None) -> Iterator[None]:
    """Sets Keras' global dtype policy to ``name`` (None: leaves it); restores it on exit.

    Args:
        name: ``mixed_float16``, ``mixed_bfloat16``, ``float32``... or None.
    """
    import keras

    if name is None:
        yield
        return
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def policy_name(mixed_precision: bool, on_tpu: bool) -> str | None:
    """The dtype policy of a run: mixed bfloat16 on TPU, mixed float16 elsewhere, or None."""
    if not mixed_precision:
        return None
    return "mixed_bfloat16" if on_tpu else "mixed_float16"


def is_multi_worker(strategy: Any) -> bool:
    """Whether ``strategy`` is a ``MultiWorkerMirroredStrategy`` (the patches' case)."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


@contextlib.contextmanager
def multi_worker_patches(strategy: Any) -> Iterator[BuildPatch]:
    """Works around two Keras 3 bugs under ``MultiWorkerMirroredStrategy``, for one run.

    On enter (only under that strategy), scalar step outputs are reduced with
    ``axis=None`` (:func:`_reduce_per_replica`). The yielded function patches one
    model's symbolic build (:func:`_patch_build`). On exit both are undone. Under any
    other strategy nothing is patched and the yielded function does nothing.

    Args:
        strategy: The run's ``tf.distribute`` strategy, or None.
    """
    if strategy is None or not is_multi_worker(strategy):
        yield lambda model, input_shape, num_classes: None
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    tf_trainer.reduce_per_replica = _reduce_per_replica(tf_trainer, original)
    patched: list[Any] = []

    def patch(model: Any, input_shape: tuple[int, ...], num_classes: int) -> None:
        _patch_build(model, strategy, input_shape, num_classes)
        patched.append(model)

    try:
        yield patch
    finally:
        tf_trainer.reduce_per_replica = original
        for model in patched:
            with contextlib.suppress(AttributeError):
                del model._maybe_symbolic_build


def _patch_build(model: Any, strategy: Any, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Gives ``model`` a symbolic build from a dummy batch.

    ``Trainer._maybe_symbolic_build`` calls ``strategy.reduce`` on the whole ``(x, y)``
    tuple of per-replica batches, which CollectiveAllReduce cannot take ("Attempt to
    convert a value (PerReplica...)"). The build only needs shapes, so it is given a
    dummy batch ``(x (1, *input_shape), y (1, num_classes))`` instead. Remove once Keras
    reduces per tensor.
    """
    batch = (
        np.zeros((1, *input_shape), np.float32),
        np.zeros((1, num_classes), np.float32),
    )

    def build(iterator: Any = None, data_batch: Any = None) -> None:
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    model._maybe_symbolic_build = build


def _reduce_per_replica(tf_trainer: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    """Keras' ``reduce_per_replica`` that averages scalars over workers with ``axis=None``.

    Step outputs are reduced with ``axis=0`` even when they are scalars (loss, metrics),
    which fails ("Invalid reduction dimension 0 for input with 0 dimensions").
    """
    from keras.src import tree

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            return original(values, strategy, reduction)

        def reduce(v: Any) -> Any:
            axis = None if len(getattr(v, "shape", ())) == 0 else 0
            return strategy.reduce("MEAN", v, axis=axis)

        return tree.map_structure(reduce, values)

    return reduce_per_replica
