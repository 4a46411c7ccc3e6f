"""Model registry and zoo: ``get_model(name, input_spec, num_classes, **options)``.

Importing this package registers every model family. Names say architecture and view:

- mel: ``genre_resnet`` (default), ``mel_cnn``, ``resnet18``, ``resnet34``, ``alexnet``,
  and keras.applications transfers ``mobilenet_v2``, ``resnet50``, ``densenet121``,
  ``vgg16``, ``efficientnet_b0``;
- raw: ``raw_conv1d``, and the pretrained music backbones fine-tuned on 16-kHz windows
  ``musicnn_mtt``, ``musicnn_msd``, ``vgg_mtt``, ``vgg_msd``;
- features and embeddings: ``features_mlp``, ``linear`` (a linear probe).
"""

from __future__ import annotations

from tfgenre.models import (  # noqa: F401  (imported to register the families)
    alexnet,
    applications,
    features_mlp,
    genre_resnet,
    linear,
    mel_cnn,
    musicnn_transfer,
    raw_conv1d,
    resnet,
)
from tfgenre.models.backbone import freeze_backbone, get_backbone, set_trainable_top
from tfgenre.models.layers import DecibelScaling, ImageNetPreprocessing, RepeatChannels
from tfgenre.models.registry import (
    InputSpec,
    ModelEntry,
    get_entry,
    get_model,
    known_models,
    model_options,
    models_for_view,
    register_model,
)

DEFAULT_MODEL = "genre_resnet"

__all__ = [
    "DEFAULT_MODEL",
    "DecibelScaling",
    "ImageNetPreprocessing",
    "InputSpec",
    "ModelEntry",
    "RepeatChannels",
    "freeze_backbone",
    "get_backbone",
    "get_entry",
    "get_model",
    "known_models",
    "model_options",
    "models_for_view",
    "register_model",
    "set_trainable_top",
]
