"""tfgenre's speed figures, each as a ratio against a baseline measured in the same run.

Usage: ``python -m benchmarks.run [--quick] [--out benchmarks/results/latest.json]``

Figures (one key each in the JSON): ``features_speedup``, ``writer_speedup``,
``writer_scaling``, ``bytes_per_segment``, ``reader_speedup``, ``reader_vs_train``,
``train_throughput``, ``predict_latency``, ``embeddings_throughput`` (musicnn_msd's
port against the original graph, with its realtime factor; see
:mod:`benchmarks.backbones_bench`), ``probe_time`` (embeddings + a linear probe for 100
clips, end to end; :mod:`benchmarks.probe_bench`), ``embeddings_recipe_cost`` (the
embeddings view's time per clip, the default recipe against musicnn_msd alone:
:mod:`benchmarks.embeddings_recipe`), ``finetune_throughput`` (a music backbone's
fine-tuning steps, frozen vs unfrozen: :mod:`benchmarks.finetune_bench`),
``serve_latency`` (a warm ``python -m tfgenre.serve`` at 1 and 4 concurrent clients,
p50/p95 and requests/s, against ``predict`` in a fresh process:
:mod:`benchmarks.serve_bench`),
``library_predict`` (``predict LIBRARY/ --output X`` tracks/s at 1 and 2 workers against
the one-process loop: :mod:`benchmarks.library_predict`).
The baseline is the TensorFlow FMA-study style pipeline in :mod:`benchmarks.naive`.
Audio: synthetic 30-s clips, or the real GTZAN sample when ``TFGENRE_REAL_DATA`` is set.
Machines here are noisy and shared: read the ratios, not the absolute rates.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 22050
WINDOW_SECONDS = 3.0
IMAGE_SIZE = 224
QUICK_MODELS = ("mel_cnn", "mobilenet_v2", "genre_resnet", "raw_conv1d", "features_mlp")
FIGURES = (
    "features_speedup",
    "writer_speedup",
    "writer_scaling",
    "bytes_per_segment",
    "reader_speedup",
    "reader_vs_train",
    "train_throughput",
    "predict_latency",
    "embeddings_throughput",
    "probe_time",
    "embeddings_recipe_cost",
    "finetune_throughput",
    "serve_latency",
    "library_predict",
)
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")


@dataclasses.dataclass(frozen=True)
class Clips:
    """The audio the benchmarks run on."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    source: str  # "synthetic" or "real"
    writer_source: str
    writer_input: str
    source_options: dict[str, Any]


def prepare_clips(
    workdir: str, *, num_genres: int, clips_per_genre: int, clip_seconds: float = 30.0
) -> Clips:
    """Real GTZAN sample clips when ``TFGENRE_REAL_DATA`` is set, else synthetic ones."""
    real = os.environ.get("TFGENRE_REAL_DATA")
    root = os.path.join(real, "gtzan_sample", "genres") if real else ""
    if root and os.path.isdir(root):
        genres = sorted(os.listdir(root))[:num_genres]
        paths = []
        for g in genres:
            paths += sorted(glob.glob(os.path.join(root, g, "*.wav")))[:clips_per_genre]
        names = tuple(genres)
        labels = tuple(names.index(os.path.basename(os.path.dirname(p))) for p in paths)
        # Exactly the chosen clips: a CSV list (the folder source would take them all).
        os.makedirs(workdir, exist_ok=True)
        listing = os.path.join(workdir, "real_clips.csv")
        with open(listing, "w") as f:
            f.write("path,label\n")
            f.writelines(f"{p},{names[i]}\n" for p, i in zip(paths, labels))
        return Clips(tuple(paths), labels, names, "real", "csv", listing, {})
    from tfgenre.synthesis import synthesize_dataset

    audio_root = os.path.join(workdir, "audio")
    opts = {
        "num_genres": num_genres,
        "clips_per_genre": clips_per_genre,
        "clip_seconds": clip_seconds,
        "sample_rate": SAMPLE_RATE,
        "seed": 0,
    }
    paths = synthesize_dataset(audio_root, **opts)
    names = tuple(sorted({os.path.basename(os.path.dirname(p)) for p in paths}))
    labels = tuple(names.index(os.path.basename(os.path.dirname(p))) for p in paths)
    return Clips(tuple(paths), labels, names, "synthetic", "synthetic", audio_root, opts)


#: The views the naive writer also writes (not ``embeddings``: see probe_time).
ALL_VIEWS: tuple[str, ...] = ("raw", "mel", "features")


def replicate(clips: Clips, copies: int, folder: str) -> Clips:
    """``clips`` listed ``copies`` times under distinct names (links), as a CSV source.

    The writer's timed runs last a few seconds this way, so per-run fixed costs (plan,
    manifest, pool hand-offs) do not dominate the rates; the audio, hence the per-clip
    work, is exactly that of ``clips``.
    """
    if copies <= 1:
        return clips
    os.makedirs(folder, exist_ok=True)
    paths, labels = [], []
    for path, label in zip(clips.paths, clips.labels, strict=True):
        stem, ext = os.path.splitext(os.path.basename(path))
        genre = clips.label_names[label]
        os.makedirs(os.path.join(folder, genre), exist_ok=True)
        for k in range(copies):
            link = os.path.join(folder, genre, f"{stem}.copy{k}{ext}")
            if not os.path.lexists(link):
                try:
                    os.symlink(os.path.abspath(path), link)
                except OSError:  # pragma: no cover - no symlinks on this filesystem
                    shutil.copyfile(path, link)
            paths.append(link)
            labels.append(label)
    listing = os.path.join(folder, "clips.csv")
    with open(listing, "w") as f:
        f.write("path,label\n")
        f.writelines(f"{p},{clips.label_names[i]}\n" for p, i in zip(paths, labels))
    return Clips(tuple(paths), tuple(labels), clips.label_names, clips.source, "csv", listing, {})


def writer_config(clips: Clips, output: str, views: tuple[str, ...], workers: int) -> Any:
    """A WriterConfig for the benchmark clips (one train split, 3-s windows)."""
    from tfgenre.core import config
    from tfgenre.records.writer_config import WriterConfig

    return config.from_dict(
        WriterConfig,
        {
            "source": clips.writer_source,
            "input": clips.writer_input,
            "output": output,
            "source_options": clips.source_options,
            "views": list(views),
            "labels": list(clips.label_names),
            "audio": {"sample_rate": SAMPLE_RATE, "window_seconds": WINDOW_SECONDS},
            "splits": {"train": 1.0},
            "use_source_splits": False,
            "shards": max(4, len(clips.paths)),
            "workers": workers,
        },
    )


# ----------------------------------------------------------------------------- writer


def _warm_worker(_: int) -> int:
    """Imports and compiles (numba) everything a writer unit needs, outside the timing."""
    warm_views()
    return os.getpid()


def _compute_probe(path: str) -> float:
    """Seconds to compute the features view of ``path``'s audio twice (pure compute)."""
    from threadpoolctl import threadpool_limits

    from tfgenre.core.audio import cut_segments, decode
    from tfgenre.views.features import FeaturesView

    segments = cut_segments(decode(path, SAMPLE_RATE), int(WINDOW_SECONDS * SAMPLE_RATE))
    view = FeaturesView()
    with threadpool_limits(1):
        start = time.perf_counter()
        for _ in range(2):
            view.compute(segments, SAMPLE_RATE)
        return time.perf_counter() - start


def machine_scaling(pool: Any, workers: int, path: str) -> float:
    """How this machine scales the same pure computation from 1 to ``workers`` processes.

    One pool process computes alone, then all ``workers`` compute the same thing at
    once: ``workers * t1 / max(tN)``. The ceiling for the writer's scaling in the same
    run (no I/O, no hand-offs, no imbalance).
    """
    alone = pool.apply(_compute_probe, (path,))
    together = pool.map(_compute_probe, [path] * workers, chunksize=1)
    return workers * alone / max(together)


def warm_views() -> None:
    """Runs every view once on a short segment (numba compilation, imports)."""
    from tfgenre.views.features import FeaturesView
    from tfgenre.views.mel import MelView
    from tfgenre.views.raw import RawView

    seg = np.random.default_rng(0).standard_normal((1, int(WINDOW_SECONDS * SAMPLE_RATE)))
    seg = (0.1 * seg).astype(np.float32)
    for view in (RawView(), MelView(), FeaturesView()):
        view.compute(seg, SAMPLE_RATE)


class WarmPool:
    """A spawn pool of writer workers, started and warmed before any timing.

    Used as ``write_records(..., executor=pool.executor)``: the local executor with this
    pool instead of a new one, so the pool's start-up is not in the measurement.
    """

    def __init__(self, workers: int) -> None:
        from tfgenre.records.executors import LocalExecutor, start_pool

        self.workers = workers
        self.pool = start_pool(workers)
        self.pool.map(_warm_worker, range(workers), chunksize=1)
        self.executor = LocalExecutor(workers, progress=False, pool=self.pool)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def time_tfgenre_writer(
    clips: Clips, output: str, views: tuple[str, ...], executor: Any = None
) -> dict[str, Any]:
    """Runs the tfgenre writer (in-process, or through ``executor``) and times it."""
    from tfgenre.records.writer import write_records

    cfg = writer_config(clips, output, views, workers=1)
    start = time.perf_counter()
    result = write_records(cfg, overwrite=True, progress=False, executor=executor)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "clips_per_s": len(clips.paths) / seconds,
        "manifest": result.info.to_json(),
    }


def _time_naive(clips: Clips, path: str, views: tuple[str, ...]) -> tuple[float, dict[str, Any]]:
    from benchmarks import naive

    start = time.perf_counter()
    info = naive.write(clips.paths, clips.labels, path, window_seconds=WINDOW_SECONDS, views=views)
    return len(clips.paths) / (time.perf_counter() - start), info


def bench_writer(
    clips: Clips, workdir: str, workers: int, repeats: int = 3, copies: int = 1
) -> dict[str, Any]:
    """Naive writers vs tfgenre's writer (mel only; all three views; 1 and N workers).

    Each of tfgenre's runs is compared with the naive writer producing the same views:
    mel alone against the FMA-study image writer, all three views against the same
    writer also storing the raw window and the plain-librosa features. tfgenre's four
    configurations run ``repeats`` times, interleaved, and each keeps its best rate:
    a run of a few seconds on a shared 2-core machine is easily slowed by a neighbour,
    never sped up (the naive writer, ~10x longer, runs once). tfgenre's writer gets
    each clip ``copies`` times (:func:`replicate`), the naive writer once.
    """
    from benchmarks import naive
    from tfgenre.views.features import reference_features

    warm_views()
    naive.segment_images(np.zeros(SAMPLE_RATE * 3, np.float32), SAMPLE_RATE, SAMPLE_RATE * 3)
    reference_features(np.zeros(SAMPLE_RATE * 3, np.float32), SAMPLE_RATE)
    naive_path = os.path.join(workdir, "naive.tfrecord")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # 1 worker = 1 core, as each pool worker gets
        naive_rate, naive_info = _time_naive(clips, naive_path, ("mel",))
        naive_all_rate, naive_all_info = _time_naive(
            clips, os.path.join(workdir, "naive_all.tfrecord"), ALL_VIEWS
        )
    listed = replicate(clips, copies, os.path.join(workdir, "copies"))
    configs = {"mel_1": ("mel",), "all_1": ALL_VIEWS}
    if workers > 1:
        configs.update({"mel_n": ("mel",), "all_n": ALL_VIEWS})
    best: dict[str, dict[str, Any]] = {}
    pool = WarmPool(workers) if workers > 1 else None
    machine: list[float] = []
    try:
        for _ in range(max(1, repeats)):
            if pool is not None:
                machine.append(machine_scaling(pool.pool, workers, clips.paths[0]))
            for key, views in configs.items():
                folder = os.path.join(workdir, f"rec_{key}")
                if key.endswith("_1"):
                    with threadpool_limits(1):
                        run = time_tfgenre_writer(listed, folder, views)
                else:
                    assert pool is not None
                    run = time_tfgenre_writer(listed, folder, views, pool.executor)
                if key not in best or run["clips_per_s"] > best[key]["clips_per_s"]:
                    best[key] = run
    finally:
        if pool is not None:
            pool.close()
    mel1, all1 = best["mel_1"], best["all_1"]
    out: dict[str, Any] = {
        "naive_clips_per_s": naive_rate,
        "naive_all_views_clips_per_s": naive_all_rate,
        "mel_1_worker_clips_per_s": mel1["clips_per_s"],
        "all_views_1_worker_clips_per_s": all1["clips_per_s"],
        "speedup_mel_1_worker": mel1["clips_per_s"] / naive_rate,
        "speedup_all_views_1_worker": all1["clips_per_s"] / naive_all_rate,
        "repeats": repeats,
        "tfgenre_tracks": len(listed.paths),
        "naive_tracks": len(clips.paths),
        "note": "naive: serial librosa and FloatLists, the same views as the tfgenre run, "
        f"once; tfgenre: each clip {max(1, copies)} times, best of {repeats} runs",
    }
    scaling: dict[str, Any] = {"workers": workers}
    if workers > 1:
        alln, meln = best["all_n"], best["mel_n"]
        out[f"all_views_{workers}_workers_clips_per_s"] = alln["clips_per_s"]
        out[f"speedup_all_views_{workers}_workers"] = alln["clips_per_s"] / naive_all_rate
        out[f"speedup_mel_{workers}_workers"] = meln["clips_per_s"] / naive_rate
        scaling.update(
            {
                "all_views_1_worker_clips_per_s": all1["clips_per_s"],
                f"all_views_{workers}_workers_clips_per_s": alln["clips_per_s"],
                "scaling_all_views": alln["clips_per_s"] / all1["clips_per_s"],
                "mel_1_worker_clips_per_s": mel1["clips_per_s"],
                f"mel_{workers}_workers_clips_per_s": meln["clips_per_s"],
                "scaling_mel": meln["clips_per_s"] / mel1["clips_per_s"],
                "machine_scaling_pure_compute": max(machine) if machine else None,
                "note": "pool started and warmed before timing (steady-state throughput); "
                f"best of {repeats} interleaved runs each; machine_scaling_pure_compute: "
                "the features of one clip computed by 1 and by all workers at once",
            }
        )
    examples = naive_all_info["examples"]
    naive_sizes = {v: n / examples for v, n in naive_all_info["view_bytes"].items()}
    bytes_per_segment: dict[str, Any] = {
        "naive_floatlist_224x224x3": naive_info["bytes"] / naive_info["examples"],
        "naive_floatlist_raw": naive_sizes["raw"],
        "naive_floatlist_features": naive_sizes["features"],
    }
    manifest = all1["manifest"]
    split = manifest["splits"]["train"]
    for view in ALL_VIEWS:
        nbytes = sum(s["num_bytes"] for s in split["shards"] if s["view"] == view)
        bytes_per_segment[view] = nbytes / split["num_examples"]
    for view in ALL_VIEWS:
        naive_key = "naive_floatlist_224x224x3" if view == "mel" else f"naive_floatlist_{view}"
        bytes_per_segment[f"naive_over_{view}"] = (
            bytes_per_segment[naive_key] / bytes_per_segment[view]
        )
    return {
        "writer_speedup": out,
        "writer_scaling": scaling,
        "bytes_per_segment": bytes_per_segment,
        "_paths": {
            "naive": naive_path,
            "records": os.path.join(workdir, "rec_all_1"),
            "examples": naive_info["examples"],
        },
    }


# ----------------------------------------------------------------------------- reader


def tfgenre_mel_dataset(records: str, batch_size: int, *, repeat: int = 1) -> Any:
    """tfgenre's mel pipeline as the models take it: ``(b, n_mels, frames, 1)`` float32.

    The backbones resize to 224x224x3 in their first layers (model-side resize).
    """
    from tfgenre.records.info import RecordsInfo
    from tfgenre.tfdata.records_dataset import records_dataset

    manifest = RecordsInfo.load(records)
    ds = records_dataset(manifest, "mel", "train", batch_size=batch_size, training=False)
    return ds.repeat(repeat) if repeat > 1 else ds


def tfgenre_image_dataset(records: str, batch_size: int, *, repeat: int = 1) -> Any:
    """tfgenre's mel pipeline delivering ``(b, 224, 224, 3)``: resize + 3 channels in a map."""
    import tensorflow as tf

    ds = tfgenre_mel_dataset(records, batch_size, repeat=repeat)

    @tf.autograph.experimental.do_not_convert
    def to_image(x: Any, y: Any) -> Any:
        img = tf.image.resize(x, (IMAGE_SIZE, IMAGE_SIZE), method="bilinear")
        return tf.tile(img, [1, 1, 1, 3]), y

    return ds.map(to_image, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def examples_per_second(ds: Any, max_seconds: float = 60.0) -> float:
    """Iterates ``ds`` (first batch not timed) and returns examples/s."""
    it = iter(ds)
    next(it)
    n = 0
    start = time.perf_counter()
    for x, _ in it:
        n += int(x.shape[0])
        if time.perf_counter() - start > max_seconds:
            break
    return n / max(time.perf_counter() - start, 1e-9)


def bench_reader(
    clips: Clips, paths: dict[str, Any], batch_size: int, passes: int, audio_clips: int
) -> dict[str, Any]:
    """Examples/s of the three ways to feed 224x224x3 mel batches."""
    from benchmarks import naive

    n_cls = len(clips.label_names)
    native = examples_per_second(tfgenre_mel_dataset(paths["records"], batch_size, repeat=passes))
    fast = examples_per_second(tfgenre_image_dataset(paths["records"], batch_size, repeat=passes))
    floats = examples_per_second(
        naive.records_dataset(paths["naive"], n_cls, batch_size).repeat(passes)
    )
    k = min(audio_clips, len(clips.paths))
    audio = examples_per_second(
        naive.audio_dataset(
            clips.paths[:k], clips.labels[:k], n_cls, batch_size, window_seconds=WINDOW_SECONDS
        ).repeat(2)
    )
    return {
        "tfgenre_mel_224x224x3_examples_per_s": fast,
        "naive_floatlist_examples_per_s": floats,
        "decode_audio_every_epoch_examples_per_s": audio,
        "tfgenre_mel_native_examples_per_s": native,
        "speedup_vs_floatlist": fast / floats,
        "speedup_native_vs_floatlist": native / floats,
        "speedup_vs_audio": fast / audio,
        "batch_size": batch_size,
    }


# ----------------------------------------------------------------------------- models


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


def bench_backbone(clips: Clips, quick: bool, sizes: dict[str, Any]) -> dict[str, Any]:
    """``embeddings_throughput`` (:mod:`benchmarks.embeddings_throughput`), or why skipped."""
    import importlib.util

    from benchmarks.embeddings_throughput import bench

    if importlib.util.find_spec("musicnn") is None:
        return {"skipped": "the musicnn package (the weights) is not installed"}
    n = int(sizes.get("embedding_clips", 4 if quick else 8))
    result = bench(clips.paths[:n], repeats=int(sizes.get("repeats", 2)), rounds=2 if n > 1 else 1)
    return result["embeddings_throughput"]


def bench_recipe(clips: Clips, quick: bool, sizes: dict[str, Any]) -> dict[str, Any]:
    """``embeddings_recipe_cost``, or why it was skipped (no weights)."""
    import importlib.util

    if importlib.util.find_spec("musicnn") is None:
        return {"skipped": "the musicnn package (the weights) is not installed"}
    from benchmarks.embeddings_recipe import bench_recipe_cost

    n = int(sizes.get("recipe_clips", 2 if quick else 4))
    result = bench_recipe_cost(clips.paths[:n], repeats=int(sizes.get("repeats", 2)))
    return result["embeddings_recipe_cost"]


# ----------------------------------------------------------------------------- main


def run(
    quick: bool = False,
    out: str | None = RESULTS,
    workdir: str | None = None,
    *,
    sizes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measures every figure; writes the JSON to ``out`` (None: not written).

    Args:
        quick: 12 clips, 5 models, 3 training steps (under 10 minutes on 2 cores).
        out: JSON file to write.
        workdir: Folder for the records (default: a temporary one).
        sizes: Overrides for tests: ``num_genres``, ``clips_per_genre``,
            ``clip_seconds``, ``models``, ``required_models``, ``steps``, ``passes``,
            ``features_clips``, ``batch_size``, ``workers``, ``repeats``,
            ``train_batch_size``, ``mixed_on_cpu``, ``copies``, ``embedding_clips``,
            ``probe_clips``, ``recipe_clips``, ``finetune_batch_size``,
            ``finetune_steps``, ``serve_requests``, ``library_tracks``.
    """
    sizes = dict(sizes or {})
    from benchmarks import features_bench, finetune_bench
    from tfgenre.models.registry import known_models
    from tfgenre.records.executors import resolve_workers

    t0 = time.perf_counter()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tfgenre_bench_")
        workdir = tmp.name
    cache = os.path.join(tempfile.gettempdir(), "tfgenre_bench_audio")
    genres, per_genre = (6, 2) if quick else (10, 2)
    clip_seconds = float(sizes.get("clip_seconds", 30.0))
    if "clip_seconds" in sizes:
        cache = os.path.join(workdir, "audio_cache")
    clips = prepare_clips(
        cache,
        num_genres=sizes.get("num_genres", genres),
        clips_per_genre=sizes.get("clips_per_genre", per_genre),
        clip_seconds=clip_seconds,
    )
    workers = int(sizes.get("workers", resolve_workers(0)))
    results: dict[str, Any] = {
        "meta": {
            "quick": quick,
            "source": clips.source,
            "clips": len(clips.paths),
            "clip_seconds": clip_seconds,
            "window_seconds": WINDOW_SECONDS,
            "cores": resolve_workers(0),
            "load_average": list(os.getloadavg()),
            "python": platform.python_version(),
            "machine": platform.processor() or platform.machine(),
        }
    }
    print(f"== features ({'quick' if quick else 'full'})", flush=True)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # per core: both paths on one BLAS thread
        results["features_speedup"] = features_bench.run(
            quick=quick, clips=sizes.get("features_clips")
        )
    print("== writer", flush=True)
    w = bench_writer(
        clips,
        workdir,
        workers,
        repeats=int(sizes.get("repeats", 5)),
        copies=int(sizes.get("copies", 3 if quick else 2)),
    )
    paths = w.pop("_paths")
    results.update(w)
    print("== reader", flush=True)
    results["reader_speedup"] = bench_reader(
        clips,
        paths,
        batch_size=sizes.get("batch_size", 32),
        passes=sizes.get("passes", 20 if quick else 50),
        audio_clips=2 if quick else 4,
    )
    print("== train", flush=True)
    # The music backbones take 16-kHz windows: finetune_throughput measures them.
    from tfgenre.models.musicnn_transfer import MODEL_NAMES as MUSIC_BACKBONES

    everything = [m for m in known_models() if m not in MUSIC_BACKBONES]
    models = [m for m in QUICK_MODELS if m in known_models()] if quick else everything
    models = list(sizes.get("models", models))
    for must in sizes.get("required_models", ("mel_cnn", "mobilenet_v2")):
        if must in known_models() and must not in models:
            models.append(must)
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    train = bench_train(
        paths["records"],
        models,
        len(clips.label_names),
        batch_size=sizes.get("train_batch_size", 64 if gpu else 16),
        steps=sizes.get("steps", 3 if quick else 5),
        mixed_on_cpu=sizes.get("mixed_on_cpu", False),
    )
    if quick:
        train["skipped_in_quick_mode"] = [m for m in everything if m not in models]
    results["train_throughput"] = train
    reader_rate = results["reader_speedup"]["tfgenre_mel_224x224x3_examples_per_s"]
    native_rate = results["reader_speedup"]["tfgenre_mel_native_examples_per_s"]
    results["reader_vs_train"] = {
        name: {
            "reader_examples_per_s": reader_rate,
            "train_examples_per_s": train["examples_per_s"][name],
            "ratio": reader_rate / train["examples_per_s"][name],
            "ratio_model_side_resize": native_rate / train["examples_per_s"][name],
        }
        for name in ("mobilenet_v2", "mel_cnn")
        if name in train["examples_per_s"]
    }
    print("== predict", flush=True)
    results["predict_latency"] = bench_predict(clips, paths["records"])
    print("== serve", flush=True)
    from benchmarks import serve_bench

    results["serve_latency"] = serve_bench.bench_serve(
        serve_bench.write_run(
            paths["records"], clips.label_names, os.path.join(workdir, "serve_run")
        ),
        clips.paths[0],
        requests=int(sizes.get("serve_requests", 20)),
        fresh_runs=1 if quick or "serve_requests" in sizes else 2,
    )
    print("== library predict", flush=True)
    from benchmarks.library_predict import bench_library_predict

    results.update(
        bench_library_predict(
            clips.paths, clips.label_names, tracks=int(sizes.get("library_tracks", 24))
        )
    )
    print("== embeddings", flush=True)
    results["embeddings_throughput"] = bench_backbone(clips, quick, sizes)
    print("== probe", flush=True)
    results["probe_time"] = _probe(clips, workdir, workers, int(sizes.get("probe_clips", 100)))
    print("== embeddings recipe", flush=True)
    results["embeddings_recipe_cost"] = bench_recipe(clips, quick, sizes)
    print("== finetune", flush=True)
    results.update(
        finetune_bench.bench_finetune(
            batch_size=sizes.get("finetune_batch_size"),
            steps=int(sizes.get("finetune_steps", 3 if quick else 5)),
        )
    )
    results["meta"]["seconds"] = time.perf_counter() - t0
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(results, f, indent=2, sort_keys=False)
    if tmp is not None:
        tmp.cleanup()
    return results


def _probe(clips: Clips, workdir: str, workers: int, count: int) -> dict[str, Any]:
    """``probe_time`` (:mod:`benchmarks.probe_bench`), or why it was skipped."""
    import importlib.util

    if importlib.util.find_spec("musicnn") is None:
        return {"skipped": "the musicnn package (the pretrained weights) is not installed"}
    from benchmarks.probe_bench import bench_probe

    return bench_probe(clips, os.path.join(workdir, "probe"), workers, count=count)["probe_time"]


def format_table(r: dict[str, Any]) -> str:
    """The figures as a plain-text table: figure, tfgenre, baseline, ratio."""
    rows: list[tuple[str, str, str, str]] = []
    f = r["features_speedup"]
    rows.append(
        (
            "features: s/clip (57 feats)",
            f"{f['fast_s']:.3f}",
            f"{f['reference_s']:.3f} librosa",
            f"{f['speedup']:.1f}x",
        )
    )
    ws = r["writer_speedup"]
    naive = f"{ws['naive_clips_per_s']:.2f} naive"
    naive_all = f"{ws['naive_all_views_clips_per_s']:.2f} naive"
    rows.append(
        (
            "writer mel, 1 worker clips/s",
            f"{ws['mel_1_worker_clips_per_s']:.2f}",
            naive,
            f"{ws['speedup_mel_1_worker']:.1f}x",
        )
    )
    rows.append(
        (
            "writer 3 views, 1 worker",
            f"{ws['all_views_1_worker_clips_per_s']:.2f}",
            naive_all,
            f"{ws['speedup_all_views_1_worker']:.1f}x",
        )
    )
    sc = r["writer_scaling"]
    n = sc["workers"]
    if n > 1:
        rows.append(
            (
                f"writer 3 views, {n} workers",
                f"{sc[f'all_views_{n}_workers_clips_per_s']:.2f}",
                naive_all,
                f"{ws[f'speedup_all_views_{n}_workers']:.1f}x",
            )
        )
        rows.append(
            (
                f"writer scaling 1->{n} (3 views)",
                f"{sc[f'all_views_{n}_workers_clips_per_s']:.2f}",
                f"{sc['all_views_1_worker_clips_per_s']:.2f} 1 worker",
                f"{sc['scaling_all_views']:.2f}x",
            )
        )
        if sc.get("machine_scaling_pure_compute"):
            rows.append(
                (
                    f"machine scaling 1->{n}, pure compute",
                    "",
                    "",
                    f"{sc['machine_scaling_pure_compute']:.2f}x",
                )
            )
        rows.append(
            (
                f"writer scaling 1->{n} (mel)",
                f"{sc[f'mel_{n}_workers_clips_per_s']:.2f}",
                f"{sc['mel_1_worker_clips_per_s']:.2f} 1 worker",
                f"{sc['scaling_mel']:.2f}x",
            )
        )
    b = r["bytes_per_segment"]
    for view in ("mel", "raw", "features"):
        naive_key = "naive_floatlist_224x224x3" if view == "mel" else f"naive_floatlist_{view}"
        rows.append(
            (
                f"bytes/segment {view}",
                f"{b[view]:.0f}",
                f"{b[naive_key]:.0f} naive",
                f"{b[f'naive_over_{view}']:.1f}x smaller",
            )
        )
    rd = r["reader_speedup"]
    rows.append(
        (
            "reader 224x224x3 ex/s",
            f"{rd['tfgenre_mel_224x224x3_examples_per_s']:.0f}",
            f"{rd['naive_floatlist_examples_per_s']:.0f} FloatList",
            f"{rd['speedup_vs_floatlist']:.1f}x",
        )
    )
    rows.append(
        (
            "reader 224x224x3 ex/s",
            f"{rd['tfgenre_mel_224x224x3_examples_per_s']:.0f}",
            f"{rd['decode_audio_every_epoch_examples_per_s']:.1f} audio/epoch",
            f"{rd['speedup_vs_audio']:.1f}x",
        )
    )
    rows.append(
        (
            "reader mel, model-side resize",
            f"{rd['tfgenre_mel_native_examples_per_s']:.0f}",
            f"{rd['naive_floatlist_examples_per_s']:.0f} FloatList",
            f"{rd['speedup_native_vs_floatlist']:.1f}x",
        )
    )
    for name, v in r["reader_vs_train"].items():
        rows.append(
            (
                f"reader vs train {name}",
                f"{v['reader_examples_per_s']:.0f}",
                f"{v['train_examples_per_s']:.1f} train",
                f"{v['ratio']:.1f}x",
            )
        )
    t = r["train_throughput"]
    mixed = t.get("examples_per_s_mixed_precision", {})
    for name, rate in t["examples_per_s"].items():
        if name in mixed:
            rows.append(
                (
                    f"train {name} ({t['device']}) ex/s, mixed precision",
                    f"{mixed[name]:.1f}",
                    f"{rate:.1f} float32",
                    f"{mixed[name] / rate:.2f}x",
                )
            )
        else:
            rows.append((f"train {name} ({t['device']}) ex/s", f"{rate:.1f}", "", ""))
    p = r["predict_latency"]
    rows.append(
        (
            f"predict {p['clip_seconds']:.0f}-s clip ({p['model']}) s",
            f"{p['seconds']:.3f}",
            f"{p['clip_seconds']:.0f} s audio",
            f"{p['realtime_factor']:.0f}x realtime",
        )
    )
    e = r.get("embeddings_throughput", {})
    if "ratio" in e:
        rows.append(
            (
                f"embeddings {e['weights']}, {e['clip_seconds']:.0f}-s clips/s",
                f"{e['clips_per_second']:.2f}",
                f"{e['original_clips_per_second']:.2f} original graph",
                f"{e['ratio']:.2f}x",
            )
        )
        rows.append(("embeddings realtime factor", f"{e['realtime_factor']:.0f}x", "", ""))
    pt = r.get("probe_time") or {}
    if "total_seconds" in pt:
        rows.append(
            (
                f"probe {pt['clips']} clips ({pt['backbone']}) s",
                f"{pt['total_seconds']:.1f}",
                f"write {pt['write_seconds']:.1f} + probe {pt['baselines_seconds']:.1f}",
                f"{pt['clips'] / pt['total_seconds']:.2f} clips/s",
            )
        )
    rc = r.get("embeddings_recipe_cost") or {}
    if "ratio" in rc:
        rows.append(
            (
                f"embeddings recipe s per {rc['clip_seconds']:.0f}-s clip",
                f"{rc['recipe_seconds_per_clip']:.2f}",
                f"{rc['musicnn_msd_seconds_per_clip']:.2f} musicnn_msd alone",
                f"{rc['ratio']:.2f}x",
            )
        )
    sv = r.get("serve_latency")
    if sv:
        for clients in (1, 4):
            level = sv[f"{clients}_clients"]
            rows.append(
                (
                    f"serve p50 / p95 s, {clients} client(s), {sv['clip_seconds']:.0f}-s clip",
                    f"{level['p50_seconds']:.2f} / {level['p95_seconds']:.2f}",
                    f"{sv['fresh_predict_seconds']:.2f} fresh predict",
                    f"{sv['fresh_predict_seconds'] / level['p50_seconds']:.1f}x, "
                    f"{level['requests_per_s']:.2f} req/s",
                )
            )
    lp = r.get("library_predict")
    if lp:
        rates = lp["tracks_per_second"]
        rows.append(
            (
                f"predict library {lp['tracks']} tracks/s, 1 | 2 workers",
                f"{rates['workers_1']:.2f} | {rates['workers_2']:.2f}",
                f"{rates['baseline']:.2f} predict_files loop",
                f"{lp['ratio_workers_1']:.2f}x | {lp['ratio_workers_2']:.2f}x",
            )
        )
    ft = r.get("finetune_throughput")
    if ft:
        rates = ft["examples_per_second"]
        rows.append(
            (
                f"finetune {ft['model']} ({ft['device']}) ex/s, unfrozen",
                f"{rates['unfrozen']:.1f}",
                f"{rates['frozen']:.1f} frozen",
                f"{ft['unfrozen_over_frozen']:.2f}x",
            )
        )
    head = ("figure", "tfgenre", "baseline", "ratio")
    widths = [max(len(row[i]) for row in [*rows, head]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    m = r["meta"]
    lines.append(
        f"({m['clips']} {m['source']} {m['clip_seconds']:g}-s clips, {m['cores']} cores, "
        f"load {m['load_average'][0]:.1f}, {m.get('seconds', 0):.0f} s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips, models and steps")
    parser.add_argument("--out", default=RESULTS, help="JSON output file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = run(quick=args.quick, out=args.out)
    print(format_table(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
