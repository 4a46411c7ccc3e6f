"""Batches of one split of a records folder (or of a fold's tracks), and their index.

Training pipelines interleave shards in parallel, parse and decode whole batches,
optionally cache, shuffle, augment (:mod:`tfgenre.tfdata.augment`) and prefetch, all
with AUTOTUNE; each pass draws its order from ``(seed, epoch)``
(:mod:`tfgenre.tfdata.epochs`). Evaluation pipelines read shards in manifest order so
predictions line up with :func:`split_index`. Labels are one-hot float32 so that mixup
and label smoothing work with the same loss. Records are described by
:class:`~tfgenre.records.info.RecordsInfo`; features CSVs are batched by
:mod:`tfgenre.tfdata.array_dataset`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from tfgenre.errors import RecordsError
from tfgenre.records.info import RecordsInfo
from tfgenre.records.reader import parse_batch
from tfgenre.tfdata.augment import AugmentConfig, make_augment
from tfgenre.tfdata.corrupt_shards import file_dataset
from tfgenre.tfdata.epochs import EpochCounter, augmented, epoch_passes, pass_shuffle_seed
from tfgenre.tfdata.selection import TrackSelection, track_filter
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
class TrainingDraws:
    """How a training pipeline draws its passes (see :func:`records_dataset`).

    Attributes:
        seed: Shuffle/augment seed.
        cache: Cache the examples in memory (read once, in one file order).
        shuffle_buffer: Examples in the shuffle buffer.
        augment: The augmentation function (:func:`tfgenre.tfdata.augment.make_augment`)
            or None.
        epochs: The counter each pass reads its epoch from.
    """

    seed: int
    cache: bool
    shuffle_buffer: int
    augment: Any
    epochs: EpochCounter


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
        file_dataset(skip_corrupt),
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


def _training_passes(
    paths: list[str], draws: TrainingDraws, batched: Any, examples: dict[str, Any]
) -> Any:
    """The training dataset: per pass, files and examples shuffled and augmented anew."""
    # Cached examples are read once, in one file order; the others per pass.
    cached = None
    if draws.cache:
        cached = _serialized_examples(paths, file_seed=draws.seed, cache=True, **examples)

    def one_pass(pass_seed: Any) -> Any:
        ds = cached
        if ds is None:
            file_seed = pass_shuffle_seed(pass_seed, 0)
            ds = _serialized_examples(paths, file_seed=file_seed, cache=False, **examples)
        ds = ds.shuffle(
            draws.shuffle_buffer,
            seed=pass_shuffle_seed(pass_seed, 1),
            reshuffle_each_iteration=False,
        )
        return augmented(batched(ds), draws.augment, pass_seed)

    return epoch_passes(draws.epochs, draws.seed, one_pass)


def _view_augment(spec: ViewSpec, view: str, augment: AugmentConfig | None) -> Any:
    """The augmentation function of ``view`` (None when ``augment`` does nothing)."""
    if augment is None or not augment.active:
        return None
    std = None if spec.std is None or view not in VECTOR_VIEWS else spec.std
    return make_augment(view, augment, None if std is None else np.asarray(std, "f4"))


def _finish(ds: Any, num_examples: int | None, batch_size: int, drop_remainder: bool) -> Any:
    """Known length (when ``num_examples`` is given), options and prefetch."""
    tf = _tf()
    if num_examples is not None:  # a known length gives Keras its step count and progress
        batches = num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


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
            pass (:class:`~tfgenre.tfdata.epochs.EpochCounter`); None: a new counter,
            left at 0, so that every pass draws epoch 0's order.

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
        aug = _view_augment(spec, view, augment)
        draws = TrainingDraws(seed, cache, shuffle_buffer, aug, epochs or EpochCounter())
        ds = _training_passes(paths, draws, batched, examples)
    else:
        ds = batched(_serialized_examples(paths, file_seed=None, cache=cache, **examples))
    n = None
    if not skip_corrupt:
        n = select.num_examples if select else records.split(split).num_examples
    return _finish(ds, n, batch_size, drop_remainder)


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
