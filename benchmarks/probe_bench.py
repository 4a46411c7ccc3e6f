"""``probe_time``: pretrained embeddings + a linear probe for N clips, end to end.

The time a user waits from audio to a genre probe on pretrained embeddings: write the
``embeddings`` view (``musicnn_msd``, 3-s windows, one patch each) of ``clips`` clips
with the records writer (decoding, resampling to 16 kHz, the backbone, shards and
manifest; the backbone is built inside the timing, once per process), then run
``baselines --view embeddings`` with logistic regression (segment rows, scored per
track). The clips are the benchmark's clips listed several times (:func:`replicate`),
the copies of a clip grouped into one split; with so few distinct clips, read the
times, not the accuracy.

Usage: ``python -m benchmarks.probe_bench [--clips 100] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from benchmarks.clips import SAMPLE_RATE, WINDOW_SECONDS, Clips, prepare_clips, replicate

BACKBONE = "musicnn_msd"
PROBE_MODEL = "logistic_regression"


def probe_clips(clips: Clips, count: int, folder: str) -> Clips:
    """``count`` clips: ``clips`` replicated as links, genres interleaved, as a CSV source.

    The copies of a clip share a group, so the split keeps them on one side (unless a
    genre has a single clip: then its copies are split like distinct tracks).
    """
    copies = max(1, math.ceil(count / len(clips.paths)))
    listed = replicate(clips, copies, os.path.join(folder, "copies"))
    if copies == 1:  # replicate lists the originals as they are: list them as a CSV too
        listed = Clips(clips.paths, clips.labels, clips.label_names, clips.source, "", "", {})
    per_clip = len(listed.paths) // len(clips.paths)
    order = [c * per_clip + k for k in range(per_clip) for c in range(len(clips.paths))]
    chosen = order[:count]
    paths = tuple(listed.paths[i] for i in chosen)
    labels = tuple(listed.labels[i] for i in chosen)
    # the copies of a clip share its name as group, when each genre has 2 clips to split
    grouped = min(Counter(clips.labels).values()) >= 2
    groups = [os.path.basename(clips.paths[i // per_clip]) if grouped else "" for i in chosen]
    os.makedirs(folder, exist_ok=True)
    listing = os.path.join(folder, "probe_clips.csv")
    with open(listing, "w") as f:
        f.write("path,label,group\n")
        f.writelines(
            f"{p},{clips.label_names[i]},{g}\n"
            for p, i, g in zip(paths, labels, groups, strict=True)
        )
    return Clips(paths, labels, clips.label_names, clips.source, "csv", listing, {})


def _writer_config(clips: Clips, output: str, workers: int) -> Any:
    from tfgenre.core import config
    from tfgenre.records.writer_config import WriterConfig
    from tfgenre.views.embeddings import EARLIER_DEFAULT

    return config.from_dict(
        WriterConfig,
        {
            "source": clips.writer_source,
            "input": clips.writer_input,
            "output": output,
            "views": ["embeddings"],
            # the single-backbone embedding this figure has always timed (not the recipe)
            "embeddings": {**EARLIER_DEFAULT, "backbone": BACKBONE},
            "labels": list(clips.label_names),
            "audio": {"sample_rate": SAMPLE_RATE, "window_seconds": WINDOW_SECONDS},
            "splits": {"train": 0.5, "test": 0.5},  # a clip of each genre on each side
            "use_source_splits": False,
            "shards": 4,
            "workers": workers,
        },
    )


def bench_probe(
    clips: Clips, folder: str, workers: int, *, count: int = 100
) -> dict[str, dict[str, Any]]:
    """Times writing the embeddings of ``count`` clips and the logistic-regression probe.

    Args:
        clips: The benchmark's clips (replicated to ``count``).
        folder: Work folder (links, records).
        workers: Writer processes.
        count: Clips to write.

    Returns:
        ``{"probe_time": {"clips", "write_seconds", "baselines_seconds",
        "total_seconds", ...}}``.
    """
    from tfgenre.classical.baselines_config import BaselinesConfig
    from tfgenre.classical.sweep import load_rows, run_baselines
    from tfgenre.records.writer import write_records

    chosen = probe_clips(clips, count, folder)
    records = os.path.join(folder, "records")
    start = time.perf_counter()
    info = write_records(
        _writer_config(chosen, records, workers), overwrite=True, progress=False
    ).info
    written = time.perf_counter()
    cfg = BaselinesConfig(
        records=records, view="embeddings", models=(PROBE_MODEL,), train_split="train"
    )
    summary, _ = run_baselines(cfg, load_rows(cfg))
    done = time.perf_counter()
    row = summary[0]
    return {
        "probe_time": {
            "clips": len(chosen.paths),
            "windows": sum(s.num_examples for s in info.splits.values()),
            "backbone": BACKBONE,
            "model": PROBE_MODEL,
            "workers": workers,
            "write_seconds": written - start,
            "baselines_seconds": done - written,
            "total_seconds": done - start,
            "track_accuracy": row["accuracy_mean"],
            "segment_accuracy": row.get("segment_accuracy_mean"),
            "source": clips.source,
            "note": f"{len(clips.paths)} distinct clips listed to {len(chosen.paths)} (the "
            "copies of a clip in one split; few distinct clips: the accuracy is a sanity "
            "check); write: records writer, embeddings view only, 3-s windows, backbone "
            "built inside the timing",
        }
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: prints the ``probe_time`` JSON."""
    from tfgenre.records.executors import resolve_workers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100, help="clips to write (default 100)")
    parser.add_argument("--workers", type=int, default=0, help="writer processes (0: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tfgenre_probe_") as work:
        cache = os.path.join(tempfile.gettempdir(), "tfgenre_bench_audio")
        clips = prepare_clips(cache, num_genres=10, clips_per_genre=2)
        result = bench_probe(clips, work, resolve_workers(args.workers), count=args.clips)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
