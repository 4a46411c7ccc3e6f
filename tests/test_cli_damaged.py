"""Damaged files and small usage slips as a user meets them, one process per command.

A truncated or random-bytes ``model.keras`` (evaluate, predict, export), truncated
musicnn weights (predict --model musicnn_msd, write_records with the embeddings view)
and a corrupt shard in baselines each end in one ``error:`` line that names the file,
says what is wrong and how to recover; never a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import spawn
from skips import needs_musicnn

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def _cli(module: str, *args: object, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = spawn.run([sys.executable, "-m", f"tfgenre.{module}", *map(str, args)],
                     cwd=cwd or ROOT, env=env or _env(), timeout=600)
    assert TRACEBACK not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    return proc


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))


@pytest.fixture
def damaged_run(tiny_runs, tmp_path, request) -> Path:
    """A copy of the tiny features run whose model.keras is damaged (``request.param``)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_runs.features, run)
    _damage(run / "model.keras", request.param)
    return run


def _assert_names_damaged_model(proc: subprocess.CompletedProcess, run: Path) -> None:
    assert proc.returncode == 1, proc.stderr[-3000:]
    err = proc.stderr
    assert f"error: model file {run / 'model.keras'}" in err, err[-3000:]
    assert "is damaged" in err and "Restore it from a copy" in err, err[-3000:]
    assert "File not found" not in err, err[-3000:]


@pytest.mark.parametrize("damaged_run", ["truncated", "random"], indirect=True)
def test_evaluate_a_damaged_model_is_one_error(damaged_run):
    proc = _cli("evaluate", "--run-dir", damaged_run, "--split", "test")
    _assert_names_damaged_model(proc, damaged_run)


# Truncated and random bytes alike are "not a zip archive" (saving.check_keras_file): the
# default suite shows both through evaluate, and truncated through predict and export; the
# rest of the matrix is slow.
_TRUNCATED_BY_DEFAULT = ["truncated", pytest.param("random", marks=pytest.mark.slow)]


@pytest.mark.parametrize("damaged_run", _TRUNCATED_BY_DEFAULT, indirect=True)
def test_predict_a_damaged_model_is_one_error(damaged_run, tiny_runs):
    wav = sorted(tiny_runs.audio.rglob("*.wav"))[0]
    proc = _cli("predict", "--model", damaged_run, wav)
    _assert_names_damaged_model(proc, damaged_run)


@pytest.mark.parametrize("damaged_run", _TRUNCATED_BY_DEFAULT, indirect=True)
@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_export_a_damaged_model_is_one_error(damaged_run, fmt):
    proc = _cli("export", "--run-dir", damaged_run, "--format", fmt)
    _assert_names_damaged_model(proc, damaged_run)
    assert not (damaged_run / "export").exists() or not any((damaged_run / "export").iterdir())


@pytest.fixture
def truncated_weights_site(tmp_path) -> Path:
    """A copy of the installed musicnn package whose MSD_musicnn data file is cut in half.

    Put first on PYTHONPATH, it is the package ``find_weights`` finds.
    """
    import importlib.util

    spec = importlib.util.find_spec("musicnn")
    package = Path(next(iter(spec.submodule_search_locations)))
    site = tmp_path / "site"
    shutil.copytree(package, site / "musicnn")
    _damage(site / "musicnn" / "MSD_musicnn" / ".data-00000-of-00001", "truncated")
    return site


def _with_site(site: Path) -> dict[str, str]:
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    return env


def _assert_names_damaged_weights(proc: subprocess.CompletedProcess, site: Path) -> None:
    data = site / "musicnn" / "MSD_musicnn" / ".data-00000-of-00001"
    assert proc.returncode == 1, proc.stderr[-3000:]
    err = proc.stderr
    assert f"error: musicnn_msd weights file {data} is damaged" in err, err[-3000:]
    assert "pip install --force-reinstall --no-deps musicnn==0.1.0" in err, err[-3000:]


@needs_musicnn
def test_predict_with_truncated_weights_is_one_error(truncated_weights_site, tiny_runs):
    wav = sorted(tiny_runs.audio.rglob("*.wav"))[0]
    proc = _cli("predict", "--model", "musicnn_msd", wav, env=_with_site(truncated_weights_site))
    _assert_names_damaged_weights(proc, truncated_weights_site)


@needs_musicnn
def test_write_records_with_truncated_weights_fails_up_front(truncated_weights_site, tmp_path):
    out = tmp_path / "records"
    proc = _cli(
        "write_records", "--source", "synthetic", "--input", tmp_path / "audio",
        "--output", out, "--views", "embeddings",
        "--set", "embeddings.backbone=musicnn_msd",
        "--set", "source_options.num_genres=2", "--set", "source_options.clips_per_genre=2",
        "--set", "source_options.clip_seconds=3", "--window-seconds", "3",
        "--splits", "train=0.5,test=0.5", "--shards", "1", "--workers", "1", "--no-progress",
        env=_with_site(truncated_weights_site),
    )  # fmt: skip
    _assert_names_damaged_weights(proc, truncated_weights_site)
    assert "view computation failed" not in proc.stdout + proc.stderr
    assert not (out / "manifest.json").exists()


def test_baselines_on_a_corrupt_shard_names_it(tiny_runs, tmp_path):
    records = tmp_path / "records"
    shutil.copytree(tiny_runs.records, records)
    shard = sorted((records / "features").glob("train.*"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, bad CRC
    shard.write_bytes(bytes(data))
    proc = _cli("baselines", "--records", records, "--models", "logistic_regression",
                "--out", tmp_path / "tables")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"error: corrupt record(s) in {shard}" in proc.stderr, proc.stderr[-3000:]
    assert "rerun write_records with --overwrite" in proc.stderr, proc.stderr[-3000:]


# --- item 17: small slips -------------------------------------------------------------


def test_evaluate_an_unknown_split_is_a_usage_error(tiny_runs):
    proc = _cli("evaluate", "--run-dir", tiny_runs.features, "--split", "nonsense")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "error: split 'nonsense' is not in" in proc.stderr, proc.stderr[-3000:]


def test_a_run_fitted_on_a_relative_path_is_evaluated_from_another_folder(tiny_runs, tmp_path):
    import json

    work = tmp_path / "work"
    shutil.copytree(tiny_runs.records, work / "records")
    proc = _cli("fit", "--records", "records", "--view", "features", "--model", "features_mlp",
                "--run-dir", "run", "--epochs", "1", "--batch-size", "8", "--no-evaluate",
                cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data_path = json.loads((work / "run" / "run.json").read_text())["data_path"]
    assert data_path == str(work / "records"), data_path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _cli("evaluate", "--run-dir", work / "run", "--split", "test", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy" in proc.stdout


def _read_csv(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def test_predict_flags_silent_and_padded_files(tiny_runs, tmp_path):
    import json

    import soundfile as sf

    sf.write(tmp_path / "silence.wav", np.zeros(3 * 22050, np.float32), 22050)
    y, rate = sf.read(sorted(tiny_runs.audio.rglob("*.wav"))[0], dtype="float32")
    sf.write(tmp_path / "short.wav", y[: rate // 2], rate)  # half of a 1-s window
    sf.write(tmp_path / "music.wav", y, rate)
    proc = _cli("predict", "--model", tiny_runs.mel, "--format", "csv", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"warning: {tmp_path / 'silence.wav'}: silent" in proc.stderr, proc.stderr[-3000:]
    assert "music.wav: silent" not in proc.stderr
    tracks = {Path(r["path"]).name: r for r in _read_csv(proc.stdout) if r["level"] == "track"}
    assert {n: (r["padded"], r["silent"]) for n, r in tracks.items()} == {
        "music.wav": ("false", "false"),
        "short.wav": ("true", "false"),
        "silence.wav": ("false", "true"),
    }
    proc = _cli("predict", "--model", tiny_runs.mel, "--format", "json", tmp_path / "silence.wav")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result] = json.loads(proc.stdout)
    assert result["silent"] is True and result["padded"] is False


def test_an_undecodable_mp3_is_not_said_to_be_missing(tiny_runs, tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(1).bytes(5000))
    proc = _cli("predict", "--model", tiny_runs.mel, bad)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"skipped: {bad}: cannot decode audio (not a recognisable audio stream" in proc.stderr
    assert "File does not exist" not in proc.stderr, proc.stderr[-3000:]
    assert "Note:" not in proc.stderr and "libmpg123" not in proc.stderr, proc.stderr[-3000:]
