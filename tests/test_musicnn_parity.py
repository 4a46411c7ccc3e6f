"""The musicnn / vgg ports equal the original TF1 graphs of the published weights.

The original graph is each checkpoint folder's ``.meta``, pruned to its inference
outputs and frozen with the checkpoint's values (``musicnn_graph.py``). Tests that need
the weights skip, with the reason shown, when the ``musicnn`` package is missing
(``make venv`` installs it with ``--no-deps``); real-audio checks need
``TFGENRE_REAL_DATA``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from musicnn_graph import (
    WEIGHT_NAMES,
    librosa_log_mel,
    max_abs_diffs,
    patches_of,
    real_clips,
    tone_and_noise,
)
from skips import needs_musicnn

from tfgenre.backbones import MusicnnFrontEnd, build_musicnn, build_pretrained, find_weights
from tfgenre.backbones import weights as weights_module
from tfgenre.backbones.frontend import N_MELS, SAMPLE_RATE
from tfgenre.errors import ConfigError

#: The parity bound of issue 12 (max abs difference, every output).
TOLERANCE = 1e-4


def _real_root() -> str | None:
    root = os.environ.get("TFGENRE_REAL_DATA")
    return root if root and os.path.isdir(root) else None


needs_real_data = pytest.mark.skipif(
    _real_root() is None,
    reason="TFGENRE_REAL_DATA is not set; point it at the shared data folder",
)


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> dict[str, dict]:
    """musicnn_graph.py's parity report, computed in a process with oneDNN off.

    oneDNN (TensorFlow's default on x86) rewrites the original graph's batch norms
    and sums in another order; without it, the ports equal the originals bit for bit.
    """
    out = tmp_path_factory.mktemp("parity") / "parity.json"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, str(root / "tests" / "musicnn_graph.py"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def real_audio() -> dict[str, np.ndarray]:
    """Genre -> a real clip at 16 kHz (or a skip saying why)."""
    root = _real_root()
    if root is None:
        pytest.skip("TFGENRE_REAL_DATA is not set; point it at the shared data folder")
    return real_clips(root)


@needs_musicnn
@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_port_equals_original_on_random_log_mel(parity, name: str) -> None:
    diffs = parity[name]["random"]
    pools = {"mean_pool", "max_pool"} if "musicnn" in name else set()
    expected = {"taggram", "penultimate"} | pools
    assert set(diffs) == expected
    assert max(diffs.values()) <= TOLERANCE, diffs


@needs_musicnn
@needs_real_data
@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_port_equals_original_on_real_music(parity, name: str) -> None:
    diffs = parity[name]["real"]
    assert max(diffs.values()) <= TOLERANCE, diffs


@needs_musicnn
def test_port_and_original_in_this_process(real_audio) -> None:
    """With this process's TensorFlow settings (oneDNN on x86): the same to 1e-4 of scale.

    Also checks the whole path: waveform -> MusicnnFrontEnd -> port against librosa's
    spectrogram -> original graph.
    """
    from musicnn_graph import OriginalGraph

    audio = real_audio["metal"]
    ws = find_weights("musicnn_msd")
    port, original = build_pretrained(ws), OriginalGraph(ws.folder, ws.architecture)
    patches = np.asarray(MusicnnFrontEnd()(audio[None, :]))[0]
    expected = original(patches_of(librosa_log_mel(audio)))
    original.close()
    diffs = max_abs_diffs(port.predict(patches, verbose=0), expected)
    for key, diff in diffs.items():
        assert diff <= TOLERANCE * max(1.0, float(np.abs(expected[key]).max())), (key, diffs)
    assert np.ptp(expected["taggram"]) > 1e-2  # real, varied tags


def test_front_end_equals_librosa_log_mel() -> None:
    audio = tone_and_noise()
    out = np.asarray(MusicnnFrontEnd()(audio[None, :]))
    expected = patches_of(librosa_log_mel(audio))
    assert out.shape == (1, *expected.shape) == (1, 2, 187, N_MELS)
    assert np.max(np.abs(out[0] - expected)) <= TOLERANCE


def test_front_end_on_real_music_equals_librosa(real_audio) -> None:
    for genre, audio in real_audio.items():
        out = np.asarray(MusicnnFrontEnd()(audio[None, :]))[0]
        diff = np.max(np.abs(out - patches_of(librosa_log_mel(audio))))
        assert diff <= TOLERANCE, (genre, diff)


def test_front_end_overlapping_patches_and_short_clip_error() -> None:
    audio = tone_and_noise(4.0)  # 251 frames
    out = MusicnnFrontEnd(patch_frames=187, hop_frames=32)(audio[None, :])
    assert tuple(out.shape) == (1, 3, 187, N_MELS)
    with pytest.raises(ValueError, match="shorter than one patch"):
        MusicnnFrontEnd()(np.zeros((1, 16000), np.float32))


def test_front_end_stays_finite_on_loud_music() -> None:
    """The original's float16 cast overflows to inf here; the port computes in float32."""
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    loud = np.sign(np.sin(2 * np.pi * 110 * t)).astype(np.float32)  # full-scale square
    import librosa

    mel = librosa.feature.melspectrogram(y=loud, sr=SAMPLE_RATE, hop_length=256, n_fft=512).T
    assert np.isinf(np.log10(10000 * mel.astype(np.float16) + 1)).any()  # the original
    out = np.asarray(MusicnnFrontEnd()(loud[None, :]))
    assert np.isfinite(out).all()
    assert np.max(np.abs(out[0] - patches_of(librosa_log_mel(loud)))) <= TOLERANCE


def test_front_end_and_musicnn_export_as_a_saved_model(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    wave = keras.Input((SAMPLE_RATE * 3,), name="waveform")
    patches = keras.layers.Reshape((187, N_MELS))(MusicnnFrontEnd()(wave))
    net = build_musicnn(5, num_filt_midend=8, num_units_backend=16)
    model = keras.Model(wave, net(patches)["taggram"])
    x = tone_and_noise(3.0)[None, :]
    model.export(str(tmp_path / "saved"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))  # kept: it owns the variables
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(served), np.asarray(model(x)), atol=1e-5)


def test_musicnn_takes_any_patch_length_when_asked() -> None:
    net = build_musicnn(3, num_filt_midend=8, num_units_backend=16, patch_frames=None)
    for frames in (64, 300):
        out = net(np.zeros((2, frames, N_MELS), np.float32))
        assert tuple(out["taggram"].shape) == (2, 3)
        assert tuple(out["max_pool"].shape) == (2, 561 + 3 * 8)


def test_keras_round_trip(tmp_path: Path) -> None:
    """Front end + musicnn in one model saves to .keras and loads in tfgenre's loader."""
    import keras

    from tfgenre.models.saving import load_model

    wave = keras.Input((SAMPLE_RATE * 3,), name="waveform")
    patches = MusicnnFrontEnd(hop_frames=100, name="front")(wave)
    net = build_musicnn(7, num_filt_midend=8, num_units_backend=16)
    flat = keras.layers.Reshape((187, N_MELS))(patches)  # 1 patch per 3-s clip
    model = keras.Model(wave, net(flat)["taggram"])
    x = tone_and_noise(3.0)[None, :]
    before = np.asarray(model(x))
    path = tmp_path / "m.keras"
    model.save(path)
    again = load_model(str(path), compile=False)
    np.testing.assert_allclose(np.asarray(again(x)), before, atol=1e-6)
    assert again.get_layer("front").get_config()["hop_frames"] == 100


# The port under the jax backend: tests/test_jax_backend.py.


# Finding the weights.


@needs_musicnn
def test_find_weights_by_name_and_by_path() -> None:
    ws = find_weights("musicnn_msd")
    assert (ws.architecture, ws.dataset, len(ws.labels)) == ("musicnn", "msd", 50)
    assert ws.labels[0] == "rock" and find_weights("vgg_mtt").labels[0] == "guitar"
    assert "ISC" in ws.licence and "Million Song" in ws.source
    assert len(ws.checksum()) == 64 and ws.checksum() == ws.checksum()
    by_path = find_weights(ws.folder)
    assert (by_path.name, by_path.folder, by_path.labels) == (ws.name, ws.folder, ws.labels)
    assert "conv2d_5/kernel" in ws.read_variables()
    assert not any("Adam" in k for k in ws.read_variables())


def test_unknown_weight_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"musicnn_mtt, musicnn_msd.*did you mean 'musicnn_msd'"):
        find_weights("musicnn_mds")


def test_a_folder_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a musicnn checkpoint folder \(missing \.index"):
        find_weights(str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        find_weights(str(tmp_path / "nope"))


def test_missing_package_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setattr(weights_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install --no-deps musicnn==0\.1\.0"):
        find_weights("vgg_msd")
