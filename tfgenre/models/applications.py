"""Transfer learning from ``keras.applications`` ImageNet backbones on log-mel images.

Registered: ``mobilenet_v2``, ``resnet50``, ``densenet121``, ``vgg16``,
``efficientnet_b0``. Each model is::

    mel (n_mels, n_frames, 1) dB
      -> resize to input_size^2 -> dB to 0..255 -> 1 channel to 3 -> preprocess_input
      -> backbone (include_top=False, layer name "backbone")
      -> global pooling -> dropout -> dense -> softmax (float32)

``preprocess_input`` is re-implemented as the :class:`ImageNetPreprocessing` layer
(the ``keras.applications`` functions are not layers and do not serialise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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


@dataclasses.dataclass(frozen=True)
class _App:
    """A keras.applications constructor and its ``preprocess_input`` mode."""

    constructor: Callable[..., keras.Model]
    mode: str


_APPS: dict[str, _App] = {
    "mobilenet_v2": _App(keras.applications.MobileNetV2, "tf"),
    "resnet50": _App(keras.applications.ResNet50, "caffe"),
    "densenet121": _App(keras.applications.DenseNet121, "torch"),
    "vgg16": _App(keras.applications.VGG16, "caffe"),
    # EfficientNet rescales and normalises inside itself: it takes 0..255 images.
    "efficientnet_b0": _App(keras.applications.EfficientNetB0, "none"),
}


def build_application(
    app_name: str,
    input_spec: InputSpec,
    num_classes: int,
    *,
    weights: str | None,
    freeze: bool,
    input_size: int,
    dropout: float,
    pooling: str,
) -> keras.Model:
    """Builds the transfer model of one keras.applications backbone.

    Args:
        app_name: Key of ``_APPS``.
        input_spec: A ``mel`` spec.
        num_classes: Number of classes.
        weights: ``"imagenet"`` (downloaded on first use), None/``"none"``, or a local
            ``.h5``/``.weights.h5`` file of the backbone without its top.
        freeze: Make the backbone non-trainable (its BatchNormalization layers then
            run in inference mode).
        input_size: Side of the square image the backbone sees (>= 32).
        dropout: Dropout rate before the dense layer.
        pooling: Global pooling of the backbone features, ``"avg"`` or ``"max"``.

    Returns:
        Model ``(batch, n_mels, n_frames, 1)`` -> ``(batch, num_classes)`` float32.
    """
    app = _APPS[app_name]
    weights = resolve_weights(weights, imagenet=True)
    freeze = check_bool("freeze", freeze)
    input_size = check_int("input_size", input_size, minimum=32)
    dropout = check_rate("dropout", dropout)
    pooling = check_choice("pooling", pooling, ("avg", "max"))
    backbone = app.constructor(
        include_top=False,
        weights=weights,
        input_shape=(input_size, input_size, 3),
        name=BACKBONE_NAME,
    )
    backbone.trainable = not freeze
    inputs = keras.Input(input_spec.shape, name="mel")
    x = mel_to_image(inputs, input_size=input_size, mode=app.mode)
    x = backbone(x)
    outputs = classifier_head(x, num_classes, dropout=dropout, pooling=pooling)
    return keras.Model(inputs, outputs, name=app_name)


def _register(app_name: str) -> None:
    """Registers the builder of ``app_name`` (one closure per app keeps options explicit)."""

    def build(
        input_spec: InputSpec,
        num_classes: int,
        *,
        weights: str | None = "imagenet",
        freeze: bool = False,
        input_size: int = 224,
        dropout: float = 0.2,
        pooling: str = "avg",
    ) -> keras.Model:
        return build_application(
            app_name,
            input_spec,
            num_classes,
            weights=weights,
            freeze=freeze,
            input_size=input_size,
            dropout=dropout,
            pooling=pooling,
        )

    build.__doc__ = (
        f"keras.applications {_APPS[app_name].constructor.__name__} transfer on log-mel "
        "images; see build_application for the options."
    )
    build.__qualname__ = f"build_{app_name}"
    build.__name__ = f"build_{app_name}"
    register_model(app_name, views=("mel",))(build)


for _name in _APPS:
    _register(_name)
