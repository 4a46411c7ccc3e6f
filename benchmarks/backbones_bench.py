"""Embeddings throughput of a backbone: tfgenre's Keras 3 port against the original graph.

Usage: ``python -m benchmarks.backbones_bench [--clips N] [--repeats R] [--rounds K]``

Both sides start from the same 16-kHz mono waveforms (decoding and resampling are done
once, before any timing, and excluded for both) and compute every output of every
3-s patch (taggram, penultimate, mean and max pools), all patches of a clip in one
batch:

- tfgenre: :class:`tfgenre.backbones.runner.BackboneRunner` (log-mel front end in
  Keras ops, then the port), in this process;
- the original: musicnn's own front end (librosa's mel spectrogram and ``log10(10000
  mel + 1)`` cut into patches as ``musicnn.extractor.batch_data`` does) and the
  published TF1 graph (``tests/musicnn_graph.py``: the ``.meta`` pruned and frozen) in a
  ``tf.compat.v1`` session, in a subprocess (the graph needs its own session and the
  test helper, never the ``musicnn`` package itself).

The sides alternate ``rounds`` times; each round runs ``repeats`` passes over the clips
after one warm-up pass, and each side keeps its fastest pass. The realtime factor is
the seconds of audio tfgenre turns into embeddings per wall-clock second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RATE = 16000
ROOT = Path(__file__).resolve().parents[1]


def decode_clips(paths: Sequence[str]) -> list[np.ndarray]:
    """The clips as float32 mono waveforms at 16 kHz (tfgenre's decoder, untimed)."""
    from tfgenre.core import audio

    return [audio.decode(p, RATE) for p in paths]


def _best_pass(fn: Any, waves: Sequence[np.ndarray], repeats: int) -> tuple[float, Any]:
    """Seconds of the fastest of ``repeats`` passes of ``fn`` over ``waves`` (after a warm-up)."""
    first = [fn(y) for y in waves]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for y in waves:
            fn(y)
        best = min(best, time.perf_counter() - start)
    return best, first


def original_worker(waves_npz: str, out_json: str, weights: str, repeats: int) -> None:
    """The original side, run in its own process: writes seconds and the first taggram."""
    sys.path.insert(0, str(ROOT / "tests"))
    from musicnn_graph import OriginalGraph, librosa_log_mel, patches_of

    from tfgenre.backbones.weights import find_weights

    with np.load(waves_npz) as data:
        waves = [data[k] for k in sorted(data.files, key=int)]
    ws = find_weights(weights)
    graph = OriginalGraph(ws.folder, ws.architecture)

    def embed(y: np.ndarray) -> dict[str, np.ndarray]:
        return graph(patches_of(librosa_log_mel(y)))

    seconds, outputs = _best_pass(embed, waves, repeats)
    graph.close()
    result = {"seconds": seconds, "taggram": outputs[0]["taggram"].tolist()}
    Path(out_json).write_text(json.dumps(result))


def time_original(
    waves: Sequence[np.ndarray], weights: str, repeats: int
) -> tuple[float, np.ndarray]:
    """(seconds of the fastest pass, taggram of the first clip) of the original graph."""
    with tempfile.TemporaryDirectory(prefix="tfgenre_bench_orig_") as tmp:
        npz, out = os.path.join(tmp, "waves.npz"), os.path.join(tmp, "out.json")
        np.savez(npz, **{str(i): y for i, y in enumerate(waves)})
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        cmd = [sys.executable, "-m", "benchmarks.backbones_bench", "--original-worker", npz, out]
        cmd += ["--weights", weights, "--repeats", str(repeats)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(ROOT))
        if proc.returncode != 0:
            raise RuntimeError(f"the original graph's run failed:\n{proc.stderr[-3000:]}")
        result = json.loads(Path(out).read_text())
    return float(result["seconds"]), np.asarray(result["taggram"], np.float32)


def bench_embeddings(
    clips: Sequence[str], *, weights: str = "musicnn_msd", repeats: int = 2, rounds: int = 2
) -> dict[str, Any]:
    """Clips per second of tfgenre's port and of the original graph, on the same clips.

    The two sides alternate ``rounds`` times (original, tfgenre, original, ...) and
    each keeps its fastest pass, so that both meet the same swings of a shared machine.

    Args:
        clips: Audio files (30-s clips for the reported figure).
        weights: The weight set.
        repeats: Timed passes per side and round.
        rounds: Times each side runs.

    Returns:
        ``{"embeddings_throughput": {"clips_per_second", "original_clips_per_second",
        "ratio", "realtime_factor", ...}}``.
    """
    from tfgenre.backbones.runner import BackboneRunner

    waves = decode_clips(clips)
    audio_seconds = sum(len(y) for y in waves) / RATE
    runner = BackboneRunner(weights)
    original_s = tfgenre_s = float("inf")
    for _ in range(rounds):
        seconds, original_tags = time_original(waves, weights, repeats)
        original_s = min(original_s, seconds)
        seconds, outputs = _best_pass(runner, waves, repeats)
        tfgenre_s = min(tfgenre_s, seconds)
    tags = outputs[0]["taggram"]
    rate, original_rate = len(waves) / tfgenre_s, len(waves) / original_s
    return {
        "embeddings_throughput": {
            "weights": weights,
            "clips": len(waves),
            "clip_seconds": audio_seconds / len(waves),
            "clips_per_second": rate,
            "original_clips_per_second": original_rate,
            "ratio": rate / original_rate,
            "realtime_factor": audio_seconds / tfgenre_s,
            "original_realtime_factor": audio_seconds / original_s,
            "max_abs_diff_taggram": float(np.max(np.abs(tags - original_tags))),
            "timed": "front end + model, all outputs, all patches of a clip in one batch; "
            "decoding and resampling to 16 kHz excluded for both",
        }
    }


def bench_clip_paths(count: int) -> tuple[str, ...]:
    """``count`` clips over up to 10 genres: GTZAN's when ``TFGENRE_REAL_DATA`` is set."""
    from benchmarks.clips import prepare_clips

    cache = os.path.join(tempfile.gettempdir(), "tfgenre_bench_audio")
    genres = max(1, min(10, count))
    clips = prepare_clips(cache, num_genres=genres, clips_per_genre=-(-count // genres))
    return clips.paths[:count]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (also the original side's worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="30-s clips to time")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per side and round")
    parser.add_argument("--rounds", type=int, default=2, help="times each side runs, alternating")
    parser.add_argument("--weights", default="musicnn_msd")
    parser.add_argument("--original-worker", nargs=2, metavar=("WAVES_NPZ", "OUT_JSON"))
    args = parser.parse_args(argv)
    if args.original_worker:
        original_worker(*args.original_worker, args.weights, args.repeats)
        return 0
    result = bench_embeddings(
        bench_clip_paths(args.clips), weights=args.weights, repeats=args.repeats, rounds=args.rounds
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
