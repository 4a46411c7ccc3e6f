"""Reading shard files: one shard's records, and the records corruption makes unreadable."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from tfgenre.records.info import RecordsInfo

logger = logging.getLogger(__name__)


def file_dataset(skip_corrupt: bool) -> Any:
    """The per-shard reader for interleave (skipping unreadable records on request)."""
    import tensorflow as tf

    def read(path: Any) -> Any:
        ds = tf.data.TFRecordDataset(path, buffer_size=1 << 20)
        return ds.ignore_errors(log_warning=True) if skip_corrupt else ds

    return read


def find_corrupt_shards(paths: list[str]) -> dict[str, str]:
    """Reads every shard; returns ``{path: error}`` for those that cannot be read through."""
    import tensorflow as tf

    bad = {}
    for path in paths:
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
            bad[path] = err.message.splitlines()[0] if err.message else type(err).__name__
    return bad


def count_readable(paths: list[str]) -> int:
    """Records that can be read (stopping at the first corrupt record of each shard)."""
    import tensorflow as tf

    total = 0
    for path in paths:
        total += int(tf.data.TFRecordDataset(path).ignore_errors().reduce(0, lambda n, _: n + 1))
    return total


def report_corrupt(manifest: RecordsInfo, view: str, splits: list[str]) -> dict[str, int]:
    """Counts, per shard, the records lost to corruption (only shards that lose some)."""
    lost = {}
    for split in splits:
        for shard in manifest.shards(view, split):
            path = manifest.shard_path(shard)
            missing = shard.examples - count_readable([path])
            if missing > 0:
                logger.warning(
                    "skip_corrupt: %s: %d of %d records unreadable", path, missing, shard.examples
                )
                lost[shard.file] = int(missing)
    return lost


@contextlib.contextmanager
def unknown_length_ok(skip_corrupt: bool) -> Iterator[None]:
    """Silences Keras' "Your input ran out of data" warning under ``skip_corrupt``.

    A dataset that skips unreadable records has no known length, so Keras learns an
    epoch's length by reaching its end and warns about it; nothing is lost, and the
    skipped records are counted and reported by the run.
    """
    if not skip_corrupt:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield
