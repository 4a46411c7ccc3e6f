"""Tagging without training (tfgenre.inference.tagging): the tags are the backbone's taggram."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from skips import needs_musicnn

from tfgenre import predict
from tfgenre.backbones.runner import PATCH_SECONDS, BackboneRunner
from tfgenre.core import audio
from tfgenre.errors import ConfigError
from tfgenre.inference import tagging


def _write_clip(path: Path, seconds: float, rate: int = 22050) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    y += 0.05 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(path, y.astype(np.float32), rate)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return _write_clip(tmp_path_factory.mktemp("tagging") / "clip.wav", 7.0)


@pytest.fixture(scope="module")
def tagger() -> tagging.Tagger:
    return tagging.Tagger.load("musicnn_msd")


@needs_musicnn
def test_tags_are_the_mean_taggram_of_the_backbone(tagger, clip):
    result = tagger.predict_file(str(clip))
    y16 = audio.decode(str(clip), 16000)
    expected = BackboneRunner("musicnn_msd", batch_size=1)(y16)["taggram"]
    assert result.segment_probabilities.shape == expected.shape == (2, 50)
    np.testing.assert_allclose(result.segment_probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(result.probabilities, expected.mean(axis=0), atol=1e-5)
    assert result.labels == tagger.runner.labels and "rock" in result.labels
    top = result.top(5)
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0][0] == result.labels[int(np.argmax(expected.mean(axis=0)))]
    assert result.kind == "tag" and result.duration_seconds == pytest.approx(7.0)
    assert "tags" in result.to_json(3) and "genres" not in result.to_json(3)


@needs_musicnn
def test_segments_follow_the_patches_and_the_hop(tagger, clip):
    result = tagger.predict_file(str(clip))
    spans = [v for i in range(result.num_segments) for v in result.segment_span(i)]
    assert spans == pytest.approx([0.0, PATCH_SECONDS, PATCH_SECONDS, 2 * PATCH_SECONDS])
    # musicnn's framing: whole patches only, the tail shorter than one patch is not tagged
    assert 0 <= result.duration_seconds - spans[-1] < PATCH_SECONDS

    hopped = tagging.Tagger(BackboneRunner("musicnn_msd", hop_frames=tagging.hop_frames(1.0)))
    r = hopped.predict_file(str(clip))
    frames = 1 + 7 * 16000 // 256
    assert r.num_segments == 1 + (frames - 187) // 62
    np.testing.assert_allclose(np.diff(r.segment_starts), 62 * 256 / 16000)
    np.testing.assert_allclose(
        r.segment_probabilities[0], result.segment_probabilities[0], atol=1e-5
    )


@needs_musicnn
def test_a_clip_shorter_than_one_patch_is_padded_and_flagged(tagger, tmp_path):
    short = _write_clip(tmp_path / "short.wav", 1.5)
    result = tagger.predict_file(str(short))
    assert result.padded and result.num_segments == 1
    assert result.segment_span(0) == pytest.approx((0.0, PATCH_SECONDS))
    assert result.duration_seconds == pytest.approx(1.5)
    assert np.all((result.probabilities >= 0) & (result.probabilities <= 1))


@needs_musicnn
def test_bad_files_are_skipped_and_reported(tagger, clip, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    skipped = []
    results, failed = tagger.predict_files([str(bad), str(clip)], on_skip=skipped.append)
    assert [r.path for r in results] == [str(clip)] and failed == [str(bad)]
    assert len(skipped) == 1 and str(bad) in str(skipped[0])


def test_unknown_names_and_bad_hops():
    with pytest.raises(ConfigError, match="did you mean 'musicnn_msd'"):
        tagging.Tagger.load("musicnn_mds")
    err = tagging.unknown_model_error("musicnn_mds")
    assert str(err).startswith("file not found: --model musicnn_mds")
    assert "vgg_msd" in str(err) and "did you mean 'musicnn_msd'" in str(err)
    with pytest.raises(ConfigError, match="hop_seconds=0"):
        tagging.hop_frames(0)
    assert tagging.hop_frames(None) is None and tagging.hop_frames(1e-6) == 1


def test_list_weight_sets_without_the_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "musicnn" else real(name, *a)
    )
    entries = tagging.list_weight_sets()
    assert [e.name for e in entries] == ["musicnn_mtt", "musicnn_msd", "vgg_mtt", "vgg_msd"]
    assert all(e.folder is None and "pip install --no-deps musicnn" in e.problem for e in entries)
    assert all("ISC" in e.licence and "Pons" in e.licence for e in entries)
    text = tagging.format_weight_sets(entries)
    assert "installed:    no:" in text and "run folder" in text


def test_missing_package_is_a_usage_error_without_traceback(clip, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "musicnn" else real(name, *a)
    )
    assert predict.main([str(clip), "--model", "musicnn_msd"]) == 2
    err = capsys.readouterr().err
    assert "error: the pretrained weights need the 'musicnn' package" in err
    assert "pip install --no-deps musicnn==0.1.0" in err and "Traceback" not in err


def test_arguments_are_checked_before_tensorflow_starts(clip):
    code = (
        "import sys; from tfgenre.predict import main; code = main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules); sys.exit(code)"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for argv, rc in (([str(clip), "--model", "musicnn_mds"], 2), (["--list-models"], 0)):
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == rc, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == "False"  # TensorFlow was never imported
