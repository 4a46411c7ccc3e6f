"""Backbone handling shared by the image models: weights, freezing, fine-tuning.

Image models (keras.applications transfers, ResNet18/34, AlexNet) hold their feature
extractor as one nested ``keras.Model`` layer named ``"backbone"``; the front end
before it and the classifier head after it live in the outer model. Training code
finds it with :func:`get_backbone` and fine-tunes in two phases::

    model = get_model("mobilenet_v2", spec, 10, weights="imagenet", freeze=True)
    model.compile(...); model.fit(...)          # phase 1: head only
    set_trainable_top(model, 20)                # unfreeze the top 20 backbone layers
    model.compile(...); model.fit(...)          # phase 2: recompile, lower learning rate
"""

from __future__ import annotations

import logging
import os

import keras

from tfgenre.errors import ConfigError
from tfgenre.models.registry import invalid

logger = logging.getLogger(__name__)

BACKBONE_NAME = "backbone"
_WEIGHT_SUFFIXES = (".h5", ".hdf5", ".keras")


def resolve_weights(weights: object, *, imagenet: bool) -> str | None:
    """Validates a ``weights`` option.

    Args:
        weights: ``"imagenet"``, None, ``"none"``, or a path to a local ``.h5``,
            ``.weights.h5`` or ``.keras`` file (``gs://`` and other URLs pass unchecked).
        imagenet: Whether ``"imagenet"`` is allowed (keras.applications ship such
            weights; the architectures defined here do not).

    Returns:
        ``"imagenet"``, None or the path.

    Raises:
        ConfigError: For any other value or a missing file.
    """
    rule = (
        "'imagenet', None or a path to a local .h5/.weights.h5 file"
        if imagenet
        else "None or a path to a local .h5/.weights.h5 file (keras ships no ImageNet "
        "weights for this architecture)"
    )
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise invalid("weights", weights, rule)
    if weights == "imagenet":
        if not imagenet:
            raise invalid("weights", weights, rule)
        return weights
    if not weights.lower().endswith(_WEIGHT_SUFFIXES):
        raise invalid("weights", weights, rule)
    if "://" not in weights and not os.path.exists(weights):
        raise ConfigError(f"weights file {weights!r} does not exist. Received: weights={weights!r}")
    return weights


def get_backbone(model: keras.Model) -> keras.Model:
    """The nested feature extractor of an image model.

    Raises:
        ConfigError: When ``model`` has no layer named ``"backbone"``.
    """
    try:
        backbone = model.get_layer(BACKBONE_NAME)
    except ValueError:
        raise ConfigError(
            f"model {model.name!r} has no {BACKBONE_NAME!r} layer (only the image models "
            "have one: keras.applications transfers, resnet18/34, alexnet)"
        ) from None
    return backbone


def _weighted_layers(backbone: keras.Model) -> list[keras.layers.Layer]:
    """Backbone layers that hold weights, in order, BatchNormalization excluded."""
    return [
        layer
        for layer in backbone.layers
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    ]


def set_trainable_top(model: keras.Model, n_layers: int) -> list[str]:
    """Unfreezes the top ``n_layers`` weight-holding layers of the model's backbone.

    All other backbone layers are frozen. BatchNormalization layers are never
    unfrozen and do not count towards ``n_layers``: a frozen BatchNormalization runs
    in inference mode (moving statistics), which is what Keras recommends when fine-
    tuning a pretrained network on small batches. The layers outside the backbone
    (front end, head) are left as they are. Recompile the model afterwards.

    Args:
        model: An image model with a ``"backbone"`` layer.
        n_layers: How many of the backbone's weight-holding, non-BatchNormalization
            layers to unfreeze, counted from the top; 0 freezes the whole backbone;
            more than there are unfreezes them all.

    Returns:
        Names of the unfrozen layers, bottom to top.

    Raises:
        ConfigError: When ``n_layers`` is negative or ``model`` has no backbone.
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 0:
        raise invalid("n_layers", n_layers, "an int >= 0")
    backbone = get_backbone(model)
    candidates = _weighted_layers(backbone)
    top = candidates[max(0, len(candidates) - n_layers) :] if n_layers else []
    chosen = {id(layer) for layer in top}
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = id(layer) in chosen
    if not top:
        backbone.trainable = False
    if n_layers > len(candidates):
        logger.info(
            "set_trainable_top: n_layers=%d > %d weighted layers; unfroze all of them",
            n_layers,
            len(candidates),
        )
    return [layer.name for layer in top]


def freeze_backbone(model: keras.Model) -> None:
    """Makes the whole backbone non-trainable (BatchNormalization in inference mode)."""
    get_backbone(model).trainable = False
