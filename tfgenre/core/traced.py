"""A Keras model's inference as one traced function for every batch size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def batch_function(model: Any, shape: Sequence[int | None]) -> Callable[[Any], Any]:
    """``x -> model(x, training=False)``, traced once for every batch size.

    On TensorFlow one graph serves every batch of ``(batch, *shape)`` float32: no
    retracing and none of the per-call work of ``predict_on_batch`` (the outputs are the
    same, bit for bit). Other backends get ``model.predict_on_batch``.

    Args:
        model: A Keras model.
        shape: Shape of one example (``None``: any size along that axis).

    Returns:
        A callable from a float32 batch to the model's outputs (a tensor or a dict).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch
    import tensorflow as tf

    spec = tf.TensorSpec([None, *(None if d is None else int(d) for d in shape)], tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])
