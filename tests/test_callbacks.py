"""Tests for tfgenre.training.callbacks and its parts: TensorBoard, history, checkpoints, resume."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgenre.models.schedules import make_schedule
from tfgenre.training.callbacks import standard_callbacks
from tfgenre.training.tensorboard_logs import (
    ConfusionMatrixImage,
    LearningRateLogger,
    sanitize_hparams,
)

CLASSES = ["a", "b", "c"]


def make_data(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    x = rng.normal(size=(n, 4)).astype("float32")
    x[np.arange(n), y] += 2.0
    return x, y.astype("int64")


def make_model(total_steps: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(len(CLASSES), "softmax")])
    schedule = make_schedule("cosine", learning_rate=0.05, total_steps=total_steps)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def datasets() -> tuple[tf.data.Dataset, tf.data.Dataset]:
    train = tf.data.Dataset.from_tensor_slices(make_data(48, 0)).batch(16)
    val = tf.data.Dataset.from_tensor_slices(make_data(24, 1)).batch(8)
    return train, val


def read_events(tb_dir: Path) -> dict[str, dict[str, set[str]]]:
    """{run subfolder: {plugin name: tags}} of every summary under tb_dir."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in tb_dir.rglob("events.out.tfevents.*"):
        run = path.parent.relative_to(tb_dir).as_posix()
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found[run][value.metadata.plugin_data.plugin_name].add(value.tag)
    return found


def test_standard_callbacks_write_everything(tmp_path: Path) -> None:
    train, val = datasets()
    model = make_model(total_steps=6)
    callbacks = standard_callbacks(
        tmp_path,
        class_names=CLASSES,
        val_data=val,
        hparams={
            "model": {"name": "dense"},
            "lr": np.float32(0.05),
            "layers": [4, 3],
            "seed": None,
        },
        patience=5,
    )
    model.fit(train, validation_data=val, epochs=2, callbacks=callbacks, verbose=0, shuffle=False)

    events = read_events(tmp_path / "tb")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= events["train"]["scalars"]
    assert {"epoch_loss", "epoch_accuracy"} <= events["validation"]["scalars"]
    assert "confusion_matrix" in events["validation"]["images"]
    assert events["."]["hparams"], "no hparams plugin data at the tb root"

    with open(tmp_path / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    # The schedule's value after 3 and 6 of 6 steps (cosine from 0.05 to 0).
    np.testing.assert_allclose(
        [float(row["learning_rate"]) for row in rows], [0.025, 0.0], atol=1e-6
    )
    best = keras.saving.load_model(tmp_path / "checkpoints" / "best.keras")
    assert best.output_shape == (None, len(CLASSES))
    assert not (tmp_path / "backup").exists()  # deleted after a finished run


def test_confusion_matrix_counts() -> None:
    x, y = make_data(30, 2)
    model = make_model(total_steps=1)
    callback = ConfusionMatrixImage((x, tf.one_hot(y, 3).numpy()), CLASSES, "unused", batch_size=7)
    callback.set_model(model)
    matrix = callback.confusion_matrix()
    expected = tf.math.confusion_matrix(y, model.predict(x, verbose=0).argmax(1), 3).numpy()
    np.testing.assert_array_equal(matrix, expected)


def test_infinite_validation_needs_max_batches() -> None:
    x, y = make_data(8)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    callback = ConfusionMatrixImage(data, CLASSES, "unused")
    callback.set_model(make_model(total_steps=1))
    with pytest.raises(ValueError, match="max_batches"):
        callback.confusion_matrix()
    callback.max_batches = 3
    assert callback.confusion_matrix().sum() == 12


def test_sanitize_hparams() -> None:
    clean = sanitize_hparams({"a": {"b": np.int64(3)}, "c": (1, 2), "d": None, "e": True})
    assert clean == {"a.b": 3, "c": "1, 2", "d": "None", "e": True}
    assert type(clean["a.b"]) is int


class Interrupt(keras.callbacks.Callback):
    """Kills training at the start of the given epoch (0-based)."""

    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == self.at_epoch:
            raise RuntimeError("simulated interruption")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs.append(epoch)


def test_killed_run_resumes_after_last_finished_epoch(tmp_path: Path) -> None:
    train, val = datasets()
    model = make_model(total_steps=12)
    callbacks = standard_callbacks(
        tmp_path, class_names=CLASSES, val_data=None, early_stopping=False
    )
    with pytest.raises(RuntimeError, match="simulated interruption"):
        model.fit(
            train,
            validation_data=val,
            epochs=4,
            verbose=0,
            shuffle=False,
            callbacks=[*callbacks, Interrupt(at_epoch=2)],
        )
    assert (tmp_path / "backup").exists()
    killed_weights = [w.copy() for w in model.get_weights()]
    killed_iterations = int(model.optimizer.iterations.numpy())
    assert killed_iterations == 6

    fresh = make_model(total_steps=12)
    recorder = EpochRecorder()
    callbacks = standard_callbacks(
        tmp_path, class_names=CLASSES, val_data=None, early_stopping=False
    )
    assert isinstance(callbacks[0], LearningRateLogger)
    with open(tmp_path / "history.csv", newline="") as handle:
        best_before = max(float(row["val_accuracy"]) for row in csv.DictReader(handle))
    checkpoint = next(c for c in callbacks if isinstance(c, keras.callbacks.ModelCheckpoint))
    assert checkpoint.best == pytest.approx(best_before)  # a worse epoch will not overwrite

    class CheckRestored(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch == 2:
                for got, want in zip(self.model.get_weights(), killed_weights, strict=True):
                    np.testing.assert_allclose(got, want)
                assert int(self.model.optimizer.iterations.numpy()) == killed_iterations

    fresh.fit(
        train,
        validation_data=val,
        epochs=4,
        verbose=0,
        shuffle=False,
        callbacks=[*callbacks, recorder, CheckRestored()],
    )
    assert recorder.epochs == [2, 3]  # the third and fourth epochs, 1-based
    with open(tmp_path / "history.csv", newline="") as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1, 2, 3]
    assert not (tmp_path / "backup").exists()


def test_non_chief_writes_only_its_backup(tmp_path: Path) -> None:
    callbacks = standard_callbacks(tmp_path, class_names=CLASSES, val_data=None, chief=False)
    kinds = {type(callback).__name__ for callback in callbacks}
    assert kinds == {"LearningRateLogger", "EarlyStopping", "BackupAndRestore"}
    assert callbacks[-1].backup_dir.endswith("backup-worker-0")
