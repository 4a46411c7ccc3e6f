"""The epoch a training pass is drawn for, and the draws made from it.

Each training pass reads its epoch from an :class:`EpochCounter` and draws its file
order, example order and augmentation from ``(seed, epoch)`` alone, so a run resumed at
epoch ``e`` sees what the uninterrupted run saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _tf() -> Any:
    import tensorflow as tf

    return tf


class EpochCounter:
    """The epoch a training dataset's next pass is for (a ``tf.Variable`` it reads).

    A training dataset built with a counter reads it at the start of every pass (each
    ``iter()``, which Keras makes once per epoch) and draws that pass's file order,
    example order and augmentation from ``(seed, epoch)`` alone. So epoch ``e`` sees
    the same data whether the process trained epochs ``0..e-1`` first or resumed from
    a backup. :class:`tfgenre.training.callbacks.EpochSeeds` sets it at each epoch's start;
    left alone, every pass draws epoch 0's order.
    """

    def __init__(self) -> None:
        tf = _tf()
        with tf.init_scope(), tf.device("/cpu:0"):
            self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

    def set(self, epoch: int) -> None:
        """The epoch the next pass is drawn for."""
        self.variable.assign(int(epoch))

    @property
    def epoch(self) -> int:
        """The epoch the next pass is drawn for."""
        return int(self.variable.numpy())


def epoch_passes(epochs: EpochCounter, seed: int, one_pass: Callable[[Any], Any]) -> Any:
    """A dataset whose every pass is ``one_pass(pass_seed)`` for the counter's epoch.

    Args:
        epochs: Read at the start of each pass.
        seed: The run's seed.
        one_pass: ``pass_seed -> Dataset``; ``pass_seed`` is an int64 ``(2,)`` tensor,
            ``[seed, epoch]``, for stateless draws and :func:`pass_shuffle_seed`.
    """
    tf = _tf()

    def build(_: Any) -> Any:
        # Dataset.shuffle's seed logic compares (graph seed, op seed) with (0, 0) in
        # Python, which a tensor op seed cannot answer when the graph seed is 0 (a run
        # with seed 0): give this function's graph a fixed nonzero seed. The draws
        # depend on the op seeds, which come from (seed, epoch).
        tf.random.set_seed(1)
        epoch = epochs.variable.read_value()
        return one_pass(tf.stack([tf.constant(seed, tf.int64), epoch]))

    return tf.data.Dataset.range(1).flat_map(build)


def pass_shuffle_seed(pass_seed: Any, which: int) -> Any:
    """An int64 scalar op seed for the pass's ``which``-th shuffle, from ``pass_seed``."""
    tf = _tf()
    key = tf.random.experimental.stateless_fold_in(pass_seed, which)
    return tf.random.stateless_uniform([], key, minval=0, maxval=2**31 - 1, dtype=tf.int64)


def augmented(ds: Any, augment: Any, pass_seed: Any) -> Any:
    """``ds`` with ``augment`` applied, batch ``i`` drawing from ``fold_in(pass_seed, i)``."""
    if augment is None:
        return ds
    tf = _tf()

    def apply(i: Any, batch: Any) -> Any:
        return augment(tf.random.experimental.stateless_fold_in(pass_seed, i), *batch)

    return ds.enumerate().map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
