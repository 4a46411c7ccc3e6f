"""tf.data input pipelines: from a records folder (or in-memory arrays) to model batches.

Training pipelines interleave shards in parallel, parse and decode whole batches,
optionally cache, shuffle, augment (:mod:`tfgenre.training.augment`) and prefetch, all with
AUTOTUNE. Each training pass reads its epoch from an :class:`EpochCounter` and draws
its file order, example order and augmentation from ``(seed, epoch)`` alone, so a run
resumed at epoch ``e`` sees what the uninterrupted run saw. Evaluation pipelines read
shards in manifest order so predictions line up with :func:`split_index`. Labels are
one-hot float32 so that mixup and label smoothing work with the same loss. Records are
described by :class:`~tfgenre.records.info.RecordsInfo`; features CSVs are read by
:mod:`tfgenre.views.feature_table`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from tfgenre.errors import RecordsError
from tfgenre.records.info import RecordsInfo
from tfgenre.records.reader import parse_batch
from tfgenre.training.augment import AugmentConfig, make_augment
from tfgenre.views.base import ViewSpec
from tfgenre.views.registry import VECTOR_VIEWS

logger = logging.getLogger(__name__)


def _tf() -> Any:
    import tensorflow as tf

    return tf


@dataclasses.dataclass(frozen=True)
class SplitIndex:
    """Per-example metadata of a split, in evaluation order."""

    track_id: np.ndarray  # (n,) str
    segment: np.ndarray  # (n,) int64
    label: np.ndarray  # (n,) int64


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
    tf = _tf()
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
    tf = _tf()
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
        _file_dataset(skip_corrupt), cycle_length=max(min(len(paths), 8), 1)
    )
    ds = ds.batch(4096).map(lambda s: tf.io.parse_example(s, spec))
    out: dict[str, tuple[int, int]] = {}
    for batch in ds.as_numpy_iterator():
        for tid, label in zip(batch["track_id"], batch["label"]):
            key = tid.decode()
            _, n = out.get(key, (int(label), 0))
            out[key] = (int(label), n + 1)
    return out


def _file_dataset(skip_corrupt: bool) -> Any:
    """The per-shard reader for interleave (skipping unreadable records on request)."""
    tf = _tf()

    def read(path: Any) -> Any:
        ds = tf.data.TFRecordDataset(path, buffer_size=1 << 20)
        return ds.ignore_errors(log_warning=True) if skip_corrupt else ds

    return read


class EpochCounter:
    """The epoch a training dataset's next pass is for (a ``tf.Variable`` it reads).

    A training dataset built with a counter reads it at the start of every pass (each
    ``iter()``, which Keras makes once per epoch) and draws that pass's file order,
    example order and augmentation from ``(seed, epoch)`` alone. So epoch ``e`` sees
    the same data whether the process trained epochs ``0..e-1`` first or resumed from
    a backup. :class:`tfgenre.training.callbacks.EpochSeeds` sets it at each epoch's start;
    left alone, every pass draws epoch 0's order.
    """

    def __init__(self) -> None:
        tf = _tf()
        with tf.init_scope(), tf.device("/cpu:0"):
            self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

    def set(self, epoch: int) -> None:
        """The epoch the next pass is drawn for."""
        self.variable.assign(int(epoch))

    @property
    def epoch(self) -> int:
        """The epoch the next pass is drawn for."""
        return int(self.variable.numpy())


def _epoch_passes(epochs: EpochCounter, seed: int, one_pass: Any) -> Any:
    """A dataset whose every pass is ``one_pass(pass_seed)`` for the counter's epoch.

    Args:
        epochs: Read at the start of each pass.
        seed: The run's seed.
        one_pass: ``pass_seed -> Dataset``; ``pass_seed`` is an int64 ``(2,)`` tensor,
            ``[seed, epoch]``, for stateless draws and :func:`_pass_shuffle_seed`.
    """
    tf = _tf()

    def build(_: Any) -> Any:
        # Dataset.shuffle's seed logic compares (graph seed, op seed) with (0, 0) in
        # Python, which a tensor op seed cannot answer when the graph seed is 0 (a run
        # with seed 0): give this function's graph a fixed nonzero seed. The draws
        # depend on the op seeds, which come from (seed, epoch).
        tf.random.set_seed(1)
        epoch = epochs.variable.read_value()
        return one_pass(tf.stack([tf.constant(seed, tf.int64), epoch]))

    return tf.data.Dataset.range(1).flat_map(build)


def _pass_shuffle_seed(pass_seed: Any, which: int) -> Any:
    """An int64 scalar op seed for the pass's ``which``-th shuffle, from ``pass_seed``."""
    tf = _tf()
    key = tf.random.experimental.stateless_fold_in(pass_seed, which)
    return tf.random.stateless_uniform([], key, minval=0, maxval=2**31 - 1, dtype=tf.int64)


def _serialized_examples(
    paths: list[str],
    *,
    file_seed: Any,
    skip_corrupt: bool,
    select: TrackSelection | None,
    cache: bool,
) -> Any:
    """Serialised Examples of ``paths``, before shuffling and batching.

    Args:
        paths: The shards.
        file_seed: Op seed of the file order (None: the manifest's order).
        skip_corrupt: Skip unreadable records.
        select: Keep only these tracks.
        cache: Cache the examples in memory.
    """
    tf = _tf()
    files = tf.data.Dataset.from_tensor_slices(paths)
    if file_seed is not None:
        files = files.shuffle(len(paths), seed=file_seed, reshuffle_each_iteration=False)
    ds = files.interleave(
        _file_dataset(skip_corrupt),
        cycle_length=min(len(paths), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if select is not None:
        ds = ds.filter(track_filter(select.track_ids))
    return ds.cache() if cache else ds


def _to_xy(spec: ViewSpec, num_classes: int, with_meta: bool) -> Any:
    """Batch of serialised Examples -> ``(x, y_onehot)`` (+ ``meta``)."""
    tf = _tf()
    parse = parse_batch(spec)

    def to_xy(serialized: Any) -> Any:
        parsed = parse(serialized)
        y = tf.one_hot(parsed["label"], num_classes, dtype=tf.float32)
        if with_meta:
            return parsed["data"], y, {"track_id": parsed["track_id"], "segment": parsed["segment"]}
        return parsed["data"], y

    return to_xy


def records_dataset(
    records: RecordsInfo,
    view: str,
    split: str,
    *,
    batch_size: int,
    training: bool,
    seed: int = 0,
    cache: bool = False,
    shuffle_buffer: int = 4096,
    augment: AugmentConfig | None = None,
    drop_remainder: bool = False,
    skip_corrupt: bool = False,
    with_meta: bool = False,
    select: TrackSelection | None = None,
    epochs: EpochCounter | None = None,
) -> Any:
    """A batched dataset of ``(x, y_onehot)`` from records.

    Args:
        records: The records folder's :class:`~tfgenre.records.info.RecordsInfo`.
        view: ``raw``, ``mel``, ``features`` or ``embeddings``.
        split: Split name.
        batch_size: Global batch size.
        training: Shuffle files and examples and augment, per epoch (see ``epochs``).
        seed: Shuffle/augment seed.
        cache: Cache decoded examples in memory after the first epoch (the files are
            then read in one order, drawn from ``seed``; the examples are still
            shuffled per epoch).
        shuffle_buffer: Examples in the shuffle buffer.
        augment: Training-only augmentation.
        drop_remainder: Drop the last partial batch (TPU needs static shapes).
        skip_corrupt: Skip unreadable records instead of failing.
        with_meta: Yield ``(x, y, meta)`` with ``track_id``/``segment`` (evaluation).
        select: Read these tracks from the shards of its splits instead of ``split``
            (``split`` then only names the selection in messages).
        epochs: Training: the epoch each pass is drawn for, read at the start of each
            pass (:class:`EpochCounter`); None: a new counter, left at 0, so that
            every pass draws epoch 0's order.

    Returns:
        ``tf.data.Dataset`` of ``x`` float32 ``(b, *shape)`` and ``y`` float32
        ``(b, num_classes)``.
    """
    tf = _tf()
    spec = records.view(view)
    splits = select.splits if select is not None else (split,)
    paths = [p for s in splits for p in records.shard_paths(view, s)]
    if not paths:
        raise RecordsError(f"split {split!r} of view {view!r} has no shards in {records.root}")
    examples = dict(skip_corrupt=skip_corrupt, select=select)
    to_xy = _to_xy(spec, len(records.labels), with_meta)

    def batched(ds: Any) -> Any:
        ds = ds.batch(
            batch_size,
            drop_remainder=drop_remainder,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        return ds.map(to_xy, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    if training:
        aug = None
        if augment is not None and augment.active:
            std = None if spec.std is None or view not in VECTOR_VIEWS else spec.std
            aug = make_augment(view, augment, None if std is None else np.asarray(std, "f4"))
        # Cached examples are read once, in one file order; the others per pass.
        cached = None
        if cache:
            cached = _serialized_examples(paths, file_seed=seed, cache=True, **examples)

        def one_pass(pass_seed: Any) -> Any:
            ds = cached
            if ds is None:
                file_seed = _pass_shuffle_seed(pass_seed, 0)
                ds = _serialized_examples(paths, file_seed=file_seed, cache=False, **examples)
            ds = ds.shuffle(
                shuffle_buffer,
                seed=_pass_shuffle_seed(pass_seed, 1),
                reshuffle_each_iteration=False,
            )
            return _augmented(batched(ds), aug, pass_seed)

        ds = _epoch_passes(epochs or EpochCounter(), seed, one_pass)
    else:
        ds = batched(_serialized_examples(paths, file_seed=None, cache=cache, **examples))
    if not skip_corrupt:  # a known length gives Keras its step count and progress bar
        n = select.num_examples if select else records.split(split).num_examples
        batches = n // batch_size if drop_remainder else -(-n // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _augmented(ds: Any, augment: Any, pass_seed: Any) -> Any:
    """``ds`` with ``augment`` applied, batch ``i`` drawing from ``fold_in(pass_seed, i)``."""
    if augment is None:
        return ds
    tf = _tf()

    def apply(i: Any, batch: Any) -> Any:
        return augment(tf.random.experimental.stateless_fold_in(pass_seed, i), *batch)

    return ds.enumerate().map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def split_index(
    records: RecordsInfo,
    view: str,
    split: str,
    skip_corrupt: bool = False,
    select: TrackSelection | None = None,
) -> SplitIndex:
    """Track ids, segments and labels in evaluation order (same as ``training=False``)."""
    ds = records_dataset(
        records,
        view,
        split,
        batch_size=1024,
        training=False,
        skip_corrupt=skip_corrupt,
        with_meta=True,
        select=select,
    )
    ids, segs, labels = [], [], []
    for _, y, meta in ds.as_numpy_iterator():
        ids.extend(t.decode() for t in meta["track_id"])
        segs.append(meta["segment"])
        labels.append(np.argmax(y, axis=1))
    return SplitIndex(
        np.asarray(ids, dtype=object),
        np.concatenate(segs) if segs else np.zeros(0, np.int64),
        np.concatenate(labels) if labels else np.zeros(0, np.int64),
    )


def find_corrupt_shards(paths: list[str]) -> dict[str, str]:
    """Reads every shard; returns ``{path: error}`` for those that cannot be read through."""
    tf = _tf()
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
    tf = _tf()
    total = 0
    for path in paths:
        total += int(tf.data.TFRecordDataset(path).ignore_errors().reduce(0, lambda n, _: n + 1))
    return total


def array_dataset(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    *,
    batch_size: int,
    training: bool,
    seed: int = 0,
    augment: AugmentConfig | None = None,
    feature_std: np.ndarray | None = None,
    drop_remainder: bool = False,
    epochs: EpochCounter | None = None,
) -> Any:
    """A batched ``(x, y_onehot)`` dataset from in-memory arrays (features CSV).

    Training passes are shuffled and augmented per epoch as in :func:`records_dataset`.
    """
    tf = _tf()
    rows = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y.astype(np.int64)))

    def batched(ds: Any) -> Any:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        return ds.map(lambda a, b: (a, tf.one_hot(b, num_classes, dtype=tf.float32)))

    if not training:
        return batched(rows).prefetch(tf.data.AUTOTUNE)
    aug = None
    if augment is not None and augment.active:
        aug = make_augment("features", augment, feature_std)

    def one_pass(pass_seed: Any) -> Any:
        shuffled = rows.shuffle(
            len(x), seed=_pass_shuffle_seed(pass_seed, 1), reshuffle_each_iteration=False
        )
        return _augmented(batched(shuffled), aug, pass_seed)

    ds = _epoch_passes(epochs or EpochCounter(), seed, one_pass)
    batches = len(x) // batch_size if drop_remainder else -(-len(x) // batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(tf.data.AUTOTUNE)
