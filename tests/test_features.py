"""The ``features`` view: fast path == plain librosa reference == the Kaggle GTZAN table."""

from __future__ import annotations

import csv
import glob
import json
import os
import warnings

import librosa
import numpy as np
import pytest
import scipy.ndimage
import soundfile as sf

from tfgenre.errors import ConfigError, TfgenreError
from tfgenre.views import median
from tfgenre.views.features import (
    FEATURE_NAMES,
    FeaturesView,
    median_filter_1d,
    reference_features,
)
from tfgenre.views.stft_blocks import estimate_tuning

SR = 22050
# Near-zero means are compared in absolute terms.
ABS_FEATURES = ("harmony_mean", "perceptr_mean")


def _music(seconds: float, seed: int, bpm: float, f0: float) -> np.ndarray:
    """A slightly detuned chord with a noisy kick/click pulse, float32 ``(n,)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = sum(0.2 / (k + 1) * np.sin(2 * np.pi * f0 * r * t) for k, r in enumerate((1, 1.26, 1.5)))
    period = 60.0 / bpm
    phase = np.mod(t, period)
    y = y + 0.6 * np.exp(-phase * 40) * np.sin(2 * np.pi * 60 * phase)  # kick
    y = y + 0.2 * np.exp(-np.mod(t + period / 2, period) * 200) * rng.standard_normal(len(t))
    y = y + 0.01 * rng.standard_normal(len(t))
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


def _assert_close(fast: np.ndarray, ref: np.ndarray, rtol: float, atol_small: float) -> None:
    for j, name in enumerate(FEATURE_NAMES):
        atol = atol_small if name in ABS_FEATURES else 1e-9
        assert np.isclose(fast[j], ref[j], rtol=rtol, atol=atol), (name, fast[j], ref[j])


def test_feature_names() -> None:
    assert len(FEATURE_NAMES) == 57 and len(set(FEATURE_NAMES)) == 57
    assert FEATURE_NAMES[:4] == ("chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var")
    assert FEATURE_NAMES[16:20] == ("tempo", "mfcc1_mean", "mfcc1_var", "mfcc2_mean")
    assert FEATURE_NAMES[-1] == "mfcc20_var"


def test_spec() -> None:
    view = FeaturesView()
    spec = view.spec(66150, SR)
    assert view.name == spec.name == "features"
    assert spec.dtype == "float32" and spec.shape == (57,)
    assert spec.feature_names == FEATURE_NAMES
    assert spec.params["n_fft"] == 2048 and spec.params["pad_mode"] == "reflect"
    json.dumps(spec.to_json())
    with pytest.raises(ConfigError, match="segment_samples=1000 must be >= n_fft=2048"):
        view.spec(1000, SR)
    with pytest.raises(ConfigError, match="sample_rate=0"):
        view.spec(66150, 0)
    with pytest.raises(ConfigError, match="max_chunk_samples"):
        FeaturesView(max_chunk_samples=0)


def test_fast_equals_reference_on_several_segments() -> None:
    segments = np.stack(
        [
            _music(3.0, seed=0, bpm=120, f0=220.0),
            _music(3.0, seed=1, bpm=95, f0=311.0 * 2 ** (0.3 / 12)),  # detuned: tuning != 0
            _music(3.0, seed=2, bpm=140, f0=147.0) * 0.05,  # quiet
        ]
    )
    fast = FeaturesView().compute(segments, SR)
    assert fast.shape == (3, 57) and fast.dtype == np.float32
    for i, seg in enumerate(segments):
        _assert_close(fast[i], reference_features(seg, SR), rtol=1e-3, atol_small=1e-6)
    # Chunked processing gives the same rows as one batch.
    chunked = FeaturesView(max_chunk_samples=len(segments[0])).compute(segments, SR)
    np.testing.assert_allclose(chunked, fast, rtol=1e-5, atol=1e-8)


def test_short_segment_and_other_rate_equal_reference() -> None:
    # 5 frames: HPSS's harmonic median filter (31 frames) reflects several times.
    y = _music(0.1, seed=3, bpm=120, f0=440.0)[:2048]
    fast = FeaturesView().compute(y[None], SR)[0]
    _assert_close(fast, reference_features(y, SR), rtol=1e-3, atol_small=1e-6)
    # Another sample rate (the music is just read as 16 kHz).
    y = _music(2.0, seed=4, bpm=110, f0=330.0)
    fast = FeaturesView().compute(y[None], 16000)[0]
    _assert_close(fast, reference_features(y, 16000), rtol=1e-3, atol_small=1e-6)


def test_silent_and_constant_input_are_finite() -> None:
    n = 3 * SR
    segments = np.stack([np.zeros(n, np.float32), np.full(n, 0.25, np.float32)])
    fast = FeaturesView().compute(segments, SR)
    assert np.isfinite(fast).all()
    silent = dict(zip(FEATURE_NAMES, fast[0].tolist(), strict=True))
    assert silent["tempo"] == 0.0
    assert silent["mfcc1_mean"] == pytest.approx(-100.0 * np.sqrt(128), rel=1e-6)
    zero = [k for k in FEATURE_NAMES if k != "mfcc1_mean"]
    assert all(silent[k] == 0.0 for k in zero), {k: silent[k] for k in zero if silent[k]}
    assert fast[1, FEATURE_NAMES.index("tempo")] == 0.0  # a constant has no onsets
    for i in range(2):
        ref = reference_features(segments[i], SR)
        assert np.isfinite(ref).all()
        np.testing.assert_allclose(fast[i], ref, rtol=1e-4, atol=1e-6)


def test_bad_input() -> None:
    view = FeaturesView()
    y = np.zeros((1, 4096), np.float32)
    y[0, 7] = np.nan
    with pytest.raises(TfgenreError, match="NaN or infinite"):
        view.compute(y, SR)
    with pytest.raises(ConfigError, match="must be"):
        view.compute(np.zeros(4096, np.float32), SR)
    with pytest.raises(ConfigError, match="n_fft"):
        view.compute(np.zeros((2, 100), np.float32), SR)
    with pytest.raises(ConfigError, match="1-D"):
        reference_features(np.zeros((2, 4096), np.float32), SR)


@pytest.mark.parametrize("n", [1, 3, 5, 15, 16, 17, 31, 40, 300])
@pytest.mark.parametrize("ties", [False, True])
def test_median_filter_equals_scipy(n: int, ties: bool) -> None:
    rng = np.random.default_rng(n)
    x = rng.integers(0, 4, (6, n)) if ties else rng.random((6, n))
    x = x.astype(np.float32)
    for axis in (-1, 0):
        data = x if axis == -1 else np.ascontiguousarray(x.T)
        size = [1, 1]
        size[axis] = 31
        expected = scipy.ndimage.median_filter(data, size=size, mode="reflect")
        np.testing.assert_array_equal(median_filter_1d(data, 31, axis=axis), expected)
    with pytest.raises(ConfigError, match="odd"):
        median_filter_1d(x, 4)


@pytest.mark.parametrize("width", [1, 3, 5, 15, 31])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_median_filter_3d_any_axis(width: int, axis: int) -> None:
    # Width 31 runs the selection network (lanes along the last axis, or swapped to
    # it), other widths the sliding window; both must equal scipy bit for bit.
    # No axis shorter than 5: scipy's n-D median filter reads past the end of an axis
    # of 3 samples under a 31-wide window (NaN or garbage in its output, seen with
    # scipy 1.17); our kernels give the reflect-extended median there.
    rng = np.random.default_rng(width + axis)
    x = rng.random((5, 40, 33)).astype(np.float32)
    x[1] = np.round(x[1] * 3)  # ties
    size = [1, 1, 1]
    size[axis] = width
    expected = scipy.ndimage.median_filter(x, size=size, mode="reflect")
    got = median_filter_1d(x, width, axis=axis)
    assert got.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(got, expected)


def _run_network(ops: list[tuple[str, int, int]], wires: list[float]) -> list[float]:
    v = list(wires)
    for kind, i, j in ops:
        if kind == "cx":
            v[i], v[j] = min(v[i], v[j]), max(v[i], v[j])
        elif kind == "min":
            v[i] = min(v[i], v[j])
        elif kind == "max":
            v[j] = max(v[i], v[j])
        else:
            v[i] = v[j]
    return v


@pytest.mark.parametrize("width", [1, 3, 5, 7, 9, 15, 31])
def test_median_network_selects_the_median(width: int) -> None:
    ops = median.median_network(width)
    wires = 1 << (width - 1).bit_length()
    rng = np.random.default_rng(width)
    for trial in range(300):
        inputs = list(rng.integers(0, 4, width) if trial % 2 else rng.random(width))
        out = _run_network(ops, inputs + [np.inf] * (wires - width))
        assert out[width // 2] == np.median(inputs), (trial, inputs)
    with pytest.raises(ConfigError, match="odd"):
        median.median_network(4)


def test_median_kernel_source_is_current() -> None:
    # tfgenre/views/_median31.py is generated; regenerate with python -m tfgenre.views.median
    assert median.main(["--check"]) == 0


def test_tuning_equals_librosa() -> None:
    for seed, f0 in enumerate((220.0, 261.6 * 2 ** (0.21 / 12), 400.0)):
        y = _music(2.0, seed=seed, bpm=100, f0=f0)
        power = np.abs(librosa.stft(y, pad_mode="reflect")) ** 2
        assert estimate_tuning(power, SR) == librosa.estimate_tuning(
            S=power, sr=SR, bins_per_octave=12
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        silent = np.zeros((1025, 10), np.float32)
        assert estimate_tuning(silent, SR) == librosa.estimate_tuning(S=silent, sr=SR)


# --------------------------------------------------------------------------------------
# Real music (TFGENRE_REAL_DATA).
# --------------------------------------------------------------------------------------


def _load(path: str) -> np.ndarray:
    """What ``librosa.load(path)`` gives for these 22050 Hz files: float32 mono."""
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == SR
    return y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]


def _clips(root: str) -> list[str]:
    paths = sorted(glob.glob(os.path.join(root, "gtzan_sample", "genres", "*", "*.0000[01].wav")))
    if not paths:
        pytest.skip(f"no GTZAN sample clips under {root}/gtzan_sample/genres")
    return paths


def test_matches_kaggle_table(real_data: str) -> None:
    table_path = os.path.join(real_data, "gtzan_kaggle", "features_30_sec.csv")
    with open(table_path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames is not None
        assert tuple(reader.fieldnames[2:-1]) == FEATURE_NAMES
        table = {row["filename"]: row for row in reader}
    view = FeaturesView()
    paths = _clips(real_data)
    assert len(paths) == 20
    failures = []
    for path in paths:
        name = os.path.basename(path)
        row = table[name]
        y = _load(path)
        assert int(row["length"]) == len(y), name
        fast = view.compute(y[None], SR)[0]
        for j, feature in enumerate(FEATURE_NAMES):
            expected = float(row[feature])
            if feature in ABS_FEATURES:
                ok = abs(fast[j] - expected) <= 1e-4
            else:
                ok = abs(fast[j] - expected) <= 0.02 * abs(expected)
            if not ok:
                failures.append((name, feature, float(fast[j]), expected))
    assert not failures, failures


def test_real_segments_equal_reference(real_data: str) -> None:
    y = _load(_clips(real_data)[0])
    segments = np.stack([y[i : i + 3 * SR] for i in range(0, 9 * 3 * SR, 3 * SR)])
    fast = FeaturesView().compute(segments, SR)
    for i, seg in enumerate(segments):
        _assert_close(fast[i], reference_features(seg, SR), rtol=1e-3, atol_small=1e-6)
