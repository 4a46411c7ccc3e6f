"""LibraryOutput (predict LIBRARY --output X) in-process: resume rules without a model."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from tfgenre.errors import ConfigError
from tfgenre.inference.library.listing import iter_library, stamp
from tfgenre.inference.library.sink import LibraryOutput, Settings
from tfgenre.inference.prediction import TrackPrediction


def _settings(fmt: str = "csv", top_k: int = 2) -> Settings:
    return Settings(fmt, "run", "sha256:x", "genre", ("a", "b", "c"), top_k, True, None)


def _prediction(path: str, seed: int) -> TrackPrediction:
    p = np.random.default_rng(seed).dirichlet(np.ones(3), size=2).astype(np.float32)
    return TrackPrediction(path, ("a", "b", "c"), 2.0, p.mean(0), p, np.array([0.0, 1.0]), 1.0)


@pytest.fixture
def files(tmp_path) -> list[str]:
    out = []
    for i in range(3):
        path = tmp_path / "music" / f"f{i}.wav"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * (10 + i))
        out.append(str(path))
    return out


def _write(out_path: str, paths: list[str], settings: Settings) -> LibraryOutput:
    out = LibraryOutput(out_path, settings)
    out.open()
    for i, p in enumerate(paths):
        if not out.is_done(p, stamp(p)):
            out.write(_prediction(p, i), stamp(p))
    out.close([], {})
    return out


def test_resume_keeps_finished_rows_and_rewrites_a_lost_header(tmp_path, files):
    out_path = str(tmp_path / "p.csv")
    _write(out_path, files[:2], _settings())
    text = open(out_path).read()
    rows = list(csv.DictReader(text.splitlines()))
    assert [r["level"] for r in rows] == ["track", "segment", "segment"] * 2
    again = LibraryOutput(out_path, _settings())
    again.open()
    assert set(again.done) == set(files[:2])
    again.close([], {})
    assert open(out_path).read() == text
    os.remove(out_path)  # the rows are lost, the journal is not: everything again
    lost = LibraryOutput(out_path, _settings())
    lost.open()
    assert lost.done == {}
    lost.close([], {})
    assert open(out_path).read() == text.splitlines(keepends=True)[0]


def test_partial_lines_and_doubled_rows_are_dropped(tmp_path, files):
    out_path = str(tmp_path / "p.jsonl")
    _write(out_path, files, _settings("jsonl"))
    lines = open(out_path).read().splitlines(keepends=True)
    with open(out_path, "a") as f:
        f.write(lines[0])  # the first file's row twice: predicted again
        f.write('{"path": "half')
    out = LibraryOutput(out_path, _settings("jsonl"))
    out.open()
    assert set(out.done) == set(files[1:])
    out.close([], {})
    assert open(out_path).read() == "".join(lines[1:])
    journal = [json.loads(x) for x in open(out_path + ".journal.jsonl")]
    assert [j["path"] for j in journal] == files[1:]


def test_foreign_files_and_other_settings_are_refused(tmp_path, files):
    mine = tmp_path / "mine.jsonl"
    mine.write_text("hello\n")
    with pytest.raises(ConfigError, match="not written by tfgenre.predict"):
        LibraryOutput(str(mine), _settings("jsonl")).open()
    assert mine.read_text() == "hello\n"
    out_path = str(tmp_path / "p.csv")
    _write(out_path, files[:1], _settings())
    with pytest.raises(ConfigError, match="--top-k: written with 2, now 3"):
        LibraryOutput(out_path, _settings(top_k=3)).open()
    state = tmp_path / "q.csv.state.json"
    state.write_text(json.dumps({"written_by": "someone else"}))
    (tmp_path / "q.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match="was not written by tfgenre.predict"):
        LibraryOutput(str(tmp_path / "q.csv"), _settings()).open()


def test_listing_is_streamed_depth_first_and_names_skips(tmp_path, files):
    root = tmp_path / "music"
    (root / "sub").mkdir()
    (root / "sub" / "z.flac").write_bytes(b"")
    (root / "phone.m4a").write_bytes(b"")
    (root / ".hidden.wav").write_bytes(b"")
    entries = list(iter_library([str(root)]))
    assert [os.path.basename(e.path) for e in entries] == [
        "f0.wav", "f1.wav", "f2.wav", "phone.m4a", "z.flac"
    ]
    assert [e.skip is not None for e in entries] == [False, False, False, True, False]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="holds no audio files"):
        list(iter_library([str(empty)]))


def test_a_weight_set_in_bfloat16_is_another_model_for_resume():
    from tfgenre.inference.library.sink import model_id

    assert model_id("musicnn_msd", True) == "weights:musicnn_msd"
    assert model_id("musicnn_msd", True, "float32") == model_id("musicnn_msd", True)
    assert model_id("musicnn_msd", True, "bfloat16") == "weights:musicnn_msd@bfloat16"
