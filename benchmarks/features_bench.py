"""Per-clip time of the 57 GTZAN features: plain librosa reference vs the fast view.

Usage: ``python -m benchmarks.features_bench [--clips N] [--quick]``

Uses the real GTZAN sample clips under ``$TFGENRE_REAL_DATA/gtzan_sample`` when that
variable is set, else synthesised 30-s clips. For every clip the reference
(:func:`tfgenre.views.features.reference_features`) and the fast path
(:class:`tfgenre.views.features.FeaturesView`, whole clip as one segment) run back to
back, so both see the same machine load; the medians over clips are compared and the
values of the two paths are checked to agree.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from tfgenre.views.features import FEATURE_NAMES, FeaturesView, reference_features

logger = logging.getLogger(__name__)

SAMPLE_RATE = 22050
# Relative agreement required between the two paths (absolute for near-zero means).
RTOL = 1e-3
ATOL_SMALL = 1e-6
ABS_FEATURES = ("harmony_mean", "perceptr_mean")


def _real_clips(limit: int) -> list[tuple[str, np.ndarray]]:
    import soundfile as sf

    root = os.environ.get("TFGENRE_REAL_DATA")
    if not root:
        return []
    pattern = os.path.join(root, "gtzan_sample", "genres", "*", "*.wav")
    # Interleave genres so that a small --clips still spans several.
    paths = sorted(glob.glob(pattern), key=lambda p: (os.path.basename(p)[-9:], p))
    clips = []
    for path in paths[:limit]:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
        if sr != SAMPLE_RATE:
            continue
        clips.append((os.path.basename(path), y.mean(axis=1).astype(np.float32)))
    return clips


def _synthetic_clips(limit: int) -> list[tuple[str, np.ndarray]]:
    clips = []
    t = np.arange(30 * SAMPLE_RATE) / SAMPLE_RATE
    for i in range(limit):
        rng = np.random.default_rng(i)
        f0 = 110.0 * 2 ** (i / 5)
        bpm = 80 + 15 * i
        phase = np.mod(t, 60.0 / bpm)
        y = 0.2 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 1.5 * f0 * t)
        y += 0.5 * np.exp(-phase * 30) * rng.standard_normal(len(t))
        clips.append((f"synthetic.{i:05d}", (0.5 * y / np.abs(y).max()).astype(np.float32)))
    return clips


def _max_disagreement(fast: np.ndarray, ref: np.ndarray) -> float:
    """Largest error in units of the tolerance (<= 1 means the paths agree)."""
    worst = 0.0
    for j, name in enumerate(FEATURE_NAMES):
        if name in ABS_FEATURES:
            err = abs(fast[j] - ref[j]) / ATOL_SMALL
        else:
            err = abs(fast[j] - ref[j]) / max(RTOL * abs(ref[j]), 1e-12)
        worst = max(worst, float(err))
    return worst


def run(quick: bool = False, clips: int | None = None) -> dict[str, Any]:
    """Times the reference and the fast path on 30-s clips and checks they agree.

    Args:
        quick: Two clips instead of all (20 real or 5 synthesised).
        clips: Number of clips; overrides ``quick``.

    Returns:
        ``{"reference_s", "fast_s", "speedup", "clips", "source", "agree",
        "max_error_in_tolerances"}``: median seconds per clip of each path, their ratio,
        and whether every value of the fast path is within tolerance of the reference.
    """
    limit = clips if clips is not None else (2 if quick else 20)
    data = _real_clips(limit)
    source = "real" if data else "synthetic"
    if not data:
        data = _synthetic_clips(min(limit, 5) if clips is None else limit)
    view = FeaturesView()
    # Per core: both paths on one BLAS thread (pocketfft and numba are single-threaded).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _timed(data, view, source)


def _timed(data: list[tuple[str, np.ndarray]], view: FeaturesView, source: str) -> dict[str, Any]:
    # Warm-up: numba compilation (librosa's and ours) is not part of per-clip time.
    warm = data[0][1][: 3 * SAMPLE_RATE]
    reference_features(warm, SAMPLE_RATE)
    view.compute(warm[None], SAMPLE_RATE)

    rows = []
    for name, y in data:
        start = time.perf_counter()
        ref = reference_features(y, SAMPLE_RATE)
        ref_s = time.perf_counter() - start
        start = time.perf_counter()
        fast = view.compute(y[None], SAMPLE_RATE)[0]
        fast_s = time.perf_counter() - start
        rows.append((name, ref_s, fast_s, _max_disagreement(fast, ref)))

    print(f"{'clip':24s} {'reference s':>12s} {'fast s':>8s} {'speedup':>8s} {'err/tol':>8s}")
    for name, ref_s, fast_s, err in rows:
        print(f"{name:24s} {ref_s:12.3f} {fast_s:8.3f} {ref_s / fast_s:8.1f} {err:8.3f}")
    reference_s = statistics.median(r[1] for r in rows)
    fast_s = statistics.median(r[2] for r in rows)
    worst = max(r[3] for r in rows)
    result = {
        "reference_s": reference_s,
        "fast_s": fast_s,
        "speedup": reference_s / fast_s,
        "clips": len(rows),
        "source": source,
        "agree": worst <= 1.0,
        "max_error_in_tolerances": worst,
    }
    print(
        f"median per clip ({len(rows)} {source} clips): reference {reference_s:.3f} s, "
        f"fast {fast_s:.3f} s, speedup {result['speedup']:.1f}x, "
        f"values agree: {result['agree']} (worst {worst:.3f} of rtol={RTOL})"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 1 when the two paths disagree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=None, help="number of 30-s clips")
    parser.add_argument("--quick", action="store_true", help="two clips only")
    args = parser.parse_args(argv)
    if args.clips is not None and args.clips <= 0:
        parser.error(f"--clips={args.clips} must be > 0")
    result = run(quick=args.quick, clips=args.clips)
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
