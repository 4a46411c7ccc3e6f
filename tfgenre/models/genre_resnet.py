"""``genre_resnet``: a small residual CNN for log-mels, built for accuracy per CPU-second.

Design (defaults: ``width=32``, ``depth=(1, 1, 1)``, ~0.3M parameters, ~55M multiply-
adds per 128x130 example, i.e. about a tenth of ``mel_cnn``):

- The dB input is mapped to about [0, 1] by a fixed affine map, then normalised per
  mel band by BatchNormalization over the frequency axis: each band gets its own
  learned centring and gain, which absorbs loudness and spectral tilt.
- Stem: 3x3 stride-2 conv, BN, ReLU, 2x2 max-pool: a cheap 4x reduction.
- ``len(depth)`` residual stages of basic blocks (two 3x3 conv-BN), widths
  ``width * 2**stage``, each stage after the first halving both axes. The last BN of
  each block starts at zero, so every block starts as the identity (Goyal et al.).
- Global average and max pooling concatenated (mean texture plus strongest events),
  dropout, dense, softmax.

BatchNormalization uses momentum 0.9, so its moving statistics settle within a few
dozen steps and short runs evaluate well. The network is fully convolutional and
takes any number of frames.
"""

from __future__ import annotations

from typing import Any

import keras

from tfgenre.models.layers import DB_RANGE, DecibelScaling
from tfgenre.models.registry import (
    InputSpec,
    check_int,
    check_ints,
    check_rate,
    register_model,
)

_BN = {"momentum": 0.9, "epsilon": 1e-3}


def _conv_bn(
    x: Any, filters: int, kernel: int, stride: int, name: str, *, zero_gamma: bool = False
) -> Any:
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    return keras.layers.BatchNormalization(
        **_BN, gamma_initializer="zeros" if zero_gamma else "ones", name=f"{name}_bn"
    )(x)


def _block(x: Any, filters: int, stride: int, name: str) -> Any:
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_proj")
    y = _conv_bn(x, filters, 3, stride, f"{name}_a")
    y = keras.layers.ReLU(name=f"{name}_a_relu")(y)
    y = _conv_bn(y, filters, 3, 1, f"{name}_b", zero_gamma=True)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


@register_model("genre_resnet", views=("mel",))
def build(
    input_spec: InputSpec,
    num_classes: int,
    *,
    width: int = 32,
    depth: tuple[int, ...] = (1, 1, 1),
    dropout: float = 0.3,
) -> keras.Model:
    """Small residual CNN on log-mels; the default model (see the module docstring).

    Args:
        input_spec: A ``mel`` spec, ``(n_mels, n_frames, 1)`` in dB (no resizing).
        num_classes: Number of classes.
        width: Channels of the stem and the first stage; stage ``i`` has
            ``width * 2**i``.
        depth: Residual blocks per stage; its length is the number of stages.
        dropout: Dropout rate before the dense layer.

    Returns:
        Model ``(batch, n_mels, n_frames, 1)`` -> ``(batch, num_classes)`` float32.
    """
    width = check_int("width", width, minimum=1)
    depth = check_ints("depth", depth, length=None, minimum=1)
    dropout = check_rate("dropout", dropout)
    inputs = keras.Input(input_spec.shape, name="mel")
    x = DecibelScaling(*DB_RANGE, low=0.0, high=1.0, name="db_scaling")(inputs)
    x = keras.layers.BatchNormalization(axis=1, **_BN, name="band_norm")(x)
    x = _conv_bn(x, width, 3, 2, "stem")
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(2, padding="same", name="stem_pool")(x)
    for stage, n_blocks in enumerate(depth):
        for block in range(n_blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _block(x, width * 2**stage, stride, f"stage{stage + 1}_block{block + 1}")
    x = keras.layers.Concatenate(name="pool")(
        [
            keras.layers.GlobalAveragePooling2D(name="avg_pool")(x),
            keras.layers.GlobalMaxPooling2D(name="max_pool")(x),
        ]
    )
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="genre_resnet")
