"""The tuned probe as a user runs it: ``python -m tfgenre.baselines`` and
``python -m tfgenre.fit --model linear``, each its own process.

Tiny records (2 synthetic genres x 4 clips of 6 s, 3-s windows; train/validation/test
2/1/1 tracks per genre) with the embeddings and features views: the session's shared
``embeddings_records`` (conftest.py), which write_records wrote once. Scored on validation
instead of test, baselines has no split left to tune on and cross-validates inside train
(two tracks per genre: leave-one-track-out).
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from commands import User
from skips import needs_musicnn

SECTION = "Regularisation chosen without the scored split"


def _run(root: Path, module: str, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    return User(root).run(module, *args, code=code)


@pytest.fixture(scope="module")
def records(tmp_path_factory, embeddings_records) -> Path:
    """A scratch folder holding the session's embeddings records (``records``)."""
    root = tmp_path_factory.mktemp("probe")
    User(root).link(embeddings_records.records)
    return root


@needs_musicnn
def test_baselines_on_embeddings_tunes_c_by_default(records):
    out = _run(records, "tfgenre.baselines", "--records", "records", "--view", "embeddings",
               "--models", "logistic_regression,knn", "--out", "b").stdout
    assert SECTION in out and "fitted on train, scored on the validation split" in out
    assert "| logistic_regression | 0 | C=" in out and "0.01:" in out and "100:" in out
    assert SECTION in (records / "b" / "baselines.md").read_text()
    folds = {r["model"]: r for r in csv.DictReader(open(records / "b" / "baselines_folds.csv"))}
    assert folds["logistic_regression"]["tuned"].startswith("C=") and not folds["knn"]["tuned"]
    out = _run(records, "tfgenre.baselines", "--records", "records", "--view", "embeddings",
               "--models", "logistic_regression", "--set", "eval_split=validation").stdout
    assert "leave-one-group-out CV inside train, grouped by track" in out


@needs_musicnn
def test_c_can_be_fixed_and_features_keep_c_1(records):
    for args in (("--view", "embeddings", "--tune", "off"),
                 ("--view", "embeddings", "--set", "model_options.logistic_regression.C=10"),
                 ("--view", "features")):
        out = _run(records, "tfgenre.baselines", "--records", "records",
                   "--models", "logistic_regression", *args).stdout
        assert "| logistic_regression |" in out and SECTION not in out, args
    out = _run(records, "tfgenre.baselines", "--records", "records", "--view", "features",
               "--tune", "on", "--models", "logistic_regression").stdout
    assert SECTION in out  # any vector view can be tuned


def test_help_and_a_wrong_tune_value(tmp_path):
    out = _run(tmp_path, "tfgenre.baselines", "--help").stdout
    assert "--tune" in out and "validation" in out and "model_options" in out
    err = _run(tmp_path, "tfgenre.baselines", "--features-csv", "x.csv", "--tune", "sometimes",
               code=2).stderr
    assert "--tune" in err and "sometimes" in err


@needs_musicnn
def test_fit_linear_on_embeddings_chooses_l2_on_validation(records):
    out = _run(records, "tfgenre.fit", "--records", "records", "--view", "embeddings",
               "--model", "linear", "--epochs", "3", "--run-dir", "lin").stdout
    assert "test accuracy" in out
    record = json.loads((records / "lin" / "probe_tuning.json").read_text())
    assert [t["l2"] for t in record["grid"]] == [0.0, 1e-4, 1e-3, 1e-2, 1e-1]
    assert record["chosen"] in [t["l2"] for t in record["grid"]]
    assert "scored on validation" in record["method"]
    report = (records / "lin" / "report" / "report.md").read_text()
    assert "## Probe tuning (chosen without the test split)" in report
    _run(records, "tfgenre.fit", "--records", "records", "--view", "embeddings",
         "--model", "linear", "--epochs", "1", "--run-dir", "fixed", "--probe-tune", "off")
    assert not (records / "fixed" / "probe_tuning.json").exists()
    help_text = _run(records, "tfgenre.fit", "--help").stdout
    assert "--probe-tune" in help_text and "validation" in help_text
