"""The shared test inputs themselves: feature tables, records specs and the PNG check."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from builders import RecordsSpec
from images import is_png
from tables import FEATURES, write_gtzan_feature_table


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_whole_track_and_segment_tables(tmp_path):
    rows = _rows(write_gtzan_feature_table(tmp_path / "t.csv", classes=3, tracks_per_class=2))
    assert list(rows[0]) == ["filename", "length", *FEATURES, "label"]
    assert [r["filename"] for r in rows[:2]] == ["blues.00000.wav", "blues.00001.wav"]
    assert {r["label"] for r in rows} == {"blues", "classical", "country"}
    assert {r["length"] for r in rows} == {"661794"}
    rows = _rows(write_gtzan_feature_table(tmp_path / "s.csv", classes=("rock", "jazz"),
                                           tracks_per_class=2, segments_per_track=3))
    assert len(rows) == 12 and rows[2]["filename"] == "rock.00000.2.wav"
    assert {r["length"] for r in rows} == {"66149"} and rows[-1]["label"] == "jazz"


def test_group_and_split_columns_and_seeds(tmp_path):
    path = write_gtzan_feature_table(tmp_path / "t.csv", classes=2, tracks_per_class=4,
                                     groups_per_class=2, splits=("train", "test"))
    rows = _rows(path)
    assert [r["group"] for r in rows[:3]] == ["blues-artist0", "blues-artist1", "blues-artist0"]
    assert [r["split"] for r in rows[:3]] == ["train", "test", "train"]
    again = write_gtzan_feature_table(tmp_path / "a.csv", classes=2, tracks_per_class=4,
                                      groups_per_class=2, splits=("train", "test"))
    other = write_gtzan_feature_table(tmp_path / "o.csv", classes=2, tracks_per_class=4,
                                      groups_per_class=2, splits=("train", "test"), seed=1)
    assert again.read_text() == path.read_text() != other.read_text()


def test_units_scale_the_features(tmp_path):
    rows = _rows(write_gtzan_feature_table(tmp_path / "t.csv", units=True, offset=5.0,
                                           track_noise=0.0, spread=0.0))
    assert float(rows[0]["spectral_centroid_mean"]) == pytest.approx(7500.0)
    assert float(rows[0]["rms_mean"]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"Received: features=\('a', 'b'\)"):
        write_gtzan_feature_table(tmp_path / "x.csv", features=("a", "b"), units=True)


def test_records_spec_writer_options_and_key(tmp_path):
    spec = RecordsSpec(num_genres=3, clips_per_genre=2, clip_seconds=2.0, views=("mel",),
                       window_seconds=1.0, n_mels=32, shards=1, seed=4)
    options = spec.writer_options(tmp_path / "a", tmp_path / "r")
    assert options["source_options"] == {"num_genres": 3, "clips_per_genre": 2,
                                         "clip_seconds": 2.0, "seed": 4}
    assert options["mel"] == {"n_mels": 32} and "raw" not in options
    assert options["audio"] == {"window_seconds": 1.0}
    assert options["splits"] == {"train": 0.6, "validation": 0.2, "test": 0.2}
    assert spec.key == RecordsSpec(**vars(spec)).key
    assert spec.key != RecordsSpec(**{**vars(spec), "n_mels": 64}).key


def test_is_png(tmp_path):
    from PIL import Image

    Image.new("RGB", (60, 40)).save(tmp_path / "a.png")
    assert is_png(tmp_path / "a.png")
    assert is_png(tmp_path / "a.png", min_size=30) and not is_png(tmp_path / "a.png", min_size=50)
    (tmp_path / "b.png").write_bytes(b"GIF89a")
    assert not is_png(tmp_path / "b.png")
