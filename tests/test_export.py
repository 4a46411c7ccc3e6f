"""python -m tfgenre.export: SavedModel on raw audio, TFLite, keras; parity with predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from builders import legacy_run_json, run_info

from tfgenre.core import audio
from tfgenre.export import export_run, main
from tfgenre.inference.predictor import Predictor


def _tflite(path: Path, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=str(path))
    return interpreter.get_signature_runner("serving_default")(**inputs)


@pytest.mark.parametrize("view", ["mel", "raw"])
def test_savedmodel_and_tflite_agree_with_predict(tiny_runs, long_stereo, capsys, view):
    import tensorflow as tf

    run = getattr(tiny_runs, view)
    assert main(["--run-dir", str(run), "--format", "savedmodel", "--format", "tflite",
                 "--log-level", "ERROR"]) == 0
    printed = capsys.readouterr().out
    assert "savedmodel" in printed and "tflite" in printed and "MB" in printed
    saved, lite = run / "export" / "savedmodel", run / "export" / "model.tflite"
    meta = json.loads((saved / "assets.extra" / "tfgenre.json").read_text())
    assert meta["labels"] == list(run_info(run).labels)
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

    from tfgenre.inference.serving import log_mel
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
    from tfgenre.core.framing import Framing
    from tfgenre.inference.serving import FrontendSpec, view_from_windows

    spec = FrontendSpec("mel", Framing(16000, y.shape[1], y.shape[1]),
                        view.spec(y.shape[1], 16000).params, "float16", (48, 48, 1))
    got = view_from_windows(tf.constant(y), spec).numpy()
    np.testing.assert_allclose(got, view.compute(y, 16000).astype(np.float32), atol=0.07)


def test_features_model_exports_a_features_signature(tiny_runs, tmp_path):
    import tensorflow as tf

    from tfgenre.inference.predictor import load_keras_model

    result = export_run(str(tiny_runs.features), "savedmodel", str(tmp_path / "sm"))
    assert result.input_name == "features" and result.num_bytes > 0
    meta = json.loads(Path(result.metadata_path).read_text())
    assert meta["signature"]["inputs"] == {"features": {"dtype": "float32", "shape": [None, 57]}}
    assert len(meta["feature_names"]) == 57 and meta["feature_window"] == 22050
    x = np.random.default_rng(0).normal(size=(4, 57)).astype(np.float32) * 10
    model = load_keras_model(str(tiny_runs.features / "model.keras"))
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    np.testing.assert_allclose(serve(features=tf.constant(x))["probabilities"].numpy(),
                               model.predict(x, verbose=0), atol=1e-5)
    lite = export_run(str(tiny_runs.features), "tflite", str(tmp_path / "f.tflite"), quantize=True)
    out = _tflite(Path(lite.path), features=x[:1])
    assert out["probabilities"].shape == (1, 3)


def test_keras_format_copies_model(tiny_runs, tmp_path):
    result = export_run(str(tiny_runs.mel), "keras", str(tmp_path / "m.keras"))
    assert (tmp_path / "m.keras").read_bytes() == (tiny_runs.mel / "model.keras").read_bytes()
    meta = json.loads((tmp_path / "m.keras.json").read_text())
    assert meta["labels"] == list(run_info(tiny_runs.mel).labels) and meta["view"] == "mel"
    assert result.num_bytes == (tiny_runs.mel / "model.keras").stat().st_size


def test_versioned_and_legacy_run_json_export_the_same_metadata(tiny_runs, tmp_path):
    import shutil

    run = run_info(tiny_runs.raw)
    metas = {}
    for name in ("new", "old"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(tiny_runs.raw / "model.keras", folder / "model.keras")
        if name == "new":
            run.write(str(folder))
        else:
            (folder / "run.json").write_text(json.dumps(legacy_run_json(run)))
        for fmt in ("keras", "savedmodel"):
            result = export_run(str(folder), fmt, str(tmp_path / f"{name}_{fmt}"))
            metas[name, fmt] = json.loads(Path(result.metadata_path).read_text())
    for fmt in ("keras", "savedmodel"):
        assert metas["new", fmt] == metas["old", fmt]
    assert metas["new", "savedmodel"]["window_samples"] == run.audio.window_samples
    assert metas["new", "keras"]["view_entry"]["params"]["downsample"] == 1


def test_export_errors(tiny_runs, tmp_path, capsys):
    assert main(["--run-dir", str(tmp_path)]) == 2
    assert main(["--run-dir", str(tiny_runs.mel), "--format", "all", "--output", "x"]) == 2
    assert main(["--run-dir", str(tiny_runs.mel), "--format", "keras", "--quantize"]) == 2
    with pytest.raises(SystemExit):
        main(["--run-dir", str(tiny_runs.mel), "--format", "onnx"])
    err = capsys.readouterr().err
    assert "not a tfgenre run folder" in err and "--output works with one --format" in err


def test_savedmodel_on_real_gtzan_clip(real_data, tiny_runs, tmp_path):
    """A real 30-s clip: the in-graph mel equals the records' mel view (float16)."""
    import tensorflow as tf

    from tfgenre.inference.serving import FrontendSpec, frame_waveform, view_from_windows

    clip = Path(real_data) / "gtzan_sample" / "genres" / "blues" / "blues.00000.wav"
    info = run_info(tiny_runs.mel)
    spec = FrontendSpec.from_run_info(info)
    predictor = Predictor.load(str(tiny_runs.mel))
    y = audio.decode(str(clip), 22050)
    chunks, _, _ = predictor.model_inputs(y)
    expected = np.concatenate(list(chunks))
    got = view_from_windows(frame_waveform(tf.constant(y), spec.framing), spec).numpy()
    assert got.shape == expected.shape
    # float16 steps are 0.03 dB near 40 dB: allow one step.
    np.testing.assert_allclose(got, expected, atol=0.07)
    assert np.mean(got == expected) > 0.99


def _centroid_mel_run(tiny_runs, run_dir: Path) -> Path:
    """A copy of the tiny mel run whose model tells the genres apart on every window.

    The model is a nearest-centroid classifier on the standardised mean dB of each mel
    band (closed form, no training): every band counts, quiet ones too, as in a real
    mel model. The one-epoch ``mel_cnn`` of the fixture predicts one class everywhere,
    so top-1 agreement would be 100 % whatever the quantisation did.
    """
    import shutil

    import keras

    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.reader import to_numpy_arrays

    shutil.copytree(tiny_runs.mel, run_dir, ignore=shutil.ignore_patterns("export"))
    train = to_numpy_arrays(RecordsInfo.load(str(tiny_runs.records)), "mel", "train")
    bands = train["data"].astype(np.float32)[..., 0].mean(axis=2)  # (n, n_mels)
    mean, std = bands.mean(axis=0), bands.std(axis=0) + 1e-3
    z = (bands - mean) / std
    centroids = np.stack([z[train["label"] == k].mean(axis=0) for k in range(3)])
    n_mels, frames, _ = run_info(tiny_runs.mel).input_shape
    inputs = keras.Input((n_mels, frames, 1))
    x = keras.layers.Reshape((n_mels, frames))(inputs)
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Permute((2, 1))(x))
    x = keras.layers.Normalization(mean=mean, variance=std**2)(x)
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([2 * centroids.T, -(centroids**2).sum(axis=1)])
    model.save(run_dir / "model.keras")
    return run_dir


def test_quantized_tflite_is_its_own_file_and_predicts_like_float(tiny_runs, tmp_path, capsys):
    """--quantize keeps the front end in float: the old export quantised the mel
    filterbank (and with it the power spectrum) to int8, 11-29 dB off on average, and
    this model agreed with its float self on 65 % of windows; it also replaced the float
    model.tflite."""
    from tfgenre.core import audio

    run = _centroid_mel_run(tiny_runs, tmp_path / "run")
    args = ["--run-dir", str(run), "--format", "tflite", "--log-level", "ERROR"]
    assert main(args) == 0
    export = run / "export"
    float_bytes = (export / "model.tflite").read_bytes()
    assert main([*args, "--quantize"]) == 0
    assert "top-1 agreement with the float model: 100.0 %" in capsys.readouterr().out
    assert (export / "model.tflite").read_bytes() == float_bytes  # left alone
    quant = export / "model_quant.tflite"
    report = json.loads((export / "model_quant.tflite.agreement.json").read_text())
    # 3 validation tracks of 3 s, 1-s windows every 0.5 s: 15 windows
    assert report["split"] == "validation" and report["examples"] == 15
    assert report["top1_agreement"] >= 0.95 and report["minimum"] == 0.95
    meta = json.loads((export / "model_quant.tflite.json").read_text())
    assert meta["quantized"] is True and meta["quantization"] == report
    agree = total = 0
    for clip in sorted(tiny_runs.audio.rglob("*.wav")):  # every clip, train and test too
        y = audio.decode(str(clip), 22050)
        want = _tflite(export / "model.tflite", waveform=y)["segment_probabilities"]
        got = _tflite(quant, waveform=y)["segment_probabilities"]
        agree += int(np.sum(want.argmax(1) == got.argmax(1)))
        total += len(want)
    assert agree / total >= 0.95, (agree, total)


def test_quantized_mel_cnn_has_int8_weights_and_a_float_front_end(tiny_runs, tmp_path):
    import warnings

    import tensorflow as tf

    result = export_run(str(tiny_runs.mel), "tflite", str(tmp_path / "q.tflite"), quantize=True)
    assert result.agreement["top1_agreement"] >= 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=result.path)
    int8 = [tuple(d["shape"]) for d in interpreter.get_tensor_details()
            if d["dtype"] == np.int8]
    n_mels = run_info(tiny_runs.mel).input_shape[0]
    assert any(len(shape) == 4 for shape in int8), int8  # the conv kernels are int8
    assert not [s for s in int8 if n_mels in s and 1025 in s], int8  # the filterbank is not
    floats = export_run(str(tiny_runs.mel), "tflite", str(tmp_path / "f.tflite"))
    assert result.num_bytes < 0.5 * floats.num_bytes
    # A features-CSV run without a validation split is measured on its test rows.
    csv_run = export_run(str(tiny_runs.features_csv_run), "tflite", str(tmp_path / "c.tflite"),
                         quantize=True)
    assert csv_run.agreement["split"] == "test"
    assert csv_run.agreement["data"] == str(tiny_runs.features_csv)


def test_quantized_tflite_below_the_agreement_is_refused(tiny_runs, tmp_path, capsys, monkeypatch):
    import tfgenre.inference.quantization

    monkeypatch.setattr(tfgenre.inference.quantization, "MIN_AGREEMENT", 1.01)  # nothing can pass
    out = tmp_path / "q.tflite"
    assert main(["--run-dir", str(tiny_runs.raw), "--format", "tflite", "--quantize",
                 "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "agrees with the float model on 100.0 % of 15 windows" in err
    assert "not written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no model, no metadata, no staging folder
