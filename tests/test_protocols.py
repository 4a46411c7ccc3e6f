"""Named splits shipped with tfgenre, and the protocol recorded in manifest/run/metrics."""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import tone

from tfgenre.classical.baselines_config import BaselinesConfig
from tfgenre.classical.rows import load_feature_rows
from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.records.info import RecordsInfo
from tfgenre.records.writer import write_records
from tfgenre.records.writer_config import WriterConfig
from tfgenre.splitting.protocols import (
    UNKNOWN_PROTOCOL,
    Protocol,
    get_named_split,
    looks_like_gtzan,
    named_split_assignment,
)
from tfgenre.views.feature_table import load_feature_table

FEATURES = ["chroma_stft_mean", "rms_mean", "tempo"]
# clips of the fault-filtered lists (split) and clips in none of them
LISTED = {
    "blues.00000": "validation",
    "blues.00012": "test",
    "blues.00029": "train",
    "blues.00030": "train",
    "pop.00000": "test",
    "pop.00002": "train",
    "pop.00003": "train",
    "pop.00010": "validation",
}
UNLISTED = ("pop.00015", "pop.00021")
LEAK = "put one artist on both sides and inflate accuracy by about 20 points"


def test_protocol_json_round_trip_and_old_files():
    p = get_named_split("fault_filtered").protocol
    data = json.loads(json.dumps(p.to_json()))
    assert data["name"] == "gtzan_fault_filtered" and data["grouping"] == "artist"
    assert data["description"] == "gtzan, grouped by artist, no artist in two splits"
    assert Protocol.from_json(data) == p
    # files without the key (written before it was kept) load as unknown
    assert Protocol.from_json(None) == UNKNOWN_PROTOCOL
    assert Protocol.from_json({}).name == "unknown"
    # keys of a newer version are ignored
    assert Protocol.from_json({**data, "new_field": 1}) == p


def test_shipped_fault_filtered_lists():
    a = named_split_assignment("fault_filtered")
    assert Counter(a.values()) == {"train": 443, "validation": 197, "test": 290}
    assert looks_like_gtzan(a)
    assert named_split_assignment("gtzan_fault_filtered") == a
    with pytest.raises(ConfigError, match=r"unknown named split 'ff' \(known: fault_filtered\)"):
        get_named_split("ff")


def test_looks_like_gtzan():
    assert looks_like_gtzan(["blues.00000", "rock/rock.00099"])
    assert not looks_like_gtzan(["blues.00000", "song"])
    assert not looks_like_gtzan(["ambient.00000"])  # not a GTZAN genre
    assert not looks_like_gtzan([])


# --------------------------------------------------------------------------- features CSV


def write_table(path: Path, ids, *, track_id_column: bool = False, split=None) -> Path:
    """A GTZAN-like table (``filename`` like blues.00000.wav), or tfgenre's layout."""
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        extra = ["track_id", "segment", "split"] if track_id_column else []
        w.writerow(["filename", "length", *FEATURES, "label", *extra])
        for k, tid in enumerate(ids):
            label = tid.split(".")[0]
            x = rng.normal(0.0, 1.0, len(FEATURES)) + (label == "pop")
            row = [f"{tid}.wav", 661794, *np.round(x, 5), label]
            if track_id_column:
                row += [f"{label}/{tid}", 0, split[k] if split else ("train", "test")[k % 2]]
            w.writerow(row)
    return path


def test_csv_named_split_excludes_unlisted_rows(tmp_path, caplog):
    path = write_table(tmp_path / "t.csv", [*LISTED, *UNLISTED])
    with caplog.at_level(logging.INFO):
        table = load_feature_table(str(path), named_split="fault_filtered")
    got = {str(t): s for s, (_, _, ids) in table.splits.items() for t in ids}
    assert got == LISTED
    assert table.excluded == UNLISTED
    assert table.policy["excluded_tracks"] == 2 and table.policy["kind"] == "named"
    assert table.protocol.name == "gtzan_fault_filtered"
    assert "2 track(s) (2 rows) are in no list and are excluded" in caplog.text
    assert table.warn_if_leaky(str(path)) is None


def test_csv_named_split_on_tfgenre_features_csv(tmp_path):
    # folder-source ids (blues/blues.00000) and a random split column: the list wins
    path = write_table(tmp_path / "f.csv", [*LISTED, *UNLISTED], track_id_column=True)
    table = load_feature_table(str(path), named_split="fault_filtered")
    got = {str(t).split("/")[1]: s for s, (_, _, ids) in table.splits.items() for t in ids}
    assert got == LISTED
    assert table.excluded == ("pop/pop.00015", "pop/pop.00021")


def test_csv_split_column_matching_the_lists_is_fault_filtered(tmp_path):
    # the writer's features.csv of fault-filtered records: its split column is the list
    ids = list(LISTED)
    path = write_table(
        tmp_path / "f.csv", ids, track_id_column=True, split=[LISTED[t] for t in ids]
    )
    table = load_feature_table(str(path))
    assert table.policy == {"kind": "csv_column"}
    assert table.protocol.name == "gtzan_fault_filtered"
    assert table.warn_if_leaky(str(path)) is None
    # any other split column of GTZAN clips is recorded as such, and warned about
    other = write_table(tmp_path / "o.csv", ids, track_id_column=True)
    table = load_feature_table(str(other))
    assert (table.protocol.name, table.protocol.dataset) == ("csv_column", "gtzan")
    assert "by its split column" in table.warn_if_leaky(str(other))


def test_csv_named_split_refuses_a_table_with_no_listed_clip(tmp_path):
    path = write_table(tmp_path / "t.csv", list(UNLISTED))
    with pytest.raises(ConfigError, match=r"holds none of the 930 clips of the named split"):
        load_feature_table(str(path), named_split="fault_filtered")
    with pytest.raises(ConfigError, match=r"unknown named split 'nope'"):
        load_feature_table(str(path), named_split="nope")


def test_random_split_of_a_gtzan_table_warns(tmp_path, caplog):
    gtzan = write_table(tmp_path / "g.csv", [f"{g}.{i:05d}" for g in ("blues", "pop")
                                             for i in range(10)])
    table = load_feature_table(str(gtzan), {"train": 0.5, "test": 0.5})
    p = table.protocol
    assert (p.name, p.grouping, p.dataset, p.leaks_artists) == ("random", "track", "gtzan", True)
    assert "inflate accuracy by about 20 points" in p.to_json()["description"]
    with caplog.at_level(logging.WARNING):
        message = table.warn_if_leaky(str(gtzan))
    assert LEAK in message and "--split fault_filtered" in message
    assert message in caplog.text and caplog.text.count(LEAK) == 1
    other = write_table(tmp_path / "o.csv", [f"song{i}.00000" for i in range(6)])
    table = load_feature_table(str(other), {"train": 0.5, "test": 0.5})
    assert table.protocol.dataset is None and table.warn_if_leaky(str(other)) is None


def test_baselines_named_split_rows_and_config_checks(tmp_path):
    path = write_table(tmp_path / "t.csv", [*LISTED, *UNLISTED])
    rows = load_feature_rows(features_csv=str(path), named_split="fault_filtered")
    assert len(rows.y) == len(LISTED) and rows.excluded == UNLISTED
    assert rows.protocol.name == "gtzan_fault_filtered"
    with pytest.raises(ConfigError, match=r"does not go with folds=5"):
        config.from_dict(
            BaselinesConfig, {"features_csv": str(path), "named_split": "fault_filtered",
                              "folds": 5}
        )
    with pytest.raises(ConfigError, match=r"records keep the split they were written with"):
        config.from_dict(BaselinesConfig, {"records": "r", "named_split": "fault_filtered"})


# --------------------------------------------------------------------------- records


def make_layout(root: Path, ids) -> None:
    for k, tid in enumerate(ids):
        genre = tid.split(".")[0]
        (root / genre).mkdir(parents=True, exist_ok=True)
        sf.write(str(root / genre / f"{tid}.wav"), tone(1.2, 8000, 300 + 40 * k, seed=k), 8000)


def _writer(root: Path, out: Path, **options) -> WriterConfig:
    return config.from_dict(
        WriterConfig,
        {
            "source": "gtzan",
            "input": str(root),
            "output": str(out),
            "views": ["features"],
            "audio": {"sample_rate": 8000, "window_seconds": 0.0},
            "shards": 1,
            "workers": 1,
            "splits": {"train": 0.5, "test": 0.5},
            "source_options": options,
        },
    )


def test_writer_records_the_fault_filtered_protocol_and_exclusions(tmp_path, caplog):
    root = tmp_path / "genres"
    make_layout(root, [*LISTED, *UNLISTED])
    with caplog.at_level(logging.WARNING):
        write_records(_writer(root, tmp_path / "rec", split="fault_filtered"))
    m = RecordsInfo.load(str(tmp_path / "rec"))
    assert m.protocol == get_named_split("fault_filtered").protocol
    assert m.to_json()["excluded"] == {"count": 2, "tracks": list(UNLISTED)}
    assert m.excluded == tuple(UNLISTED)
    # excluded on purpose: not skipped, not counted towards max_skip_fraction
    assert m.counts.skipped == 0 and m.counts.inputs == len(LISTED)
    assert {s: m.split(s).num_tracks for s in m.split_names} == {
        "train": 4, "validation": 2, "test": 2
    }
    assert LEAK not in caplog.text
    # an old manifest without the keys still loads, protocol unknown
    data = json.loads((tmp_path / "rec" / "manifest.json").read_text())
    del data["protocol"], data["excluded"]
    old = RecordsInfo.from_json(data, root=str(tmp_path / "rec"))
    assert old.protocol == UNKNOWN_PROTOCOL and old.excluded == ()


def test_writer_warns_on_a_random_gtzan_split(tmp_path, caplog):
    root = tmp_path / "genres"
    make_layout(root, [f"{g}.{i:05d}" for g in ("blues", "pop") for i in range(4)])
    with caplog.at_level(logging.WARNING):
        write_records(_writer(root, tmp_path / "rec"))
    assert caplog.text.count(LEAK) == 1
    assert "--set source_options.split=fault_filtered" in caplog.text
    p = RecordsInfo.load(str(tmp_path / "rec")).protocol
    assert (p.name, p.grouping, p.dataset, p.leaks_artists) == ("random", "track", "gtzan", True)


# --------------------------------------------------------------------------- run/metrics


def test_fit_records_the_protocol_in_run_and_metrics(tmp_path, caplog):
    from tfgenre.training.fit_config import FitConfig
    from tfgenre.training.loop import train

    ids = [f"{g}.{i:05d}" for g in ("blues", "pop") for i in range(40)]
    path = write_table(tmp_path / "t.csv", ids)
    cfg = config.from_dict(FitConfig, {
        "features_csv": str(path), "view": "features", "model": "features_mlp",
        "named_split": "fault_filtered", "run_dir": str(tmp_path / "run"), "epochs": 1,
        "batch_size": 16,
    })
    with caplog.at_level(logging.WARNING):
        result = train(cfg)
    assert LEAK not in caplog.text
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["protocol"]["name"] == "gtzan_fault_filtered"
    excluded = [t for t in ids if t not in named_split_assignment("fault_filtered")]
    assert info["excluded"] == {"count": len(excluded), "tracks": excluded}
    metrics = json.loads((tmp_path / "run" / "report" / "metrics.json").read_text())
    assert metrics["protocol"]["name"] == "gtzan_fault_filtered"
    assert metrics["excluded_tracks"] == len(excluded)
    assert result.metrics["protocol"]["leaks_artists"] is False
    assert "gtzan_fault_filtered" in (tmp_path / "run" / "report" / "report.md").read_text()
    with pytest.raises(ConfigError, match=r"records keep the split"):
        config.from_dict(FitConfig, {"records": "r", "named_split": "fault_filtered"})
    with pytest.raises(ConfigError, match=r"does not go with folds=5"):
        config.from_dict(FitConfig, {"features_csv": "t.csv", "view": "features",
                                     "named_split": "fault_filtered", "folds": 5})


# --------------------------------------------------------------------------- real data


def test_real_gtzan_table_on_the_fault_filtered_split(real_data):
    path = Path(real_data) / "gtzan_kaggle" / "features_30_sec.csv"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    table = load_feature_table(str(path), named_split="fault_filtered")
    ids = {t for _, _, split_ids in table.splits.values() for t in split_ids}
    lists = named_split_assignment("fault_filtered")
    missing = Counter(s for t, s in lists.items() if t not in ids)
    sizes = {s: len(v[1]) for s, v in table.splits.items()}
    assert sizes == {s: n - missing[s] for s, n in (("train", 443), ("validation", 197),
                                                   ("test", 290))}
    assert len(table.excluded) == 1000 - sum(sizes.values())
