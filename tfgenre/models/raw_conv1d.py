"""``raw_conv1d``: the Conv1D raw-waveform network of the TensorFlow FMA study."""

from __future__ import annotations

import keras

from tfgenre.models.registry import (
    InputSpec,
    check_int,
    check_ints,
    check_rate,
    invalid,
    register_model,
)


@register_model("raw_conv1d", views=("raw",))
def build(
    input_spec: InputSpec,
    num_classes: int,
    *,
    filters: tuple[int, int] = (128, 64),
    kernel_size: int = 3,
    pool_size: int = 16,
    dropout: float = 0.5,
    dropout_last: float = 0.0,
) -> keras.Model:
    """Two Conv1D/max-pool stages and dense 100-20 layers on the raw waveform.

    Conv1D 128 k=3 ReLU, max-pool, Conv1D 64 k=3 ReLU, max-pool, flatten, dense 100
    ReLU, dropout, dense 20 ReLU, (dropout), softmax. The flattened size is
    ``64 * n_samples / pool_size**2``, which sets the parameter count: at 66150
    samples (3 s at 22.05 kHz) the default ``pool_size=16`` gives ~1.7M parameters,
    ``pool_size=4`` ~26M.

    Args:
        input_spec: A ``raw`` spec, ``(n_samples,)`` in [-1, 1].
        num_classes: Number of classes.
        filters: Filters of the two convolutions.
        kernel_size: Kernel size of both convolutions.
        pool_size: Pool size (and stride) of both max-pools.
        dropout: Dropout rate after dense 100.
        dropout_last: Dropout rate after dense 20 (0: none).

    Returns:
        Model ``(batch, n_samples)`` -> ``(batch, num_classes)`` float32.
    """
    filters = check_ints("filters", filters, length=2, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    pool_size = check_int("pool_size", pool_size, minimum=1)
    dropout = check_rate("dropout", dropout)
    dropout_last = check_rate("dropout_last", dropout_last)
    (n_samples,) = input_spec.shape
    length = n_samples
    for _ in filters:
        length = (length - kernel_size + 1) // pool_size
    if length < 1:
        raise invalid(
            "pool_size",
            pool_size,
            f"small enough to leave >= 1 step of the {n_samples}-sample input",
        )
    inputs = keras.Input(input_spec.shape, name="raw")
    x = keras.layers.Reshape((n_samples, 1), name="to_channels")(inputs)
    for i, n_filters in enumerate(filters, start=1):
        x = keras.layers.Conv1D(n_filters, kernel_size, activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling1D(pool_size, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(100, activation="relu", name="dense1")(x)
    x = keras.layers.Dropout(dropout, name="dropout1")(x)
    x = keras.layers.Dense(20, activation="relu", name="dense2")(x)
    if dropout_last:
        x = keras.layers.Dropout(dropout_last, name="dropout2")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="raw_conv1d")
