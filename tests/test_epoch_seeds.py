"""Each epoch's randomness is drawn from (seed, epoch) alone (issue 18 item 16).

A training pass reads the epoch from its :class:`tfgenre.tfdata.epochs.EpochCounter` and draws
its file and example order and its augmentation from it; :class:`EpochSeeds` sets the
counter and reseeds the model's SeedGenerators (dropout) at each epoch's start. So two
epochs draw differently, and an epoch drawn in a fresh process (a resumed run) draws
what it drew in the uninterrupted one. The kill -9 runs are in test_damaged_inputs.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import TINY_RUNS_RECORDS

from tfgenre.records.info import RecordsInfo
from tfgenre.tfdata.array_dataset import array_dataset
from tfgenre.tfdata.augment import AugmentConfig, make_augment
from tfgenre.tfdata.epochs import EpochCounter
from tfgenre.tfdata.records_dataset import records_dataset
from tfgenre.training.epoch_seeds import EpochSeeds, epoch_seed_state, seed_generators
from tfgenre.training.state import seeded

AUGMENT = AugmentConfig(noise_std=0.5, gain_db=3.0, time_masks=1, freq_masks=1, mixup_alpha=0.2)


def _pass(ds) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*ds.as_numpy_iterator(), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_two_epochs_draw_different_augmentation_and_an_epoch_draws_the_same_anew():
    x = np.arange(48, dtype="f4").reshape(24, 2)
    y = np.arange(24) % 3
    config = AugmentConfig(noise_std=0.1, gain_db=3.0, mixup_alpha=0.2)
    with seeded(7):
        epochs = EpochCounter()
        ds = array_dataset(
            x,
            y,
            3,
            batch_size=8,
            training=True,
            seed=7,
            augment=config,
            epochs=epochs,
            feature_std=np.ones(2, "f4"),
        )
        first = _pass(ds)
        epochs.set(1)
        second = _pass(ds)
        epochs.set(0)
        again = _pass(ds)
    assert not np.array_equal(first[0], second[0])  # main drew the same noise every epoch
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    with seeded(7):  # a fresh dataset (a resumed process) starting at epoch 1
        epochs = EpochCounter()
        epochs.set(1)
        ds = array_dataset(
            x,
            y,
            3,
            batch_size=8,
            training=True,
            seed=7,
            augment=config,
            epochs=epochs,
            feature_std=np.ones(2, "f4"),
        )
        resumed = _pass(ds)
    np.testing.assert_array_equal(second[0], resumed[0])
    np.testing.assert_array_equal(second[1], resumed[1])


def test_augmentation_draws_only_from_its_seed():
    import tensorflow as tf

    x = tf.reshape(tf.range(4 * 8 * 10, dtype=tf.float32), (4, 8, 10, 1))
    y = tf.one_hot([0, 1, 2, 0], 3)
    augment = make_augment("mel", AUGMENT)
    a = augment(tf.constant([1, 2], tf.int64), x, y)
    b = augment(tf.constant([1, 2], tf.int64), x, y)
    c = augment(tf.constant([1, 3], tf.int64), x, y)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.fixture(scope="module")
def records(synthetic_records) -> RecordsInfo:
    return RecordsInfo.load(str(synthetic_records(TINY_RUNS_RECORDS).records))


@pytest.mark.parametrize("cache", [False, True], ids=["read", "cached"])
def test_records_epoch_order_and_augmentation_depend_on_the_epoch_alone(records, cache):
    def dataset(epoch: int):
        epochs = EpochCounter()
        epochs.set(epoch)
        ds = records_dataset(
            records,
            "mel",
            "train",
            batch_size=4,
            training=True,
            seed=3,
            shuffle_buffer=8,
            augment=AUGMENT,
            cache=cache,
            epochs=epochs,
        )
        return ds, epochs

    with seeded(3):
        ds, epochs = dataset(0)
        epoch0 = _pass(ds)
        epochs.set(1)
        epoch1 = _pass(ds)
    with seeded(3):
        resumed = _pass(dataset(1)[0])
    assert not np.array_equal(epoch0[1], epoch1[1])  # another order (labels) ...
    assert not np.array_equal(np.sort(epoch0[0], axis=None), np.sort(epoch1[0], axis=None))
    np.testing.assert_array_equal(epoch1[0], resumed[0])  # ... drawn anew alike
    np.testing.assert_array_equal(epoch1[1], resumed[1])


def test_epoch_seeds_reseeds_dropout_by_epoch():
    import keras

    def model():
        inputs = keras.Input((64,))
        x = keras.layers.Dropout(0.5)(inputs)
        return keras.Model(inputs, keras.layers.Dropout(0.5)(x))

    masks = []
    for _ in range(2):  # two processes' models, the second resumed at epoch 2
        net = model()
        callback = EpochSeeds(seed=5, epochs=EpochCounter())
        callback.set_model(net)
        callback.on_epoch_begin(2)
        assert callback.epochs.epoch == 2
        generators = seed_generators(net)
        assert len(generators) == 2
        for index, generator in enumerate(generators):
            state = keras.ops.convert_to_numpy(generator.state)
            np.testing.assert_array_equal(state, epoch_seed_state(5, index, 2))
        masks.append(keras.ops.convert_to_numpy(net(np.ones((4, 64), "f4"), training=True)))
    np.testing.assert_array_equal(masks[0], masks[1])
    assert not np.array_equal(epoch_seed_state(5, 0, 2), epoch_seed_state(5, 0, 3))
    assert not np.array_equal(epoch_seed_state(5, 0, 2), epoch_seed_state(5, 1, 2))
