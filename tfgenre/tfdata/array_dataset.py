"""Batches of in-memory arrays (a features CSV's rows), drawn per epoch like records."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfgenre.tfdata.augment import AugmentConfig, make_augment
from tfgenre.tfdata.epochs import EpochCounter, augmented, epoch_passes, pass_shuffle_seed


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

    Training passes are shuffled and augmented per epoch as in
    :func:`tfgenre.tfdata.records_dataset.records_dataset`.

    Args:
        x: Rows, ``(n, columns)``.
        y: Label indices, ``(n,)``.
        num_classes: Width of the one-hot labels.
        batch_size: Rows per batch.
        training: Shuffle and augment per epoch.
        seed: Shuffle/augment seed.
        augment: Training-only augmentation.
        feature_std: Per-column std, ``(columns,)``, that feature noise is scaled by.
        drop_remainder: Drop the last partial batch.
        epochs: The epoch each training pass is drawn for (None: a counter left at 0).

    Returns:
        ``tf.data.Dataset`` of ``x`` float32 ``(b, columns)`` and ``y`` float32
        ``(b, num_classes)``.
    """
    import tensorflow as tf

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
            len(x), seed=pass_shuffle_seed(pass_seed, 1), reshuffle_each_iteration=False
        )
        return augmented(batched(shuffled), aug, pass_seed)

    ds = epoch_passes(epochs or EpochCounter(), seed, one_pass)
    batches = len(x) // batch_size if drop_remainder else -(-len(x) // batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(tf.data.AUTOTUNE)
