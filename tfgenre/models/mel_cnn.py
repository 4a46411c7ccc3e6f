"""``mel_cnn``: the 2-D CNN of the CNTK GTZAN study, on 128x128 log-mel images."""

from __future__ import annotations

import keras

from tfgenre.models.layers import DB_RANGE, DecibelScaling
from tfgenre.models.registry import InputSpec, check_int, check_rate, register_model


@register_model("mel_cnn", views=("mel",))
def build(
    input_spec: InputSpec,
    num_classes: int,
    *,
    input_size: int = 128,
    dropout: float = 0.5,
) -> keras.Model:
    """Three conv/max-pool stages and two dense layers on a resized log-mel image.

    The dB mel (``(n_mels, n_frames, 1)``) is resized to ``input_size x input_size``
    and mapped from -80..+40 dB to 0..1; then conv 64/128/256 3x3 ReLU (He-normal),
    each followed by max-pool 3x3 stride 2; flatten; dense 512-512 ReLU (Glorot-
    uniform) with dropout; softmax.

    Args:
        input_spec: A ``mel`` spec.
        num_classes: Number of classes.
        input_size: Side of the square image the convolutions see (>= 32).
        dropout: Dropout rate after each dense layer.

    Returns:
        Model ``(batch, n_mels, n_frames, 1)`` -> ``(batch, num_classes)`` float32.
    """
    input_size = check_int("input_size", input_size, minimum=32)
    dropout = check_rate("dropout", dropout)
    inputs = keras.Input(input_spec.shape, name="mel")
    x = inputs
    if tuple(input_spec.shape[:2]) != (input_size, input_size):
        x = keras.layers.Resizing(input_size, input_size, name="resize")(x)
    x = DecibelScaling(*DB_RANGE, low=0.0, high=1.0, name="db_scaling")(x)
    for i, filters in enumerate((64, 128, 256), start=1):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer="he_normal",
            name=f"conv{i}",
        )(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = keras.layers.Dense(
            512, activation="relu", kernel_initializer="glorot_uniform", name=f"dense{i}"
        )(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mel_cnn")
