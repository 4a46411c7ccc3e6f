"""``python -m tfgenre.predict LIBRARY/ --output X`` as a user runs it: a whole library.

One library of 12 short synthetic clips in nested folders plus one undecodable file;
every run is its own process. Checked: --workers 2 gives the rows of --workers 1;
.jsonl, .csv (today's columns) and .parquet; a run killed mid-way resumes with every
file exactly once and the finished rows unchanged; a touched file is predicted again;
an output tfgenre did not write and other settings are refused; the Beam DirectRunner
writes the same rows.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
import spawn
from synth import tone

CLIPS = 12


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """12 clips of 1.5 s (22.05 and 16 kHz, mono and stereo) in nested folders + a bad file."""
    root = tmp_path_factory.mktemp("library") / "music"
    folders = [root, root / "rock", root / "rock" / "live", root / "jazz"]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(CLIPS):
        rate = 16000 if i % 3 == 0 else 22050
        y = tone(1.5, rate, 180.0 + 40 * i, seed=i, channels=1 + i % 2)
        sf.write(folders[i % len(folders)] / f"clip{i:02d}.wav", y, rate, subtype="PCM_16")
    (root / "jazz" / "broken.wav").write_bytes(b"RIFF this is not audio" * 20)
    (root / "notes.txt").write_text("not audio")
    return root


def _predict(*argv, cwd: Path, env_extra: dict | None = None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    return spawn.run([sys.executable, "-m", "tfgenre.predict", *map(str, argv)], cwd=cwd,
                     env=env, timeout=600)


def _jsonl(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    by_path = {r["path"]: r for r in rows}
    assert len(by_path) == len(rows), "a file appears twice"
    return by_path


def _same_rows(a: dict[str, dict], b: dict[str, dict], key: str = "genres") -> None:
    assert set(a) == set(b)
    for path in a:
        ra, rb = a[path], b[path]
        assert [g for g, _ in ra[key]] == [g for g, _ in rb[key]], path
        for (_, pa), (_, pb) in zip(ra[key], rb[key], strict=True):
            # within 1e-6, as printed: rounded to 6 decimals (plus float slack)
            assert abs(pa - pb) <= 1e-6 + 1e-9, path
        assert {k: v for k, v in ra.items() if k != key} == {
            k: v for k, v in rb.items() if k != key
        }


@pytest.fixture(scope="module")
def jsonl_one_worker(tiny_runs, library, tmp_path_factory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("w1") / "predictions.jsonl"
    proc = _predict(library, "--model", tiny_runs.mel, "--output", out, "--top-k", "3",
                    cwd=out.parent)
    return out, proc


def _in_process(capsys, *argv) -> tuple[int, str]:
    """Today's predict (stdout formats) in this process: TensorFlow is already loaded."""
    from tfgenre.predict import main

    code = main([*map(str, argv), "--log-level", "ERROR"])
    return code, capsys.readouterr().out


def test_jsonl_rows_bad_file_and_state(jsonl_one_worker, library, tiny_runs, capsys):
    out, proc = jsonl_one_worker
    assert proc.returncode == 1, proc.stderr
    assert "broken.wav" in proc.stderr and "1 of 13 file(s) could not be decoded" in proc.stderr
    assert "Traceback" not in proc.stderr
    rows = _jsonl(out)
    assert len(rows) == CLIPS and all("broken" not in p for p in rows)
    assert {Path(p).parent.name for p in rows} == {"music", "rock", "live", "jazz"}
    # The same object as --format json's list elements.
    clip = next(p for p in rows if p.endswith("clip01.wav"))
    code, plain = _in_process(capsys, clip, "--model", tiny_runs.mel, "--format", "json")
    assert code == 0
    _same_rows({clip: rows[clip]}, {clip: json.loads(plain)[0]})
    state = json.loads(Path(str(out) + ".state.json").read_text())
    assert state["written_by"] == "tfgenre.predict" and state["finished"] is True
    assert [Path(f["path"]).name for f in state["failed"]] == ["broken.wav"]
    assert state["counts"] == {"predicted": CLIPS, "already_done": 0, "failed": 1}


def test_two_workers_give_the_same_rows(jsonl_one_worker, library, tiny_runs, tmp_path):
    out1, _ = jsonl_one_worker
    out2 = tmp_path / "predictions.jsonl"
    proc = _predict(library, "--model", tiny_runs.mel, "--output", out2, "--workers", "2",
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "broken.wav" in proc.stderr
    _same_rows(_jsonl(out1), _jsonl(out2))
    assert list(_jsonl(out1)) == list(_jsonl(out2))  # the listing's order, whatever the workers


def test_csv_and_parquet_rows_are_todays_csv(library, tiny_runs, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    code, today = _in_process(capsys, library, "--model", tiny_runs.mel, "--format", "csv",
                              "--segments")
    assert code == 1
    out = tmp_path / "predictions.csv"
    proc = _predict(library, "--model", tiny_runs.mel, "--output", out, "--segments",
                    "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    old = list(csv.DictReader(today.splitlines()))
    new = list(csv.DictReader(out.read_text().splitlines()))
    assert out.read_text().splitlines()[0] == today.splitlines()[0]  # today's columns
    key = lambda r: (r["path"], r["level"], r["segment"])  # noqa: E731
    assert sorted(map(key, old)) == sorted(map(key, new))
    olds = {key(r): r for r in old}
    for r in new:
        o = olds[key(r)]
        assert [r[f"genre_{i}"] for i in (1, 2, 3)] == [o[f"genre_{i}"] for i in (1, 2, 3)]
        for i in (1, 2, 3):
            assert float(r[f"probability_{i}"]) == pytest.approx(
                float(o[f"probability_{i}"]), abs=2e-6
            )
    parquet = tmp_path / "predictions.parquet"
    proc = _predict(library, "--model", tiny_runs.mel, "--output", parquet, "--segments",
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    frame = pd.read_parquet(parquet)
    assert list(frame.columns) == list(new[0])
    assert len(frame) == len(new) and frame["padded"].dtype == bool
    track = frame[frame["level"] == "track"]
    assert len(track) == CLIPS and track["segment"].isna().all()
    csv_track = {r["path"]: float(r["probability_1"]) for r in new if r["level"] == "track"}
    for path, p in zip(track["path"], track["probability_1"], strict=True):
        assert p == pytest.approx(csv_track[path], abs=2e-6)


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists() and sum('"rows"' in x for x in path.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"{path} never had {n} lines")


def test_killed_run_resumes_and_touched_file_is_predicted_again(library, tiny_runs, tmp_path):
    out = tmp_path / "predictions.csv"
    journal = Path(str(out) + ".journal.jsonl")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TFGENRE_TEST_STALL_AFTER": "4"}
    argv = [sys.executable, "-m", "tfgenre.predict", str(library), "--model",
            str(tiny_runs.mel), "--output", str(out), "--segments", "--batch-size", "1"]
    proc = spawn.start(argv, cwd=tmp_path, env=env)
    try:
        _wait_for_lines(journal, 4, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    finished = out.read_text()
    # A kill in the middle of a write: half a row and half a journal line.
    with open(out, "a") as f:
        f.write(f"{library}/rock/clip01.wav,segm")
    with open(journal, "a") as f:
        f.write('{"path": "x", "si')

    rerun = _predict(library, "--model", tiny_runs.mel, "--output", out, "--segments",
                     cwd=tmp_path)
    assert rerun.returncode == 1, rerun.stderr
    assert f"predicted {CLIPS - 4} file(s)" in rerun.stderr and "4 already in" in rerun.stderr
    text = out.read_text()
    assert text.startswith(finished)  # the finished rows unchanged
    rows = list(csv.DictReader(text.splitlines()))
    tracks = [r["path"] for r in rows if r["level"] == "track"]
    assert len(tracks) == len(set(tracks)) == CLIPS  # every file exactly once
    segments = [r for r in rows if r["level"] == "segment"]
    assert len({(r["path"], r["segment"]) for r in segments}) == len(segments)

    touched = sorted(library.rglob("clip*.wav"))[0]
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    before = {r["path"]: r for r in rows if r["level"] == "track"}
    third = _predict(library, "--model", tiny_runs.mel, "--output", out, "--segments",
                     cwd=tmp_path)
    assert third.returncode == 1, third.stderr
    assert "1 file(s) changed since the last run" in third.stderr
    assert "predicted 1 file(s)" in third.stderr and f"{CLIPS - 1} already in" in third.stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    tracks = [r["path"] for r in rows if r["level"] == "track"]
    assert len(tracks) == len(set(tracks)) == CLIPS and tracks[-1] == str(touched)
    after = {r["path"]: r for r in rows if r["level"] == "track"}
    assert after == before  # the same audio: the replaced row is the same row
    assert len(rows) == len(list(csv.DictReader(text.splitlines())))


def test_refusals_before_tensorflow(library, tiny_runs, tmp_path):
    foreign = tmp_path / "mine.csv"
    foreign.write_text("my,own,table\n1,2,3\n")
    proc = _predict(library, "--model", tiny_runs.mel, "--output", foreign, cwd=tmp_path)
    assert proc.returncode == 2
    assert "was not written by tfgenre.predict" in proc.stderr and "Traceback" not in proc.stderr
    assert foreign.read_text() == "my,own,table\n1,2,3\n"

    proc = _predict(library, "--model", tiny_runs.mel, "--output", tmp_path / "p.jsonl",
                    "--workers", "-1", cwd=tmp_path)
    assert proc.returncode == 2 and "Received: workers=-1" in proc.stderr
    proc = _predict(library, "--model", tiny_runs.mel, "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 2 and "--workers needs --output ending in .csv" in proc.stderr
    proc = _predict(library, "--model", tiny_runs.mel, "--output", tmp_path / "p.jsonl",
                    "--format", "table", cwd=tmp_path)
    assert proc.returncode == 2 and "drop --format" in proc.stderr


def test_other_settings_are_refused(jsonl_one_worker, library, tiny_runs, tmp_path):
    out, _ = jsonl_one_worker
    before = out.read_text()
    proc = _predict(library, "--model", tiny_runs.mel, "--output", out, "--top-k", "2",
                    cwd=tmp_path)
    assert proc.returncode == 2
    assert "--top-k: written with 3, now 2" in proc.stderr
    proc = _predict(library, "--model", tiny_runs.raw, "--output", out, "--top-k", "3",
                    cwd=tmp_path)
    assert proc.returncode == 2 and "--model: written with" in proc.stderr
    assert out.read_text() == before


def test_beam_direct_runner_writes_the_same_rows(jsonl_one_worker, library, tiny_runs, tmp_path):
    pytest.importorskip("apache_beam")
    out1, _ = jsonl_one_worker
    out = tmp_path / "beam" / "predictions.jsonl"
    out.parent.mkdir()
    proc = _predict(library, "--model", tiny_runs.mel, "--output", out, "--runner", "beam",
                    "--beam-options=--runner=DirectRunner", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "broken.wav" in proc.stderr and "1 of 13 file(s)" in proc.stderr
    shards = sorted(out.parent.glob("predictions-*-of-*.jsonl"))
    assert shards
    rows = [json.loads(x) for s in shards for x in s.read_text().splitlines()]
    by_path = {r["path"]: r for r in rows}
    assert len(by_path) == len(rows) == CLIPS
    _same_rows(_jsonl(out1), by_path)
    state = json.loads(Path(str(out) + ".state.json").read_text())
    assert state["files"] == [s.name for s in shards]
    assert [Path(f["path"]).name for f in state["failed"]] == ["broken.wav"]


def test_the_early_pool_cuts_as_the_predictor(tiny_runs):
    """The decoding processes started before the model loads frame files as it would."""
    from tfgenre.inference.predictor import Predictor
    from tfgenre.inference.preparer import WindowPreparer
    from tfgenre.runs.run_info import RunInfo

    predictor = Predictor.load(str(tiny_runs.mel), hop_seconds=1.0, batch_size=4)
    early = WindowPreparer.for_run(RunInfo.load(str(tiny_runs.mel)), 1.0, 4)
    assert predictor.preparer().framing == early.framing == predictor.framing
    assert predictor.framing.hop_samples == 22050 and early.batch_size == 4
