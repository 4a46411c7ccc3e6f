"""Nothing lost, nothing hangs (issue 18, items 10-13 and 15), as a user runs it.

Each command is ``python -m tfgenre.<cmd>`` in its own process: a user's files in a
run folder survive ``fit --overwrite``, a second writer or fit into a locked folder is
refused naming the holder's pid, a manifest path outside its folder is refused, a named
pipe and a link loop do not hang or repeat ``predict``, and a fit refused for its
records leaves no run folder behind.

Tiny data: 2 synthetic genres x 4 clips of 2 s, 1-s windows, the features view.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import spawn
from builders import RecordsSpec
from test_hostile_files import FEATURES, hold_lock

from tfgenre.core import layout

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"
RAW_22K = RecordsSpec(
    num_genres=2, clips_per_genre=2, clip_seconds=1.0, views=("raw",), window_seconds=1.0,
    splits=(("train", 0.5), ("test", 0.5)), shards=1, seed=0,
)  # fmt: skip


def run(cwd: Path, module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    proc = spawn.run([sys.executable, "-m", module, *args], cwd=cwd, timeout=timeout,
                     env={**os.environ, "PYTHONPATH": path})
    assert TRACEBACK not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    return proc


def fit_args(records: Path, run_dir: Path, *more: str) -> tuple[str, ...]:
    return (
        "--records", str(records), "--view", "features", "--model", "features_mlp",
        "--run-dir", str(run_dir), "--epochs", "1", "--batch-size", "4", *more,
    )  # fmt: skip


@pytest.fixture(scope="module")
def records(synthetic_records) -> Path:
    return synthetic_records(FEATURES).records


@pytest.fixture(scope="module")
def finished_run(records, tmp_path_factory) -> Path:
    """A finished one-epoch run, made once for the module (copy it before changing it)."""
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    proc = run(run_dir.parent, "tfgenre.fit", *fit_args(records, run_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def test_fit_overwrite_keeps_the_users_files_and_lists_them(records, finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    mine = ("report/notes.txt", "tb/my_notes.txt", "checkpoints/keep.h5")
    for rel in mine:
        (run_dir / rel).write_text("the user's")
    proc = run(tmp_path, "tfgenre.fit", *fit_args(records, run_dir, "--overwrite"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "fit did not write" in proc.stderr
    for rel in mine:
        assert rel in proc.stderr
        assert (run_dir / rel).read_text() == "the user's"
    assert (run_dir / layout.MODEL).exists()  # nothing of the run was removed either
    for rel in mine:
        (run_dir / rel).unlink()
    proc = run(tmp_path, "tfgenre.fit", *fit_args(records, run_dir, "--overwrite"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "report" / "report.md").exists()


def test_fit_records_the_report_files_it_writes(finished_run):
    listed = (finished_run / layout.WRITTEN).read_text().split()
    assert "report/report.md" in listed and "report/metrics.json" in listed


def test_fit_into_a_locked_run_folder_is_refused_naming_the_pid(records, tmp_path):
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir)
    try:
        proc = run(tmp_path, "tfgenre.fit", *fit_args(records, run_dir))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"pid {holder.pid}" in proc.stderr and "in use" in proc.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == [layout.LOCK_FILE]  # wrote nothing


def test_write_records_into_a_locked_folder_is_refused_naming_the_pid(tmp_path):
    out = tmp_path / "records"
    holder = hold_lock(out)
    try:
        proc = run(
            tmp_path, "tfgenre.write_records", "--source", "synthetic", "--input", "audio",
            "--output", str(out), "--views", "features", "--set", "source_options.num_genres=2",
            "--set", "source_options.clips_per_genre=2", "--set", "source_options.clip_seconds=1",
            "--window-seconds", "1", "--shards", "1", "--no-progress",
        )  # fmt: skip
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"pid {holder.pid}" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [layout.LOCK_FILE]


@pytest.mark.parametrize("bad", ["features/../../outside/x.tfrecord", "/etc/passwd"])
def test_fit_and_baselines_refuse_a_manifest_path_outside_the_folder(records, tmp_path, bad):
    copy = tmp_path / "records"
    shutil.copytree(records, copy)
    manifest = json.loads((copy / layout.MANIFEST).read_text())
    manifest["splits"]["train"]["shards"][0]["file"] = bad
    (copy / layout.MANIFEST).write_text(json.dumps(manifest))
    proc = run(tmp_path, "tfgenre.fit", *fit_args(copy, tmp_path / "run"))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "must be a path inside" in proc.stderr and repr(bad) in proc.stderr
    assert "corrupt" not in proc.stderr
    assert not (tmp_path / "run").exists()
    proc = run(tmp_path, "tfgenre.baselines", "--records", str(copy), "--out", "tables")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "must be a path inside" in proc.stderr and repr(bad) in proc.stderr


def test_predict_skips_a_named_pipe_and_a_link_loop(synthetic_records, finished_run, tmp_path):
    clips = tmp_path / "clips"
    audio = synthetic_records(FEATURES).audio
    wavs = sorted(audio.rglob("*.wav"))[:2]
    (clips / "sub").mkdir(parents=True)
    shutil.copy(wavs[0], clips / "a.wav")
    shutil.copy(wavs[1], clips / "sub" / "b.wav")
    os.mkfifo(clips / "x.wav")
    os.symlink(clips, clips / "sub" / "loop")
    proc = run(
        tmp_path, "tfgenre.predict", str(clips), "--model", str(finished_run),
        "--format", "csv", timeout=180,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]  # a file was skipped
    assert "x.wav: not a regular file (a named pipe (FIFO))" in proc.stderr
    rows = [line for line in proc.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 2, proc.stdout


def test_a_fit_refused_for_its_records_leaves_no_run_folder(synthetic_records, tmp_path):
    records = synthetic_records(RAW_22K).records  # 22.05-kHz raw windows
    run_dir = tmp_path / "run"
    args = (
        "--records", str(records), "--view", "raw", "--model", "musicnn_msd",
        "--run-dir", str(run_dir), "--epochs", "1",
    )  # fmt: skip
    proc = run(tmp_path, "tfgenre.fit", *args)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "16000-Hz" in proc.stderr
    assert not run_dir.exists()


def test_a_fit_refused_while_building_its_model_leaves_no_run_folder(records, tmp_path):
    run_dir = tmp_path / "run"
    proc = run(
        tmp_path, "tfgenre.fit", *fit_args(records, run_dir, "--set", "model_options.dropout=1.5")
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "dropout" in proc.stderr
    assert not run_dir.exists()
