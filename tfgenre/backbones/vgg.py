"""musicnn's vgg baseline (Pons and Serra, 2019) as a Keras 3 functional model.

A port of ``musicnn.models.vgg``: five ``3 x 3`` convolution blocks (128 filters,
ReLU, batch norm, max
pooling) on the batch-normalized log-mel patch, flatten, dense 50 + sigmoid. Layers carry the
TF1 scope names of the published checkpoints (``1CNN`` ... ``5CNN``,
``batch_normalization_k``, ``dense``). The pools differ between the two weight sets
(:data:`MTT_POOLS`, :data:`MSD_POOLS`). The input length is fixed at 187 frames: the
flatten sizes the dense layer.
"""

from __future__ import annotations

import keras

from tfgenre.backbones.batch_norm import FusedBatchNormalization
from tfgenre.backbones.frontend import N_MELS, PATCH_FRAMES

Pools = tuple[tuple[tuple[int, int], tuple[int, int]], ...]

#: (pool size, strides) of the five blocks in ``musicnn.models.vgg`` and the MTT_vgg
#: checkpoint's graph.
MTT_POOLS: Pools = (
    ((4, 1), (2, 2)),
    ((2, 2), (2, 2)),
    ((2, 2), (2, 2)),
    ((2, 2), (2, 2)),
    ((4, 4), (4, 4)),
)
#: The MSD_vgg checkpoint's graph pools differently in its first two blocks
#: (``(4, 1)/(4, 1)`` then ``(1, 4)/(1, 4)``) than the package's ``models.py``, which
#: builds the MTT pools for both: the port follows the graph the weights were trained in.
MSD_POOLS: Pools = (
    ((4, 1), (4, 1)),
    ((1, 4), (1, 4)),
    ((2, 2), (2, 2)),
    ((2, 2), (2, 2)),
    ((4, 4), (4, 4)),
)


def build_vgg(
    num_classes: int = 50,
    *,
    num_filters: int = 128,
    pools: Pools = MTT_POOLS,
    name: str = "vgg",
) -> keras.Model:
    """Builds the vgg tagger from log-mel patches.

    Args:
        num_classes: Tags of the output layer (50 for the published weights).
        num_filters: Filters of every convolution (128 published).
        pools: (pool size, strides) of the five blocks: :data:`MTT_POOLS` or
            :data:`MSD_POOLS`.
        name: The model's name.

    Returns:
        A ``keras.Model`` from ``(batch, 187, 96)`` log-mel patches to a dict:
        ``taggram`` ``(batch, num_classes)`` sigmoid probabilities and ``penultimate``
        ``(batch, 2 * 1 * num_filters)``, the flattened last pool (what the output
        layer reads; the original calls it ``pool5``).
    """
    patches = keras.Input((PATCH_FRAMES, N_MELS), name="log_mel")
    x = keras.layers.Reshape((PATCH_FRAMES, N_MELS, 1), name="expand")(patches)
    x = FusedBatchNormalization(epsilon=1e-3, name="batch_normalization")(x)
    for i, (pool, strides) in enumerate(pools, start=1):
        if i > 1:
            x = keras.layers.Dropout(0.25, name=f"dropout_{i - 1}")(x)
        x = keras.layers.Conv2D(
            num_filters, (3, 3), padding="same", activation="relu", name=f"{i}CNN"
        )(x)
        x = FusedBatchNormalization(epsilon=1e-3, name=f"batch_normalization_{i}")(x)
        x = keras.layers.MaxPooling2D(pool, strides=strides, name=f"pool{i}")(x)
    penultimate = keras.layers.Flatten(name="penultimate")(x)
    x = keras.layers.Dropout(0.5, name="dropout_5")(penultimate)
    logits = keras.layers.Dense(num_classes, name="dense")(x)
    taggram = keras.layers.Activation("sigmoid", name="taggram")(logits)
    return keras.Model(patches, {"taggram": taggram, "penultimate": penultimate}, name=name)
