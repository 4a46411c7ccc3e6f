"""Reading shards back: parsed examples as a ``tf.data.Dataset`` (deterministic order).

The tf.data pipeline in :mod:`tfgenre.tfdata.records_dataset` builds on
:func:`parse_batch`; tests and tools use :func:`iterate_numpy`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tfgenre.errors import RecordsError
from tfgenre.records import example
from tfgenre.records.info import RecordsInfo
from tfgenre.views.base import ViewSpec


def payload_scale(spec: ViewSpec) -> float:
    """The divisor that maps the stored payload back to floats (32767 for int16 raw)."""
    return float(spec.params.get("scale", 1.0) or 1.0)


def parse_batch(spec: ViewSpec) -> Callable[[Any], dict[str, Any]]:
    """A function from a batch of serialised Examples to decoded tensors.

    The payload comes back as float32 of shape ``(batch, *spec.shape)``.
    """
    import tensorflow as tf

    description = example.feature_description()
    dtype, shape, scale = spec.dtype, tuple(spec.shape), payload_scale(spec)

    def parse(serialized: Any) -> dict[str, Any]:
        parsed = tf.io.parse_example(serialized, description)
        parsed["data"] = example.decode_payload(parsed["data"], dtype, shape, scale)
        return parsed

    return parse


def iterate_numpy(
    manifest: RecordsInfo, view: str, split: str
) -> Iterator[dict[str, Any]]:
    """Yields every example of ``view``/``split`` in shard order, payload in stored dtype.

    Raises:
        RecordsError: A shard holds a corrupt or truncated record (naming the shard,
            what is wrong, and how to write it again).
    """
    import tensorflow as tf

    spec = manifest.view(view)
    for path in manifest.shard_paths(view, split):
        try:
            for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
                yield example.parse_numpy(record, spec.dtype, tuple(spec.shape))
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
            reason = (err.message or type(err).__name__).splitlines()[0]
            raise RecordsError(
                f"corrupt record(s) in {path}: {reason}. The shard is damaged: write the "
                "records again (rerun write_records with --overwrite, which starts from "
                "scratch)"
            ) from err


def count_examples(paths: list[str]) -> int:
    """Counts records in TFRecord files (reads them all)."""
    import tensorflow as tf

    return int(sum(1 for p in paths for _ in tf.data.TFRecordDataset(p)))


def to_numpy_arrays(
    manifest: RecordsInfo, view: str, split: str
) -> dict[str, np.ndarray]:
    """All of a split's examples stacked: data (stored dtype), label, segment, track_id."""
    items = list(iterate_numpy(manifest, view, split))
    spec = manifest.view(view)
    shape, dtype = tuple(spec.shape), spec.dtype
    return {
        "data": np.stack([i["data"] for i in items]) if items else np.zeros((0, *shape), dtype),
        "label": np.array([i["label"] for i in items], dtype=np.int64),
        "segment": np.array([i["segment"] for i in items], dtype=np.int64),
        "track_id": np.array([i["track_id"] for i in items], dtype=object),
    }
