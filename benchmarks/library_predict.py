"""``library_predict``: tracks/s of ``predict LIBRARY/ --output X`` at 1 and 2 workers.

Baseline, in the same run and process, on the same tracks: today's one-process loop
(:meth:`tfgenre.inference.predictor.Predictor.predict_files`, decode then classify each file in
turn). The library path is :func:`tfgenre.inference.library.parallel.predict_library` with each
track's rows appended to a resumable ``.jsonl`` output (:class:`LibraryOutput`), as
the command does; the model is loaded once beforehand for all three, so TensorFlow's
start-up is in none of them, and the 2-worker figure includes starting its pool.
``decode_frame_view_seconds`` and ``model_seconds`` split one process's time: the
share workers can take off the main process is the first.

Model: an untrained ``mel_cnn`` on the default mel view (3-s windows, 22.05 kHz); the
weights do not change the cost. Tracks: ``--tracks`` copies of the 30-s clips
(synthetic, or the shared GTZAN sample when ``TFGENRE_REAL_DATA`` is set).

Usage: ``python -m benchmarks.library_predict [--tracks 24] [--rounds 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

WINDOW_SECONDS = 3.0
RATE = 22050


def _run_folder(folder: str, labels: Sequence[str]) -> str:
    """An untrained mel_cnn run folder (run.json + model.keras) for the default mel view."""
    from tfgenre.models.registry import InputSpec, get_model
    from tfgenre.records.info import AudioSpec
    from tfgenre.runs.run_info import RunInfo
    from tfgenre.views.mel import MelView

    window = int(WINDOW_SECONDS * RATE)
    spec = MelView().spec(window, RATE)
    input_spec = InputSpec("mel", tuple(spec.shape), sample_rate=RATE)
    model = get_model("mel_cnn", input_spec, len(labels))
    run = RunInfo(
        labels=tuple(labels),
        model="mel_cnn",
        view_spec=spec,
        input_shape=tuple(spec.shape),
        audio=AudioSpec(RATE, window, window, WINDOW_SECONDS, WINDOW_SECONDS),
        source="records",
        data_path="(benchmark)",
    )
    os.makedirs(folder, exist_ok=True)
    run.write(folder)
    model.save(os.path.join(folder, "model.keras"))
    return folder


def _library(paths: Sequence[str], folder: str, tracks: int) -> list[str]:
    """``tracks`` files: copies of ``paths`` in two nested folders."""
    out = []
    for i in range(tracks):
        src = paths[i % len(paths)]
        dst = os.path.join(folder, f"part{i % 2}", f"{i:04d}_{os.path.basename(src)}")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        out.append(dst)
    return sorted(out)


def _time_baseline(predictor: Any, files: Sequence[str]) -> float:
    """Seconds of the one-process loop, :meth:`Predictor.predict_files`, over ``files``."""
    start = time.perf_counter()
    results, failed = predictor.predict_files(files)
    assert len(results) == len(files) and not failed
    return time.perf_counter() - start


def _time_library(
    predictor: Any, settings: Any, music: str, out_path: str, workers: int, expected: int
) -> tuple[float, float]:
    """Seconds of library mode over ``music`` into a ``.jsonl`` output.

    Returns:
        The seconds, and the tracks/s after the first track (pool start and first
        batch excluded).
    """
    from tfgenre.inference.library import listing
    from tfgenre.inference.library.parallel import predict_library
    from tfgenre.inference.library.sink import LibraryOutput

    out = LibraryOutput(out_path, settings)
    start = time.perf_counter()
    out.open()
    items = ((e.path, listing.stamp(e.path)) for e in listing.iter_library([music]))
    count = 0
    first = start
    for (_, stamp), r in predict_library(predictor, items, workers=workers, batch_size=32):
        out.write(r, stamp)
        count += 1
        if count == 1:
            first = time.perf_counter()
    out.close([], {})
    assert count == expected
    end = time.perf_counter()
    return end - start, (count - 1) / max(end - first, 1e-9)


def _split_time(predictor: Any, files: Sequence[str]) -> tuple[float, float]:
    """Seconds of decoding + framing + view alone, and of the model alone."""
    prep = predictor.preparer()
    start = time.perf_counter()
    inputs = [prep(p).inputs for p in files]
    middle = time.perf_counter()
    for x in inputs:
        predictor.classify(x)
    return middle - start, time.perf_counter() - middle


def bench_library_predict(
    paths: Sequence[str], labels: Sequence[str], *, tracks: int = 24, rounds: int = 1
) -> dict[str, Any]:
    """``{"library_predict": {...}}``: tracks/s of the baseline loop, 1 and 2 workers.

    Args:
        paths: Audio clips (copied to make the library).
        labels: Label names for the model.
        tracks: Tracks in the library.
        rounds: Repeats of each measurement (the best of them is kept).
    """
    from tfgenre.inference.library.sink import Settings
    from tfgenre.inference.predictor import Predictor

    with tempfile.TemporaryDirectory(prefix="tfgenre_library_bench_") as tmp:
        run_dir = _run_folder(os.path.join(tmp, "run"), labels)
        music = os.path.join(tmp, "music")
        files = _library(paths, music, tracks)
        predictor = Predictor.load(run_dir)
        predictor.predict_file(files[0])  # tracing, imports
        settings = Settings("jsonl", run_dir, "bench", "genre", tuple(labels), 3, False, None)
        decode_s, model_s = _split_time(predictor, files)
        after_first: dict[int, float] = {}
        seconds: dict[str, float] = {}
        for n in range(rounds):
            for key, workers in (("baseline", 0), ("workers_1", 1), ("workers_2", 2)):
                if workers:
                    out_path = os.path.join(tmp, f"out_{workers}_{n}.jsonl")
                    t, after_first[workers] = _time_library(
                        predictor, settings, music, out_path, workers, len(files)
                    )
                else:
                    t = _time_baseline(predictor, files)
                seconds[key] = min(seconds.get(key, float("inf")), t)
                print(f"  library_predict {key:10s} {len(files) / t:6.2f} tracks/s", flush=True)
    rate = {k: len(files) / v for k, v in seconds.items()}
    return {
        "library_predict": {
            "model": "mel_cnn (untrained, default mel view, 3-s windows)",
            "tracks": len(files),
            "cores": len(os.sched_getaffinity(0)),
            "load_average": list(os.getloadavg()),
            "tracks_per_second": rate,
            "baseline": "Predictor.predict_files, one process",
            "ratio_workers_1": rate["workers_1"] / rate["baseline"],
            "ratio_workers_2": rate["workers_2"] / rate["baseline"],
            "workers_2_over_1": rate["workers_2"] / rate["workers_1"],
            # tracks/s after the first track (pool start and first batch excluded): what
            # a library much larger than this one sees
            "tracks_per_second_after_first": {
                f"workers_{w}": r for w, r in sorted(after_first.items())
            },
            # where one process spends its time: what decoding workers can take off it
            "decode_frame_view_seconds": decode_s,
            "model_seconds": model_s,
        }
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: prints the figure as JSON."""
    from benchmarks.clips import prepare_clips

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracks", type=int, default=24)
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args(argv)
    cache = os.path.join(tempfile.gettempdir(), "tfgenre_bench_audio")
    clips = prepare_clips(cache, num_genres=6, clips_per_genre=2)
    result = bench_library_predict(
        clips.paths, clips.label_names, tracks=args.tracks, rounds=args.rounds
    )
    result["library_predict"]["source"] = clips.source
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
