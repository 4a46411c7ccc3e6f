"""The baseline the benchmarks compare against: the TensorFlow FMA-study style pipeline.

Writer: serial ``librosa.load`` of each file, a log-mel per segment, resized to 224x224,
copied into three identical channels and stored as a ``FloatList`` of 150528 float32
per example. For the three-view comparison the same writer also stores the raw window
(a ``FloatList`` of float32 samples) and the 57 features computed with plain librosa
calls (:func:`tfgenre.views.features.reference_features`, the way the GTZAN table was
made) in each example. Readers: parse those FloatLists, or decode the audio files
every epoch.

The mel parameters are those of :class:`tfgenre.views.mel.MelView` (defaults) and the
resize is the same bilinear ``tf.image.resize``, so the values delivered by the naive
reader and by tfgenre's reader (float16 mel, resized at load time) agree up to float16
rounding; ``tests/test_bench.py`` checks it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

IMAGE_SIZE = 224
N_MELS = 128
N_FFT = 2048
HOP_LENGTH = 512
TOP_DB = 80.0


def segment_image(seg: np.ndarray, sample_rate: int, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Plain librosa log-mel of one segment, resized and tiled: ``(size, size, 3)`` float32."""
    import librosa
    import tensorflow as tf

    power = librosa.feature.melspectrogram(
        y=seg, sr=sample_rate, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, power=2.0
    )
    db = librosa.power_to_db(power, ref=1.0, top_db=TOP_DB)
    img = tf.image.resize(db[..., np.newaxis], (image_size, image_size), method="bilinear")
    return np.repeat(img.numpy(), 3, axis=-1).astype(np.float32)


def segment_images(
    y: np.ndarray, sample_rate: int, window_samples: int, image_size: int = IMAGE_SIZE
) -> np.ndarray:
    """Plain librosa, one segment at a time: ``(n_segments, size, size, 3)`` float32.

    Segments as the writer cuts them (:func:`tfgenre.core.audio.cut_segments`: a short clip
    is zero-padded to one window, a partial last window is dropped).
    """
    from tfgenre.core.audio import cut_segments

    segments = cut_segments(y, window_samples)
    return np.stack([segment_image(seg, sample_rate, image_size) for seg in segments])


VIEW_KEYS = {"mel": "image", "raw": "audio", "features": "features"}


def float_feature(values: np.ndarray) -> Any:
    """A ``tf.train.Feature`` holding ``values`` flattened as a FloatList."""
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values)))


def serialize(image: np.ndarray, label: int, **extra: np.ndarray) -> bytes:
    """One Example: ``image`` as a FloatList of ``size*size*3`` floats, plus the label.

    ``extra`` adds FloatLists named by :data:`VIEW_KEYS` (``raw=``, ``features=``).
    """
    import tensorflow as tf

    feature = {
        "image": float_feature(image),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    }
    for view, values in extra.items():
        feature[VIEW_KEYS[view]] = float_feature(values)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _record_bytes(view: str, values: np.ndarray, label: int) -> int:
    """Size in a TFRecord file of an Example holding one view and the label."""
    import tensorflow as tf

    feature = {
        VIEW_KEYS[view]: float_feature(values),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    }
    size = tf.train.Example(features=tf.train.Features(feature=feature)).ByteSize()
    return size + 16  # TFRecord framing: length (8) and two CRCs (4 + 4)


def write(
    paths: Sequence[str],
    labels: Sequence[int],
    out_path: str,
    *,
    sample_rate: int = 22050,
    window_seconds: float = 3.0,
    image_size: int = IMAGE_SIZE,
    views: Sequence[str] = ("mel",),
) -> dict[str, Any]:
    """Writes all clips serially into one TFRecord file.

    Args:
        views: ``("mel",)`` (the FMA study: images only) or the image plus ``"raw"``
            and/or ``"features"`` in every example.

    Returns:
        ``{"clips", "examples", "bytes", "view_bytes"}``: ``view_bytes`` maps each
        view to the bytes its examples would take in a file of that view alone (an
        Example with the view's FloatList and the label, plus TFRecord framing),
        summed over examples.
    """
    import librosa
    import tensorflow as tf

    from tfgenre.core.audio import cut_segments
    from tfgenre.views.features import reference_features

    unknown = sorted(set(views) - set(VIEW_KEYS))
    if unknown or "mel" not in views:
        raise ValueError(f"views={list(views)} must include 'mel', from {sorted(VIEW_KEYS)}")
    window = int(round(window_seconds * sample_rate))
    examples = 0
    view_bytes = dict.fromkeys(views, 0)
    with tf.io.TFRecordWriter(out_path) as writer:
        for path, label in zip(paths, labels, strict=True):
            y, _ = librosa.load(path, sr=sample_rate, mono=True)
            for seg in cut_segments(y, window):
                img = segment_image(seg, sample_rate, image_size)
                extra = {}
                if "raw" in views:
                    extra["raw"] = seg
                if "features" in views:
                    extra["features"] = reference_features(seg, sample_rate).astype(np.float32)
                writer.write(serialize(img, label, **extra))
                for view, values in (("mel", img), *extra.items()):
                    view_bytes[view] += _record_bytes(view, values, label)
                examples += 1
    return {
        "clips": len(paths),
        "examples": examples,
        "bytes": os.path.getsize(out_path),
        "view_bytes": view_bytes,
    }


def records_dataset(
    path: str, num_classes: int, batch_size: int, image_size: int = IMAGE_SIZE
) -> Any:
    """Batches of ``(b, size, size, 3)`` images and one-hot labels from the FloatLists."""
    import tensorflow as tf

    description = {
        "image": tf.io.FixedLenFeature([image_size * image_size * 3], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(serialized: Any) -> Any:
        p = tf.io.parse_example(serialized, description)
        x = tf.reshape(p["image"], (-1, image_size, image_size, 3))
        return x, tf.one_hot(p["label"], num_classes)

    ds = tf.data.TFRecordDataset(path).batch(batch_size)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def audio_dataset(
    paths: Sequence[str],
    labels: Sequence[int],
    num_classes: int,
    batch_size: int,
    *,
    sample_rate: int = 22050,
    window_seconds: float = 3.0,
    image_size: int = IMAGE_SIZE,
) -> Any:
    """Decodes and transforms the audio files on every pass (no records at all)."""
    import tensorflow as tf

    window = int(round(window_seconds * sample_rate))

    def load(path: Any, label: Any) -> Any:
        import librosa

        y, _ = librosa.load(path.numpy().decode(), sr=sample_rate, mono=True)
        imgs = segment_images(y, sample_rate, window, image_size)
        return imgs, np.full(len(imgs), int(label.numpy()), np.int64)

    def py_load(path: Any, label: Any) -> Any:
        x, y = tf.py_function(load, [path, label], [tf.float32, tf.int64])
        x.set_shape((None, image_size, image_size, 3))
        y.set_shape((None,))
        return tf.data.Dataset.from_tensor_slices((x, tf.one_hot(y, num_classes)))

    ds = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
    ds = ds.interleave(py_load, cycle_length=2, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
