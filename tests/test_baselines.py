"""Classical baselines on generated feature tables (whole tracks and segments)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from builders import RecordsSpec
from tables import write_gtzan_feature_table

from tfgenre import baselines
from tfgenre.classical.baselines_config import BaselinesConfig
from tfgenre.classical.models import MODELS, make_model
from tfgenre.classical.rows import load_feature_rows
from tfgenre.classical.splitting import folds_of
from tfgenre.classical.sweep import run_baselines
from tfgenre.classical.tables import markdown_table
from tfgenre.core import config
from tfgenre.errors import ConfigError

#: The baselines' tables: 4 genre clusters of the 5 features in their GTZAN units; each
#: track drawn around its genre (sd 0.7), each row around its track (sd 0.5).
TABLE = {"classes": 4, "track_noise": 0.7, "segment_noise": 0.5, "units": True}


@pytest.fixture(scope="module")
def clips_csv(tmp_path_factory) -> Path:
    """4 genres x 20 whole tracks."""
    return write_gtzan_feature_table(tmp_path_factory.mktemp("b") / "clips.csv",
                                     tracks_per_class=20, **TABLE)


@pytest.fixture(scope="module")
def segments_csv(tmp_path_factory) -> Path:
    """4 genres x 12 tracks x 4 segments."""
    return write_gtzan_feature_table(tmp_path_factory.mktemp("b") / "segs.csv",
                                     tracks_per_class=12, segments_per_track=4, **TABLE)


def test_fit_split_and_kfold_on_whole_tracks(clips_csv):
    cfg = config.from_dict(BaselinesConfig, {"features_csv": str(clips_csv),
                                             "splits": {"train": 0.7, "test": 0.3}})
    summary, per_fold = run_baselines(cfg)
    assert [r["model"] for r in summary] == list(MODELS)
    by_model = {r["model"]: r for r in summary}
    assert all(r["level"] == "clip" and r["folds"] == 0 for r in summary)
    # 4 separable genres (chance 0.25): the scaled models learn them
    for name in ("logistic_regression", "svm", "knn"):
        assert by_model[name]["accuracy_mean"] >= 0.8, by_model[name]
    assert len(per_fold) == 6
    # the split is the fit split: same test rows as tfgenre.fit would evaluate
    from tfgenre.views.feature_table import load_feature_table

    table = load_feature_table(str(clips_csv), {"train": 0.7, "test": 0.3}, seed=0)
    rows = load_feature_rows(features_csv=str(clips_csv), splits={"train": 0.7, "test": 0.3})
    (_, test), = folds_of(rows, cfg)
    assert sorted(rows.track_ids[test]) == sorted(table.splits["test"][2])

    cfg = config.replace(cfg, folds=4, models=("svm", "naive_bayes"))
    summary, per_fold = run_baselines(cfg)
    assert [r["folds"] for r in summary] == [4, 4] and len(per_fold) == 8
    assert all(r["accuracy_std"] is not None and r["accuracy_std"] >= 0 for r in summary)
    table = markdown_table(summary, "t")
    assert "±" in table and "| svm |" in table
    assert "95 % t-interval of the mean over 4 folds" in table


def test_tables_carry_intervals(clips_csv):
    """One split: a bootstrap over its tracks; folds: a t-interval of the fold means."""
    from tfgenre.core.stats import t_interval

    cfg = config.from_dict(BaselinesConfig, {"features_csv": str(clips_csv),
                                             "splits": {"train": 0.5, "test": 0.5},
                                             "models": ["naive_bayes"]})
    (row,), (fold,) = run_baselines(cfg)
    assert row["accuracy_lo"] <= row["accuracy_mean"] <= row["accuracy_hi"]
    assert row["macro_f1_lo"] <= row["macro_f1_mean"] <= row["macro_f1_hi"]
    assert row["accuracy_hi"] - row["accuracy_lo"] > 0.01 or row["accuracy_mean"] == 1.0
    assert row["interval"].startswith("95 % bootstrap over tracks")
    assert (fold["accuracy_lo"], fold["accuracy_hi"]) == (row["accuracy_lo"], row["accuracy_hi"])
    table = markdown_table([row])
    assert f"{row['accuracy_mean']:.4f} [{row['accuracy_lo']:.4f}, {row['accuracy_hi']:.4f}]" in (
        table
    )
    assert "±" not in table.splitlines()[2]

    cfg = config.replace(cfg, folds=3)
    (row,), folds = run_baselines(cfg)
    expected = t_interval([f["accuracy"] for f in folds])["ci"]
    assert [row["accuracy_lo"], row["accuracy_hi"]] == pytest.approx(expected)
    assert row["accuracy_lo"] <= row["accuracy_mean"] <= row["accuracy_hi"]
    table = markdown_table([row])
    assert f"± {row['accuracy_std']:.4f} [{row['accuracy_lo']:.4f}, " in table


def test_segments_are_grouped_by_track_and_scored_per_track(segments_csv):
    cfg = config.from_dict(BaselinesConfig, {"features_csv": str(segments_csv), "folds": 3,
                                             "models": ["logistic_regression", "svm"]})
    rows = load_feature_rows(features_csv=str(segments_csv))
    assert rows.segments and len(rows.y) == 4 * 12 * 4
    for train, test in folds_of(rows, cfg):
        assert not set(rows.track_ids[train]) & set(rows.track_ids[test])
        assert len(set(rows.y[test])) == 4  # stratified
    summary, per_fold = run_baselines(cfg, rows)
    assert all(r["level"] == "track" for r in summary)
    assert all("segment_accuracy" in f for f in per_fold)
    assert min(r["accuracy_mean"] for r in summary) >= 0.8


def test_cli_writes_markdown_and_csv_and_takes_the_fit_split(clips_csv, tmp_path, capsys):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump({
        "fit": {"features_csv": str(clips_csv), "splits": {"train": 0.6, "test": 0.4},
                "seed": 3, "model": "features_mlp"},
        "baselines": {"models": ["svm", "knn"], "model_options": {"svm": {"C": 10.0}}},
    }))
    out = tmp_path / "out"
    assert baselines.main(["--config", str(pipeline), "--out", str(out), "--dry-run"]) == 0
    dry = yaml.safe_load(capsys.readouterr().out)
    assert dry["splits"] == {"train": 0.6, "test": 0.4} and dry["seed"] == 3
    assert baselines.main(["--config", str(pipeline), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| svm |" in text and "seed 3" in text
    rows = list(csv.DictReader(open(out / "baselines.csv")))
    assert {r["model"] for r in rows} == {"svm", "knn"}
    assert (out / "baselines.md").read_text().startswith("### ")
    assert len(list(csv.DictReader(open(out / "baselines_folds.csv")))) == 2
    # bad input: exit code 2 with a message naming the value and the rule
    assert baselines.main(["--features-csv", str(clips_csv), "--models", "xgboost"]) == 2
    assert "unknown model 'xgboost'" in capsys.readouterr().err
    assert baselines.main(["--features-csv", str(clips_csv), "--folds", "50"]) == 2
    assert "folds=50" in capsys.readouterr().err
    assert baselines.main(["--features-csv", str(clips_csv),
                           "--set", "model_options.svm.kernal=rbf"]) == 2


def test_model_options_are_checked():
    with pytest.raises(ConfigError, match="model_options.svm"):
        make_model("svm", options={"not_a_param": 1})
    assert make_model("svm", options={"C": 5.0}).get_params()["model__C"] == 5.0


@pytest.mark.real_data
def test_baselines_on_the_gtzan_feature_table(real_data):
    path = Path(real_data) / "gtzan_kaggle" / "features_30_sec.csv"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    cfg = config.from_dict(BaselinesConfig, {"features_csv": str(path), "models": ["svm"],
                                             "splits": {"train": 0.7, "test": 0.3}})
    (row,), _ = run_baselines(cfg)
    assert row["accuracy_mean"] > 0.6  # 10 genres, chance 0.1


@pytest.mark.slow
def test_baselines_and_explore_on_records(tmp_path, synthetic_records):
    """Records written from the synthetic source: segments, scored per track."""
    from tfgenre import explore

    records = synthetic_records(RecordsSpec(
        num_genres=3, clips_per_genre=6, clip_seconds=4.0, views=("features",),
        window_seconds=2.0, splits=(("train", 0.5), ("test", 0.5)), shards=1)).records
    rows = load_feature_rows(records=str(records))
    assert rows.segments and len(rows.feature_names) == rows.x.shape[1] == 57
    assert set(rows.splits) == {"train", "test"}
    out = tmp_path / "out"
    assert baselines.main(["--records", str(records), "--models", "svm,knn",
                           "--out", str(out)]) == 0
    summary = list(csv.DictReader(open(out / "baselines.csv")))
    assert {r["level"] for r in summary} == {"track"}
    assert baselines.main(["--records", str(records), "--folds", "2",
                           "--models", "logistic_regression"]) == 0
    assert explore.main(["--records", str(records), "--out",
                         str(tmp_path / "explore")]) == 0
    assert (tmp_path / "explore" / "pca_2d.png").exists()


def test_knn_on_a_table_smaller_than_its_neighbourhood(tmp_path):
    # 2 classes x 2 tracks, 2 folds: each fold trains on 2 rows, fewer than knn's 5
    # neighbours; scikit-learn raised a ValueError that ended the whole job.
    table = write_gtzan_feature_table(tmp_path / "tiny.csv", **{**TABLE, "classes": 2},
                                      tracks_per_class=2)
    cfg = config.from_dict(BaselinesConfig, {"features_csv": str(table), "folds": 2,
                                             "models": ["knn", "logistic_regression"]})
    summary, per_fold = run_baselines(cfg)
    assert [r["model"] for r in summary] == ["knn", "logistic_regression"]
    assert len(per_fold) == 4 and all(0.0 <= r["accuracy"] <= 1.0 for r in per_fold)
