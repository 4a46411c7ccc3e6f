"""The musicnn architecture (Pons and Serra, 2019) as a Keras 3 functional model.

A port of ``musicnn.models.build_musicnn`` made of standard Keras layers only, so it
runs on every Keras backend, saves to ``.keras`` and exports. Layers are named after
the TF1 variable scopes of the published checkpoints (``conv2d_3``,
``batch_normalization_7``, ``dense``), which is how :mod:`tfgenre.backbones.pretrained`
maps the weights. Batch normalization uses the TF1 default ``epsilon=1e-3`` and
TF1's inference formula (:class:`FusedBatchNormalization`).

Shapes (``T`` = 187 frames for the published weights, ``F`` = 96 mel bands):

* front end: five branches on the batch-normalized log-mel ``(B, T, F, 1)``; timbral
  ``7 x 38`` and ``7 x 67`` convolutions (204 filters) and temporal ``128/64/32 x 1``
  convolutions (51 filters), each max-pooled over frequency -> ``(B, T, 561)``;
* mid-end: three convolutions over time (kernel 7 x the full feature width,
  ``num_filt_midend`` filters), the second and third residual; dense connection
  -> ``(B, T, 561 + 3 * 64)``;
* back-end: max and mean over time (the ``max_pool`` / ``mean_pool`` outputs,
  ``(B, 753)``), interleaved ``[max_0, mean_0, max_1, ...]`` as the original's
  flatten, batch norm, dense 200 + ReLU + batch norm (``penultimate``), dense 50 +
  sigmoid (``taggram``).
"""

from __future__ import annotations

from typing import Any

import keras

from tfgenre.backbones.batch_norm import FusedBatchNormalization
from tfgenre.backbones.frontend import N_MELS, PATCH_FRAMES

#: Time padding of the front end's timbral branches and of the mid-end convolutions.
_PAD = 3


def _bn(x: Any, name: str) -> Any:
    return FusedBatchNormalization(epsilon=1e-3, name=name)(x)


def _branch(x: Any, filters: int, kernel: tuple[int, int], padding: str, index: int) -> Any:
    """Conv2D + ReLU, batch norm, max over the whole frequency axis -> ``(B, T, filters)``."""
    y = keras.layers.Conv2D(
        filters, kernel, padding=padding, activation="relu", name=f"conv2d{_suffix(index)}"
    )(x)
    y = _bn(y, f"batch_normalization{_suffix(index + 1)}")
    width = y.shape[2]
    y = keras.layers.MaxPooling2D((1, width), strides=(1, width), name=f"freq_pool_{index}")(y)
    return keras.layers.Reshape((-1, filters), name=f"squeeze_{index}")(y)


def _suffix(index: int) -> str:
    return "" if index == 0 else f"_{index}"


def _frontend(patches: Any, num_filt: float = 1.6) -> list[Any]:
    """The five front-end branches, in the original's order ``[f74, f77, s1, s2, s3]``."""
    x = keras.layers.Reshape((-1, N_MELS, 1), name="expand")(patches)
    x = _bn(x, "batch_normalization")
    padded = keras.layers.ZeroPadding2D(((_PAD, _PAD), (0, 0)), name="time_pad")(x)
    timbral = int(num_filt * 128)
    temporal = int(num_filt * 32)
    return [
        _branch(padded, timbral, (7, int(0.4 * N_MELS)), "valid", 0),
        _branch(padded, timbral, (7, int(0.7 * N_MELS)), "valid", 1),
        _branch(x, temporal, (128, 1), "same", 2),
        _branch(x, temporal, (64, 1), "same", 3),
        _branch(x, temporal, (32, 1), "same", 4),
    ]


def _midend(features: Any, num_filt: int) -> list[Any]:
    """Dense residual convolutions over time -> ``[input, conv1, res_conv2, res_conv3]``.

    Each is the original's full-width ``Conv2D`` (kernel ``7 x width``) on the
    time-padded features seen as a one-channel image, so the port sums in the same
    order as the original graph (a ``Conv1D`` computes the same up to rounding).
    """
    outputs = [features]
    x = features
    for i, scope in enumerate((5, 6, 7)):
        width = x.shape[-1]
        y = keras.layers.Reshape((-1, width, 1), name=f"midend_expand_{i + 1}")(x)
        y = keras.layers.ZeroPadding2D(((_PAD, _PAD), (0, 0)), name=f"midend_pad_{i + 1}")(y)
        y = keras.layers.Conv2D(
            num_filt, (7, width), activation="relu", name=f"conv2d_{scope}"
        )(y)
        y = _bn(y, f"batch_normalization_{scope + 1}")
        y = keras.layers.Reshape((-1, num_filt), name=f"midend_squeeze_{i + 1}")(y)
        x = y if i == 0 else keras.layers.Add(name=f"residual_{i + 1}")([y, x])
        outputs.append(x)
    return outputs


def build_musicnn(
    num_classes: int = 50,
    *,
    num_filt_midend: int = 64,
    num_units_backend: int = 200,
    patch_frames: int | None = PATCH_FRAMES,
    name: str = "musicnn",
) -> keras.Model:
    """Builds musicnn from log-mel patches to tags and embeddings.

    Args:
        num_classes: Tags of the output layer (50 for the published weights).
        num_filt_midend: Filters of each mid-end convolution (64 published).
        num_units_backend: Units of the penultimate dense layer (200 published).
        patch_frames: Frames per input patch; ``None`` accepts any length (the
            architecture pools over time; the weights were trained on 187).
        name: The model's name.

    Returns:
        A ``keras.Model`` from ``(batch, patch_frames, 96)`` log-mel patches to a dict:
        ``taggram`` ``(batch, num_classes)`` sigmoid probabilities, ``penultimate``
        ``(batch, num_units_backend)``, ``mean_pool`` and ``max_pool``
        ``(batch, 561 + 3 * num_filt_midend)``.
    """
    patches = keras.Input((patch_frames, N_MELS), name="log_mel")
    front = keras.layers.Concatenate(axis=-1, name="frontend")(_frontend(patches))
    mid = keras.layers.Concatenate(axis=-1, name="midend")(_midend(front, num_filt_midend))
    width = mid.shape[-1]
    max_pool = keras.layers.GlobalMaxPooling1D(name="max_pool")(mid)
    mean_pool = keras.layers.GlobalAveragePooling1D(name="mean_pool")(mid)
    pair = keras.layers.Concatenate(axis=-1, name="max_mean")(
        [
            keras.layers.Reshape((width, 1), name="max_column")(max_pool),
            keras.layers.Reshape((width, 1), name="mean_column")(mean_pool),
        ]
    )
    x = keras.layers.Flatten(name="interleave")(pair)
    x = _bn(x, "batch_normalization_9")
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    x = keras.layers.Dense(num_units_backend, activation="relu", name="dense")(x)
    penultimate = _bn(x, "batch_normalization_10")
    x = keras.layers.Dropout(0.5, name="dropout_1")(penultimate)
    logits = keras.layers.Dense(num_classes, name="dense_1")(x)
    taggram = keras.layers.Activation("sigmoid", name="taggram")(logits)
    outputs = {
        "taggram": taggram,
        "penultimate": keras.layers.Identity(name="penultimate")(penultimate),
        "mean_pool": mean_pool,
        "max_pool": max_pool,
    }
    return keras.Model(patches, outputs, name=name)
