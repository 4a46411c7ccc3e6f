"""The records writer: manifest contract, determinism, resume, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import spawn
from synth import make_gtzan, tone

from tfgenre.errors import ConfigError, RecordsError
from tfgenre.records.info import RecordsInfo
from tfgenre.records.reader import iterate_numpy
from tfgenre.records.writer import write_records
from tfgenre.records.writer_config import WriterConfig
from tfgenre.write_records import main

FAST = {"window_seconds": 0.5}


def _cfg(inp, out, **kw) -> WriterConfig:
    base = dict(
        source="gtzan",
        input=str(inp),
        output=str(out),
        views=("raw", "mel"),
        audio=FAST,
        shards=2,
        workers=1,
        splits={"train": 0.5, "validation": 0.25, "test": 0.25},
    )
    base.update(kw)
    from tfgenre.core import config

    return config.from_dict(WriterConfig, base)


def _digest_tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".state" not in p.parts:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def gtzan(tmp_path) -> Path:
    root = tmp_path / "genres"
    make_gtzan(str(root), per_genre=4, seconds=1.6)
    return root


def test_records_match_manifest(gtzan, tmp_path):
    out = tmp_path / "rec"
    result = write_records(_cfg(gtzan, out, views=("raw", "mel", "features")))
    m = RecordsInfo.load(str(out))
    assert m.labels == ("blues", "jazz", "rock")
    assert m.counts.to_json() == {
        "inputs": 12,
        "written": 12,
        "skipped": 0,
        "padded": 0,
        "skip_fraction": 0.0,
    }
    assert result.info == m
    assert m.view("raw").dtype == "int16" and m.view("raw").shape == (11025,)
    assert m.view("mel").dtype == "float16" and m.view("mel").shape == (128, 22, 1)
    feats = m.view("features")
    assert feats.shape == (57,) and len(feats.feature_names) == 57
    assert len(feats.mean) == 57 and all(s > 0 for s in feats.std)
    total_tracks = 0
    for split in m.split_names:
        info = m.split(split)
        total_tracks += info.num_tracks
        for view in m.views:
            items = list(iterate_numpy(m, view, split))
            assert len(items) == info.num_examples == 3 * info.num_tracks
            spec = m.view(view)
            assert all(i["data"].shape == spec.shape for i in items)
            assert all(i["data"].dtype == np.dtype(spec.dtype) for i in items)
            assert {i["label"] for i in items} <= {0, 1, 2}
            for shard in m.shards(view, split):
                path = out / shard.file
                assert path.stat().st_size == shard.num_bytes
                assert hashlib.sha256(path.read_bytes()).hexdigest() == shard.sha256
        assert info.num_bytes == sum(s.num_bytes for s in info.shards)
    assert total_tracks == 12
    # Every track in exactly one split, segments never separated from their track.
    seen = {}
    for split in m.split_names:
        for item in iterate_numpy(m, "mel", split):
            assert seen.setdefault(item["track_id"], split) == split
    assert not list(out.rglob("*.incomplete"))
    import pandas as pd

    table = pd.read_csv(out / "features.csv")
    assert list(table.columns[:3]) == ["filename", "length", "chroma_stft_mean"]
    assert list(table.columns[-4:]) == ["label", "track_id", "segment", "split"]
    assert len(table) == 36 and (table["length"] == 11025).all()
    assert m.split_policy["kind"] == "stratified_grouped"
    m.check_files("mel", m.split_names, verify=True)


def test_rerun_and_worker_count_give_identical_bytes(gtzan, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    first = write_records(_cfg(gtzan, a))
    assert first.units_written == first.units_total
    digest = _digest_tree(a)
    again = write_records(_cfg(gtzan, a))
    assert again.units_written == 0 and _digest_tree(a) == digest
    write_records(_cfg(gtzan, b, workers=2))
    assert _digest_tree(b) == digest
    write_records(_cfg(gtzan, a), overwrite=True)
    assert _digest_tree(a) == digest


def test_units_balance_picks_whole_units_only_when_they_keep_workers_busy():
    from tfgenre.records.executors import units_balance

    assert units_balance([3, 3, 2, 2, 1, 1], 2)  # 6 and 6
    assert units_balance([1, 2, 2, 0, 2, 0, 0, 1, 1, 0, 2, 1], 2)
    assert not units_balance([6, 3, 3], 3)  # one worker would get half the work
    assert not units_balance([5, 5], 4)  # more workers than units
    assert units_balance([], 4) and units_balance([7], 1)


def test_more_workers_than_shards_share_the_tracks(gtzan, tmp_path):
    # Units (6, 3, 3) do not balance over three workers, so workers compute tracks and
    # the main process writes the units in track order: the bytes of one worker.
    one, three = tmp_path / "one", tmp_path / "three"
    write_records(_cfg(gtzan, one, shards=1, views=("mel",)))
    result = write_records(_cfg(gtzan, three, shards=1, views=("mel",), workers=3))
    assert result.units_written == 3  # one unit per split
    assert _digest_tree(three) == _digest_tree(one)


class _InlinePool:
    """A stand-in for a started pool: runs jobs here and counts what was asked of it."""

    def __init__(self) -> None:
        self.whole_units = 0
        self.outstanding = 0
        self.most_outstanding = 0

    def imap_unordered(self, fn, jobs):
        self.whole_units += 1
        return map(fn, jobs)

    def apply_async(self, fn, args):
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        pool, value = self, fn(*args)

        class Done:
            def get(self):
                pool.outstanding -= 1
                return value

        return Done()


@pytest.mark.parametrize(("workers", "whole_units"), [(1, True), (3, False)])
def test_local_executor_with_a_pool_takes_its_worker_count(gtzan, tmp_path, workers, whole_units):
    # The pool's size comes from the caller (no private pool attributes): with one
    # worker the units (6, 3, 3) balance and go whole; with three they do not, and at
    # most 4 x 3 tracks are in flight. Either way, the bytes of the in-process write.
    from tfgenre.records.executors import LocalExecutor

    ref, out = tmp_path / "ref", tmp_path / "out"
    write_records(_cfg(gtzan, ref, shards=1, views=("mel",)))
    pool = _InlinePool()
    executor = LocalExecutor(workers, progress=False, pool=pool)
    result = write_records(_cfg(gtzan, out, shards=1, views=("mel",)), executor=executor)
    assert result.units_written == 3
    assert (pool.whole_units == 1) is whole_units
    assert pool.most_outstanding == (0 if whole_units else 4 * workers)
    assert _digest_tree(out) == _digest_tree(ref)


def test_check_skips_names_the_fraction_and_the_reasons():
    from tfgenre.records.info import AudioSpec, SkippedInput, WriteCounts
    from tfgenre.records.writer import check_skips

    info = RecordsInfo(
        labels=("a",),
        audio=AudioSpec(22050),
        views={},
        splits={},
        skipped=(SkippedInput("a.wav", "decode failed: bad header"),),
        counts=WriteCounts(inputs=4, written=3, skipped=1, padded=0, skip_fraction=0.25),
    )
    check_skips(info, 0.25)  # at the limit: fine
    with pytest.raises(
        RecordsError,
        match=r"1 of 4 .*25.0% > max_skip_fraction=0.2\);.*"
        r"reasons: decode failed: 1",
    ):
        check_skips(info, 0.2)


def test_read_states_refuses_a_unit_without_its_state_file(tmp_path):
    from tfgenre.records.plan import Unit, pending_units, read_states

    unit = Unit("train", 0, 1, ())
    assert pending_units(str(tmp_path), [unit]) == [unit]
    with pytest.raises(RecordsError, match="unit train-00000-of-00001 finished without"):
        read_states(str(tmp_path), [unit])


def test_resume_after_kill_is_byte_identical(gtzan, tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    write_records(_cfg(gtzan, clean, shards=4))
    args = [
        sys.executable,
        "-m",
        "tfgenre.write_records",
        "--source",
        "gtzan",
        "--input",
        str(gtzan),
        "--output",
        str(killed),
        "--views",
        "raw,mel",
        "--window-seconds",
        "0.5",
        "--shards",
        "4",
        "--workers",
        "1",
        "--no-progress",
        "--splits",
        "train=0.5,validation=0.25,test=0.25",
    ]
    proc = spawn.start(args)
    state = killed / ".state"
    deadline = time.time() + 120
    while time.time() < deadline:
        done = (
            [p for p in state.glob("*.json") if p.name != "config.json"] if state.exists() else []
        )
        if done:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (killed / "manifest.json").exists()
    assert main(args[3:]) == 0
    assert _digest_tree(killed) == _digest_tree(clean)


def test_refuses_other_config_unless_overwrite(gtzan, tmp_path):
    out = tmp_path / "rec"
    write_records(_cfg(gtzan, out))
    with pytest.raises(RecordsError, match="another configuration"):
        write_records(_cfg(gtzan, out, seed=5))
    write_records(_cfg(gtzan, out, seed=5), overwrite=True)
    assert RecordsInfo.load(str(out)).config["seed"] == 5
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("x")
    with pytest.raises(RecordsError, match="not empty"):
        write_records(_cfg(gtzan, junk))


def _bad_inputs(root: Path) -> dict[str, str]:
    """Adds one file of each bad kind to a GTZAN layout; returns expected reasons."""
    d = root / "blues"
    (d / "blues.00090.wav").write_bytes(b"")
    good = d / "blues.00000.wav"
    (d / "blues.00091.wav").write_bytes(good.read_bytes()[:30])
    (d / "blues.00092.wav").write_text("this is a text file, not audio\n")
    (d / "blues.00093.mp3").write_bytes(b"\xff\xfb\x90\x00" + os.urandom(2000))
    sf.write(d / "blues.00094.wav", np.zeros(22050, np.float32), 22050)
    sf.write(d / "blues.00095.wav", tone(0.2, 22050, 300), 22050)  # shorter than a window
    sf.write(d / "blues.00096.wav", tone(1.6, 44100, 300, channels=2), 44100)
    (d / ".DS_Store").write_bytes(b"junk")
    (d / "._blues.00000.wav").write_bytes(b"junk")
    return {
        "blues.00090": "decode failed",
        "blues.00091": "decode failed",
        "blues.00092": "decode failed",
        "blues.00093": "decode failed",
        "blues.00094": "silent",
    }


@pytest.mark.parametrize("short", ["pad", "drop"])
def test_bad_inputs_are_skipped_listed_and_counted(gtzan, tmp_path, short):
    expected = _bad_inputs(gtzan)
    out = tmp_path / "rec"
    audio = {**FAST, "short_tracks": short, "min_seconds": 0.1}
    cfg = _cfg(gtzan, out, max_skip_fraction=0.5, audio=audio)
    m = write_records(cfg).info
    skipped = {Path(s.path).stem: s.reason for s in m.skipped}
    if short == "drop":
        expected["blues.00095"] = "shorter than one window"
    for track, reason in expected.items():
        assert skipped[track].startswith(reason), skipped
    assert len(skipped) == len(expected)
    assert m.counts.inputs == 19 and m.counts.skipped == len(expected)
    assert m.counts.written == 19 - len(expected)
    assert m.padded == (("blues.00095",) if short == "pad" else ())
    ids = {i["track_id"] for s in m.split_names for i in iterate_numpy(m, "raw", s)}
    assert "blues.00096" in ids  # 44.1 kHz stereo is decoded, not skipped
    assert not any(".DS_Store" in s.path or "._" in s.path for s in m.skipped)


def test_too_many_skips_fail_with_summary_but_keep_output(gtzan, tmp_path):
    _bad_inputs(gtzan)
    out = tmp_path / "rec"
    with pytest.raises(RecordsError, match=r"skipped .*max_skip_fraction=0.05.*decode failed"):
        write_records(_cfg(gtzan, out, max_skip_fraction=0.05))
    m = RecordsInfo.load(str(out))
    # The five bad files, and the 0.2-s clip: shorter than audio.min_seconds (capped at
    # the 0.5-s window).
    assert m.counts.skipped == 6 and m.counts.written == 13
    assert (
        main(
            [
                "--source",
                "gtzan",
                "--input",
                str(gtzan),
                "--output",
                str(out),
                "--views",
                "raw,mel",
                "--window-seconds",
                "0.5",
                "--shards",
                "2",
                "--workers",
                "1",
                "--splits",
                "train=0.5,validation=0.25,test=0.25",
            ]
        )
        == 1
    )


def test_whole_track_features_and_config_errors(gtzan, tmp_path, capsys):
    out = tmp_path / "feat"
    m = write_records(_cfg(gtzan, out, views=("features",), audio={"window_seconds": 0})).info
    assert m.audio.window_samples is None
    assert sum(s.num_examples for s in m.splits.values()) == 12
    with pytest.raises(ConfigError, match="whole tracks"):
        _cfg(gtzan, out, views=("mel",), audio={"window_seconds": 0})
    code = main(
        ["--source", "gtzan", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "x")]
    )
    assert code == 2
    assert "missing" in capsys.readouterr().err
    assert main(["--source", "nope", "--input", str(gtzan), "--output", str(out)]) == 2
    assert (
        main(["--input", str(gtzan), "--output", str(out), "--dry-run", "--set", "mel.n_mels=64"])
        == 0
    )
    assert "n_mels: 64" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--shards", "many"])
    assert exc.value.code == 2


def test_csv_source_errors_before_work(tmp_path):
    make_gtzan(str(tmp_path / "a"), genres=("x", "y"), per_genre=2, seconds=1.0)
    rows = ["path,label", "a/x/x.00000.wav,x", "a/y/y.00000.wav,y", "a/x/missing.wav,x"]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "rec"
    cfg = _cfg(
        tmp_path / "list.csv", out, source="csv", max_skip_fraction=0.5, splits={"train": 1.0}
    )
    m = write_records(cfg).info.to_json()
    assert [Path(s["path"]).name for s in m["skipped"]] == ["missing.wav"]
    (tmp_path / "dup.csv").write_text("path,label\na/x/x.00000.wav,x\na/x/x.00000.wav,x\n")
    with pytest.raises(ConfigError, match="duplicate"):
        write_records(_cfg(tmp_path / "dup.csv", tmp_path / "r2", source="csv"))
    (tmp_path / "unk.csv").write_text("path,label\na/x/x.00000.wav,zzz\n")
    with pytest.raises(ConfigError, match="zzz"):
        write_records(_cfg(tmp_path / "unk.csv", tmp_path / "r3", source="csv", labels=("x", "y")))
    assert not (tmp_path / "r3" / "manifest.json").exists()


def test_manifest_json_types(gtzan, tmp_path):
    out = tmp_path / "rec"
    write_records(_cfg(gtzan, out))
    data = json.loads((out / "manifest.json").read_text())
    for info in data["splits"].values():
        assert isinstance(info["num_examples"], int) and isinstance(info["num_bytes"], int)
        for s in info["shards"]:
            assert isinstance(s["examples"], int)
    assert data["versions"]["tensorflow"]
    assert len(data["config_hash"]) == 64
