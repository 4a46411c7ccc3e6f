"""Shared tuning: two ``tfgenre.tune`` processes on one Optuna storage.

Both processes run the same study (same ``--study-name``) on one storage, each with its
own run folder; together they must finish the requested trials with every trial number
run exactly once: no duplicates (a number run by both) and none lost (a number in the
storage that no process ran, or a trial left unfinished).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import spawn
import yaml

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["rms_mean", "spectral_centroid_mean", "tempo"]
GENRES = ["blues", "classical", "country"]
TRIALS = 4


def _features_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    centers = rng.normal(0.0, 3.0, (len(GENRES), len(FEATURES)))
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["filename", "length", *FEATURES, "label"])
        for c, genre in enumerate(GENRES):
            for i in range(10):
                x = centers[c] + rng.normal(0.0, 1.0, len(FEATURES))
                w.writerow([f"{genre}.{i:05d}.wav", 661794, *np.round(x, 6), genre])
    return path


def _storage(kind: str, tmp_path: Path) -> str:
    if kind == "journal":
        return f"journal:{tmp_path / 'study.log'}"
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.mark.parametrize("kind", ["journal", pytest.param("sqlite", marks=pytest.mark.slow)])
def test_two_tune_processes_share_one_storage(kind, tmp_path):
    optuna = pytest.importorskip("optuna")
    csv_path = _features_csv(tmp_path / "features.csv")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {
                "fit": {
                    "features_csv": str(csv_path),
                    "view": "features",
                    "model": "features_mlp",
                    "model_options": {"units": [8, 8, 4], "dropout": 0.0},
                    "splits": {"train": 0.6, "validation": 0.2, "test": 0.2},
                    "epochs": 1,
                    "batch_size": 8,
                    "early_stopping_patience": 0,
                }
            }
        )
    )
    space = tmp_path / "space.yaml"
    space.write_text(
        yaml.safe_dump(
            {
                "params": {
                    "optimizer.learning_rate": {
                        "type": "float",
                        "low": 1e-3,
                        "high": 3e-2,
                        "log": True,
                    }
                }
            }
        )
    )
    storage = _storage(kind, tmp_path)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    procs = []
    for worker in range(2):
        args = [
            sys.executable, "-m", "tfgenre.tune",
            "--config", str(pipeline), "--space", str(space),
            "--backend", "optuna", "--sampler", "random", "--pruner", "none",
            "--trials", str(TRIALS), "--storage", storage, "--study-name", "shared",
            "--seed", str(worker), "--run-dir", str(tmp_path / f"worker{worker}"),
            "--set", "tune.evaluate_best=false", "--set", "tune.plots=false",
        ]  # fmt: skip
        procs.append(spawn.start(args, cwd=ROOT, env=env))
    outputs = ["".join(p.communicate(timeout=600)) for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]

    study = optuna.load_study(
        study_name="shared",
        storage=(
            optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log"))
            )
            if kind == "journal"
            else storage
        ),
    )
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    numbers = [t.number for t in trials]
    # At least the requested trials; at most one extra per additional worker (a worker
    # may start a trial just before the other finishes the last one).
    assert TRIALS <= len(trials) <= TRIALS + 1, numbers
    assert numbers == list(range(len(trials)))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), [
        (t.number, t.state.name, t.user_attrs.get("error")) for t in trials
    ]
    # Each trial ran in exactly one process: its folder is under one worker's run dir.
    run_dirs = [t.user_attrs["run_dir"] for t in trials]
    assert len(set(run_dirs)) == len(run_dirs)
    ran: dict[int, list[str]] = {}
    for worker in range(2):
        trials_dir = tmp_path / f"worker{worker}" / "trials"
        for d in trials_dir.iterdir() if trials_dir.exists() else []:
            ran.setdefault(int(d.name), []).append(f"worker{worker}")
    assert sorted(ran) == numbers, ran
    assert all(len(w) == 1 for w in ran.values()), ran
    # distinct sampled points: the two samplers did not replay each other's trials
    lrs = [t.params["optimizer.learning_rate"] for t in trials]
    assert len(set(lrs)) == len(lrs)


def test_storage_created_by_two_processes_at_once_is_retried(monkeypatch, tmp_path):
    """The loser of the schema-creation race opens the database again instead of failing."""
    import optuna
    import sqlalchemy.exc

    from tfgenre.search import optuna_backend

    real, calls = optuna.storages.RDBStorage, []

    def racing(url, **kwargs):
        calls.append(url)
        if len(calls) <= 2:  # the other process stamps the schema version first, twice
            raise sqlalchemy.exc.IntegrityError("INSERT INTO alembic_version", {}, Exception())
        return real(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr(optuna_backend.time, "sleep", lambda seconds: None)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = optuna_backend.make_storage(url)
    assert len(calls) == 3 and storage.get_all_studies() == []


    def always(url, **kwargs):
        raise sqlalchemy.exc.IntegrityError("INSERT INTO alembic_version", {}, Exception())

    monkeypatch.setattr(optuna.storages, "RDBStorage", always)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        optuna_backend.make_storage(url)
