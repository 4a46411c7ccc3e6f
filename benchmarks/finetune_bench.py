"""Fine-tuning throughput of a pretrained music backbone: frozen warm-up vs unfrozen.

Usage: ``python -m benchmarks.finetune_bench [--model musicnn_msd] [--batch-size 8]
[--steps 4]``

Times ``model.fit`` steps of a registered music-backbone model (``musicnn_msd`` by
default; the published weights when the ``musicnn`` package is installed, else a random
init of the same architecture, which costs the same) on synthetic 3-s windows at
16 kHz, in the two phases of ``fit --set fine_tune.warmup_epochs=N``: the backbone
frozen (only the head trains, the backbone still runs forward) and unfrozen (every
backbone layer trains, batch normalization in inference mode). The first step of each
phase (graph tracing) is not timed. float32 always; ``mixed_float16`` as well when a
GPU is present (on a CPU float16 is emulated and only adds casts).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from typing import Any

import keras
import numpy as np

SAMPLE_RATE = 16000
WINDOW_SECONDS = 3.0
NUM_CLASSES = 10
PHASES = ("frozen", "unfrozen")


def synthetic_windows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 3-s windows at 16 kHz (a few partials plus noise, in [-1, 1]) and labels.

    Returns:
        float32 ``(n, 48000)`` and int64 ``(n,)``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(WINDOW_SECONDS * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    f0 = rng.uniform(80.0, 800.0, (n, 1, 1))
    partials = np.arange(1, 5, dtype=np.float32)[None, :, None]
    tone = np.sin(2 * np.pi * f0 * partials * t[None, None, :]).sum(axis=1) / 4
    x = 0.5 * tone + 0.05 * rng.standard_normal((n, t.size))
    return np.clip(x, -1, 1).astype(np.float32), rng.integers(0, NUM_CLASSES, n)


class StepTimes(keras.callbacks.Callback):
    """Records when each training step ends."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.ends.append(time.perf_counter())


def _phase_rate(model: Any, dataset: Any, steps: int, batch_size: int) -> float:
    """Examples/s of ``steps`` timed ``fit`` steps (after one untimed tracing step)."""
    # jit_compile left at Keras' default, as fit compiles
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    times = StepTimes()
    model.fit(dataset, epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[times])
    return batch_size * steps / (times.ends[-1] - times.ends[0])


def _measure(name: str, weights: str | None, batch_size: int, steps: int, policy: str) -> dict:
    """Frozen and unfrozen examples/s of model ``name`` under dtype ``policy``."""
    import tensorflow as tf

    from tfgenre.models.backbone import freeze_backbone, set_trainable_top
    from tfgenre.models.registry import InputSpec, get_model

    keras.backend.clear_session()
    spec = InputSpec("raw", (int(WINDOW_SECONDS * SAMPLE_RATE),), sample_rate=SAMPLE_RATE)
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(policy)
    try:
        model = get_model(name, spec, NUM_CLASSES, weights=weights)
    finally:
        keras.config.set_dtype_policy(previous)
    x, y = synthetic_windows(batch_size * 4)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch_size)
    freeze_backbone(model)
    rates = {"frozen": _phase_rate(model, dataset, steps, batch_size)}
    set_trainable_top(model, 10**6)
    rates["unfrozen"] = _phase_rate(model, dataset, steps, batch_size)
    return rates


def bench_finetune(
    model: str = "musicnn_msd",
    *,
    batch_size: int | None = None,
    steps: int = 4,
    weights: str | None = "published",
    mixed_on_cpu: bool = False,
) -> dict[str, Any]:
    """Training examples/s of ``model`` with its backbone frozen and unfrozen.

    Args:
        model: A registered music-backbone model (``musicnn_msd``, ``vgg_mtt``, ...).
        batch_size: Windows per step (default 32 on a GPU, 8 on a CPU).
        steps: Timed steps per phase (one more, untimed, traces the graph).
        weights: ``"published"`` (random init when the musicnn package is missing) or
            None.
        mixed_on_cpu: Measure ``mixed_float16`` without a GPU too (for the tests).

    Returns:
        ``{"finetune_throughput": {"model", "weights", "device", "batch_size", "steps",
        "window_seconds", "examples_per_second": {"frozen", "unfrozen"},
        "unfrozen_over_frozen"}}``, plus ``"examples_per_second_mixed_float16"`` on a GPU.
    """
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    batch_size = batch_size or (32 if gpu else 8)
    if weights is not None and importlib.util.find_spec("musicnn") is None:
        weights = None  # same architecture and cost, random values
    out: dict[str, Any] = {
        "model": model,
        "weights": weights or "random init",
        "device": "GPU" if gpu else "CPU",
        "batch_size": batch_size,
        "steps": steps,
        "window_seconds": WINDOW_SECONDS,
    }
    rates = _measure(model, weights, batch_size, steps, "float32")
    out["examples_per_second"] = rates
    out["unfrozen_over_frozen"] = rates["unfrozen"] / rates["frozen"]
    if gpu or mixed_on_cpu:
        out["examples_per_second_mixed_float16"] = _measure(
            model, weights, batch_size, steps, "mixed_float16"
        )
    for phase in PHASES:
        print(f"  finetune {model} {phase:8s} {rates[phase]:8.2f} examples/s", flush=True)
    return {"finetune_throughput": out}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: prints the figure as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="musicnn_msd")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument(
        "--mixed-on-cpu", action="store_true", help="measure mixed_float16 without a GPU too"
    )
    args = parser.parse_args(argv)
    result = bench_finetune(
        args.model, batch_size=args.batch_size, steps=args.steps, mixed_on_cpu=args.mixed_on_cpu
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
