"""Chosen tracks read from a records folder: a fold's :class:`TrackSelection`, every track.

A cross-validation fold pools every split of the records and keeps some of their tracks;
:func:`track_filter` keeps them in tf.data, :func:`records_tracks` lists the tracks
there are to choose from.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfgenre.records.info import RecordsInfo
from tfgenre.tfdata.corrupt_shards import file_dataset


@dataclasses.dataclass(frozen=True)
class TrackSelection:
    """Chosen tracks read from the shards of several splits (a cross-validation fold).

    Attributes:
        splits: The record splits whose shards are read, in order.
        track_ids: The tracks kept (every other example is filtered out in tf.data).
        num_examples: Examples (segments) of the kept tracks.
    """

    splits: tuple[str, ...]
    track_ids: frozenset[str]
    num_examples: int


def track_filter(track_ids: frozenset[str]) -> Any:
    """A ``tf.data`` predicate on serialised Examples: is the track in ``track_ids``?

    Uses a ``tf.lookup.StaticHashTable`` of the ids; only ``track_id`` is parsed.
    """
    import tensorflow as tf

    keys = tf.constant(sorted(track_ids) or [""], tf.string)
    values = tf.constant([1] * len(track_ids) or [0], tf.int64)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), 0)
    spec = {"track_id": tf.io.FixedLenFeature([], tf.string)}

    def keep(serialized: Any) -> Any:
        return table.lookup(tf.io.parse_single_example(serialized, spec)["track_id"]) > 0

    return keep


def records_tracks(
    records: RecordsInfo, view: str | None = None, skip_corrupt: bool = False
) -> dict[str, tuple[int, int]]:
    """``{track_id: (label index, segments)}`` of every split of the records.

    Reads only ``track_id`` and ``label`` from the shards of ``view`` (by default the
    view with the fewest bytes: every view holds the same tracks and segments).
    """
    import tensorflow as tf

    splits = records.split_names
    if view is None:

        def view_bytes(name: str) -> int:
            return sum(sh.num_bytes for s in splits for sh in records.shards(name, s))

        view = min(records.views, key=view_bytes)
    paths = [p for s in splits for p in records.shard_paths(view, s)]
    spec = {
        "track_id": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }
    ds = tf.data.Dataset.from_tensor_slices(paths).interleave(
        file_dataset(skip_corrupt), cycle_length=max(min(len(paths), 8), 1)
    )
    ds = ds.batch(4096).map(lambda s: tf.io.parse_example(s, spec))
    out: dict[str, tuple[int, int]] = {}
    for batch in ds.as_numpy_iterator():
        for tid, label in zip(batch["track_id"], batch["label"]):
            key = tid.decode()
            _, n = out.get(key, (int(label), 0))
            out[key] = (int(label), n + 1)
    return out
