"""Preprocessing layers shared by the model families, and the mel-to-image front end.

Everything an exported model needs to turn the pipeline's arrays into what its
architecture expects lives in these layers, written with ``keras.ops`` only, so the
models run on every Keras backend and round-trip through ``.keras`` files.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

#: dB range the mel view spans: librosa ``power_to_db(ref=1.0, top_db=80)`` of 3-s
#: windows lies roughly in -80..+40 dB.
DB_RANGE: tuple[float, float] = (-80.0, 40.0)

#: ImageNet preprocessing modes of ``keras.applications`` (``imagenet_utils``).
IMAGENET_MODES: tuple[str, ...] = ("tf", "caffe", "torch", "none")

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
_TORCH_STD_RGB = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="tfgenre")
class DecibelScaling(keras.layers.Layer):
    """Maps dB values linearly from ``[min_db, max_db]`` to ``[low, high]``, clipped.

    Input shape: any. Output shape: the same.

    Args:
        min_db: dB value mapped to ``low`` (anything below is clipped to it).
        max_db: dB value mapped to ``high`` (anything above is clipped to it).
        low: Output value for ``min_db``.
        high: Output value for ``max_db``, e.g. 255 for an 8-bit image range.
        **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(
        self,
        min_db: float = DB_RANGE[0],
        max_db: float = DB_RANGE[1],
        low: float = 0.0,
        high: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not max_db > min_db:
            raise ValueError(f"max_db={max_db} must be > min_db={min_db}")
        self.min_db = float(min_db)
        self.max_db = float(max_db)
        self.low = float(low)
        self.high = float(high)

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        unit = ops.clip((x - self.min_db) / (self.max_db - self.min_db), 0.0, 1.0)
        return unit * (self.high - self.low) + self.low

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"min_db": self.min_db, "max_db": self.max_db, "low": self.low, "high": self.high}
        )
        return config


@keras.saving.register_keras_serializable(package="tfgenre")
class RepeatChannels(keras.layers.Layer):
    """Repeats the channel axis: a 1-channel image becomes ``repeats`` identical channels.

    Input shape: ``(batch, height, width, 1)``. Output: ``(batch, height, width, repeats)``.

    Args:
        repeats: Number of output channels per input channel.
        **kwargs: Base layer arguments.
    """

    def __init__(self, repeats: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repeats = int(repeats)

    def call(self, inputs: Any) -> Any:
        return ops.repeat(inputs, self.repeats, axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels * self.repeats)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"repeats": self.repeats})
        return config


@keras.saving.register_keras_serializable(package="tfgenre")
class ImageNetPreprocessing(keras.layers.Layer):
    """``keras.applications`` ``preprocess_input`` for 0..255 RGB images, as a layer.

    Modes follow ``keras.applications.imagenet_utils``:

    - ``"tf"``: scale to [-1, 1] (MobileNetV2).
    - ``"caffe"``: RGB to BGR, then subtract the ImageNet BGR mean (ResNet50, VGG16).
    - ``"torch"``: scale to [0, 1], subtract the ImageNet mean, divide by its std
      (DenseNet, and the torchvision-style ResNet18/34 and AlexNet here).
    - ``"none"``: pass through (EfficientNet rescales inside itself).

    Input shape: ``(batch, height, width, 3)``, channels last. Output: the same.

    Args:
        mode: One of :data:`IMAGENET_MODES`.
        **kwargs: Base layer arguments.
    """

    def __init__(self, mode: str = "torch", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in IMAGENET_MODES:
            raise ValueError(f"mode={mode!r} must be one of {IMAGENET_MODES}")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN_RGB, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_TORCH_STD_RGB, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        return x

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"mode": self.mode})
        return config


def mel_to_image(
    x: Any,
    *,
    input_size: int,
    mode: str,
    db_range: tuple[float, float] = DB_RANGE,
) -> Any:
    """The mel-to-ImageNet-image front end, applied to a symbolic tensor.

    Resizes the 1-channel dB image (bilinear; skipped when it already has the size),
    maps ``db_range`` to 0..255, repeats the channel to RGB and applies the backbone's
    ``preprocess_input`` mode.

    Args:
        x: Symbolic mel batch ``(batch, n_mels, n_frames, 1)`` in dB.
        input_size: Side of the square image the backbone takes.
        mode: ``preprocess_input`` mode, one of :data:`IMAGENET_MODES`.
        db_range: dB values mapped to 0 and 255.

    Returns:
        Symbolic image batch ``(batch, input_size, input_size, 3)``.
    """
    if tuple(x.shape[1:3]) != (input_size, input_size):
        x = keras.layers.Resizing(input_size, input_size, name="resize")(x)
    x = DecibelScaling(db_range[0], db_range[1], low=0.0, high=255.0, name="db_to_pixels")(x)
    x = RepeatChannels(3, name="to_rgb")(x)
    return ImageNetPreprocessing(mode, name="imagenet_preprocessing")(x)


def classifier_head(
    x: Any, num_classes: int, *, dropout: float, pooling: str | None = "avg"
) -> Any:
    """Pooling (optional), dropout, dense and a float32 softmax.

    Args:
        x: Symbolic features, ``(batch, h, w, c)`` when pooling, else ``(batch, c)``.
        num_classes: Number of output classes.
        dropout: Dropout rate before the dense layer (0: none).
        pooling: ``"avg"``, ``"max"`` or None (``x`` is already flat).

    Returns:
        Symbolic probabilities ``(batch, num_classes)``, float32.
    """
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
