"""Runs that are killed and resumed, and inputs that are damaged or odd (issue 18).

A fine-tune killed in either phase, or between them, resumes each phase with that
phase's optimizer state and learning rate, at the epoch after the last backed-up one,
and a kill between the history row and the backup never leaves an epoch twice in
history.csv. With dropout and augmentation on, the resumed run equals the
uninterrupted one exactly: every history.csv value and the final weights (each
epoch's data order, augmentation and dropout are drawn from the seed and the epoch).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import spawn
from builders import TINY_RUNS_RECORDS

ROOT = Path(__file__).resolve().parents[1]

#: Trains resnet18 (dropout 0.5) on the tiny mel records, augmented, with a frozen
#: warm-up of 2 epochs then 2 unfrozen ones; argv: records, run_dir, the epoch after
#: which the process dies (-1: never), and where: "after" (all callbacks ran) or
#: "before_backup" (history row written, backup not). The last epoch's weights go to
#: run_dir + ".weights.npz".
_FIT = """
import os, sys, keras, numpy as np
from tfgenre.core import config
from tfgenre.training.fit_config import FitConfig
from tfgenre.training.loop import train
import tfgenre.training.callbacks as cb
records, run_dir, kill, where = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

class Die(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        print(f"epoch {epoch}: optimizer {len(opt.variables)} variables, "
              f"{int(opt.iterations.numpy())} iterations", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if epoch == kill:
            os._exit(9)
        if epoch == 3:
            weights = [keras.ops.convert_to_numpy(v) for v in self.model.weights]
            np.savez(run_dir + ".weights.npz", *weights)

orig = cb.standard_callbacks
def standard_callbacks(*a, **k):
    callbacks = orig(*a, **k)
    if where == "after":  # after the backup restored, and after it saved
        return callbacks + [Die()]
    return callbacks[:-1] + [Die()] + callbacks[-1:]  # the backup is the last one
cb.standard_callbacks = standard_callbacks
train(config.from_dict(FitConfig, dict(
    records=records, run_dir=run_dir, view="mel", model="resnet18",
    model_options={"input_size": 32, "dropout": 0.5}, epochs=4, batch_size=8,
    early_stopping_patience=0, seed=3,
    augment={"noise_std": 0.5, "gain_db": 3.0, "time_masks": 1, "freq_masks": 1,
             "mixup_alpha": 0.2},
    fine_tune={"warmup_epochs": 2, "unfreeze_top": 3, "learning_rate_factor": 0.5},
)), evaluate=False)
"""


def _fit(records: Path, run: Path, kill: int = -1,
         where: str = "after") -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return spawn.run([sys.executable, "-c", _FIT, str(records), str(run), str(kill), where],
                     env=env, timeout=900)


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def records(synthetic_records) -> Path:
    return synthetic_records(TINY_RUNS_RECORDS).records


@pytest.fixture(scope="module")
def uninterrupted(records, tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """The run without a kill, and its optimizer state at the start of each epoch."""
    run = tmp_path_factory.mktemp("finetune") / "run"
    proc = _fit(records, run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, _optimizer_states(proc)


def _optimizer_states(proc: subprocess.CompletedProcess) -> dict[int, str]:
    """Epoch -> "optimizer N variables, I iterations" as printed at the epoch's start."""
    found = re.findall(r"^epoch (\d+): (optimizer .*)$", proc.stdout, flags=re.M)
    return {int(epoch): state for epoch, state in found}


def _assert_resumed(proc: subprocess.CompletedProcess, run: Path, kill: int,
                    uninterrupted: tuple[Path, dict[int, str]]) -> None:
    """The rerun resumed after ``kill`` with each phase's optimizer, history once per epoch."""
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = proc.stdout + proc.stderr
    assert "Skipping variable loading for optimizer" not in said, said[-3000:]
    reference, states = uninterrupted
    resumed = _optimizer_states(proc)
    assert min(resumed) == kill + 1, f"the rerun ran epochs {sorted(resumed)}"
    for epoch, state in resumed.items():
        assert state == states[epoch], f"epoch {epoch}: {state}, uninterrupted: {states[epoch]}"
    rows, want = _history(run), _history(reference)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3], [r["epoch"] for r in rows]
    for got, expected in zip(rows, want, strict=True):
        assert got == expected  # losses, accuracies and learning rates: exactly
    weights = np.load(f"{run}.weights.npz")
    reference_weights = np.load(f"{reference}.weights.npz")
    assert len(weights.files) == len(reference_weights.files)
    for name in weights.files:
        np.testing.assert_array_equal(weights[name], reference_weights[name], err_msg=name)
    assert not (run / "backup").exists()
    assert (run / "model.keras").exists()


def test_killed_in_each_phase_resumes_exactly(records, uninterrupted, tmp_path):
    """Killed after epoch 0 (phase 1), resumed and killed again after epoch 2 (phase 2),
    resumed: each rerun starts where the last backup left it, with that phase's optimizer,
    and the run ends equal to the uninterrupted one."""
    run = tmp_path / "run"
    first = _fit(records, run, kill=0)
    assert first.returncode == 9, first.stderr[-3000:]
    second = _fit(records, run, kill=2)
    assert second.returncode == 9, second.stderr[-3000:]
    states = _optimizer_states(second)
    assert sorted(states) == [1, 2], f"the first rerun ran epochs {sorted(states)}"
    for epoch, state in states.items():
        assert state == uninterrupted[1][epoch], f"epoch {epoch}: {state}"
    _assert_resumed(_fit(records, run), run, 2, uninterrupted)


# The default suite resumes inside each phase in one run (above) and at the boundary
# (test_a_kill_between_history_row_and_backup... phase2 resumes at epoch 2, the first of
# phase 2); the matrix of single kills runs with -m slow.
@pytest.mark.slow
@pytest.mark.parametrize("kill", [0, 1, 2], ids=["phase1", "phase-boundary", "phase2"])
def test_killed_fine_tune_resumes_each_phase_exactly(records, uninterrupted,
                                                                tmp_path, kill):
    run = tmp_path / "run"
    proc = _fit(records, run, kill=kill)
    assert proc.returncode == 9, proc.stderr[-3000:]
    _assert_resumed(_fit(records, run), run, kill, uninterrupted)


# phase1: no backup yet, the rerun starts over (epoch 0); slow, as the resume at epoch 1 is
# test_killed_fine_tune_resumes_each_phase_exactly[phase1]'s and the row replaced is phase2's.
@pytest.mark.parametrize("kill", [pytest.param(0, marks=pytest.mark.slow), 2],
                         ids=["phase1", "phase2"])
def test_a_kill_between_history_row_and_backup_leaves_each_epoch_once(records, uninterrupted,
                                                                     tmp_path, kill):
    run = tmp_path / "run"
    proc = _fit(records, run, kill=kill, where="before_backup")
    assert proc.returncode == 9, proc.stderr[-3000:]
    assert [int(r["epoch"]) for r in _history(run)][-1] == kill
    # The epoch whose backup was not written runs again, and replaces its row.
    _assert_resumed(_fit(records, run), run, kill - 1, uninterrupted)


def test_a_whole_track_embeddings_run_flags_files_shorter_than_a_patch(tiny_runs):
    """The embeddings view pads a file shorter than one backbone patch: ``padded``."""
    import dataclasses

    import numpy as np

    from tfgenre.inference.preparer import framing_for
    from tfgenre.runs.run_info import RunInfo

    run = RunInfo.load(str(tiny_runs.features_csv_run))
    assert run.audio.whole_tracks
    rate = run.audio.sample_rate
    features = framing_for(run)
    spec = dataclasses.replace(run.view_spec, name="embeddings")
    embeddings = framing_for(dataclasses.replace(run, view_spec=spec))
    two_seconds, four_seconds = np.ones(2 * rate, np.float32), np.ones(4 * rate, np.float32)
    assert features.cut(two_seconds)[2] is False  # features take any length >= one FFT
    assert embeddings.cut(two_seconds)[2] is True  # shorter than 2.992 s: padded by the view
    assert embeddings.cut(four_seconds)[2] is False
    assert embeddings.cut(two_seconds)[0].shape == (1, 2 * rate)  # the view pads, not this
