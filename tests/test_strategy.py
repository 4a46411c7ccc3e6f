"""Tests for tfgenre.training.strategy: names, auto choice, TF_CONFIG roles, Mirrored on CPUs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfgenre.errors import ConfigError, TfgenreError
from tfgenre.training.strategy import (
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
from tfgenre.training.strategy import configure_logical_cpus, describe_strategy, resolve_strategy
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


# ----------------------------------------------------------------- a quiet start, one device line

_NATIVE_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796185507.267162    5450 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796185507.267642    5450 cudart_stub.cc:31] Could not find cuda drivers\n"
    "I0000 00:00:1796185507.336980    5450 cpu_feature_guard.cc:227] This TensorFlow binary\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild.\n"
    "W0000 00:00:1796185512.457287    5450 some_op.cc:52] a warning\n"
    "E0000 00:00:1796185512.457287    5450 cuda_platform.cc:52] failed call to cuInit\n"
    "<string>:6: UserWarning: a Python warning\n"
)


def test_filter_native_log_follows_the_level() -> None:
    from tfgenre.core.tflog import filter_native_log

    assert filter_native_log(_NATIVE_NOISE, 0) == _NATIVE_NOISE
    level2 = filter_native_log(_NATIVE_NOISE, 2)
    assert level2.splitlines() == [_NATIVE_NOISE.splitlines()[6], _NATIVE_NOISE.splitlines()[7]]
    assert filter_native_log(_NATIVE_NOISE, 3) == "<string>:6: UserWarning: a Python warning\n"
    assert "a warning" in filter_native_log(_NATIVE_NOISE, 1)


def test_fit_starts_quietly_and_names_the_device(tmp_path: Path) -> None:
    """A fresh `fit` without TF_CPP_MIN_LOG_LEVEL: no cuInit/CUDA/oneDNN lines, one device line.

    The Makefile exports TF_CPP_MIN_LOG_LEVEL, which hid the noise under `make`; a user's
    shell does not, so the variable is removed here.
    """
    rng = np.random.default_rng(0)
    rows = ["filename,f0,f1,f2,label"]
    for li, label in enumerate("abc"):
        for i in range(8):
            x = rng.normal(size=3) * 0.1 + 3.0 * (np.arange(3) == li)
            rows.append(f"{label}.{i:05d}.wav," + ",".join(f"{v:.3f}" for v in x) + f",{label}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [sys.executable, "-m", "tfgenre.fit", "--features-csv", "t.csv", "--splits",
         "train=0.5,validation=0.25,test=0.25", "--model", "features_mlp", "--run-dir", "run",
         "--epochs", "1", "--batch-size", "8"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    noise = [
        line for line in proc.stderr.splitlines()
        if any(w in line.lower() for w in ("cuinit", "cuda", "onednn", "absl::initializelog"))
    ]  # fmt: skip
    assert noise == [], noise
    device = [line for line in proc.stderr.splitlines() if "device: " in line]
    assert len(device) == 1, proc.stderr
    assert re.search(r"device: (CPU \(no GPU found\)|\d+ GPUs? \(.+\)|TPU \(\d+ cores\))$",
                     device[0]), device


def test_describe_devices_names_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from tfgenre.training import strategy as strategy_module

    gpus: list = []
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: list(gpus) if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"device_name": "NVIDIA H200"})
    assert strategy_module.describe_devices() == "device: CPU (no GPU found)"
    gpus.append(tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU"))
    assert strategy_module.describe_devices() == "device: 1 GPU (NVIDIA H200)"
    gpus.append(tf.config.PhysicalDevice("/physical_device:GPU:1", "GPU"))
    assert strategy_module.describe_devices() == "device: 2 GPUs (2 x NVIDIA H200)"
