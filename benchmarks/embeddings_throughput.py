"""``embeddings_throughput``: musicnn_msd embeddings against the original graph and the machine.

Usage: ``python -m benchmarks.embeddings_throughput [--clips N] [--repeats R] [--rounds K]``

Everything below is measured in one process run, as ratios where a baseline exists:

- ``float32``: tfgenre's port (:class:`~tfgenre.backbones.runner.BackboneRunner`, front
  end + network, every output, one clip's patches per call) against the published TF1
  graph fed by musicnn's own librosa front end
  (:func:`benchmarks.backbones_bench.bench_embeddings`, the sides alternating);
  ``realtime_factor`` is seconds of audio per wall-clock second.
- ``batched``: the same clips' patches concatenated and run through the network in
  calls of ``batch_size`` patches (batching across tracks), against one clip per
  call; ``identical`` says whether every float32 output is equal bit for bit.
- ``bfloat16``: the port under ``--precision bfloat16``, timed against float32 and the
  original on a CPU with native bfloat16 (AVX-512 BF16 / AMX); elsewhere the option is
  refused, so only its drift is measured (TensorFlow emulates bfloat16 there: the
  numbers are the same, the speed is not representative) and ``skipped`` says why.
  ``drift``: per output, the largest absolute difference from float32, that relative
  to the output's largest magnitude, and the largest cosine distance between patches.
- ``limit``: the physical limit. ``flops_per_patch`` counts the network's multiply-adds
  (``2 x MACs`` of every Conv2D and Dense layer of the Keras model); the machine's
  ``matmul_gflops`` (float32 and bfloat16, a 1024 x 1024 matmul traced by TensorFlow
  with its default threads) bounds what a dense kernel reaches on this CPU. So
  ``patches_per_second_limit = matmul_gflops / flops_per_patch`` and
  ``fraction_of_limit`` is where the port stands (the front end and the pooling are
  not counted, so the real limit is a little lower).
- ``--probe-root DATA`` (the shared real clips, not in ``make bench``): the recipe's
  whole-track rows of the 20 shared GTZAN clips in float32 and in bfloat16, their drift
  and the probe's track accuracy on each (``benchmarks.embeddings_recipe``'s protocols:
  1-shot both ways, leave-one-clip-out).
- ``onednn``: the port in two child processes, TensorFlow's oneDNN kernels off and on
  (``TF_ENABLE_ONEDNN_OPTS=0/1``, alternating): tfgenre leaves the variable to the
  user (it changes float32 rounding, process-wide), this says what it is worth here.
- ``recipe``: the embeddings view's genre recipe (``musicnn_msd`` + ``vgg_msd``, one
  front end, whole tracks) against the sum of its parts (each backbone as its own
  view on the same tracks): ``ratio`` < 1 means the recipe costs less than its parts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.backbones_bench import RATE, bench_clip_paths, bench_embeddings, decode_clips

#: Patches per network call in the ``batched`` variant.
BATCH = 64


def model_flops(model: Any) -> int:
    """FLOPs of one example through ``model``: 2 x the multiply-adds of Conv2D and Dense.

    Args:
        model: A built functional Keras model (its layers' symbolic shapes are read).

    Returns:
        The count for a batch of one (pooling, batch norm and activations excluded).
    """
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape  # (None, H, W, filters)
            kh, kw, cin, _ = layer.kernel.shape
            total += 2 * int(np.prod(out[1:])) * int(kh) * int(kw) * int(cin)
        elif isinstance(layer, keras.layers.Dense):
            units_in, units_out = layer.kernel.shape
            total += 2 * int(units_in) * int(units_out)
    return total


def matmul_gflops(dtype: str = "float32", n: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of a traced ``n x n`` matmul in ``dtype`` (best of ``repeats`` timings).

    Each timing runs the product enough times to last about 0.2 s.
    """
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n)), dtype=dtype)
    b = tf.constant(rng.standard_normal((n, n)), dtype=dtype)
    f = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    f(a, b).numpy()
    start = time.perf_counter()
    f(a, b).numpy()
    once = max(time.perf_counter() - start, 1e-6)
    reps = max(1, int(0.2 / once))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(reps):
            f(a, b).numpy()
        best = min(best, (time.perf_counter() - start) / reps)
    return 2.0 * n**3 / best / 1e9


def drift(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per output: max abs difference, that over the reference's max magnitude, and the
    largest cosine distance between a patch's two vectors."""
    result = {}
    for name, a in reference.items():
        b = np.asarray(other[name], np.float64)
        a = np.asarray(a, np.float64)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        cosine = 1.0 - np.sum(a * b, axis=1) / np.maximum(norms, 1e-30)
        diff = float(np.max(np.abs(a - b)))
        result[name] = {
            "max_abs": diff,
            "max_abs_relative": diff / max(float(np.max(np.abs(a))), 1e-30),
            "max_cosine_distance": float(np.max(cosine)),
        }
    return result


def _best(fn: Any, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_batched(runner: Any, patches: list[np.ndarray], repeats: int) -> dict[str, Any]:
    """One clip's patches per call against all clips' patches in calls of :data:`BATCH`."""
    every = np.concatenate(patches)
    batch_size = runner.batch_size
    per_clip = [runner.run(p) for p in patches]
    runner.batch_size = BATCH
    try:
        together = runner.run(every)
        batched_s = _best(lambda: runner.run(every), repeats)
    finally:
        runner.batch_size = batch_size
    per_clip_s = _best(lambda: [runner.run(p) for p in patches], repeats)
    identical = all(
        np.array_equal(np.concatenate([o[name] for o in per_clip]), together[name])
        for name in together
    )
    return {
        "batch_size": BATCH,
        "patches": len(every),
        "patches_per_second": len(every) / batched_s,
        "per_clip_patches_per_second": len(every) / per_clip_s,
        "ratio": per_clip_s / batched_s,
        "identical": identical,
    }


def bench_bfloat16(
    weights: str, waves: list[np.ndarray], f32: Any, repeats: int, f32_seconds: float
) -> dict[str, Any]:
    """The bfloat16 variant: its speed where the CPU has it, its drift everywhere."""
    from tfgenre.backbones import precision
    from tfgenre.backbones.runner import BackboneRunner

    native = precision.bf16_supported()
    saved = precision.bf16_supported
    if not native:  # build it anyway, for the drift only (TensorFlow emulates bf16)
        precision.bf16_supported = lambda: True  # type: ignore[assignment]
    try:
        bf16 = BackboneRunner(weights, precision="bfloat16")
    finally:
        precision.bf16_supported = saved  # type: ignore[assignment]
    first = f32.patches(waves[0]).values
    result: dict[str, Any] = {"native": native, "drift": drift(f32.run(first), bf16.run(first))}
    if not native:
        result["skipped"] = (
            "this CPU has no native bfloat16 (no avx512_bf16 / amx_bf16 flag), so "
            "--precision bfloat16 is refused here; drift measured with TensorFlow's emulation"
        )
        return result
    seconds = _best(lambda: [bf16(y) for y in waves], repeats)
    audio_seconds = sum(len(y) for y in waves) / RATE
    result.update(
        clips_per_second=len(waves) / seconds,
        realtime_factor=audio_seconds / seconds,
        ratio_to_float32=f32_seconds / seconds,
    )
    return result


def bench_recipe_parts(paths: Sequence[str], repeats: int) -> dict[str, Any]:
    """Seconds per clip of the recipe view against the sum of its single-backbone parts."""
    from tfgenre.core import audio
    from tfgenre.views.embeddings import EmbeddingsView

    rate = 22050
    waves = [audio.decode(p, rate)[None, :] for p in paths]
    recipe = EmbeddingsView()
    parts = [
        EmbeddingsView(backbone=b, layer=layers, pooling=recipe.pooling)
        for b, layers in recipe.parts()
    ]
    for view in (recipe, *parts):
        view.compute(waves[0], rate)  # build the ports (once per process, as the writer)
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, view in [("recipe", recipe)] + [(v.backbones[0], v) for v in parts]:
            start = time.perf_counter()
            for w in waves:
                view.compute(w, rate)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    whole = sum(s for name, s in best.items() if name != "recipe")
    return {
        "backbones": list(recipe.backbones),
        "clips": len(waves),
        "recipe_seconds_per_clip": best["recipe"] / len(waves),
        "parts_seconds_per_clip": {k: v / len(waves) for k, v in best.items() if k != "recipe"},
        "ratio": best["recipe"] / whole,
    }


def _bf16_view(view: Any) -> Any:
    """``view`` with ``precision="bfloat16"``, whose runners are built even on a CPU
    without native bfloat16 (emulated: for measuring drift and accuracy only)."""
    import dataclasses

    from tfgenre.backbones import precision
    from tfgenre.views.embeddings import runner_for

    other = dataclasses.replace(view, precision="bfloat16")
    saved = precision.bf16_supported
    precision.bf16_supported = lambda: True  # type: ignore[assignment]
    try:
        for backbone in other.backbones:
            runner_for(backbone, "bfloat16")
    finally:
        precision.bf16_supported = saved  # type: ignore[assignment]
    return other


def probe_bf16(root: str) -> dict[str, Any]:
    """The recipe's rows of the shared clips in float32 and bfloat16: drift and accuracy."""
    from benchmarks.embeddings_recipe import RATE as RECIPE_RATE
    from benchmarks.few_shot_probe import _clips, track_accuracy, wilson
    from tfgenre.core import audio
    from tfgenre.views.embeddings import EmbeddingsView

    clips = _clips(root)
    views = {"float32": EmbeddingsView()}
    views["bfloat16"] = _bf16_view(views["float32"])
    rows: dict[str, list[np.ndarray]] = {k: [] for k in views}
    for _, _, path in clips:
        wave = audio.decode(path, RECIPE_RATE)[None]
        for name, view in views.items():
            rows[name].append(view.compute(wave, RECIPE_RATE)[0])
    genres = np.asarray([g for g, _, _ in clips])
    index = np.asarray([i for _, i, _ in clips])
    owner = np.arange(len(clips))
    result: dict[str, Any] = {"clips": len(clips), "representation": "recipe, whole track"}
    for name, parts in rows.items():
        x = np.stack(parts).astype(np.float64)
        a = track_accuracy(x, genres, owner, index == "00000", index == "00001")
        b = track_accuracy(x, genres, owner, index == "00001", index == "00000")
        loo = sum(
            track_accuracy(x, genres, owner, owner != c, owner == c) for c in range(len(clips))
        )
        result[name] = {
            "one_shot_pooled": (a + b) / 20,
            "one_shot_wilson95": [round(v, 3) for v in wilson(a + b, 20)],
            "leave_one_clip_out": loo / 20,
            "leave_one_clip_out_wilson95": [round(v, 3) for v in wilson(loo, 20)],
        }
    ref, other = np.stack(rows["float32"]), np.stack(rows["bfloat16"])
    result["row_drift"] = drift({"rows": ref}, {"rows": other})["rows"]
    return result


def child_worker(waves_npz: str, out_json: str, weights: str, repeats: int) -> None:
    """The port's fastest pass over the clips, in this (child) process's TF settings."""
    from tfgenre.backbones.runner import BackboneRunner

    with np.load(waves_npz) as data:
        waves = [data[k] for k in sorted(data.files, key=int)]
    runner = BackboneRunner(weights)
    seconds = _best(lambda: [runner(y) for y in waves], repeats)
    max_pool = runner(waves[0])["max_pool"]
    with open(out_json, "w") as f:
        json.dump({"seconds": seconds, "max_pool": max_pool.tolist()}, f)


def bench_onednn(
    waves: list[np.ndarray], weights: str, repeats: int, rounds: int
) -> dict[str, Any]:
    """Clips/s of the port with oneDNN off and on, each in its own process, alternating."""
    import subprocess

    from benchmarks.backbones_bench import ROOT

    best = {"0": float("inf"), "1": float("inf")}
    pools: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="tfgenre_bench_onednn_") as tmp:
        npz = os.path.join(tmp, "waves.npz")
        np.savez(npz, **{str(i): y for i, y in enumerate(waves)})
        for _ in range(rounds):
            for flag in best:
                out = os.path.join(tmp, f"out{flag}.json")
                env = {
                    **os.environ,
                    "TF_ENABLE_ONEDNN_OPTS": flag,
                    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                }
                cmd = [sys.executable, "-m", "benchmarks.embeddings_throughput", "--child"]
                cmd += [npz, out, "--weights", weights, "--repeats", str(repeats)]
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
                if proc.returncode != 0:
                    return {"failed": proc.stderr[-2000:]}
                with open(out) as f:
                    result = json.load(f)
                best[flag] = min(best[flag], float(result["seconds"]))
                pools[flag] = np.asarray(result["max_pool"], np.float32)
    return {
        "clips_per_second_off": len(waves) / best["0"],
        "clips_per_second_on": len(waves) / best["1"],
        "ratio_on_to_off": best["0"] / best["1"],
        "max_pool_drift": drift({"max_pool": pools["0"]}, {"max_pool": pools["1"]})["max_pool"],
    }


def bench(
    paths: Sequence[str], *, weights: str = "musicnn_msd", repeats: int = 2, rounds: int = 2
) -> dict[str, Any]:
    """Every figure of ``embeddings_throughput`` (see the module docstring).

    Returns:
        ``{"embeddings_throughput": {... float32 figures as backbones_bench ..., "batched",
        "bfloat16", "limit", "recipe", "threads"}}``.
    """
    import tensorflow as tf

    from tfgenre.backbones.frontend import PATCH_FRAMES
    from tfgenre.backbones.runner import PATCH_SECONDS, BackboneRunner

    result = bench_embeddings(paths, weights=weights, repeats=repeats, rounds=rounds)
    e = result["embeddings_throughput"]
    waves = decode_clips(paths)
    f32 = BackboneRunner(weights)
    patches = [f32.patches(y).values for y in waves]
    f32_seconds = len(waves) / e["clips_per_second"]
    e["batched"] = bench_batched(f32, patches, repeats)
    e["bfloat16"] = bench_bfloat16(weights, waves, f32, repeats, f32_seconds)
    if "clips_per_second" in e["bfloat16"]:
        e["bfloat16"]["ratio"] = e["bfloat16"]["clips_per_second"] / e["original_clips_per_second"]
    flops = model_flops(f32.model)
    gflops = {dtype: matmul_gflops(dtype) for dtype in ("float32", "bfloat16")}
    patches_per_clip = sum(len(p) for p in patches) / len(waves)
    achieved = e["clips_per_second"] * patches_per_clip
    e["limit"] = {
        "flops_per_patch": flops,
        "matmul_gflops": gflops,
        "patches_per_second": achieved,
        "patches_per_second_limit": {k: v * 1e9 / flops for k, v in gflops.items()},
        "realtime_factor_limit": {k: v * 1e9 / flops * PATCH_SECONDS for k, v in gflops.items()},
        "fraction_of_limit": achieved / (gflops["float32"] * 1e9 / flops),
        "achieved_gflops": achieved * flops / 1e9,
        "patch_frames": PATCH_FRAMES,
    }
    e["onednn"] = bench_onednn(waves, weights, repeats, rounds)
    e["recipe"] = bench_recipe_parts(paths, repeats)
    e["threads"] = {
        "cores": os.cpu_count(),
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "load_average": list(os.getloadavg()),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: prints the JSON of ``embeddings_throughput``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="30-s clips to time")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per side and round")
    parser.add_argument("--rounds", type=int, default=2, help="times each side runs, alternating")
    parser.add_argument("--weights", default="musicnn_msd")
    parser.add_argument("--child", nargs=2, metavar=("WAVES_NPZ", "OUT_JSON"))
    parser.add_argument(
        "--probe-root", help="the shared data folder: measure bf16's probe accuracy only"
    )
    args = parser.parse_args(argv)
    if args.child:
        child_worker(*args.child, args.weights, args.repeats)
        return 0
    if args.probe_root:
        print(json.dumps({"bfloat16_probe": probe_bf16(args.probe_root)}, indent=2))
        return 0
    result = bench(
        bench_clip_paths(args.clips), weights=args.weights, repeats=args.repeats, rounds=args.rounds
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
