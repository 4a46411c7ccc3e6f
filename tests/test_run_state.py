"""Process-wide state of a run (seeds, determinism, dtype policy, Keras patches) is scoped to it."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import keras
import numpy as np
import pytest

from tfgenre.core import config
from tfgenre.training import state
from tfgenre.training.fit_config import FitConfig
from tfgenre.training.loop import train

GENRES = ("blues", "jazz", "rock")


def _table(path: Path, tracks: int = 8) -> Path:
    from tfgenre.views.features import FEATURE_NAMES

    rng = np.random.default_rng(0)
    centers = rng.normal(0.0, 3.0, (len(GENRES), len(FEATURE_NAMES)))
    lines = [",".join(["filename", "length", *FEATURE_NAMES, "label"])]
    for c, genre in enumerate(GENRES):
        for i in range(tracks):
            x = centers[c] + rng.normal(0.0, 1.0, len(FEATURE_NAMES))
            values = [f"{genre}.{i:05d}.wav", "661794", *(f"{v:.5f}" for v in x), genre]
            lines.append(",".join(values))
    path.write_text("\n".join(lines) + "\n")
    return path


def _cfg(table: Path, run: Path, **kw) -> FitConfig:
    data = {"features_csv": str(table), "view": "features", "model": "features_mlp",
            "run_dir": str(run), "epochs": 1, "batch_size": 8, "early_stopping_patience": 0,
            **kw}
    return config.from_dict(FitConfig, data)


def _compute_dtypes(run: Path) -> set[str]:
    from tfgenre.models.saving import load_model

    model = load_model(str(run / "model.keras"), compile=False)
    return {layer.dtype_policy.compute_dtype for layer in model.layers if layer.weights}


def test_two_runs_back_to_back_leave_no_state_behind(tmp_path):
    table = _table(tmp_path / "features.csv")
    policy = keras.mixed_precision.global_policy().name
    deterministic = state.determinism_enabled()
    random.seed(123)
    python_state = random.getstate()

    train(_cfg(table, tmp_path / "mixed", mixed_precision=True), evaluate=False)
    assert keras.mixed_precision.global_policy().name == policy
    assert state.determinism_enabled() == deterministic
    assert random.getstate() == python_state
    assert "float16" in _compute_dtypes(tmp_path / "mixed")

    train(_cfg(table, tmp_path / "plain"), evaluate=False)
    assert keras.mixed_precision.global_policy().name == policy
    assert _compute_dtypes(tmp_path / "plain") == {"float32"}


def test_dtype_policy_restores_the_previous_policy_not_float32():
    keras.mixed_precision.set_global_policy("bfloat16")
    try:
        with state.dtype_policy("mixed_float16"):
            assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "bfloat16"
        with state.dtype_policy(None):
            assert keras.mixed_precision.global_policy().name == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_seeded_restores_determinism_and_generators_after_an_error():
    np.random.seed(7)
    numpy_state = np.random.get_state()
    before = state.determinism_enabled()
    with pytest.raises(RuntimeError), state.seeded(1):
        assert state.determinism_enabled()
        raise RuntimeError("boom")
    assert state.determinism_enabled() == before
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])


class _FakeStrategy:
    def scope(self):
        return contextlib.nullcontext()


def test_multi_worker_patches_are_undone_on_exit(monkeypatch):
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    monkeypatch.setattr(state, "is_multi_worker", lambda strategy: True)
    with state.multi_worker_patches(_FakeStrategy()) as patch_build:
        assert tf_trainer.reduce_per_replica is not original
        patch_build(model, (3,), 2)
        assert "_maybe_symbolic_build" in vars(model)
    assert tf_trainer.reduce_per_replica is original
    assert "_maybe_symbolic_build" not in vars(model)


def test_no_patches_without_a_multi_worker_strategy():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with state.multi_worker_patches(None) as patch_build:
        patch_build(model, (3,), 2)
        assert tf_trainer.reduce_per_replica is original
    assert "_maybe_symbolic_build" not in vars(model)
