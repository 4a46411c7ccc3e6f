"""Tests for tfgenre.strategy: names, auto choice, TF_CONFIG roles, Mirrored on CPUs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from tfgenre.errors import ConfigError, TfgenreError
from tfgenre.strategy import (
    TPUNotFoundError,
    choose_strategy_name,
    describe_strategy,
    is_chief,
    resolve_strategy,
    task_info,
)

REPO = Path(__file__).resolve().parents[1]


def tf_config(
    monkeypatch: pytest.MonkeyPatch, workers: int, task: tuple[str, int], chief: bool = False
) -> None:
    cluster: dict[str, list[str]] = {"worker": [f"host{i}:2222" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["chief:2222"]
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task[0], "index": task[1]}})
    )


@pytest.fixture(autouse=True)
def no_tpu_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR", "TPU_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_default_strategy() -> None:
    strategy = resolve_strategy("default")
    assert strategy is tf.distribute.get_strategy()
    info = describe_strategy(strategy)
    assert info == {
        "name": "default",
        "class": "_DefaultDistributionStrategy",
        "num_replicas": 1,
        "num_workers": 1,
        "is_chief": True,
    }


@pytest.mark.skipif(len(tf.config.list_physical_devices("GPU")) > 1, reason="several GPUs")
@pytest.mark.skipif(os.path.exists("/dev/accel0"), reason="TPU VM")
def test_auto_is_default_without_tf_config_or_gpus() -> None:
    assert choose_strategy_name() == "default"
    assert describe_strategy(resolve_strategy("auto"))["name"] == "default"


@pytest.mark.skipif(os.path.exists("/dev/accel0"), reason="TPU VM")
def test_auto_prefers_multi_worker_with_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    tf_config(monkeypatch, workers=2, task=("worker", 0))
    assert choose_strategy_name() == "multi_worker"


def test_unknown_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown strategy 'gpu'.*mirrored.*tpu"):
        resolve_strategy("gpu")


@pytest.mark.skipif(os.path.exists("/dev/accel0"), reason="TPU VM")
def test_tpu_requested_but_absent() -> None:
    with pytest.raises(TPUNotFoundError, match="no TPU was found") as caught:
        resolve_strategy("tpu")
    assert isinstance(caught.value, TfgenreError) and isinstance(caught.value, RuntimeError)


def test_is_chief_from_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_chief() and task_info() == (None, 0)
    tf_config(monkeypatch, workers=3, task=("worker", 0))
    assert is_chief()
    tf_config(monkeypatch, workers=3, task=("worker", 2))
    assert not is_chief() and task_info() == ("worker", 2)
    tf_config(monkeypatch, workers=2, task=("worker", 0), chief=True)
    assert not is_chief()
    tf_config(monkeypatch, workers=2, task=("chief", 0), chief=True)
    assert is_chief()
    tf_config(monkeypatch, workers=2, task=("evaluator", 0))
    assert not is_chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        is_chief()


MIRRORED_SCRIPT = """
import json, sys
import numpy as np
from tfgenre.strategy import configure_logical_cpus, describe_strategy, resolve_strategy
configure_logical_cpus(2)
import keras
strategy = resolve_strategy("mirrored")
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
y = np.arange(8) % 3
history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
configure_logical_cpus(2)  # harmless once initialised with the same layout
try:
    configure_logical_cpus(3)
    late = "no error"
except Exception as error:
    late = type(error).__name__
json.dump({"info": describe_strategy(strategy), "loss": history.history["loss"][0],
           "steps": int(model.optimizer.iterations.numpy()), "late": late}, sys.stdout)
"""


def test_mirrored_on_two_logical_cpus() -> None:
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "-1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(REPO),
    }
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["info"]["name"] == "mirrored" and out["info"]["num_replicas"] == 2
    assert out["steps"] == 1 and out["loss"] > 0
    assert out["late"] == "TfgenreError"
