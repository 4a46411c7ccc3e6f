"""Exploratory plots of a generated feature table: every image is a valid PNG."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from images import is_png
from tables import FEATURES, write_gtzan_feature_table

from tfgenre import explore
from tfgenre.classical.feature_plots import safe_name


@pytest.fixture(scope="module")
def features_csv(tmp_path_factory) -> Path:
    """4 genres x 12 whole tracks of the 5 ``FEATURES``, unscaled."""
    return write_gtzan_feature_table(tmp_path_factory.mktemp("e") / "features.csv",
                                     classes=4, tracks_per_class=12)


def test_explore_writes_every_plot_and_an_index(features_csv, tmp_path, capsys):
    out = tmp_path / "explore"
    assert explore.main(["--features-csv", str(features_csv), "--out", str(out)]) == 0
    assert "open" in capsys.readouterr().out
    names = ["correlation.png", "pca_2d.png", "pca_3d.png", "pca_variance.png"]
    names += [f"boxplots/{f}.png" for f in FEATURES]  # one per feature
    for name in names:
        assert is_png(out / name, min_size=50), name
    assert sorted(p.name for p in (out / "boxplots").iterdir()) == sorted(
        f"{f}.png" for f in FEATURES)
    index = (out / "index.html").read_text()
    for name in names:
        assert name in index, name
    rows = list(csv.DictReader(open(out / "pca.csv")))
    assert len(rows) == len(FEATURES)
    assert float(rows[-1]["cumulative"]) == pytest.approx(1.0, abs=1e-5)


def test_split_filter_and_errors(features_csv, tmp_path, capsys):
    out = tmp_path / "train_only"
    args = ["--features-csv", str(features_csv), "--out", str(out)]
    assert explore.main([*args, "--split", "train", "--splits", "train=0.5,test=0.5"]) == 0
    assert "24 rows" in (out / "index.html").read_text()
    assert explore.main([*args, "--split", "validation", "--splits", "train=0.5,test=0.5"]) == 2
    assert "has no rows" in capsys.readouterr().err
    assert explore.main(["--features-csv", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_safe_names():
    assert safe_name("mfcc1 mean/var") == "mfcc1_mean_var"
    assert safe_name("..") == "feature"


def test_explore_is_a_pipeline_stage_fed_by_fit(features_csv, tmp_path, capsys):
    from tfgenre import run
    from tfgenre.errors import ConfigError
    from tfgenre.pipelines.stages import run_pipeline

    assert "explore" in run.known_stages()
    out = tmp_path / "explore"
    # The stage as run_pipeline calls it: its section, and the pipeline around it, whose
    # fit: section gives the data and the split fractions.
    pipeline = {
        "fit": {"features_csv": str(features_csv), "splits": {"train": 0.5, "test": 0.5}},
        "explore": {"out": str(out), "split": "test"},
    }
    explore._explore_stage(dict(pipeline["explore"]), pipeline)
    assert "[explore] wrote" in capsys.readouterr().out
    assert "(test)" in (out / "index.html").read_text()
    assert is_png(out / "pca_2d.png", min_size=50)
    # the section's own data wins over fit's
    other = tmp_path / "other.csv"
    write_gtzan_feature_table(other, classes=4, tracks_per_class=4, seed=1)
    explore._explore_stage({"out": str(tmp_path / "o2"), "features_csv": str(other)}, pipeline)
    assert "other.csv" in (tmp_path / "o2" / "index.html").read_text()
    with pytest.raises(ConfigError, match="exactly one of records"):
        run_pipeline({"explore": {"out": str(out)}})
    with pytest.raises(ConfigError, match="did you mean 'split'"):
        run_pipeline({"explore": {"out": str(out), "splt": "test"}})
