"""``alexnet``: AlexNet (Krizhevsky et al., 2012) on log-mel images, torchvision layout.

keras.applications has no AlexNet, so it is defined here. The backbone (layer
``"backbone"``) is the five convolutions with their pools; the head is the original
dropout/dense 4096/dropout/dense 4096 classifier on the flattened features.
"""

from __future__ import annotations

import keras

from tfgenre.models.backbone import BACKBONE_NAME, resolve_weights
from tfgenre.models.layers import mel_to_image
from tfgenre.models.registry import (
    InputSpec,
    check_bool,
    check_int,
    check_rate,
    register_model,
)

#: Smallest input side that leaves a >= 1x1 map after the third max-pool.
MIN_INPUT_SIZE = 63

# (filters, kernel, stride, max-pool after)
_CONVS = (
    (64, 11, 4, True),
    (192, 5, 1, True),
    (384, 3, 1, False),
    (256, 3, 1, False),
    (256, 3, 1, True),
)


def alexnet_backbone(
    input_size: int, *, batch_norm: bool, name: str = BACKBONE_NAME
) -> keras.Model:
    """The AlexNet convolutions (torchvision channel counts: 64-192-384-256-256).

    Args:
        input_size: Side of the square RGB input (>= 63).
        batch_norm: Insert BatchNormalization after each convolution (before ReLU).
        name: Model name.

    Returns:
        Model ``(batch, input_size, input_size, 3)`` -> ``(batch, s, s, 256)``,
        ``s = 6`` at 224.
    """
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.ZeroPadding2D(2, name="pad")(inputs)
    for i, (filters, kernel, stride, pool) in enumerate(_CONVS, start=1):
        x = keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="valid" if i == 1 else "same",
            use_bias=not batch_norm,
            kernel_initializer="he_normal",
            name=f"conv{i}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if pool:
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
    return keras.Model(inputs, x, name=name)


@register_model("alexnet", views=("mel",))
def build(
    input_spec: InputSpec,
    num_classes: int,
    *,
    weights: str | None = None,
    freeze: bool = False,
    input_size: int = 224,
    batch_norm: bool = True,
    dense_units: int = 4096,
    dropout: float = 0.5,
) -> keras.Model:
    """AlexNet on log-mel images (57M parameters at 224 with 10 classes).

    Args:
        input_spec: A ``mel`` spec.
        num_classes: Number of classes.
        weights: None/``"none"`` or a local ``.h5``/``.weights.h5`` file of the
            backbone (same ``batch_norm`` setting).
        freeze: Make the backbone non-trainable.
        input_size: Side of the square image the backbone sees (>= 63).
        batch_norm: BatchNormalization after each convolution (not in the 2012 paper,
            which used local response normalisation; it trains faster and steadier).
        dense_units: Units of the two hidden dense layers.
        dropout: Dropout rate before each hidden dense layer.

    Returns:
        Model ``(batch, n_mels, n_frames, 1)`` -> ``(batch, num_classes)`` float32.
    """
    weights = resolve_weights(weights, imagenet=False)
    freeze = check_bool("freeze", freeze)
    input_size = check_int("input_size", input_size, minimum=MIN_INPUT_SIZE)
    batch_norm = check_bool("batch_norm", batch_norm)
    dense_units = check_int("dense_units", dense_units, minimum=1)
    dropout = check_rate("dropout", dropout)
    backbone = alexnet_backbone(input_size, batch_norm=batch_norm)
    if weights is not None:
        backbone.load_weights(weights)
    backbone.trainable = not freeze
    inputs = keras.Input(input_spec.shape, name="mel")
    x = mel_to_image(inputs, input_size=input_size, mode="torch")
    x = backbone(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
        x = keras.layers.Dense(dense_units, activation="relu", name=f"dense{i}")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="alexnet")
