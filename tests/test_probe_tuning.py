"""The baselines' probe tuned without the test split (issue 19, item 3), in process.

Tiny generated feature tables (tests/tables.py); the tuning runs on any vector view, so
a features CSV with ``tune=on`` stands in for the embeddings view here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from tables import write_gtzan_feature_table

from tfgenre import baselines
from tfgenre.classical.baselines_config import BaselinesConfig
from tfgenre.classical.rows import load_feature_rows
from tfgenre.classical.sweep import run_baselines
from tfgenre.classical.tuning import DEFAULT_GRID, inner_splitter, tuning_enabled
from tfgenre.core import config
from tfgenre.errors import ConfigError

TABLE = {"classes": 4, "track_noise": 1.5, "segment_noise": 0.8, "units": True}


@pytest.fixture(scope="module")
def segments_csv(tmp_path_factory) -> Path:
    """4 genres x 10 tracks x 3 segments, noisy enough that C matters."""
    return write_gtzan_feature_table(tmp_path_factory.mktemp("t") / "segs.csv",
                                     tracks_per_class=10, segments_per_track=3, **TABLE)


def _cfg(path: Path, **kw) -> BaselinesConfig:
    return config.from_dict(BaselinesConfig, {"features_csv": str(path), "tune": "on",
                                              "models": ["logistic_regression", "knn"], **kw})


def _with_test_labels_permuted(rows, split: str = "test", seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rows.y.copy()
    test = np.flatnonzero(rows.splits == split)
    # a permutation that moves labels (shifts every class by one)
    y[test] = (y[test] + 1 + rng.integers(0, len(rows.labels) - 1)) % len(rows.labels)
    assert (y[test] != rows.y[test]).all()
    return type(rows)(rows.x, y, rows.track_ids, rows.splits, rows.feature_names,
                      rows.labels, rows.protocol, rows.excluded)


def _choices(per_fold):
    return [(r["model"], r["fold"], r["tuned"], r["tuning_scores"], r["tuning_method"])
            for r in per_fold]


@pytest.mark.parametrize("splits", [{"train": 0.7, "test": 0.3},
                                    {"train": 0.6, "validation": 0.2, "test": 0.2}])
def test_the_choice_never_looks_at_the_test_split(segments_csv, splits):
    cfg = _cfg(segments_csv, splits=splits)
    rows = load_feature_rows(features_csv=str(segments_csv), splits=splits)
    _, honest = run_baselines(cfg, rows)
    summary, permuted = run_baselines(cfg, _with_test_labels_permuted(rows))
    assert _choices(honest) == _choices(permuted)  # the same grid scores and choice
    tuned = honest[0]
    assert tuned["model"] == "logistic_regression" and tuned["tuned"].startswith("C=")
    grid = [float(p.split(":")[0]) for p in tuned["tuning_scores"].split()]
    assert tuple(grid) == DEFAULT_GRID
    want = "scored on the validation split" if "validation" in splits else "grouped by track"
    assert want in tuned["tuning_method"]
    # the test split was scored: the permuted labels make the test accuracy collapse
    assert summary[0]["accuracy_mean"] < honest[0]["accuracy"]
    assert honest[1]["model"] == "knn" and honest[1]["tuned"] is None  # nothing to tune


def test_k_fold_tunes_inside_each_fold(segments_csv):
    cfg = _cfg(segments_csv, folds=3, models=["logistic_regression"])
    summary, per_fold = run_baselines(cfg)
    assert len(per_fold) == 3
    assert all("inside the fold, grouped by track" in r["tuning_method"] for r in per_fold)
    assert summary[0]["tuned"].startswith("C=")


def test_inner_cv_keeps_a_tracks_segments_together_and_goes_logo_at_two_per_class():
    y = np.repeat([0, 1], 6)  # 2 classes x 2 tracks x 3 segments ...
    groups = np.repeat(["a", "b", "c", "d"], 3)
    cv, how = inner_splitter(y, groups, seed=0)
    assert how == "leave-one-group-out CV"
    y = np.repeat([0, 1], 12)  # ... or 2 classes x 4 tracks x 3 segments
    groups = np.repeat([f"t{i}" for i in range(8)], 3)
    cv, how = inner_splitter(y, groups, seed=0)
    assert how == "4-fold CV"
    for train, test in cv.split(np.zeros((len(y), 1)), y, groups):
        assert not set(groups[train]) & set(groups[test])
    # one track per class (1-shot): no held-out track has its class in training
    assert inner_splitter(np.repeat([0, 1], 2), np.array(list("aabb")), seed=0) is None
    # one class with two tracks is enough for leave-one-group-out (leave-one-clip-out)
    assert inner_splitter(np.array([0, 0, 1, 2]), np.array(list("abcd")), seed=0)[1] == (
        "leave-one-group-out CV")


def test_ties_go_to_the_default_c():
    from sklearn.model_selection import LeaveOneGroupOut

    from tfgenre.classical.models import make_model
    from tfgenre.classical.tuning import choose

    x = np.arange(12.0)[:, None] + np.repeat([0.0, 20.0], 6)[:, None]  # separable
    y = np.repeat([0, 1], 6)
    groups = np.array(list("abcdefghijkl"))
    tuning = choose(make_model("logistic_regression"), "C", x, y, LeaveOneGroupOut(), groups,
                    DEFAULT_GRID, "test")
    assert tuning.scores[2:] == (1.0, 1.0, 1.0)  # C = 1, 10, 100 tie at the top
    assert tuning.chosen == 1.0


def test_defaults_and_fixing_c(segments_csv, tmp_path):
    assert tuning_enabled("auto", "embeddings") and not tuning_enabled("auto", "features")
    assert tuning_enabled("on", "features") and not tuning_enabled("off", "embeddings")
    # the features view keeps its published C=1 tables: no tuning columns by default
    cfg = config.from_dict(BaselinesConfig, {"features_csv": str(segments_csv),
                                             "models": ["logistic_regression"]})
    summary, per_fold = run_baselines(cfg)
    assert "tuned" not in summary[0] and "tuned" not in per_fold[0]
    # a C given in model_options is kept, not tuned
    cfg = _cfg(segments_csv, model_options={"logistic_regression": {"C": 3.0}})
    _, per_fold = run_baselines(cfg)
    assert per_fold[0]["tuned"] is None
    with pytest.raises(ConfigError, match="tune='sometimes'"):
        _cfg(segments_csv, tune="sometimes")
    with pytest.raises(ConfigError, match="tune_grid"):
        _cfg(segments_csv, tune_grid=[0.0, 1.0])


def test_the_report_holds_the_grid_and_the_choice(segments_csv, tmp_path, capsys):
    out = tmp_path / "out"
    assert baselines.main(["--features-csv", str(segments_csv), "--tune", "on",
                           "--splits", "train=0.6,validation=0.2,test=0.2",
                           "--models", "logistic_regression,svm", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = (out / "baselines.md").read_text()
    for text in (printed, report):
        assert "Regularisation chosen without the scored split" in text
        assert "0.01:" in text and "100:" in text and "| logistic_regression | 0 | C=" in text
    folds = list(csv.DictReader(open(out / "baselines_folds.csv")))
    assert {r["model"] for r in folds if r["tuned"].startswith("C=")} == {
        "logistic_regression", "svm"}
    summary = list(csv.DictReader(open(out / "baselines.csv")))
    assert all(r["tuned"].startswith("C=") for r in summary)


# fit --model linear: L2 chosen on the validation split


def _split_table(source: Path, out: Path, *, permute_test: bool) -> Path:
    """``source`` with a split column by track (60/20/20); optionally test labels moved."""
    import pandas as pd

    table = pd.read_csv(source)
    track = table["filename"].str.rsplit(".", n=2).str[0]
    index = track.map({t: i for i, t in enumerate(sorted(set(track)))})
    table["split"] = np.where(index % 5 < 3, "train", np.where(index % 5 == 3, "validation",
                                                                 "test"))
    if permute_test:
        labels = sorted(set(table["label"]))
        test = table["split"] == "test"
        table.loc[test, "label"] = table.loc[test, "label"].map(
            lambda g: labels[(labels.index(g) + 1) % len(labels)])
    table.to_csv(out, index=False)
    return out


def _fit(csv_path: Path, run_dir: Path, *extra: str) -> None:
    from tfgenre import fit

    assert fit.main(["--features-csv", str(csv_path), "--view", "features", "--model", "linear",
                     "--run-dir", str(run_dir), "--epochs", "6", "--learning-rate", "0.05",
                     *extra]) == 0


def test_fit_linear_chooses_l2_without_the_test_split(segments_csv, tmp_path):
    import json

    runs = {}
    for permute in (False, True):
        table = _split_table(segments_csv, tmp_path / f"t{permute}.csv", permute_test=permute)
        _fit(table, tmp_path / f"run{permute}", "--probe-tune", "on",
             "--set", "probe_l2_grid=[0.0,0.01,1.0]")
        runs[permute] = json.loads((tmp_path / f"run{permute}" / "probe_tuning.json").read_text())
    honest, permuted = runs[False], runs[True]
    assert [t["l2"] for t in honest["grid"]] == [0.0, 0.01, 1.0]
    assert honest["chosen"] == permuted["chosen"]  # the test labels changed nothing
    assert [t["val_accuracy"] for t in honest["grid"]] == [
        t["val_accuracy"] for t in permuted["grid"]]
    run = tmp_path / "runFalse"
    assert f"l2: {honest['chosen']}" in (run / "config.yaml").read_text()
    report = (run / "report" / "report.md").read_text()
    assert "## Probe tuning (chosen without the test split)" in report and "(chosen)" in report


def test_fit_linear_keeps_l2_without_a_validation_split_or_when_off(segments_csv, tmp_path):
    import json

    _fit(segments_csv, tmp_path / "noval", "--splits", "train=0.7,test=0.3", "--probe-tune", "on")
    record = json.loads((tmp_path / "noval" / "probe_tuning.json").read_text())
    assert "no 'validation' split" in record["reason"]
    # evaluated on validation (test is empty): choosing on it would select on the scored split
    _fit(segments_csv, tmp_path / "valeval", "--splits", "train=0.7,validation=0.3",
         "--probe-tune", "on")
    record = json.loads((tmp_path / "valeval" / "probe_tuning.json").read_text())
    assert "select on the scored split" in record["reason"]
    # probe_tuning.json is the run's own file: --overwrite replaces the run without refusing
    _fit(segments_csv, tmp_path / "noval", "--splits", "train=0.7,test=0.3", "--overwrite")
    assert not (tmp_path / "noval" / "probe_tuning.json").exists()
    _fit(segments_csv, tmp_path / "auto", "--splits", "train=0.6,validation=0.2,test=0.2")
    assert not (tmp_path / "auto" / "probe_tuning.json").exists()  # features: auto is off


def test_one_track_per_class_is_not_tuned_and_the_report_says_so(tmp_path, capsys):
    table = write_gtzan_feature_table(tmp_path / "one.csv", tracks_per_class=2,
                                      segments_per_track=3, **TABLE)
    cfg = _cfg(table, splits={"train": 0.5, "test": 0.5}, models=["logistic_regression"])
    rows = load_feature_rows(features_csv=str(table), splits={"train": 0.5, "test": 0.5})
    train = rows.splits == "train"
    assert len(set(rows.track_ids[train])) == len(rows.labels)  # one track per class
    _, per_fold = run_baselines(cfg, rows)
    assert per_fold[0]["tuned"] is None and "not tuned (C=1 kept)" in per_fold[0]["tuning_method"]
    from tfgenre.classical.tuning import tuning_markdown

    assert "| logistic_regression | 0 | - | - | not tuned (C=1 kept)" in tuning_markdown(per_fold)
