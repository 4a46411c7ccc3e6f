"""Grouped k-fold: the shared fold assignment, ``fit --folds K``, its summary and resume."""

from __future__ import annotations

import csv
import json
import random
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from tables import write_gtzan_feature_table

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.evaluation.folds import assign_folds, fold_splits


def write_csv(path: Path, *, tracks: int = 8, segments: int = 2, artists: int = 0) -> Path:
    """A small separable table of 3 genres (rows around their genre's center, sd 0.5);
    with ``artists`` > 0 a ``group`` column (artist per genre)."""
    return write_gtzan_feature_table(path, classes=3, tracks_per_class=tracks,
                                     segments_per_track=segments, spread=3.0, track_noise=0.0,
                                     segment_noise=0.5, decimals=5, groups_per_class=artists)


def _tracks(n_labels: int = 3, per_label: int = 10, artists: int = 0) -> list[tuple]:
    return [
        (f"l{lab}.{i:03d}", lab, f"a{lab}.{i % artists}" if artists else None)
        for lab in range(n_labels)
        for i in range(per_label)
    ]


# ----------------------------------------------------------------------------- assignment


def test_assignment_is_stratified_deterministic_and_order_free():
    tracks = _tracks(per_label=10)
    a = assign_folds(tracks, 3, seed=0)
    assert a.grouped_by == "track" and len(a.fold_of) == 30
    for fold in range(3):
        per_label = Counter(a.labels[t] for t in a.tracks(fold))
        assert sorted(per_label.values()) in ([3, 3, 4], [3, 4, 4], [4, 4, 3]) or all(
            3 <= n <= 4 for n in per_label.values()
        ), per_label
        assert set(per_label) == {0, 1, 2}
    shuffled = list(tracks)
    random.Random(1).shuffle(shuffled)
    assert assign_folds(shuffled, 3, seed=0).fold_of == a.fold_of
    assert assign_folds(tracks, 3, seed=1).fold_of != a.fold_of
    # segment rows (a track repeated) give the same folds as one row per track
    assert assign_folds([*tracks, *tracks], 3, seed=0).fold_of == a.fold_of


def test_assignment_is_grouped_by_artist():
    a = assign_folds(_tracks(per_label=12, artists=4), 3, seed=0)
    assert a.grouped_by == "artist"
    folds_of_group = defaultdict(set)
    for t, f in a.fold_of.items():
        folds_of_group[a.groups[t]].add(f)
    assert all(len(f) == 1 for f in folds_of_group.values())
    for fold in range(3):  # 4 artists of 3 tracks per label: every fold sees every label
        assert {a.labels[t] for t in a.tracks(fold)} == {0, 1, 2}


def test_assignment_refuses_too_few_tracks_and_two_labels():
    with pytest.raises(ConfigError, match="folds=5 is more than the 4 track"):
        assign_folds(_tracks(per_label=4), 5)
    with pytest.raises(ConfigError, match="two labels"):
        assign_folds([("t", 0, None), ("t", 1, None)], 2)
    with pytest.raises(ConfigError, match="folds=1"):
        assign_folds(_tracks(), 1)


def test_fold_splits_never_validate_on_the_test_fold():
    a = assign_folds(_tracks(per_label=15, artists=5), 3, seed=2)
    for fold in range(3):
        split = fold_splits(a, fold)
        assert {t for t, s in split.items() if s == "test"} == set(a.tracks(fold))
        val = {t for t, s in split.items() if s == "validation"}
        train = {t for t, s in split.items() if s == "train"}
        assert val and train and not val & set(a.tracks(fold))
        assert not {a.groups[t] for t in val} & {a.groups[t] for t in train}


def test_fit_and_baselines_use_the_same_folds(tmp_path):
    from tfgenre.classical.baselines_config import BaselinesConfig
    from tfgenre.classical.rows import load_feature_rows
    from tfgenre.classical.splitting import folds_of
    from tfgenre.training.fit_config import FitConfig
    from tfgenre.training.inputs import feature_table

    path = str(write_csv(tmp_path / "f.csv", tracks=9, segments=2, artists=3))
    rows = load_feature_rows(features_csv=path)
    bcfg = config.from_dict(BaselinesConfig, {"features_csv": path, "folds": 3, "seed": 4})
    pairs = folds_of(rows, bcfg)
    groups = {t: t.split(".")[0] + str(int(t.split(".")[1]) % 3) for t in rows.track_ids}
    for k, (train, test) in enumerate(pairs):
        assert not set(rows.track_ids[train]) & set(rows.track_ids[test])
        # grouped by the CSV's artist column: no artist on both sides
        assert not {groups[t] for t in rows.track_ids[train]} & {
            groups[t] for t in rows.track_ids[test]
        }
        fcfg = FitConfig(
            features_csv=path, view="features", model="features_mlp", folds=3, fold=k, seed=4
        )
        table = feature_table(fcfg)
        assert set(table.splits["test"][2]) == set(rows.track_ids[test])
        assert table.policy["grouped_by"] == "artist" and table.policy["fold"] == k
        held = set(table.splits["validation"][2]) | set(table.splits["train"][2])
        assert held == set(rows.track_ids[train])


def test_folds_config_is_checked():
    from tfgenre.training.fit_config import FitConfig

    with pytest.raises(ConfigError, match="folds=1"):
        FitConfig(folds=1)
    with pytest.raises(ConfigError, match="val_split='test'"):
        FitConfig(folds=3, val_split="test")
    with pytest.raises(ConfigError, match=r"fold=3 needs folds >= 2 and must be in \[0, folds=3\)"):
        FitConfig(folds=3, fold=3)


# ----------------------------------------------------------------------------- fit --folds


@pytest.mark.slow  # four fold trainings (about 50 s on 2 busy cores); test_cli runs --folds 2
def test_fit_folds_on_a_features_csv_then_resume(tmp_path, capsys, monkeypatch):
    """In-process (the command suite runs ``fit --folds 2`` as a process)."""
    from tfgenre import fit

    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "f.csv", tracks=6, segments=2)
    args = ["--features-csv", "f.csv", "--model", "features_mlp", "--run-dir", "cv",
            "--folds", "3", "--epochs", "2", "--batch-size", "16", "--seed", "1"]
    assert fit.main(args) == 0
    out = capsys.readouterr().out
    assert "| mean ± std [95 % CI] |" in out and "0: trained, 1: trained, 2: trained" in out
    run = tmp_path / "cv"
    for k in range(3):
        for name in ("config.yaml", "run.json", "model.keras", "report/metrics.json"):
            assert (run / "folds" / str(k) / name).is_file(), (k, name)
    summary = json.loads((run / "folds_summary.json").read_text())
    assert summary["protocol"]["k"] == 3 and summary["protocol"]["grouped_by"] == "track"
    assert summary["protocol"]["seed"] == 1
    assert [f["fold"] for f in summary["folds"]] == [0, 1, 2]
    assert sum(f["test_tracks"] for f in summary["folds"]) == 18  # every track tested once
    for key in ("segment_accuracy", "segment_macro_f1", "track_accuracy", "track_macro_f1"):
        stats = summary["overall"][key]
        values = [f[key] for f in summary["folds"]]
        assert stats["mean"] == pytest.approx(np.mean(values))
        assert stats["ci"][0] <= stats["mean"] <= stats["ci"][1]
    assert "grouped by track, seed 1" in (run / "folds_summary.md").read_text()

    # an interrupted fold (no report, no model) is retrained; the others are skipped
    fold1 = run / "folds" / "1"
    for name in ("report", "model.keras"):
        target = fold1 / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    (run / "folds_summary.json").unlink()
    kept = (run / "folds" / "0" / "model.keras").stat().st_mtime_ns
    assert fit.main(args) == 0
    out = capsys.readouterr().out
    assert "folds (0: skipped, 1: trained, 2: skipped)" in out, out
    assert (fold1 / "report" / "metrics.json").is_file()
    assert (run / "folds" / "0" / "model.keras").stat().st_mtime_ns == kept
    # a fold with its model but no report is evaluated, not retrained
    (fold1 / "report" / "metrics.json").unlink()
    (run / "folds_summary.json").unlink()
    assert fit.main(args) == 0
    assert "folds (0: skipped, 1: evaluated, 2: skipped)" in capsys.readouterr().out

    # finished, or another config: refused unless --overwrite
    assert fit.main(args) == 2
    assert "finished run" in capsys.readouterr().err
    assert fit.main([*args, "--epochs", "1"]) == 2
    assert "differs in: epochs" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_folds_on_records_grouped_by_artist(tmp_path):
    """Records (csv source with artists) of every split pooled, filtered by track in
    tf.data; folds grouped by the manifest's artists, equal to baselines'; evaluate agrees."""
    from tfgenre.classical.baselines_config import BaselinesConfig
    from tfgenre.classical.rows import load_feature_rows
    from tfgenre.classical.splitting import folds_of
    from tfgenre.evaluation.predictions import evaluate_run
    from tfgenre.records.writer import write_records
    from tfgenre.records.writer_config import WriterConfig
    from tfgenre.synthesis import synthesize_dataset
    from tfgenre.training.crossval import run_folds
    from tfgenre.training.fit_config import FitConfig

    audio = tmp_path / "audio"
    clips = synthesize_dataset(str(audio), num_genres=3, clips_per_genre=6, clip_seconds=4.0)
    listing = tmp_path / "tracks.csv"
    with listing.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group"])
        for clip in sorted(clips):
            genre, number = Path(clip).stem.split(".")
            w.writerow([clip, genre, f"{genre}-artist{int(number) % 3}"])
    records = tmp_path / "records"
    write_records(config.from_dict(WriterConfig, {
        "source": "csv",
        "input": str(listing),
        "output": str(records),
        "views": ["features"],
        "audio": {"window_seconds": 2.0},
        "splits": {"train": 0.5, "validation": 0.25, "test": 0.25},
        "shards": 2,
        "workers": 1,
    }))
    manifest = json.loads((records / "manifest.json").read_text())
    assert len(manifest["track_groups"]) == 18
    cfg = FitConfig(records=str(records), view="features", model="features_mlp",
                    run_dir=str(tmp_path / "cv"), folds=2, epochs=1, batch_size=8, seed=3)
    result = run_folds(cfg)
    assert result.summary["protocol"]["grouped_by"] == "artist"
    rows = load_feature_rows(records=str(records))
    pairs = folds_of(rows, config.from_dict(
        BaselinesConfig, {"records": str(records), "folds": 2, "seed": 3}))
    groups = manifest["track_groups"]
    for outcome, (train, test) in zip(result.folds, pairs):
        with (Path(outcome.run_dir) / "report" / "tracks.csv").open() as f:
            scored = {r["track_id"] for r in csv.DictReader(f)}
        assert scored == set(rows.track_ids[test])
        assert not {groups[t] for t in scored} & {groups[t] for t in rows.track_ids[train]}
        assert outcome.metrics.level("segment").num_examples == len(test)
        again = evaluate_run(outcome.run_dir, "test")
        assert again["segment"]["accuracy"] == pytest.approx(
            outcome.metrics.level("segment").accuracy
        )
    info = json.loads((Path(result.folds[0].run_dir) / "run.json").read_text())
    assert info["split_policy"]["kind"] == "grouped_kfold"
    assert sum(info["num_examples"].values()) == len(rows.y)
    # run.json keeps the fold's tracks, and evaluate reads them instead of assigning again
    fold = info["selection"]["fold"]
    assert (fold["k"], fold["fold"], fold["seed"]) == (2, 0, 3)
    assert set(fold["tracks"]["test"]) == set(rows.track_ids[pairs[0][1]])
    kept = fold["tracks"]["test"][1:]
    fold["tracks"]["test"] = kept
    segments = sum(int(t in kept) for t in rows.track_ids)  # only their sum is read
    fold["label_counts"]["test"] = [segments] + [0] * (len(info["labels"]) - 1)
    run_json = Path(result.folds[0].run_dir) / "run.json"
    run_json.write_text(json.dumps(info))
    metrics = evaluate_run(result.folds[0].run_dir, "test")
    with (Path(result.folds[0].run_dir) / "report" / "tracks.csv").open() as f:
        assert {r["track_id"] for r in csv.DictReader(f)} == set(kept)
    assert metrics["track"]["num_examples"] == len(kept)
