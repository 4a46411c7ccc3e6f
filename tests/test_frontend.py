"""predict's and export's front ends come from RunInfo alone (no training needed).

A field of a view's spec reaches the numpy front end (predict) and the in-graph one
(export) without code naming it, and old-style run.json gives the framing it implies.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfgenre.core import layout
from tfgenre.core.framing import GTZAN_3S_WINDOW, Framing
from tfgenre.errors import ConfigError
from tfgenre.inference.preparer import make_frontend
from tfgenre.inference.serving import FrontendSpec
from tfgenre.records.info import AudioSpec
from tfgenre.runs.run_info import RunInfo
from tfgenre.views.mel import MelView
from tfgenre.views.raw import RawView

RATE = 8000
WINDOW = 4000


def _run(view, window: int | None = WINDOW, hop: int | None = 2000, **kw) -> RunInfo:
    spec = view.spec(window or RATE, RATE)
    return RunInfo(
        labels=("a", "b"), model="m", view_spec=spec, input_shape=spec.shape,
        audio=AudioSpec(RATE, window, hop), source="records", data_path="/r", **kw,
    )


def _segments(n: int = 2) -> np.ndarray:
    t = np.arange(WINDOW) / RATE
    return np.stack([np.sin(2 * np.pi * (200 + 900 * i) * t) for i in range(n)]).astype(np.float32)


def test_mel_fields_of_the_spec_reach_predict():
    """fmin/fmax/top_db/n_mels set in the writer's MelView change what predict computes."""
    tuned = MelView(n_mels=16, n_fft=512, hop_length=128, fmin=300.0, fmax=2500.0, top_db=30.0)
    framing, frontend = make_frontend(_run(tuned))
    assert framing == Framing(RATE, WINDOW, 2000)
    x = frontend(_segments())
    np.testing.assert_array_equal(x, tuned.compute(_segments(), RATE).astype(np.float32))
    plain = MelView(n_mels=16, n_fft=512, hop_length=128)
    assert x.shape == plain.compute(_segments(), RATE).shape
    assert not np.allclose(x, plain.compute(_segments(), RATE).astype(np.float32))
    for window in x:  # top_db=30 floors each window 30 dB below its peak
        assert window.max() - window.min() <= 30.0 + 0.1


def test_mel_fields_of_the_spec_reach_the_serving_graph():
    import tensorflow as tf

    from tfgenre.inference.serving import view_from_windows

    tuned = MelView(n_mels=16, n_fft=512, hop_length=128, fmin=300.0, fmax=2500.0, top_db=30.0)
    spec = FrontendSpec.from_run_info(_run(tuned))
    assert spec.framing == Framing(RATE, WINDOW, 2000)
    got = view_from_windows(tf.constant(_segments()), spec).numpy()
    want = tuned.compute(_segments(), RATE).astype(np.float32)
    np.testing.assert_allclose(got, want, atol=0.07)


def test_raw_downsample_and_scale_come_from_the_spec():
    raw = RawView(dtype="int16", downsample=2)
    run = _run(raw)
    spec = FrontendSpec.from_run_info(run)
    assert spec.framing == Framing(4000, 2000, 1000)
    _, frontend = make_frontend(run)
    x = frontend(_segments())
    assert x.shape == (2, 2000) and np.abs(x).max() <= 1.0
    np.testing.assert_allclose(x, raw.compute(_segments(), RATE) / 32767.0, atol=1e-6)


def test_a_waveform_run_without_window_is_refused():
    with pytest.raises(ConfigError, match="window_samples=None"):
        make_frontend(_run(MelView(n_mels=16), window=None, hop=None))
    with pytest.raises(ConfigError, match="window_samples=None"):
        FrontendSpec.from_run_info(_run(MelView(n_mels=16), window=None, hop=None))


def test_legacy_segment_features_csv_run_frames_3_second_windows(tmp_path):
    legacy = {
        "labels": ["blues", "jazz"], "view": "features", "model": "features_mlp",
        "input_spec": {"view": "features", "shape": [2], "mean": [0.0, 0.0], "std": [1.0, 1.0]},
        "source": "features_csv", "features_csv": "/f.csv",
        "feature_names": ["rms_mean", "tempo"], "feature_window": "segment",
    }
    (tmp_path / layout.RUN_JSON).write_text(json.dumps(legacy))
    framing, _ = make_frontend(RunInfo.load(str(tmp_path)))
    assert framing == Framing(22050, GTZAN_3S_WINDOW, GTZAN_3S_WINDOW)
    legacy["feature_window"] = "whole_track"
    (tmp_path / layout.RUN_JSON).write_text(json.dumps(legacy))
    framing, _ = make_frontend(RunInfo.load(str(tmp_path)))
    assert framing.window_samples is None and framing.min_samples > 0
    legacy["feature_names"] = ["rms_mean", "not_a_feature"]
    (tmp_path / layout.RUN_JSON).write_text(json.dumps(legacy))
    with pytest.raises(ConfigError, match="not_a_feature"):
        make_frontend(RunInfo.load(str(tmp_path)))
