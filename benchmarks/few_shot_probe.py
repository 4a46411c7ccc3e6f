"""Logistic regression on the 57 features against each backbone's embeddings, 20 real clips.

The shared sample holds two GTZAN clips per genre (``<genre>.00000`` and ``.00001``).
Train on the 00000 clip of every genre and test on the 00001 clip, then the other way
round; report track-level accuracy of each representation side by side, with a Wilson
95 % interval over the 20 test decisions of both directions.

Two row layouts per representation:

* ``clip``: one row per 30-s clip (features: the GTZAN table's row; embeddings: the
  mean over the clip's 3-s backbone patches), so each direction is 1-shot, 10 classes;
* ``segments``: one row per 3-s window (10 per clip; features: tfgenre's features
  view on the window), a track decided by the mean class probability of its windows.

Run (needs the weights, ``pip install --no-deps musicnn==0.1.0``, and the shared data)::

    TFGENRE_REAL_DATA=../shared/data python -m benchmarks.few_shot_probe [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

import numpy as np

GENRES = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)  # fmt: skip
BACKBONES = ("musicnn_msd", "musicnn_mtt", "vgg_msd", "vgg_mtt")
WINDOW_SECONDS = 3.0


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def track_accuracy(
    x: np.ndarray, y: np.ndarray, tracks: np.ndarray, take: np.ndarray, test: np.ndarray
) -> int:
    """Correct test tracks of a standardised logistic regression fit on ``take`` rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0))
    model.fit(x[take], y[take])
    probs = model.predict_proba(x[test])
    correct = 0
    for track in sorted(set(tracks[test].tolist())):
        rows = tracks[test] == track
        decided = model.classes_[int(np.argmax(probs[rows].mean(axis=0)))]
        correct += int(decided == y[test][rows][0])
    return correct


def _clips(root: str) -> list[tuple[str, str, str]]:
    """(genre, index, path) of the 20 sample clips."""
    out = []
    for genre in GENRES:
        for index in ("00000", "00001"):
            path = os.path.join(root, "gtzan_sample", "genres", genre, f"{genre}.{index}.wav")
            if not os.path.isfile(path):
                raise SystemExit(f"error: missing {path}")
            out.append((genre, index, path))
    return out


def _table_rows(root: str, clips: Sequence[tuple[str, str, str]]) -> np.ndarray:
    """The GTZAN table's 57 features of each clip, ``(20, 57)``."""
    import pandas as pd

    from tfgenre.views.features import FEATURE_NAMES

    table = pd.read_csv(os.path.join(root, "gtzan_kaggle", "features_30_sec.csv"))
    table = table.set_index("filename")
    names = [os.path.basename(p) for _, _, p in clips]
    return table.loc[names, list(FEATURE_NAMES)].to_numpy(np.float64)


def representations(root: str) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """layout -> representation -> (rows, row's clip number)."""
    from tfgenre.backbones.runner import BackboneRunner, to_backbone_rate
    from tfgenre.core import audio
    from tfgenre.views.features import FeaturesView

    clips = _clips(root)
    rate = 22050
    waves = [audio.decode(p, rate) for _, _, p in clips]
    window = int(WINDOW_SECONDS * rate)
    segments = [audio.cut_segments(w, window, window, short="pad") for w in waves]
    per_clip = np.arange(len(clips))
    seg_owner = np.concatenate([np.full(len(s), i) for i, s in enumerate(segments)])
    view = FeaturesView()
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {"clip": {}, "segments": {}}
    out["clip"]["features57"] = (_table_rows(root, clips), per_clip)
    out["segments"]["features57"] = (
        np.concatenate([view.compute(s, rate) for s in segments]).astype(np.float64),
        seg_owner,
    )
    for name in BACKBONES:
        runner = BackboneRunner(name)
        layer = "max_pool" if runner.weights.architecture == "musicnn" else "penultimate"
        clip_rows, seg_rows = [], []
        for wave, segs in zip(waves, segments, strict=True):
            clip_rows.append(runner(to_backbone_rate(wave, rate))[layer].mean(axis=0))
            seg_out = runner.run(
                np.concatenate([runner.patches(to_backbone_rate(s, rate)).values for s in segs])
            )
            seg_rows.append(seg_out[layer])
        key = f"{name}.{layer}"
        out["clip"][key] = (np.stack(clip_rows).astype(np.float64), per_clip)
        out["segments"][key] = (np.concatenate(seg_rows).astype(np.float64), seg_owner)
    return out


def evaluate(root: str) -> dict[str, dict[str, dict[str, object]]]:
    """layout -> representation -> accuracies of both directions and the pooled interval."""
    clips = _clips(root)
    genre_of = np.asarray([g for g, _, _ in clips])
    index_of = np.asarray([i for _, i, _ in clips])
    results: dict[str, dict[str, dict[str, object]]] = {}
    for layout, reps in representations(root).items():
        results[layout] = {}
        for rep, (x, owner) in reps.items():
            y, tracks, idx = genre_of[owner], owner, index_of[owner]
            a = track_accuracy(x, y, tracks, idx == "00000", idx == "00001")
            b = track_accuracy(x, y, tracks, idx == "00001", idx == "00000")
            low, high = wilson(a + b, 20)
            results[layout][rep] = {
                "train00000_test00001": a / 10,
                "train00001_test00000": b / 10,
                "pooled": (a + b) / 20,
                "wilson95": [round(low, 3), round(high, 3)],
            }
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table (and writes JSON with ``--json``)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.few_shot_probe")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    root = os.environ.get("TFGENRE_REAL_DATA")
    if not root:
        sys.stderr.write("error: set TFGENRE_REAL_DATA to the shared data folder\n")
        return 2
    results = evaluate(root)
    for layout, reps in results.items():
        print(f"\nrows = {layout} (track-level accuracy; 10 test clips per direction)")
        print(f"{'representation':28s} {'00000->00001':>12s} {'00001->00000':>12s} pooled  95% CI")
        for rep, r in reps.items():
            print(
                f"{rep:28s} {r['train00000_test00001']:12.2f} {r['train00001_test00000']:12.2f}"
                f" {r['pooled']:6.2f}  {r['wilson95']}"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
