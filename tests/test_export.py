"""python -m tfgenre.export: SavedModel on raw audio, TFLite, keras; parity with predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inference_fixtures import run_info, tiny_runs, write_long_stereo

from tfgenre import audio
from tfgenre.export import export_run, main
from tfgenre.inference import Predictor


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def long_stereo(runs, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.wav"
    write_long_stereo(path, runs.audio, seconds=125.0, sample_rate=44100)
    return path


def _tflite(path: Path, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=str(path))
    return interpreter.get_signature_runner("serving_default")(**inputs)


@pytest.mark.parametrize("view", ["mel", "raw"])
def test_savedmodel_and_tflite_agree_with_predict(runs, long_stereo, capsys, view):
    import tensorflow as tf

    run = getattr(runs, view)
    assert main(["--run-dir", str(run), "--format", "savedmodel", "--format", "tflite",
                 "--log-level", "ERROR"]) == 0
    printed = capsys.readouterr().out
    assert "savedmodel" in printed and "tflite" in printed and "MB" in printed
    saved, lite = run / "export" / "savedmodel", run / "export" / "model.tflite"
    meta = json.loads((saved / "assets.extra" / "tfgenre.json").read_text())
    assert meta["labels"] == run_info(run)["labels"]
    assert meta["sample_rate"] == 22050 and meta["window_samples"] == 22050
    assert json.loads((run / "export" / "model.tflite.json").read_text())["quantized"] is False

    predictor = Predictor.load(str(run))
    loaded = tf.saved_model.load(str(saved))
    serve = loaded.signatures["serving_default"]
    # A long 44.1-kHz stereo file: predict decodes it; the SavedModel gets the same
    # decoded mono waveform at the model's rate.
    y = audio.decode(str(long_stereo), predictor.sample_rate)
    expected = predictor.predict_waveform(y)
    got = serve(waveform=tf.constant(y))
    np.testing.assert_allclose(got["segment_probabilities"].numpy(),
                               expected.segment_probabilities, atol=1e-4)
    np.testing.assert_allclose(got["probabilities"].numpy(), expected.probabilities, atol=1e-5)
    lite_out = _tflite(lite, waveform=y)
    np.testing.assert_allclose(lite_out["probabilities"], expected.probabilities, atol=1e-4)
    # Shorter than one window: zero-padded to one window, as predict does.
    short = y[:5000]
    np.testing.assert_allclose(serve(waveform=tf.constant(short))["probabilities"].numpy(),
                               predictor.predict_waveform(short).probabilities, atol=1e-5)
    np.testing.assert_allclose(_tflite(lite, waveform=short)["probabilities"],
                               predictor.predict_waveform(short).probabilities, atol=1e-4)


def test_in_graph_mel_matches_librosa():
    """tf.signal STFT + librosa's (Slaney) filterbank reproduce the mel view in float32."""
    import tensorflow as tf

    from tfgenre.serving import log_mel
    from tfgenre.views.mel import MelView, power_to_db

    rng = np.random.default_rng(0)
    t = np.arange(3 * 16000) / 16000
    y = np.stack([
        0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size),
        0.3 * rng.standard_normal(t.size),
    ]).astype(np.float32)
    y[1, :4000] = 0  # silence at the start: exercises the top_db floor
    import librosa

    for kw in ({"n_fft": 2048, "hop_length": 512, "n_mels": 128},
               {"n_fft": 1024, "hop_length": 256, "n_mels": 64, "fmin": 50.0, "fmax": 6000.0}):
        ref = power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, **kw), top_db=80.0)
        got = log_mel(tf.constant(y), sample_rate=16000, **kw).numpy()
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=2e-3)
    # And the full view, float16 rounding and resizing included.
    view = MelView(n_mels=64, image_size=48)
    from tfgenre.serving import FrontendSpec, view_from_windows

    spec = FrontendSpec("mel", 16000, y.shape[1], y.shape[1], view.spec(y.shape[1], 16000).params,
                        "float16", (48, 48, 1))
    got = view_from_windows(tf.constant(y), spec).numpy()
    np.testing.assert_allclose(got, view.compute(y, 16000).astype(np.float32), atol=0.07)


def test_features_model_exports_a_features_signature(runs, tmp_path):
    import tensorflow as tf

    from tfgenre.inference import load_keras_model

    result = export_run(str(runs.features), "savedmodel", str(tmp_path / "sm"))
    assert result.input_name == "features" and result.num_bytes > 0
    meta = json.loads(Path(result.metadata_path).read_text())
    assert meta["signature"]["inputs"] == {"features": {"dtype": "float32", "shape": [None, 57]}}
    assert len(meta["feature_names"]) == 57 and meta["feature_window"] == 22050
    x = np.random.default_rng(0).normal(size=(4, 57)).astype(np.float32) * 10
    model = load_keras_model(str(runs.features / "model.keras"))
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    np.testing.assert_allclose(serve(features=tf.constant(x))["probabilities"].numpy(),
                               model.predict(x, verbose=0), atol=1e-5)
    lite = export_run(str(runs.features), "tflite", str(tmp_path / "f.tflite"), quantize=True)
    out = _tflite(Path(lite.path), features=x[:1])
    assert out["probabilities"].shape == (1, 3)


def test_keras_format_copies_model(runs, tmp_path):
    result = export_run(str(runs.mel), "keras", str(tmp_path / "m.keras"))
    assert (tmp_path / "m.keras").read_bytes() == (runs.mel / "model.keras").read_bytes()
    meta = json.loads((tmp_path / "m.keras.json").read_text())
    assert meta["labels"] == run_info(runs.mel)["labels"] and meta["view"] == "mel"
    assert result.num_bytes == (runs.mel / "model.keras").stat().st_size


def test_export_errors(runs, tmp_path, capsys):
    assert main(["--run-dir", str(tmp_path)]) == 2
    assert main(["--run-dir", str(runs.mel), "--format", "all", "--output", "x"]) == 2
    assert main(["--run-dir", str(runs.mel), "--format", "keras", "--quantize"]) == 2
    with pytest.raises(SystemExit):
        main(["--run-dir", str(runs.mel), "--format", "onnx"])
    err = capsys.readouterr().err
    assert "not a tfgenre run folder" in err and "--output works with one --format" in err


def test_savedmodel_on_real_gtzan_clip(real_data, runs, tmp_path):
    """A real 30-s clip: the in-graph mel equals the records' mel view (float16)."""
    import tensorflow as tf

    from tfgenre.serving import FrontendSpec, frame_waveform, view_from_windows

    clip = Path(real_data) / "gtzan_sample" / "genres" / "blues" / "blues.00000.wav"
    info = run_info(runs.mel)
    spec = FrontendSpec.from_run_info(info)
    predictor = Predictor.load(str(runs.mel))
    y = audio.decode(str(clip), 22050)
    chunks, _, _ = predictor.model_inputs(y)
    expected = np.concatenate(list(chunks))
    got = view_from_windows(frame_waveform(tf.constant(y), spec.window_samples,
                                           spec.hop_samples), spec).numpy()
    assert got.shape == expected.shape
    # float16 steps are 0.03 dB near 40 dB: allow one step.
    np.testing.assert_allclose(got, expected, atol=0.07)
    assert np.mean(got == expected) > 0.99
