"""Nothing lost, nothing hangs (issue 18, items 10-13 and 15), at the library level.

* ``--overwrite`` deletes only a fit's files (:func:`tfgenre.runs.run_folder.survey_run`);
* paths read from a manifest or a ``.state`` file stay inside their folder
  (:func:`tfgenre.core.io.inside`);
* one writer per folder (:func:`tfgenre.core.io.folder_lock`), and the lock is released by
  ``kill -9``;
* named pipes are never opened, and a symbolic link loop lists each file once;
* a model's input check runs without building it (:func:`tfgenre.models.registry.check_model`).

The process-level checks a user sees are in ``test_cli_hostile.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import RecordsSpec

from tfgenre.core import io, layout
from tfgenre.errors import AudioDecodeError, ConfigError, FolderInUseError, RecordsError
from tfgenre.runs import run_folder

ROOT = Path(__file__).resolve().parents[1]

FEATURES = RecordsSpec(
    num_genres=2, clips_per_genre=4, clip_seconds=2.0, views=("features",),
    window_seconds=1.0, splits=(("train", 0.5), ("validation", 0.25), ("test", 0.25)),
    shards=1, seed=0,
)  # fmt: skip


@pytest.fixture
def no_hang():
    """Fails the test instead of hanging (a named pipe opened for reading blocks)."""

    def hung(signum, frame):  # pytest's Failed is no OSError: decode cannot swallow it
        pytest.fail("blocked for 30 s: a named pipe was opened")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def hold_lock(folder: Path) -> subprocess.Popen:
    """A process that takes ``folder``'s lock with the library's function and sleeps."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    code = (
        "import sys, time\n"
        "from tfgenre.core import io\n"
        "with io.folder_lock(sys.argv[1], 'test'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


# ---------------------------------------------------------------- 12: the lock


def test_second_lock_is_refused_naming_the_holder_and_kill_9_frees_it(tmp_path):
    folder = tmp_path / "out"
    holder = hold_lock(folder)
    try:
        with pytest.raises(FolderInUseError, match=rf"pid {holder.pid}\b"):
            with io.folder_lock(str(folder), "write_records"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with io.folder_lock(str(folder), "write_records"):  # no stale lock after kill -9
        assert (folder / layout.LOCK_FILE).read_text().strip() == str(os.getpid())
    assert not (folder / layout.LOCK_FILE).exists()  # released: the file goes too


def test_remote_folders_are_not_locked(caplog):
    caplog.set_level("INFO")
    with io.folder_lock("gs://bucket/records", "write_records"):
        pass
    assert "no lock is taken" in caplog.text


def test_lock_file_is_neither_a_run_output_nor_foreign(tmp_path):
    run = tmp_path / "run"
    with run_folder.locked(str(run)):
        (run / "config.yaml").write_text("fit: {}\n")
        owned, foreign = run_folder.survey_run(str(run))
    assert (owned, foreign) == (["config.yaml"], [])


def test_lock_file_is_not_foreign_in_a_records_folder(synthetic_records, tmp_path):
    from tfgenre.records.output import survey_output

    records = tmp_path / "records"
    shutil.copytree(synthetic_records(FEATURES).records, records)
    with io.folder_lock(str(records), "write_records"):
        owned, foreign = survey_output(str(records))
    assert foreign == []
    assert layout.LOCK_FILE not in owned  # never deleted by --overwrite


# ---------------------------------------------------------------- 10: --overwrite


def _finished_run_tree(run: Path) -> None:
    files = {
        "config.yaml": "fit: {}\n",
        "run.json": "{}",
        "model.keras": "m",
        "history.csv": "epoch\n",
        "tb/events.out.tfevents.1.host.1.v2": "e",
        "tb/train/events.out.tfevents.2.host.1.v2": "e",
        "tb/validation/events.out.tfevents.3.host.1.v2": "e",
        "checkpoints/best.keras": "b",
        "backup/latest.weights.h5": "w",
        "backup/training_metadata.json": "{}",
        "report/metrics.json": "{}",
        "report/report.md": "#",
        "report/tracks.csv": "t",
        "report/confusion_matrix_track.png": "p",
        "report/a_new_figure.png": "p",  # a name the ledger proves
        "folds/0/report/metrics.json": "{}",
        "folds/0/run.json": "{}",
    }
    for rel, text in files.items():
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(text)
    run_folder.record_written(str(run), [str(run / "report" / "a_new_figure.png")])


USER_FILES = (
    "report/notes.txt",
    "tb/my_run/events.csv",
    "tb/mine.txt",
    "checkpoints/keep.h5",
    "backup/my.txt",
    "folds/0/report/mine.md",
    "export/model.tflite",
    "notes.md",
)


def test_survey_run_proves_a_fits_files_and_finds_the_users_at_any_depth(tmp_path):
    run = tmp_path / "run"
    _finished_run_tree(run)
    for rel in USER_FILES:
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text("the user's")
    owned, foreign = run_folder.survey_run(str(run))
    assert foreign == sorted(USER_FILES)
    assert "report/a_new_figure.png" in owned and layout.WRITTEN in owned
    assert "tb/train/events.out.tfevents.2.host.1.v2" in owned


def test_clear_run_outputs_removes_only_a_fits_files(tmp_path):
    run = tmp_path / "run"
    _finished_run_tree(run)
    (run / "report" / "notes.txt").write_text("the user's")
    owned, _ = run_folder.survey_run(str(run))
    run_folder.clear_run_outputs(str(run), tuple(owned))
    assert (run / "report" / "notes.txt").read_text() == "the user's"
    left = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    assert left == ["report", "report/notes.txt"]  # emptied folders went, not report/


def test_check_run_dir_overwrite_refuses_listing_files_inside_report_tb_checkpoints(tmp_path):
    from tfgenre.training.fit_config import FitConfig

    run = tmp_path / "run"
    cfg = FitConfig(records="r", view="features", model="features_mlp", run_dir=str(run))
    _finished_run_tree(run)
    run_folder.write_run_config(cfg)
    for rel in ("report/notes.txt", "tb/mine.txt", "checkpoints/keep.h5"):
        (run / rel).write_text("the user's")
    with pytest.raises(ConfigError) as err:
        run_folder.check_run_dir(cfg, overwrite=True)
    for rel in ("report/notes.txt", "tb/mine.txt", "checkpoints/keep.h5"):
        assert rel in str(err.value)
    for rel in ("report/notes.txt", "tb/mine.txt", "checkpoints/keep.h5"):
        (run / rel).unlink()
    plan = run_folder.check_run_dir(cfg, overwrite=True)
    assert "report/report.md" in plan.remove and "tb/events.out.tfevents.1.host.1.v2" in plan.remove


def test_record_written_keeps_relative_paths_inside_the_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    run_folder.record_written(str(run), [str(run / "report" / "x.png"), "/elsewhere/y", "z.txt"])
    assert run_folder.read_ledger(str(run)) == {"report/x.png", "z.txt"}


# ---------------------------------------------------------------- 11: paths inside


@pytest.mark.parametrize(
    "rel", ["features/../../outside/x.tfrecord", "/etc/passwd", "../x", "gs://b/x", "", "."]
)
def test_inside_refuses_paths_that_leave_the_folder(rel):
    with pytest.raises(RecordsError, match="must be a path inside"):
        io.inside("/data/records", rel, "manifest.json: file")


def test_inside_keeps_paths_in_the_folder():
    assert io.inside("/r", "features/./train.tfrecord-00000-of-00001", "e") == (
        "/r/features/train.tfrecord-00000-of-00001"
    )


@pytest.mark.parametrize("bad", ["features/../../outside/x.tfrecord", "/etc/passwd"])
def test_a_manifest_naming_a_shard_outside_its_folder_is_refused(synthetic_records, tmp_path, bad):
    from tfgenre.records.info import RecordsInfo

    records = tmp_path / "records"
    shutil.copytree(synthetic_records(FEATURES).records, records)
    manifest = json.loads((records / layout.MANIFEST).read_text())
    manifest["splits"]["train"]["shards"][0]["file"] = bad
    (records / layout.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(RecordsError) as err:
        RecordsInfo.load(str(records))
    assert "splits.train.shards file" in str(err.value) and repr(bad) in str(err.value)


def test_a_state_file_naming_a_shard_outside_the_folder_is_refused(tmp_path):
    from tfgenre.records.assemble import _split_infos
    from tfgenre.records.plan import Unit, state_path
    from tfgenre.records.unit_state import UnitState

    unit = Unit("train", 0, 1, ())
    state = {
        "unit": unit.key,
        "split": "train",
        "tracks": [],
        "skipped": [],
        "padded": [],
        "feature_rows": [],
        "shards": [
            {"view": "features", "file": "/etc/passwd", "examples": 1, "num_bytes": 1, "sha256": ""}
        ],
    }
    with pytest.raises(RecordsError, match=r"\.state.*'/etc/passwd'"):
        typed = UnitState.from_json(state, state_path(str(tmp_path), unit))
        _split_infos(str(tmp_path), [unit], {unit.key: typed}, ["a", "b"])


# ---------------------------------------------------------------- 13: pipes, loops


def _wav(path: Path) -> None:
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.sin(np.arange(8000) / 5.0)).astype("float32"), 8000)


def test_decode_refuses_a_named_pipe_without_opening_it(tmp_path, no_hang):
    from tfgenre.core.audio import decode

    os.mkfifo(tmp_path / "x.wav")
    with pytest.raises(AudioDecodeError, match="named pipe"):
        decode(str(tmp_path / "x.wav"), 8000)


def test_folder_source_skips_a_named_pipe_and_lists_each_real_file_once(tmp_path, no_hang):
    from tfgenre.sources.folder import FolderSource

    _wav(tmp_path / "rock" / "a.wav")
    _wav(tmp_path / "jazz" / "b.wav")
    os.mkfifo(tmp_path / "rock" / "x.wav")
    os.symlink(tmp_path / "rock", tmp_path / "rock" / "loop")  # a folder link loop
    source = FolderSource(str(tmp_path))
    assert [t.track_id for t in source.tracks()] == ["jazz/b", "rock/a"]
    reasons = {os.path.basename(s.path): s.reason for s in source.skipped}
    assert "named pipe" in reasons["x.wav"]


def test_predict_listing_skips_pipes_and_visits_each_real_path_once(tmp_path, no_hang):
    from tfgenre.inference.audio_files import list_audio_files

    _wav(tmp_path / "in" / "a.wav")
    _wav(tmp_path / "in" / "sub" / "b.wav")
    os.mkfifo(tmp_path / "in" / "x.wav")
    os.symlink(tmp_path / "in", tmp_path / "in" / "sub" / "up")  # loop
    os.symlink(tmp_path / "in" / "a.wav", tmp_path / "in" / "sub" / "a_again.wav")
    files, skipped = list_audio_files([str(tmp_path / "in")])
    assert sorted(os.path.basename(f) for f in files) == ["a.wav", "b.wav"]
    reasons = {os.path.basename(p): r for p, r in skipped}
    assert "named pipe" in reasons["x.wav"] and "same file" in reasons["a_again.wav"]
    start = time.monotonic()
    files, skipped = list_audio_files([str(tmp_path / "in" / "x.wav")])  # named: not opened
    assert files == [] and "named pipe" in skipped[0][1] and time.monotonic() - start < 5


# ---------------------------------------------------------------- 15: refused early


def test_check_model_refuses_records_a_backbone_cannot_take_without_building():
    from tfgenre.models.registry import InputSpec, check_model

    spec = InputSpec("raw", (22050,), sample_rate=22050)
    with pytest.raises(ConfigError, match="16000-Hz audio"):
        check_model("musicnn_msd", spec, 2)
    spec = InputSpec("raw", (16000,), sample_rate=16000)
    with pytest.raises(ConfigError, match="shorter than one backbone patch"):
        check_model("musicnn_msd", spec, 2)
