"""python -m tfgenre.predict: any file length, rate and channel count; every view; bad files."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from builders import legacy_run_json, run_info

from tfgenre.core import audio
from tfgenre.inference.audio_files import list_audio_files
from tfgenre.inference.predictor import Predictor, resolve_model_path
from tfgenre.predict import main


@pytest.fixture(scope="module")
def short_file(tiny_runs, tmp_path_factory) -> Path:
    """0.4 s of a clip as 48 kHz stereo FLAC: shorter than the 1-s window."""
    y, rate = sf.read(sorted(tiny_runs.audio.rglob("*.wav"))[0], dtype="float32")
    import librosa

    y = librosa.resample(y[: int(0.4 * rate)], orig_sr=rate, target_sr=48000)
    path = tmp_path_factory.mktemp("short") / "short.flac"
    sf.write(path, np.stack([y, y], axis=1), 48000)
    return path


def _json(capsys, argv: list[str]) -> tuple[int, list[dict], str]:
    code = main([*argv, "--format", "json", "--log-level", "ERROR"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else [], out.err


def test_long_44k_stereo_file(tiny_runs, long_stereo, capsys):
    code, result, _ = _json(capsys, [str(long_stereo), "--model", str(tiny_runs.mel), "--segments"])
    assert code == 0
    (r,) = result
    assert r["path"] == str(long_stereo)
    assert r["duration_seconds"] == pytest.approx(125.0, abs=1e-3)
    # Decoded at the run's 22050 Hz, 1-s windows every 0.5 s.
    info = run_info(tiny_runs.mel)
    n = 125 * 22050
    expected = 1 + (n - info.audio.window_samples) // info.audio.hop_samples
    assert r["num_segments"] == expected == len(r["segments"])
    labels = info.labels
    assert [g[0] for g in r["genres"]] and all(g[0] in labels for g in r["genres"])
    probs = [g[1] for g in r["genres"]]
    assert probs == sorted(probs, reverse=True) and len(probs) == 3
    assert r["segments"][1]["start_seconds"] == pytest.approx(0.5)
    assert r["segments"][-1]["end_seconds"] <= 125.0
    # The track's probabilities are the mean of the segments' (check via the library).
    pred = Predictor.load(str(tiny_runs.mel)).predict_file(str(long_stereo))
    np.testing.assert_allclose(pred.probabilities, pred.segment_probabilities.mean(0), atol=1e-6)
    assert pred.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert [g[0] for g in r["genres"]] == [label for label, _ in pred.top(3)]


@pytest.mark.parametrize("which", ["mel", "raw", "features", "features_csv_run"])
def test_file_shorter_than_one_window(tiny_runs, short_file, capsys, which):
    code, result, _ = _json(
        capsys, [str(short_file), "--model", str(getattr(tiny_runs, which)), "--segments"]
    )
    assert code == 0
    (r,) = result
    # Whole-track features have no window to fall short of: one segment, the whole file.
    whole = which == "features_csv_run"
    assert r["num_segments"] == 1 and r["padded"] is not whole
    assert r["duration_seconds"] == pytest.approx(0.4, abs=1e-3)
    assert r["segments"][0]["end_seconds"] == pytest.approx(0.4 if whole else 1.0, abs=1e-3)
    assert sum(p for _, p in r["genres"]) <= 1.0 + 1e-5


@pytest.mark.parametrize("view", ["mel", "raw", "features"])
def test_model_inputs_equal_the_records(tiny_runs, view):
    """predict feeds the model exactly what the records writer stored for the track."""
    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.reader import iterate_numpy, payload_scale

    m = RecordsInfo.load(str(tiny_runs.records))
    examples = [e for e in iterate_numpy(m, view, "train")]
    track = examples[0]["track_id"]
    stored = np.stack([e["data"] for e in examples if e["track_id"] == track])
    stored = stored.astype(np.float32) / payload_scale(m.view(view))
    genre = track.split(".")[0]
    predictor = Predictor.load(str(getattr(tiny_runs, view)))
    y = audio.decode(str(tiny_runs.audio / genre / f"{track}.wav"), predictor.sample_rate)
    chunks, starts, padded = predictor.model_inputs(y)
    x = np.concatenate(list(chunks))
    assert not padded and x.shape == stored.shape
    assert list(starts) == [i * 11025 for i in range(len(stored))]
    if view == "features":
        np.testing.assert_allclose(x, stored, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(x, stored)


def test_features_csv_run_uses_whole_track(tiny_runs):
    """A features-CSV run of whole-track rows computes the features of the whole file."""
    import pandas as pd

    info = run_info(tiny_runs.features_csv_run)
    assert info.audio.whole_tracks and info.source == "features_csv"
    table = pd.read_csv(tiny_runs.features_csv)
    row = table.iloc[0]
    predictor = Predictor.load(str(tiny_runs.features_csv_run))
    path = tiny_runs.audio / row["label"] / row["filename"]
    y = audio.decode(str(path), predictor.sample_rate)
    chunks, starts, _ = predictor.model_inputs(y)
    x = np.concatenate(list(chunks))
    assert x.shape == (1, 57) and list(starts) == [0]
    np.testing.assert_allclose(x[0], row[list(info.feature_names)].to_numpy(np.float32), rtol=1e-4)
    pred = predictor.predict_file(str(path))
    assert pred.num_segments == 1
    assert pred.segment_span(0) == pytest.approx((0.0, 3.0), abs=1e-3)


def test_folder_with_bad_files_reports_and_exits_1(tiny_runs, tmp_path, capsys):
    folder = tmp_path / "music"
    (folder / "sub").mkdir(parents=True)
    clips = sorted(tiny_runs.audio.rglob("*.wav"))[:2]
    (folder / "a.wav").write_bytes(clips[0].read_bytes())
    (folder / "sub" / "b.wav").write_bytes(clips[1].read_bytes())
    (folder / "broken.mp3").write_bytes(b"ID3 this is not audio" * 10)
    (folder / "empty.ogg").write_bytes(b"")
    (folder / "notes.txt").write_text("ignored: not audio by name")
    (folder / ".hidden.wav").write_bytes(b"ignored: hidden")
    (folder / "sub" / "phone.m4a").write_bytes(b"not decoded by libsndfile")
    code = main([str(folder), "--model", str(tiny_runs.raw), "--format", "csv",
                 "--top-k", "2", "--segments", "--log-level", "ERROR"])
    out = capsys.readouterr()
    assert code == 1
    assert "3 of 5 file(s) could not be decoded" in out.err
    for name in ("broken.mp3", "empty.ogg"):
        assert name in out.err
    assert "phone.m4a: unsupported format" in out.err
    assert "notes.txt" not in out.err
    rows = list(csv.DictReader(io.StringIO(out.out)))
    tracks = [r for r in rows if r["level"] == "track"]
    assert [Path(r["path"]).name for r in tracks] == ["a.wav", "b.wav"]
    assert set(rows[0]) == {"path", "level", "segment", "start_seconds", "end_seconds",
                            "padded", "silent", "genre_1", "probability_1", "genre_2",
                            "probability_2"}
    segments = [r for r in rows if r["level"] == "segment"]
    assert len(segments) == 2 * 5  # 3-s clips, 1-s windows, 0.5-s hop
    assert segments[1]["start_seconds"] == "0.500"


def test_table_format_top_k_and_hop(tiny_runs, capsys):
    clip = sorted(tiny_runs.audio.rglob("*.wav"))[0]
    code = main([str(clip), "--model", str(tiny_runs.mel), "--top-k", "1", "--segments",
                 "--hop-seconds", "1.0", "--log-level", "ERROR"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith(str(clip)) and "3 seg" in lines[0]
    assert len(lines) == 2 + 3  # header, genres, three 1-s windows
    assert len(lines[1].split()) == 2  # one "genre probability" pair


def test_usage_errors_exit_2(tiny_runs, tmp_path, capsys):
    clip = str(sorted(tiny_runs.audio.rglob("*.wav"))[0])
    assert main([clip, "--model", str(tmp_path / "nope")]) == 2
    assert main([clip, "--model", str(tmp_path)]) == 2
    assert main([clip, "--model", str(tiny_runs.mel), "--top-k", "0"]) == 2
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--model", str(tiny_runs.mel)]) == 2
    with pytest.raises(SystemExit) as err:
        main([clip, "--model", str(tiny_runs.mel), "--format", "xml"])
    assert err.value.code == 2
    err = capsys.readouterr().err
    assert "file not found: --model" in err and "no run.json" in err and "--top-k=0" in err


def test_model_path_forms(tiny_runs, tmp_path):
    mel = tiny_runs.mel
    assert resolve_model_path(str(mel)) == (str(mel / "model.keras"), str(mel))
    best = tiny_runs.mel / "checkpoints" / "best.keras"
    if best.exists():
        assert resolve_model_path(str(best))[1] == str(tiny_runs.mel)
    assert resolve_model_path(str(tiny_runs.mel / "model.keras"))[1] == str(tiny_runs.mel)
    files, unsupported = list_audio_files([str(tiny_runs.audio)])
    assert len(files) == 12 and files == sorted(files) and unsupported == []


_PREDICT_AND_SAY_IF_TF_STARTED = (
    "import sys; from tfgenre.predict import main; code = main(sys.argv[1:]); "
    "print('tensorflow' in sys.modules); sys.exit(code)"
)


def _predict_process(*argv: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _PREDICT_AND_SAY_IF_TF_STARTED, *map(str, argv)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True,
        timeout=120,
    )


def test_missing_paths_are_named_before_tensorflow_starts(tiny_runs, tmp_path):
    """A typo in a path gives `file not found` at once, not `System error` after the load."""
    missing = tmp_path / "no_such_song.mp3"
    proc = _predict_process(missing, "--model", tiny_runs.mel)
    assert proc.returncode == 2, proc.stderr
    assert f"error: file not found: {missing}" in proc.stderr
    assert proc.stdout.strip() == "False"  # TensorFlow was never imported
    assert "Traceback" not in proc.stderr

    clip = sorted(tiny_runs.audio.rglob("*.wav"))[0]
    proc = _predict_process(clip, "--model", tmp_path / "no_such_run")
    assert proc.returncode == 2 and proc.stdout.strip() == "False"
    assert f"error: file not found: --model {tmp_path / 'no_such_run'}" in proc.stderr

    out = tmp_path / "no" / "out.json"
    proc = _predict_process(clip, "--model", tiny_runs.mel, "--output", out)
    assert proc.returncode == 2 and proc.stdout.strip() == "False"
    assert "does not exist" in proc.stderr and str(tmp_path / "no") in proc.stderr


def test_versioned_and_legacy_run_json_predict_the_same(tiny_runs, tmp_path):
    """A run folder with the versioned run.json predicts as one with the old layout."""
    import shutil

    from tfgenre.runs.run_info import FORMAT_VERSION, RunInfo

    run = RunInfo.load(str(tiny_runs.mel))
    folders = {"new": tmp_path / "new", "old": tmp_path / "old"}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy(tiny_runs.mel / "model.keras", folder / "model.keras")
    run.write(str(folders["new"]))
    (folders["old"] / "run.json").write_text(json.dumps(legacy_run_json(run)))
    assert json.loads((folders["new"] / "run.json").read_text())["format_version"] == FORMAT_VERSION
    assert RunInfo.load(str(folders["old"])).format_version == 1
    clip = str(sorted(tiny_runs.audio.rglob("*.wav"))[0])
    new = Predictor.load(str(folders["new"])).predict_file(clip)
    old = Predictor.load(str(folders["old"])).predict_file(clip)
    np.testing.assert_array_equal(new.segment_probabilities, old.segment_probabilities)
    assert new.labels == old.labels and new.num_segments == old.num_segments == 5
