"""The embeddings recipe against the earlier single-backbone default: accuracy and cost.

Two figures:

* ``python -m benchmarks.embeddings_recipe`` (needs the weights and the shared data,
  ``TFGENRE_REAL_DATA=../shared/data``): track accuracy of a standardised logistic
  regression (C = 1, as ``baselines``) on the 20 shared GTZAN clips (two per genre),
  the earlier default (``musicnn_msd`` ``max_pool``, mean over each 3-s window's patch,
  plus the 50 tags; a track decided by the mean probability of its 10 windows) against
  the recipe (the view's defaults on the whole 30-s track) and column subsets of the
  recipe. Protocols: 1-shot both ways (train on every genre's ``00000`` clip, test on
  its ``00001`` clip, then the other way round) and leave-one-clip-out (19 -> 1, 20
  times); Wilson 95 % intervals over the 20 decisions of each protocol. Twenty
  decisions are worth about +-20 points: they cannot separate close recipes.
* ``embeddings_recipe_cost`` (in ``make bench``): the embeddings view's time per clip,
  decoded audio to stored row(s) as the writer computes them (resampling to 16 kHz, the
  front end, the backbones, pooling), of the recipe on whole tracks against
  ``musicnn_msd`` alone (the earlier default, 3-s windows), on the same clips in one
  run; the ratio is recipe seconds over single-backbone seconds. ``ratio_same_window``
  compares with ``musicnn_msd`` alone on whole tracks too (the second network's cost
  without the front end's per-window overhead). Building the backbones (once per
  writer process) is timed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.few_shot_probe import _clips, track_accuracy, wilson

RATE = 22050
WINDOW_SECONDS = 3.0


def _views() -> dict[str, Any]:
    from tfgenre.views.embeddings import EARLIER_DEFAULT, EmbeddingsView

    return {"earlier": EmbeddingsView(**EARLIER_DEFAULT), "recipe": EmbeddingsView()}


def _windows(wave: np.ndarray) -> np.ndarray:
    from tfgenre.core import audio

    n = int(WINDOW_SECONDS * RATE)
    return audio.cut_segments(wave, n, n, short="pad")


def representations(root: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """name -> (rows, each row's clip number), and the clips' genres."""
    from tfgenre.core import audio

    clips = _clips(root)
    views = _views()
    earlier, recipe = [], []
    owners = []
    for i, (_, _, path) in enumerate(clips):
        wave = audio.decode(path, RATE)
        windows = _windows(wave)
        earlier.append(views["earlier"].compute(windows, RATE))
        owners.append(np.full(len(windows), i))
        recipe.append(views["recipe"].compute(wave[None], RATE)[0])
    whole = np.stack(recipe).astype(np.float64)
    names = np.asarray(views["recipe"].spec(0, RATE).feature_names)
    per_clip = np.arange(len(clips))

    def columns(*prefixes: str) -> np.ndarray:
        keep = np.asarray([any(n.startswith(p) for p in prefixes) for n in names])
        return whole[:, keep]

    reps = {
        "earlier default: musicnn_msd max_pool mean + tags, 3-s windows": (
            np.concatenate(earlier).astype(np.float64),
            np.concatenate(owners),
        ),
        "musicnn_msd penultimate, mean+max+std, whole track": (
            columns("musicnn_msd_penultimate"),
            per_clip,
        ),
        "vgg_msd penultimate, mean+max+std, whole track": (
            columns("vgg_msd_penultimate"),
            per_clip,
        ),
        "musicnn_msd + vgg_msd penultimate, mean+max+std, whole track": (
            columns("musicnn_msd_penultimate", "vgg_msd_penultimate"),
            per_clip,
        ),
        "recipe (default): + musicnn_msd max_pool, whole track": (whole, per_clip),
    }
    return reps, np.asarray([g for g, _, _ in clips])


def evaluate(root: str) -> dict[str, dict[str, Any]]:
    """representation -> 1-shot (both ways) and leave-one-clip-out track accuracies."""
    reps, genres = representations(root)
    index = np.asarray([i for _, i, _ in _clips(root)])
    results = {}
    for name, (x, owner) in reps.items():
        y, idx = genres[owner], index[owner]
        a = track_accuracy(x, y, owner, idx == "00000", idx == "00001")
        b = track_accuracy(x, y, owner, idx == "00001", idx == "00000")
        loo = sum(
            track_accuracy(x, y, owner, owner != clip, owner == clip)
            for clip in range(len(genres))
        )
        results[name] = {
            "width": int(x.shape[1]),
            "train00000_test00001": a / 10,
            "train00001_test00000": b / 10,
            "one_shot_pooled": (a + b) / 20,
            "one_shot_wilson95": [round(v, 3) for v in wilson(a + b, 20)],
            "leave_one_clip_out": loo / 20,
            "leave_one_clip_out_wilson95": [round(v, 3) for v in wilson(loo, 20)],
        }
    return results


def bench_recipe_cost(paths: Sequence[str], *, repeats: int = 1) -> dict[str, Any]:
    """``embeddings_recipe_cost``: the view's seconds per clip, recipe against musicnn_msd.

    Args:
        paths: Audio files (30-s clips for the reported figure).
        repeats: Timed passes per side; each side keeps its fastest.

    Returns:
        ``{"embeddings_recipe_cost": {"recipe_seconds_per_clip",
        "musicnn_msd_seconds_per_clip", "ratio", ...}}``.
    """
    from tfgenre.core import audio

    views = _views()
    views["whole"] = views["earlier"]
    waves = [audio.decode(p, RATE) for p in paths]
    t0 = time.perf_counter()
    for view in views.values():  # builds each backbone once, as a writer process does
        view.compute(waves[0][None, : int(WINDOW_SECONDS * RATE)], RATE)
    build = time.perf_counter() - t0
    inputs = {
        "earlier": [_windows(w) for w in waves],
        "recipe": [w[None] for w in waves],
        "whole": [w[None] for w in waves],
    }
    best = {}
    for _ in range(max(1, repeats)):
        for side, view in views.items():  # alternate, so both meet the same load
            t0 = time.perf_counter()
            for x in inputs[side]:
                view.compute(x, RATE)
            best[side] = min(best.get(side, float("inf")), time.perf_counter() - t0)
    recipe, single = best["recipe"] / len(waves), best["earlier"] / len(waves)
    whole = best["whole"] / len(waves)
    return {
        "embeddings_recipe_cost": {
            "clips": len(waves),
            "clip_seconds": sum(len(w) for w in waves) / RATE / len(waves),
            "recipe": "musicnn_msd,vgg_msd; penultimate,max_pool; mean,max,std; whole track",
            "single": "musicnn_msd max_pool, mean, tags; 3-s windows (the earlier default)",
            "recipe_seconds_per_clip": recipe,
            "musicnn_msd_seconds_per_clip": single,
            "ratio": recipe / single,
            "musicnn_msd_whole_track_seconds_per_clip": whole,
            "ratio_same_window": recipe / whole,
            "build_seconds": build,
            "timed": "decoded audio -> rows: resampling, front end, backbones, pooling; "
            "decoding and building the backbones excluded",
        }
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the accuracy table (and writes JSON with ``--json``)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.embeddings_recipe")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    root = os.environ.get("TFGENRE_REAL_DATA")
    if not root:
        sys.stderr.write("error: set TFGENRE_REAL_DATA to the shared data folder\n")
        return 2
    results = evaluate(root)
    print("track accuracy, logistic regression (C = 1, standardised), 20 GTZAN clips")
    print(f"{'representation':66s} {'width':>5s} 1-shot both ways [95% CI]  leave-one-out [95% CI]")
    for name, r in results.items():
        print(
            f"{name:66s} {r['width']:5d} {r['one_shot_pooled']:.2f} "
            f"({r['train00000_test00001']:.1f}/{r['train00001_test00000']:.1f}) "
            f"{r['one_shot_wilson95']}  {r['leave_one_clip_out']:.2f} "
            f"{r['leave_one_clip_out_wilson95']}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
