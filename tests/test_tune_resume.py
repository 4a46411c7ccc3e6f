"""``python -m tfgenre.tune`` as a user runs it: one process per command.

A study is run, resumed with more trials while a trial is killed with SIGKILL, resumed
again, and run once more with nothing left to do. Each command is a fresh process, so
model loading (the best trial's evaluation), the sampler's seed and the trials left
RUNNING by the killed process are what a user sees.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spawn
import yaml
from tables import write_gtzan_feature_table

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tfgenre.tune", *args]


def _tune(*args: str) -> subprocess.CompletedProcess:
    return spawn.run(_command(*args), cwd=ROOT, env=ENV, timeout=600)


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "trials.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _kill_when(args: list[str], ready) -> None:
    """Starts the tune command and kills it (SIGKILL) once ``ready()`` is true."""
    proc = spawn.start(_command(*args), cwd=ROOT, env=ENV)
    try:
        deadline = time.monotonic() + 300
        started = False
        while time.monotonic() < deadline and proc.poll() is None and not started:
            time.sleep(0.5)
            started = ready()
        assert proc.poll() is None, "the tune process ended before it could be killed"
        assert started, "the trial did not start"
        time.sleep(2.0)  # well inside the trial's fit (thousands of epochs)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()


def _running(storage: str, number: int):
    def ready() -> bool:
        import optuna

        try:
            study = optuna.load_study(study_name="study", storage=storage)
            return any(t.number == number and t.state.name == "RUNNING"
                       for t in study.get_trials(deepcopy=False))
        except Exception:  # no study yet (KeyError), or the database is busy
            return False

    return ready


def _setup(tmp_path: Path) -> tuple[Path, str, list[str]]:
    features = write_gtzan_feature_table(tmp_path / "features.csv", classes=4,
                                         tracks_per_class=15, spread=3.0, units=True, offset=5.0)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"params": {
        "optimizer.learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
        "model_options.dropout": [0.0, 0.1],
    }}))
    run_dir = tmp_path / "study"
    base = ["--space", str(space), "--features-csv", str(features), "--splits",
            "train=0.6,validation=0.2,test=0.2", "--model", "features_mlp", "--batch-size",
            "16", "--run-dir", str(run_dir), "--set", "tune.plots=false"]
    return run_dir, f"sqlite:///{run_dir / 'study.db'}", base


def test_tune_resumes_and_reruns_in_fresh_processes(tmp_path):
    """Run, resume with more trials, run again with nothing left: three processes."""
    optuna = pytest.importorskip("optuna")
    from tfgenre.training.fit_config import resolve_fit_config

    run_dir, storage, base = _setup(tmp_path)
    first = _tune(*base, "--trials", "2", "--epochs", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert [r["state"] for r in _rows(run_dir)] == ["COMPLETE", "COMPLETE"]

    resumed = _tune(*base, "--trials", "4", "--epochs", "1")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["state"] for r in _rows(run_dir)] == ["COMPLETE"] * 4
    study = optuna.load_study(study_name="study", storage=storage)
    lr = [t.params["optimizer.learning_rate"]
          for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]
    # The resumed sampler does not replay the first run's proposals (it was reseeded
    # with the same seed and proposed trials 0 and 1 again).
    assert len(set(lr)) == 4, lr

    # Once more with nothing left to do: the best trial is evaluated in a fresh process
    # (this crashed with "Could not locate class" before every load registered
    # tfgenre's Keras objects).
    again = _tune(*base, "--trials", "4", "--epochs", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    assert "already holds 4 finished trial(s)" in again.stderr + again.stdout
    assert "best config" in again.stdout
    evaluated = r"test \(\d+ tracks\): track accuracy [01]\.\d+ \["
    assert re.search(evaluated, again.stdout), again.stdout
    assert len(_rows(run_dir)) == 4
    cfg = resolve_fit_config(str(run_dir / "best_config.yaml"), [], {})
    assert cfg.features_csv == str(tmp_path / "features.csv") and cfg.epochs == 1


def test_trial_of_a_killed_process_fails_on_resume(tmp_path, capsys):
    """kill -9 during a trial: the resume fails that trial at once (its process is gone,
    the heartbeat's grace period has not passed yet) and runs its point again once."""
    optuna = pytest.importorskip("optuna")
    from tfgenre import tune

    run_dir, storage, base = _setup(tmp_path)
    _kill_when([*base, "--trials", "2", "--epochs", "5000", "--set",
                "fit.early_stopping_patience=0", "--pruner", "none"], _running(storage, 0))
    assert tune.main([*base, "--trials", "3", "--epochs", "1", "--set",
                      "tune.evaluate_best=false"]) == 0
    study = optuna.load_study(study_name="study", storage=storage)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    states = [t.state.name for t in trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"], states
    assert "killed" in trials[0].user_attrs["error"]
    assert trials[1].params == trials[0].params and trials[1].user_attrs["retry_of"] == 0
    assert trials[2].params["optimizer.learning_rate"] != trials[0].params[
        "optimizer.learning_rate"]
    rows = _rows(run_dir)
    assert [r["state"] for r in rows] == states and "killed" in rows[0]["error"]
    assert not rows[1]["error"]  # the retry does not inherit the killed trial's error


def test_keras_tuner_search_killed_in_its_first_trial_resumes(tmp_path, capsys):
    """keras-tuner writes its tuner file when the first trial ends: a search killed
    before started afresh, gave trial 0 (and its folder, holding the killed fit) to
    another point, and that trial failed with a traceback."""
    from tfgenre import tune

    run_dir, _, base = _setup(tmp_path)
    base = [*base, "--backend", "keras-tuner", "--sampler", "bayesian"]
    killed_config = run_dir / "trials" / "00000" / "config.yaml"
    _kill_when([*base, "--trials", "2", "--epochs", "5000", "--set",
                "fit.early_stopping_patience=0"], killed_config.exists)
    killed = yaml.safe_load(killed_config.read_text())["fit"]
    capsys.readouterr()
    args = [*base, "--trials", "2", "--epochs", "1", "--set", "tune.evaluate_best=false"]
    assert tune.main(args) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    rows = _rows(run_dir)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"], rows
    # trial 0 ran again with the killed trial's point (its epochs are this run's)
    rerun = yaml.safe_load(killed_config.read_text())["fit"]
    assert rerun["optimizer"]["learning_rate"] == killed["optimizer"]["learning_rate"]
    assert rerun["epochs"] == 1 and rows[0]["epochs"] == "1"
    # and once more: nothing left to do
    assert tune.main(args) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err and len(_rows(run_dir)) == 2
