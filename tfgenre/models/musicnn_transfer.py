"""Fine-tuning the pretrained music backbones (musicnn, vgg) on raw 16-kHz windows.

Registered: ``musicnn_mtt``, ``musicnn_msd``, ``vgg_mtt``, ``vgg_msd`` (view ``raw``),
each named after the published weight set it starts from
(:data:`tfgenre.backbones.weights.WEIGHT_SETS`). Each model is::

    raw window (n,) in [-1, 1] at 16 kHz
      -> MusicnnFrontEnd -> log-mel patches (B, P, 187, 96)     (P = 3-s patches)
      -> fold to (B * P, 187, 96)
      -> backbone (the port cut at ``layer``, layer name "backbone") -> (B * P, D)
      -> mean over the P patches -> (B, D)
      -> dropout -> dense -> softmax (float32)

The input must be sampled at 16 kHz, the rate the weights were trained at, because the
front end's STFT and mel bands are fixed in samples and the weights only know the
spectra they were trained on: write the records with ``write_records --sample-rate
16000 --views raw`` (serving and ``predict`` then decode at 16 kHz too).

With the published weights the backbone's batch normalization stays in inference
mode (moving statistics of the original training data, not updated), whether the
backbone is frozen, unfrozen by ``fine_tune.unfreeze_top`` or built with
``freeze=False``: small fine-tuning batches would otherwise overwrite statistics
learnt on a million songs. A randomly initialised backbone (``weights=None``) trains
its batch normalization as usual.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import keras
from keras import ops

from tfgenre.backbones.frontend import SAMPLE_RATE, MusicnnFrontEnd
from tfgenre.backbones.runner import PATCH_SAMPLES
from tfgenre.backbones.weights import WEIGHT_SETS, find_weights
from tfgenre.errors import ConfigError
from tfgenre.models.backbone import BACKBONE_NAME
from tfgenre.models.layers import classifier_head
from tfgenre.models.registry import (
    InputSpec,
    check_bool,
    check_choice,
    check_rate,
    invalid,
    register_model,
)

logger = logging.getLogger(__name__)

#: The registered names, one per published weight set.
MODEL_NAMES: tuple[str, ...] = tuple(WEIGHT_SETS)
#: Outputs of each architecture that a classifier head can read; the first is the default.
#: musicnn defaults to ``mean_pool``, the mid-end features averaged over time (753), not
#: the 200-unit ``penultimate`` layer trained for the 50 tags: in a check on synthetic
#: records (8 genres, 96 training windows, 6 frozen + 2 unfrozen epochs) its head learnt
#: faster while the backbone was frozen (validation accuracy 0.60 against 0.44 after 6
#: epochs) and it ended best on test (segment accuracy 0.83; penultimate 0.75, max_pool
#: 0.60, whose unnormalised maxima started at a loss of 8.9).
LAYERS: dict[str, tuple[str, ...]] = {
    "musicnn": ("mean_pool", "penultimate", "max_pool"),
    "vgg": ("penultimate",),
}
#: ``weights`` value that loads the weight set of the model's name.
PUBLISHED = "published"


@keras.saving.register_keras_serializable(package="tfgenre")
class FoldPatches(keras.layers.Layer):
    """Folds the patch axis into the batch: ``(B, P, *rest)`` -> ``(B * P, *rest)``."""

    def call(self, inputs: Any) -> Any:
        return ops.reshape(inputs, (-1, *inputs.shape[2:]))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        batch, patches = input_shape[0], input_shape[1]
        folded = None if batch is None or patches is None else batch * patches
        return (folded, *input_shape[2:])


@keras.saving.register_keras_serializable(package="tfgenre")
class MeanOverPatches(keras.layers.Layer):
    """Unfolds ``(B * P, D)`` to ``(B, P, D)`` and averages over the ``P`` patches.

    Args:
        patches: Patches per example ``P``.
        **kwargs: Base layer arguments.
    """

    def __init__(self, patches: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(patches) < 1:
            raise ValueError(f"patches={patches} must be >= 1")
        self.patches = int(patches)

    def call(self, inputs: Any) -> Any:
        x = ops.reshape(inputs, (-1, self.patches, inputs.shape[-1]))
        return ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        batch = input_shape[0]
        return (None if batch is None else batch // self.patches, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(patches=self.patches)
        return config


def check_input(input_spec: InputSpec) -> int:
    """The window length in samples of a raw 16-kHz ``input_spec``.

    Raises:
        ConfigError: Another (or an unknown) sample rate, or a window shorter than
            one 187-frame patch.
    """
    rate = input_spec.sample_rate
    fix = "write the records with `python -m tfgenre.write_records --sample-rate 16000 --views raw`"
    if rate is None:
        raise ConfigError(
            f"the backbone needs raw windows at {SAMPLE_RATE} Hz, and the input gives no "
            f"sample rate (InputSpec sample_rate=None); {fix}"
        )
    if rate != SAMPLE_RATE:
        raise ConfigError(
            f"the backbone was trained on {SAMPLE_RATE}-Hz audio; the raw windows are at "
            f"sample_rate={rate} Hz: {fix}"
        )
    (n_samples,) = input_spec.shape
    if n_samples < PATCH_SAMPLES:
        raise ConfigError(
            f"raw windows of {n_samples} samples ({n_samples / SAMPLE_RATE:.2f} s) are "
            f"shorter than one backbone patch ({PATCH_SAMPLES} samples, "
            f"{PATCH_SAMPLES / SAMPLE_RATE:.3f} s); write the records with "
            "--window-seconds 3 or more"
        )
    return n_samples


def _resolve_weights(name: str, weights: Any) -> str | None:
    """``weights`` as ``"published"``, None, or a checkpoint folder of ``name``'s weights."""
    rule = f"{PUBLISHED!r}, None/'none', or a checkpoint folder of the {name} weights"
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str) or not weights:
        raise invalid("weights", weights, rule)
    if weights in (PUBLISHED, name):
        return PUBLISHED
    if not os.path.isdir(weights):
        raise invalid("weights", weights, rule + " (no such folder)")
    return weights


def build_backbone(name: str, weights: str | None, layer: str) -> keras.Model:
    """The port of ``name`` cut at output ``layer``, as the nested model ``"backbone"``.

    Args:
        name: One of :data:`MODEL_NAMES`.
        weights: ``"published"``, None (random init) or a checkpoint folder.
        layer: An output of :data:`LAYERS` for the architecture.

    Returns:
        ``keras.Model`` ``(batch, 187, 96)`` log-mel patches -> ``(batch, D)``.
    """
    from tfgenre.backbones.musicnn import build_musicnn
    from tfgenre.backbones.pretrained import build_pretrained
    from tfgenre.backbones.vgg import MSD_POOLS, MTT_POOLS, build_vgg

    arch, dataset, _ = WEIGHT_SETS[name]
    if weights is None:
        if arch == "musicnn":
            full = build_musicnn(name=name)
        else:
            full = build_vgg(pools=MSD_POOLS if dataset == "msd" else MTT_POOLS, name=name)
    else:
        ws = find_weights(name if weights == PUBLISHED else weights)
        if ws.name != name:
            raise ConfigError(
                f"weights folder {weights!r} holds the {ws.name} weights, not {name}'s: "
                f"use --model {ws.name}"
            )
        full = build_pretrained(ws)
        logger.info("%s: %s weights, %s", name, ws.source, ws.licence)
    backbone = keras.Model(full.inputs, full.get_layer(layer).output, name=BACKBONE_NAME)
    if weights is not None:
        for sub in backbone.layers:
            if isinstance(sub, keras.layers.BatchNormalization):
                sub.trainable = False  # inference mode: keep the published statistics
    return backbone


def build_transfer(
    name: str,
    input_spec: InputSpec,
    num_classes: int,
    *,
    weights: Any,
    layer: str,
    freeze: bool,
    dropout: float,
) -> keras.Model:
    """Builds the fine-tuning model of one weight set (see the module docstring).

    Args:
        name: One of :data:`MODEL_NAMES`.
        input_spec: A ``raw`` spec at 16 kHz of at least :data:`PATCH_SAMPLES` samples.
        num_classes: Number of classes.
        weights: ``"published"`` (the weight set of ``name``; needs the ``musicnn``
            package installed), None/``"none"`` (random init) or a checkpoint folder.
        layer: Backbone output the head reads (musicnn: ``mean_pool`` or ``max_pool``
            (753) or ``penultimate`` (200); vgg: ``penultimate`` (256)).
        freeze: Make the backbone non-trainable.
        dropout: Dropout rate before the dense layer.

    Returns:
        Model ``(batch, n_samples)`` -> ``(batch, num_classes)`` float32.
    """
    arch = WEIGHT_SETS[name][0]
    n_samples = check_input(input_spec)
    weights = _resolve_weights(name, weights)
    layer = check_choice("layer", layer, LAYERS[arch])
    freeze = check_bool("freeze", freeze)
    dropout = check_rate("dropout", dropout)
    backbone = build_backbone(name, weights, layer)
    if freeze:
        backbone.trainable = False
    inputs = keras.Input((n_samples,), name="raw")
    # float32 under mixed precision too: the STFT and log need the range.
    patches = MusicnnFrontEnd(name="frontend", dtype="float32")(inputs)
    n_patches = int(patches.shape[1])
    x = FoldPatches(name="fold_patches")(patches)
    x = backbone(x)
    x = MeanOverPatches(n_patches, name="patch_mean")(x)
    outputs = classifier_head(x, num_classes, dropout=dropout, pooling=None)
    return keras.Model(inputs, outputs, name=name)


def _register(name: str) -> None:
    """Registers the builder of weight set ``name``."""
    arch, dataset, folder = WEIGHT_SETS[name]
    default_layer = LAYERS[arch][0]

    def build(
        input_spec: InputSpec,
        num_classes: int,
        *,
        weights: str | None = PUBLISHED,
        layer: str = default_layer,
        freeze: bool = False,
        dropout: float = 0.3,
    ) -> keras.Model:
        return build_transfer(
            name,
            input_spec,
            num_classes,
            weights=weights,
            layer=layer,
            freeze=freeze,
            dropout=dropout,
        )

    build.__doc__ = (
        f"{arch} pretrained on {dataset.upper()} (musicnn {folder} weights, ISC licence, "
        "Pons & Serra 2019) fine-tuned on raw 16-kHz windows; see build_transfer."
    )
    build.__qualname__ = f"build_{name}"
    build.__name__ = f"build_{name}"
    register_model(name, views=("raw",), check=check_input)(build)


for _name in MODEL_NAMES:
    _register(_name)

__all__ = [
    "LAYERS",
    "MODEL_NAMES",
    "PATCH_SAMPLES",
    "FoldPatches",
    "MeanOverPatches",
    "build_backbone",
    "build_transfer",
    "check_input",
]
