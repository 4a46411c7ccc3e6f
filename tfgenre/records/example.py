"""The layout of one ``tf.train.Example``: serialise in the writer, parse in the reader.

Every example carries ``track_id`` (bytes), ``segment`` (int64), ``label`` (int64) and
``data``: the view's payload as raw little-endian bytes of the manifest's dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KEYS: tuple[str, ...] = ("track_id", "segment", "label", "data")


def serialize(track_id: str, segment: int, label: int, payload: np.ndarray) -> bytes:
    """One serialised Example (deterministic bytes for the same inputs).

    Args:
        track_id: The track's id.
        segment: Index of the segment within the track.
        label: Label index.
        payload: The view's array for this segment, already in its stored dtype.
    """
    import tensorflow as tf

    feature = {
        "track_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[track_id.encode()])),
        "segment": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(segment)])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "data": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(payload).tobytes()])
        ),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def feature_description() -> dict[str, Any]:
    """The ``tf.io.parse_example`` description of the four keys."""
    import tensorflow as tf

    return {
        "track_id": tf.io.FixedLenFeature([], tf.string),
        "segment": tf.io.FixedLenFeature([], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "data": tf.io.FixedLenFeature([], tf.string),
    }


def decode_payload(data: Any, dtype: str, shape: tuple[int, ...], scale: float = 1.0) -> Any:
    """Turns ``data`` bytes (a scalar or batch tensor) into float32 arrays of ``shape``.

    int16 payloads are divided by ``scale`` (32767 for raw windows) to get back [-1, 1].
    """
    import tensorflow as tf

    raw = tf.io.decode_raw(data, tf.dtypes.as_dtype(dtype), little_endian=True)
    values = tf.cast(raw, tf.float32)
    if scale != 1.0:
        values = values / scale
    lead = tf.shape(raw)[:-1]
    return tf.reshape(values, tf.concat([lead, tf.constant(shape, tf.int32)], axis=0))


def parse_numpy(serialized: bytes, dtype: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """Parses one serialised Example in numpy (tests, tools): payload in its stored dtype."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    f = example.features.feature
    return {
        "track_id": f["track_id"].bytes_list.value[0].decode(),
        "segment": int(f["segment"].int64_list.value[0]),
        "label": int(f["label"].int64_list.value[0]),
        "data": np.frombuffer(
            f["data"].bytes_list.value[0], dtype=np.dtype(dtype).newbyteorder("<")
        ).reshape(shape),
    }
