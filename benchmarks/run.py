"""tfgenre's speed figures, each as a ratio against a baseline measured in the same run.

Usage: ``python -m benchmarks.run [--quick] [--only FIGURE,...] [--out FILE.json]``
(default ``--out``: ``benchmarks/results/latest.json``; ``--only``: the keys below).

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

This module is the driver: the clips are in :mod:`benchmarks.clips`, the writer's
figures in :mod:`benchmarks.writer_bench`, the reader's in :mod:`benchmarks.reader_bench`,
training and prediction in :mod:`benchmarks.train_bench`, the table in
:mod:`benchmarks.table`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.clips import WINDOW_SECONDS, Clips, prepare_clips
from benchmarks.reader_bench import bench_reader
from benchmarks.table import format_table
from benchmarks.train_bench import bench_predict, bench_train
from benchmarks.writer_bench import bench_writer

logger = logging.getLogger(__name__)

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
#: The figures each figure is measured from: the writer's records feed the reader, the
#: training, predict and serve figures; ``reader_vs_train`` divides two others. The
#: writer's run gives its three figures together (``WRITER_FIGURES``).
WRITER_FIGURES = ("writer_speedup", "writer_scaling", "bytes_per_segment")
NEEDS: dict[str, tuple[str, ...]] = {
    "reader_speedup": ("writer_speedup",),
    "reader_vs_train": ("reader_speedup", "train_throughput"),
    "train_throughput": ("writer_speedup",),
    "predict_latency": ("writer_speedup",),
    "serve_latency": ("writer_speedup",),
}
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")


def run(
    quick: bool = False,
    out: str | None = RESULTS,
    workdir: str | None = None,
    *,
    only: Sequence[str] | None = None,
    sizes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measures the figures; writes the JSON to ``out`` (None: not written).

    Args:
        quick: 12 clips, 5 models, 3 training steps (under 10 minutes on 2 cores).
        out: JSON file to write.
        workdir: Folder for the records (default: a temporary one).
        only: The figures to measure (keys of :data:`FIGURES`), with those they are
            measured from (:func:`figures_to_measure`); None: all of them.
        sizes: Overrides for tests: ``num_genres``, ``clips_per_genre``,
            ``clip_seconds``, ``models``, ``required_models``, ``steps``, ``passes``,
            ``features_clips``, ``batch_size``, ``workers``, ``repeats``,
            ``train_batch_size``, ``mixed_on_cpu``, ``copies``, ``embedding_clips``,
            ``probe_clips``, ``recipe_clips``, ``finetune_batch_size``,
            ``finetune_steps``, ``serve_requests``, ``library_tracks``.
    """
    from tfgenre.records.executors import resolve_workers

    wanted = figures_to_measure(only)
    sizes = dict(sizes or {})
    t0 = time.perf_counter()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tfgenre_bench_")
        workdir = tmp.name
    clips = _bench_clips(workdir, quick, sizes)
    workers = int(sizes.get("workers", resolve_workers(0)))
    clip_seconds = float(sizes.get("clip_seconds", 30.0))
    meta = _meta(quick, clips, clip_seconds, resolve_workers(0))
    meta["figures"] = [f for f in FIGURES if f in wanted]
    results: dict[str, Any] = {"meta": meta}
    records = _data_figures(results, clips, workdir, workers, quick, sizes, wanted)
    _model_figures(results, clips, records, quick, sizes, wanted)
    _serving_figures(results, clips, records, workdir, quick, sizes, wanted)
    _backbone_figures(results, clips, workdir, workers, quick, sizes, wanted)
    results["meta"]["seconds"] = time.perf_counter() - t0
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(results, f, indent=2, sort_keys=False)
    if tmp is not None:
        tmp.cleanup()
    return results


def figures_to_measure(only: Sequence[str] | None) -> frozenset[str]:
    """``only`` with the figures they are measured from (:data:`NEEDS`); None: all.

    Raises:
        ValueError: A name that is not one of :data:`FIGURES`.
    """
    if only is None:
        return frozenset(FIGURES)
    unknown = [name for name in only if name not in FIGURES]
    if unknown:
        raise ValueError(
            f"unknown figure(s) {', '.join(map(repr, unknown))}: the figures are "
            f"{', '.join(FIGURES)}. Received: only={list(only)!r}"
        )
    wanted: set[str] = set()
    todo = list(only)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        group = WRITER_FIGURES if name in WRITER_FIGURES else (name,)
        wanted.update(group)
        todo.extend(need for g in group for need in NEEDS.get(g, ()))
    return frozenset(wanted)


def _bench_clips(workdir: str, quick: bool, sizes: dict[str, Any]) -> Clips:
    """The clips, cached across runs in the temp folder unless ``clip_seconds`` is set."""
    cache = os.path.join(tempfile.gettempdir(), "tfgenre_bench_audio")
    genres, per_genre = (6, 2) if quick else (10, 2)
    clip_seconds = float(sizes.get("clip_seconds", 30.0))
    if "clip_seconds" in sizes:
        cache = os.path.join(workdir, "audio_cache")
    return prepare_clips(
        cache,
        num_genres=sizes.get("num_genres", genres),
        clips_per_genre=sizes.get("clips_per_genre", per_genre),
        clip_seconds=clip_seconds,
    )


def _meta(quick: bool, clips: Clips, clip_seconds: float, cores: int) -> dict[str, Any]:
    """The run's ``meta``: what was measured, on what machine, under what load."""
    return {
        "quick": quick,
        "source": clips.source,
        "clips": len(clips.paths),
        "clip_seconds": clip_seconds,
        "window_seconds": WINDOW_SECONDS,
        "cores": cores,
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }


def _data_figures(
    results: dict[str, Any],
    clips: Clips,
    workdir: str,
    workers: int,
    quick: bool,
    sizes: dict[str, Any],
    wanted: frozenset[str],
) -> str | None:
    """Features, writer and reader figures into ``results``; returns the records' path
    (None when the writer did not run)."""
    from threadpoolctl import threadpool_limits

    from benchmarks import features_bench

    if "features_speedup" in wanted:
        print(f"== features ({'quick' if quick else 'full'})", flush=True)
        with threadpool_limits(1):  # per core: both paths on one BLAS thread
            results["features_speedup"] = features_bench.run(
                quick=quick, clips=sizes.get("features_clips")
            )
    if "writer_speedup" not in wanted:
        return None
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
    if "reader_speedup" in wanted:
        print("== reader", flush=True)
        results["reader_speedup"] = bench_reader(
            clips,
            paths,
            batch_size=sizes.get("batch_size", 32),
            passes=sizes.get("passes", 20 if quick else 50),
            audio_clips=2 if quick else 4,
        )
    return paths["records"]


def _bench_models(quick: bool, sizes: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The models to train (quick: :data:`QUICK_MODELS`), and every model they could be.

    The music backbones take 16-kHz windows: ``finetune_throughput`` measures them.
    """
    from tfgenre.models.musicnn_transfer import MODEL_NAMES as MUSIC_BACKBONES
    from tfgenre.models.registry import known_models

    everything = [m for m in known_models() if m not in MUSIC_BACKBONES]
    models = [m for m in QUICK_MODELS if m in known_models()] if quick else everything
    models = list(sizes.get("models", models))
    for must in sizes.get("required_models", ("mel_cnn", "mobilenet_v2")):
        if must in known_models() and must not in models:
            models.append(must)
    return models, everything


def _model_figures(
    results: dict[str, Any],
    clips: Clips,
    records: str | None,
    quick: bool,
    sizes: dict[str, Any],
    wanted: frozenset[str],
) -> None:
    """``train_throughput``, ``reader_vs_train`` and ``predict_latency`` into ``results``."""
    if records is not None and "train_throughput" in wanted:
        _train_figures(results, clips, records, quick, sizes, wanted)
    if records is not None and "predict_latency" in wanted:
        print("== predict", flush=True)
        results["predict_latency"] = bench_predict(clips, records)


def _train_figures(
    results: dict[str, Any],
    clips: Clips,
    records: str,
    quick: bool,
    sizes: dict[str, Any],
    wanted: frozenset[str],
) -> None:
    """``train_throughput`` and (when wanted) ``reader_vs_train`` into ``results``."""
    import tensorflow as tf

    print("== train", flush=True)
    models, everything = _bench_models(quick, sizes)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    train = bench_train(
        records,
        models,
        len(clips.label_names),
        batch_size=sizes.get("train_batch_size", 64 if gpu else 16),
        steps=sizes.get("steps", 3 if quick else 5),
        mixed_on_cpu=sizes.get("mixed_on_cpu", False),
    )
    if quick:
        train["skipped_in_quick_mode"] = [m for m in everything if m not in models]
    results["train_throughput"] = train
    if "reader_vs_train" not in wanted:
        return
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


def _serving_figures(
    results: dict[str, Any],
    clips: Clips,
    records: str | None,
    workdir: str,
    quick: bool,
    sizes: dict[str, Any],
    wanted: frozenset[str],
) -> None:
    """``serve_latency`` and ``library_predict`` into ``results``."""
    from benchmarks import serve_bench
    from benchmarks.library_predict import bench_library_predict

    if records is not None and "serve_latency" in wanted:
        print("== serve", flush=True)
        results["serve_latency"] = serve_bench.bench_serve(
            serve_bench.write_run(records, clips.label_names, os.path.join(workdir, "serve_run")),
            clips.paths[0],
            requests=int(sizes.get("serve_requests", 20)),
            fresh_runs=1 if quick or "serve_requests" in sizes else 2,
        )
    if "library_predict" not in wanted:
        return
    print("== library predict", flush=True)
    results.update(
        bench_library_predict(
            clips.paths, clips.label_names, tracks=int(sizes.get("library_tracks", 24))
        )
    )


def _backbone_figures(
    results: dict[str, Any],
    clips: Clips,
    workdir: str,
    workers: int,
    quick: bool,
    sizes: dict[str, Any],
    wanted: frozenset[str],
) -> None:
    """Embeddings, probe, recipe and fine-tuning figures into ``results``."""
    from benchmarks import finetune_bench

    if "embeddings_throughput" in wanted:
        print("== embeddings", flush=True)
        results["embeddings_throughput"] = bench_backbone(clips, quick, sizes)
    if "probe_time" in wanted:
        print("== probe", flush=True)
        count = int(sizes.get("probe_clips", 100))
        results["probe_time"] = _probe(clips, workdir, workers, count)
    if "embeddings_recipe_cost" in wanted:
        print("== embeddings recipe", flush=True)
        results["embeddings_recipe_cost"] = bench_recipe(clips, quick, sizes)
    if "finetune_throughput" not in wanted:
        return
    print("== finetune", flush=True)
    results.update(
        finetune_bench.bench_finetune(
            batch_size=sizes.get("finetune_batch_size"),
            steps=int(sizes.get("finetune_steps", 3 if quick else 5)),
        )
    )


def bench_backbone(clips: Clips, quick: bool, sizes: dict[str, Any]) -> dict[str, Any]:
    """``embeddings_throughput`` (:mod:`benchmarks.embeddings_throughput`), or why skipped."""
    from benchmarks.embeddings_throughput import bench

    if importlib.util.find_spec("musicnn") is None:
        return {"skipped": "the musicnn package (the weights) is not installed"}
    n = int(sizes.get("embedding_clips", 4 if quick else 8))
    result = bench(clips.paths[:n], repeats=int(sizes.get("repeats", 2)), rounds=2 if n > 1 else 1)
    return result["embeddings_throughput"]


def bench_recipe(clips: Clips, quick: bool, sizes: dict[str, Any]) -> dict[str, Any]:
    """``embeddings_recipe_cost``, or why it was skipped (no weights)."""
    if importlib.util.find_spec("musicnn") is None:
        return {"skipped": "the musicnn package (the weights) is not installed"}
    from benchmarks.embeddings_recipe import bench_recipe_cost

    n = int(sizes.get("recipe_clips", 2 if quick else 4))
    result = bench_recipe_cost(clips.paths[:n], repeats=int(sizes.get("repeats", 2)))
    return result["embeddings_recipe_cost"]


def _probe(clips: Clips, workdir: str, workers: int, count: int) -> dict[str, Any]:
    """``probe_time`` (:mod:`benchmarks.probe_bench`), or why it was skipped."""
    if importlib.util.find_spec("musicnn") is None:
        return {"skipped": "the musicnn package (the pretrained weights) is not installed"}
    from benchmarks.probe_bench import bench_probe

    return bench_probe(clips, os.path.join(workdir, "probe"), workers, count=count)["probe_time"]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips, models and steps")
    parser.add_argument("--out", default=RESULTS, help="JSON output file")
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="comma-separated figures to measure (with those they are measured from): "
        + ", ".join(FIGURES),
    )
    args = parser.parse_args(argv)
    try:
        figures_to_measure(args.only)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.WARNING)
    results = run(quick=args.quick, out=args.out, only=args.only)
    print(format_table(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
