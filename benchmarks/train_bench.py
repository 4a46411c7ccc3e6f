"""``train_throughput`` and ``predict_latency``.

Training examples/s per model (float32, and mixed precision on a GPU), and the seconds
to classify one 30-s clip through the Predictor.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from benchmarks.clips import ALL_VIEWS, Clips

logger = logging.getLogger(__name__)


def input_specs(records: str) -> dict[str, Any]:
    """The models' InputSpec per view, from the benchmark records' manifest."""
    from tfgenre.models.registry import InputSpec
    from tfgenre.records.info import RecordsInfo

    manifest = RecordsInfo.load(records)
    specs = {}
    for view in ALL_VIEWS:
        entry = manifest.view(view)
        specs[view] = InputSpec(
            view, entry.shape, entry.mean, entry.std, sample_rate=entry.sample_rate
        )
    return specs


def model_options(name: str) -> dict[str, Any]:
    """Options so that no model downloads weights."""
    from tfgenre.models.registry import model_options as options

    return {"weights": None} if "weights" in options(name) else {}


def train_rate(
    name: str,
    spec: Any,
    num_classes: int,
    batch_size: int,
    steps: int,
    *,
    mixed_precision: bool = False,
) -> float:
    """Examples/s of ``train_on_batch`` on random data (first step, with tracing, not timed).

    ``mixed_precision`` builds the model under Keras' ``mixed_float16`` policy (float16
    compute, float32 variables and loss scaling), as ``fit --mixed-precision`` does.
    """
    import keras

    from tfgenre.models.registry import get_model

    keras.backend.clear_session()
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy("mixed_float16" if mixed_precision else "float32")
    try:
        model = get_model(name, spec, num_classes, **model_options(name))
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    if spec.view == "mel":
        x = rng.uniform(-80, 0, (batch_size, *spec.shape)).astype(np.float32)
    else:
        x = rng.standard_normal((batch_size, *spec.shape)).astype(np.float32) * 0.1
    y = np.eye(num_classes, dtype=np.float32)[rng.integers(0, num_classes, batch_size)]
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch_size * steps / (time.perf_counter() - start)


def bench_train(
    records: str,
    models: list[str],
    num_classes: int,
    batch_size: int,
    steps: int,
    *,
    mixed_on_cpu: bool = False,
) -> dict[str, Any]:
    """Training examples/s of each model on this machine's CPU, or on its GPU.

    On a GPU every model is measured twice, with mixed precision off and on
    (``examples_per_s`` and ``examples_per_s_mixed_precision``). On a CPU mixed
    precision only adds casts (float16 matmuls are emulated), so it is not measured
    unless ``mixed_on_cpu`` (used by the tests).
    """
    import tensorflow as tf

    from tfgenre.models.registry import get_entry

    specs = input_specs(records)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    out: dict[str, Any] = {
        "device": "GPU" if gpu else "CPU",
        "batch_size": batch_size,
        "steps": steps,
        "examples_per_s": {},
    }
    modes = [False, True] if gpu or mixed_on_cpu else [False]
    if len(modes) > 1:
        out["examples_per_s_mixed_precision"] = {}
    for name in models:
        view = get_entry(name).views[0]
        for mixed in modes:
            key = "examples_per_s_mixed_precision" if mixed else "examples_per_s"
            try:
                rate = train_rate(
                    name, specs[view], num_classes, batch_size, steps, mixed_precision=mixed
                )
            except Exception as err:  # a broken model must not hide the other figures
                logger.warning("train_throughput %s (mixed=%s) failed: %s", name, mixed, err)
                failed = out.setdefault("failed", {})
                failed[f"{name}{' mixed' if mixed else ''}"] = f"{type(err).__name__}: {err}"[:300]
                continue
            out[key][name] = rate
            tag = " mixed precision" if mixed else ""
            print(f"  train {name:16s} {rate:8.1f} examples/s{tag}", flush=True)
    return out


def bench_predict(clips: Clips, records: str, repeats: int = 3) -> dict[str, Any]:
    """Seconds to classify one 30-s clip file with mel_cnn through tfgenre.inference.predictor."""
    from tfgenre.inference.predictor import Predictor
    from tfgenre.models.registry import get_model
    from tfgenre.records.info import RecordsInfo
    from tfgenre.runs.run_info import RunInfo

    records_info = RecordsInfo.load(records)
    spec = input_specs(records)["mel"]
    model = get_model("mel_cnn", spec, len(clips.label_names))
    run = RunInfo(
        labels=tuple(clips.label_names),
        model="mel_cnn",
        view_spec=records_info.view("mel"),
        input_shape=tuple(spec.shape),
        audio=records_info.audio,
        source="records",
        data_path=records,
    )
    predictor = Predictor(model, run)
    path = clips.paths[0]
    predictor.predict_file(path)  # tracing, imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = predictor.predict_file(path)
        times.append(time.perf_counter() - start)
    return {
        "model": "mel_cnn",
        "clip_seconds": result.duration_seconds,
        "segments": result.num_segments,
        "seconds": float(np.median(times)),
        "realtime_factor": result.duration_seconds / float(np.median(times)),
    }
