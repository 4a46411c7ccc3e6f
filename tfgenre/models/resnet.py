"""``resnet18`` and ``resnet34``: basic-block ResNets (He et al., 2016) on log-mel images.

keras.applications has no ResNet18/34, so they are defined here, torchvision-style
(ImageNet "torch" input normalisation, BatchNormalization momentum 0.9), so weights
ported from torchvision fit. ``weights`` is None or a local file of the backbone.
"""

from __future__ import annotations

from typing import Any

import keras

from tfgenre.models.backbone import BACKBONE_NAME, resolve_weights
from tfgenre.models.layers import classifier_head, mel_to_image
from tfgenre.models.registry import (
    InputSpec,
    check_bool,
    check_choice,
    check_int,
    check_rate,
    register_model,
)

#: Basic blocks per stage.
DEPTHS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}
_WIDTHS = (64, 128, 256, 512)
_BN = {"momentum": 0.9, "epsilon": 1e-5}


def _conv(filters: int, kernel: int, stride: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )


def basic_block(x: Any, filters: int, stride: int, name: str) -> Any:
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut.

    Args:
        x: Symbolic ``(batch, h, w, c)``.
        filters: Output channels.
        stride: Stride of the first convolution (and the projection).
        name: Prefix of the layer names.

    Returns:
        Symbolic ``(batch, ceil(h / stride), ceil(w / stride), filters)``.
    """
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, stride, f"{name}_proj_conv")(x)
        shortcut = keras.layers.BatchNormalization(**_BN, name=f"{name}_proj_bn")(shortcut)
    y = _conv(filters, 3, stride, f"{name}_conv1")(x)
    y = keras.layers.BatchNormalization(**_BN, name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, 1, f"{name}_conv2")(y)
    y = keras.layers.BatchNormalization(**_BN, name=f"{name}_bn2")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet_backbone(
    depths: tuple[int, ...], input_size: int, name: str = BACKBONE_NAME
) -> keras.Model:
    """The ResNet feature extractor without its top.

    Args:
        depths: Basic blocks in each of the four stages.
        input_size: Side of the square RGB input.
        name: Model name.

    Returns:
        Model ``(batch, input_size, input_size, 3)`` -> ``(batch, input_size/32,
        input_size/32, 512)`` (sides rounded up).
    """
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = _conv(64, 7, 2, "stem_conv")(inputs)
    x = keras.layers.BatchNormalization(**_BN, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (depth, width) in enumerate(zip(depths, _WIDTHS, strict=True), start=1):
        for block in range(depth):
            stride = 2 if stage > 1 and block == 0 else 1
            x = basic_block(x, width, stride, name=f"stage{stage}_block{block + 1}")
    return keras.Model(inputs, x, name=name)


def build_resnet(
    variant: str,
    input_spec: InputSpec,
    num_classes: int,
    *,
    weights: str | None,
    freeze: bool,
    input_size: int,
    dropout: float,
    pooling: str,
) -> keras.Model:
    """Builds ``resnet18`` or ``resnet34`` on log-mel images.

    Args:
        variant: ``"resnet18"`` or ``"resnet34"``.
        input_spec: A ``mel`` spec.
        num_classes: Number of classes.
        weights: None/``"none"`` or a local ``.h5``/``.weights.h5`` file of the backbone
            (e.g. written by ``model.get_layer("backbone").save_weights(path)``).
        freeze: Make the backbone non-trainable.
        input_size: Side of the square image the backbone sees (>= 32).
        dropout: Dropout rate before the dense layer.
        pooling: Global pooling, ``"avg"`` or ``"max"``.

    Returns:
        Model ``(batch, n_mels, n_frames, 1)`` -> ``(batch, num_classes)`` float32.
    """
    weights = resolve_weights(weights, imagenet=False)
    freeze = check_bool("freeze", freeze)
    input_size = check_int("input_size", input_size, minimum=32)
    dropout = check_rate("dropout", dropout)
    pooling = check_choice("pooling", pooling, ("avg", "max"))
    backbone = resnet_backbone(DEPTHS[variant], input_size)
    if weights is not None:
        backbone.load_weights(weights)
    backbone.trainable = not freeze
    inputs = keras.Input(input_spec.shape, name="mel")
    x = mel_to_image(inputs, input_size=input_size, mode="torch")
    x = backbone(x)
    outputs = classifier_head(x, num_classes, dropout=dropout, pooling=pooling)
    return keras.Model(inputs, outputs, name=variant)


@register_model("resnet18", views=("mel",))
def build_resnet18(
    input_spec: InputSpec,
    num_classes: int,
    *,
    weights: str | None = None,
    freeze: bool = False,
    input_size: int = 224,
    dropout: float = 0.2,
    pooling: str = "avg",
) -> keras.Model:
    """ResNet18 (basic blocks 2-2-2-2, 11.2M parameters) on log-mel images.

    See :func:`build_resnet` for the options.
    """
    return build_resnet(
        "resnet18",
        input_spec,
        num_classes,
        weights=weights,
        freeze=freeze,
        input_size=input_size,
        dropout=dropout,
        pooling=pooling,
    )


@register_model("resnet34", views=("mel",))
def build_resnet34(
    input_spec: InputSpec,
    num_classes: int,
    *,
    weights: str | None = None,
    freeze: bool = False,
    input_size: int = 224,
    dropout: float = 0.2,
    pooling: str = "avg",
) -> keras.Model:
    """ResNet34 (basic blocks 3-4-6-3, 21.3M parameters) on log-mel images.

    See :func:`build_resnet` for the options.
    """
    return build_resnet(
        "resnet34",
        input_spec,
        num_classes,
        weights=weights,
        freeze=freeze,
        input_size=input_size,
        dropout=dropout,
        pooling=pooling,
    )
