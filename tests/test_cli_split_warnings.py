"""Split warnings as a user sees them: each ``python -m tfgenre.<cmd>`` its own process.

Issue 18, items 3, 4 and 6: write_records says when an asked-for split came out empty
and which labels each split lacks; fit refuses a train split without a label another
split has (``--allow-missing-labels`` trains anyway); baselines states the split used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import spawn
from synth import make_gtzan

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"
GENRES = ("blues", "classical", "country", "disco", "hiphop",
          "jazz", "metal", "pop", "reggae", "rock")  # fmt: skip


def _run(cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = spawn.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, timeout=600)
    assert TRACEBACK not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def _write(tmp_path: Path, per_genre: int, genres=GENRES, *extra: str):
    audio = tmp_path / "clips"
    make_gtzan(str(audio), genres=genres, per_genre=per_genre, seconds=1.0)
    return _run(
        tmp_path, "tfgenre.write_records", "--source", "folder", "--input", str(audio),
        "--output", str(tmp_path / "records"), "--views", "features", "--window-seconds", "0",
        "--shards", "1", "--workers", "1", "--no-progress", *extra,
    )  # fmt: skip


def test_twenty_clips_honour_the_fractions_and_the_gaps_are_said(tmp_path):
    proc = _write(tmp_path, 2)
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout
    # 2 tracks per label at 0.8/0.1/0.1: 16/2/2, not train 10 / validation 10 / test 0
    assert "train: 16 tracks" in said, said
    assert "validation: 2 tracks" in said and "test: 2 tracks" in said, said
    manifest = json.loads((tmp_path / "records" / "manifest.json").read_text())
    assert [manifest["splits"][s]["num_tracks"] for s in ("train", "validation", "test")] == [
        16, 2, 2]
    assert "WARNING: split 'validation' lacks 8 of 10 labels:" in said, said
    assert "WARNING: split 'test' lacks 8 of 10 labels:" in said, said
    assert "WARNING: split 'train'" not in said, said
    assert "20 tracks in 10 labels is 2 per label; a split of 10% reaches every label " \
           "from 10 tracks per label" in said, said


def test_an_asked_for_split_that_comes_out_empty_is_said_with_reason_and_fix(tmp_path):
    proc = _write(tmp_path, 1, GENRES[:5])
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout
    assert "WARNING: split 'test' was asked for 10% of the tracks but holds none" in said, said
    assert "5 tracks in 5 labels (1 per label)" in said, said
    assert "--splits train=0.9,validation=0.1" in said, said
    # train lacks the label validation holds: said, with what fit will do about it
    assert "WARNING: split 'train' lacks 1 of 5 labels" in said, said
    assert "fit refuses" in said and "--allow-missing-labels" in said, said


def test_fit_refuses_a_train_split_without_a_label_before_making_the_run_folder(tmp_path):
    assert _write(tmp_path, 1, GENRES[:5]).returncode == 0
    run_dir = tmp_path / "run"
    args = ("--records", "records", "--view", "features", "--model", "features_mlp",
            "--run-dir", str(run_dir), "--epochs", "1", "--batch-size", "4")  # fmt: skip
    proc = _run(tmp_path, "tfgenre.fit", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "has no example of" in proc.stderr and "--allow-missing-labels" in proc.stderr
    assert not run_dir.exists()
    proc = _run(tmp_path, "tfgenre.fit", *args, "--allow-missing-labels")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "has no example of" in proc.stdout + proc.stderr
    assert "lacks" in proc.stdout


def test_fit_help_documents_allow_missing_labels(tmp_path):
    proc = _run(tmp_path, "tfgenre.fit", "--help")
    assert "--allow-missing-labels" in proc.stdout
    assert "--allow-missing-labels" in (ROOT / "README.md").read_text()


def test_baselines_heading_states_the_records_split_and_names_gaps(tmp_path):
    assert _write(tmp_path, 2, GENRES, "--splits", "train=0.5,validation=0.25,test=0.25"
                  ).returncode == 0
    proc = _run(tmp_path, "tfgenre.baselines", "--records", "records",
                "--models", "logistic_regression")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = proc.stdout
    # the records' split, not the default fractions
    assert "train=0.8" not in said and "'train': 0.8" not in said, said
    assert "train=0.5,validation=0.25,test=0.25" in said, said
    assert "train 10, validation 5, test 5 tracks" in said, said
    assert "split 'test' lacks 5 of 10 labels" in said, said


def test_baselines_fold_interval_is_clipped_and_said_wide(tmp_path):
    import csv

    from tables import write_gtzan_feature_table

    from tfgenre.core.stats import t_interval

    table = write_gtzan_feature_table(tmp_path / "f.csv", classes=2, tracks_per_class=3,
                                      track_noise=2.0, seed=1)  # fmt: skip
    proc = _run(tmp_path, "tfgenre.baselines", "--features-csv", str(table), "--folds", "3",
                "--models", "logistic_regression,naive_bayes,knn", "--out", "out")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "clipped to [0, 1]" in proc.stdout, proc.stdout
    assert "wide with few folds: t = 4.30 at 2 degrees of freedom" in proc.stdout, proc.stdout
    with open(tmp_path / "out" / "baselines_folds.csv") as f:
        folds = list(csv.DictReader(f))
    with open(tmp_path / "out" / "baselines.csv") as f:
        summary = list(csv.DictReader(f))
    unclipped = []
    for row in summary:
        assert 0.0 <= float(row["accuracy_lo"]) <= float(row["accuracy_hi"]) <= 1.0, row
        assert 0.0 <= float(row["macro_f1_lo"]) <= float(row["macro_f1_hi"]) <= 1.0, row
        scores = [float(r["accuracy"]) for r in folds if r["model"] == row["model"]]
        unclipped += t_interval(scores)["ci"]
    assert min(unclipped) < 0.0 or max(unclipped) > 1.0  # the case that printed 1.5504


def test_fit_says_where_early_stopping_stopped_and_which_epoch_it_scores(
    tmp_path, synthetic_records
):
    import re

    import numpy as np
    from builders import TINY_RUNS_RECORDS

    from tfgenre.evaluation.figures import read_history
    from tfgenre.models.saving import load_model

    records = synthetic_records(TINY_RUNS_RECORDS).records
    run_dir = tmp_path / "run"
    proc = _run(
        tmp_path, "tfgenre.fit", "--records", str(records), "--view", "features",
        "--model", "features_mlp", "--run-dir", str(run_dir), "--epochs", "40",
        "--batch-size", "8", "--set", "early_stopping_patience=2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(
        r"training: stopped at epoch (\d+) of 40 \(patience 2\); scoring the best "
        r"checkpoint, epoch (\d+), val_accuracy (\d\.\d{4})",
        proc.stdout,
    )
    assert found, proc.stdout
    stopped, best, value = int(found[1]), int(found[2]), float(found[3])
    history = read_history(str(run_dir / "history.csv"))
    # true to the history: the last epoch run, the first epoch with the best value
    assert stopped == len(history["epoch"]) < 40
    val = history["val_accuracy"]
    assert best == int(np.argmax(val)) + 1 and abs(value - max(val)) < 5e-5
    assert stopped == best + 2  # patience 2 after the best epoch
    # the scored model is the best checkpoint
    scored = load_model(str(run_dir / "model.keras"), compile=False).get_weights()
    kept = load_model(str(run_dir / "checkpoints" / "best.keras"), compile=False).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(scored, kept))
    report = (run_dir / "report" / "report.md").read_text()
    assert f"Stopped at epoch {stopped} of 40 (patience 2); scoring the best checkpoint, " \
           f"epoch {best}, val_accuracy {found[3]}." in report
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert metrics["training"]["stopped_epoch"] == stopped
    assert metrics["training"]["scored_epoch"] == best


def test_fault_filtered_records_gaps_are_said_by_writer_baselines_and_fit(tmp_path):
    """The issue's case: the fault-filtered lists on a GTZAN subset leave train without
    blues, classical and country; every command says so, and fit refuses."""
    make_gtzan(str(tmp_path / "genres"), genres=GENRES, per_genre=12, seconds=1.0)
    proc = _run(
        tmp_path, "tfgenre.write_records", "--source", "gtzan", "--input", "genres",
        "--output", "records", "--views", "features", "--window-seconds", "0",
        "--shards", "1", "--workers", "1", "--no-progress",
        "--set", "source_options.split=fault_filtered",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((tmp_path / "records" / "manifest.json").read_text())
    counts = {s: v["label_counts"] for s, v in manifest["splits"].items()}
    lacking = [g for g in GENRES if not counts["train"].get(g)]
    assert lacking, counts  # the subset leaves train without some labels
    said = f"lacks {len(lacking)} of 10 labels: {', '.join(lacking)}"
    assert f"WARNING: split 'train' {said}" in proc.stdout, proc.stdout

    proc = _run(tmp_path, "tfgenre.baselines", "--records", "records",
                "--models", "logistic_regression")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    heading = next(line for line in proc.stdout.splitlines() if line.startswith("### "))
    assert "(the records' own split, from the gtzan source)" in heading, heading
    assert "0.8" not in heading and "protocol gtzan_fault_filtered" in heading, heading
    sizes = ", ".join(f"{s} {manifest['splits'][s]['num_tracks']}"
                      for s in ("train", "validation", "test"))  # fmt: skip
    assert f"{sizes} tracks" in heading, heading
    assert f"WARNING: split 'train' {said}" in proc.stdout, proc.stdout

    proc = _run(tmp_path, "tfgenre.fit", "--records", "records", "--view", "features",
                "--model", "features_mlp", "--run-dir", "run", "--epochs", "1")  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"split 'train' has no example of {', '.join(lacking)}" in proc.stderr
    assert not (tmp_path / "run").exists()
