"""write_records as a user runs it: what it refuses, what it skips, what it never deletes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from synth import make_gtzan, tone

from tfgenre.core import config
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.records.info import RecordsInfo
from tfgenre.records.writer import write_records
from tfgenre.records.writer_config import AudioConfig, WriterConfig
from tfgenre.splitting.splits import check_fractions, parse_fractions
from tfgenre.write_records import main

SR = 22050


def _cfg(inp: Path, out: Path, **kw) -> WriterConfig:
    base = dict(
        source="gtzan",
        input=str(inp),
        output=str(out),
        views=("raw",),
        audio={"window_seconds": 0.5},
        shards=2,
        workers=1,
        splits={"train": 0.5, "test": 0.5},
        max_skip_fraction=1.0,
    )
    base.update(kw)
    return config.from_dict(WriterConfig, base)


def _args(inp: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--source",
        "gtzan",
        "--input",
        str(inp),
        "--output",
        str(out),
        "--views",
        "raw",
        "--window-seconds",
        "0.5",
        "--shards",
        "1",
        "--workers",
        "1",
        "--splits",
        "train=0.5,test=0.5",
        *extra,
    ]


@pytest.fixture
def gtzan(tmp_path) -> Path:
    root = tmp_path / "genres"
    make_gtzan(str(root), genres=("blues", "rock"), per_genre=2, seconds=1.2)
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- 1: synthetic


def test_synthetic_refuses_a_folder_it_did_not_generate(tmp_path, capsys):
    real = tmp_path / "gtzan"
    make_gtzan(str(real), genres=("rock",), per_genre=1, seconds=1.0)
    before = _tree(real)
    args = ["--source", "synthetic", "--input", str(real), "--output", str(tmp_path / "rec")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "rock/rock.00000.wav" in err and "synthetic.json is missing" in err
    assert _tree(real) == before  # the real clip is untouched, no marker written
    assert not (tmp_path / "rec").exists()


def test_synthetic_regenerates_only_its_own_set(tmp_path):
    from tfgenre import synthesis
    from tfgenre.synthesis.marker import read_parameters

    small = {"num_genres": 2, "clips_per_genre": 1, "clip_seconds": 0.3, "sample_rate": SR}
    root = tmp_path / "synth"
    root.mkdir()  # an empty folder is fine
    paths = synthesis.synthesize_dataset(str(root), **small)
    assert len(paths) == 2 and (root / "synthetic.json").exists()
    # Other parameters: the marker lists what is there, so the set is regenerated.
    again = synthesis.synthesize_dataset(str(root), **{**small, "seed": 1})
    assert again == paths and read_parameters(str(root))["seed"] == 1
    # A file the marker does not list stops it, and nothing is deleted or written.
    (root / "ambient" / "mine.wav").write_bytes(b"user data")
    (root / "notes.txt").write_text("keep me")
    before = _tree(root)
    for seed in (0, 1):  # neither regenerated nor reused (mine.wav would be listed)
        with pytest.raises(ConfigError, match=r"ambient/mine.wav, notes.txt"):
            synthesis.synthesize_dataset(str(root), **{**small, "seed": seed})
    assert _tree(root) == before
    # An interrupted generation (marker written first, incomplete) is finished later.
    os.remove(root / "ambient" / "mine.wav")
    os.remove(root / "notes.txt")
    marker = (root / "synthetic.json").read_text().replace('"complete": true', '"complete": false')
    (root / "synthetic.json").write_text(marker)
    os.remove(paths[1])
    assert synthesis.synthesize_dataset(str(root), **{**small, "seed": 1}) == paths
    assert Path(paths[1]).exists() and '"complete": true' in (root / "synthetic.json").read_text()


# --------------------------------------------------------------------------- 2: overwrite


def test_overwrite_never_deletes_what_tfgenre_did_not_write(gtzan, tmp_path, capsys):
    mine = tmp_path / "mine"
    for name in ("features", "raw", "mel"):
        (mine / name).mkdir(parents=True)
        (mine / name / "notes.txt").write_text(name)
    (mine / "features.csv").write_text("a,b\n1,2\n")
    before = _tree(mine)
    with pytest.raises(RecordsError, match="holds no tfgenre records") as err:
        write_records(_cfg(gtzan, mine), overwrite=True)
    assert "features, features.csv, mel, raw" in str(err.value)
    assert "--overwrite" not in str(err.value)
    assert main(_args(gtzan, mine, "--overwrite")) == 1
    assert "--overwrite" not in capsys.readouterr().err
    assert _tree(mine) == before


def test_overwrite_removes_only_tfgenre_files(gtzan, tmp_path):
    out = tmp_path / "rec"
    write_records(_cfg(gtzan, out))
    assert len(list((out / "raw").glob("*.tfrecord-*-of-00002"))) == 4
    (out / "raw" / "README.txt").write_text("my notes")
    (out / "plot.png").write_bytes(b"png")
    for overwrite in (False, True):
        with pytest.raises(RecordsError) as err:
            write_records(_cfg(gtzan, out, shards=1), overwrite=overwrite)
        message = str(err.value)
        assert "plot.png, raw/README.txt" in message and "did not write" in message
        assert "pass --overwrite" not in message
    assert (out / "raw" / "README.txt").exists() and (out / "plot.png").exists()
    assert len(list((out / "raw").glob("*.tfrecord-*"))) == 4
    os.remove(out / "raw" / "README.txt")
    os.remove(out / "plot.png")
    (out / ".keep").write_text("hidden files are left alone")
    write_records(_cfg(gtzan, out, shards=1), overwrite=True)
    assert sorted(p.name for p in (out / "raw").iterdir()) == [
        "test.tfrecord-00000-of-00001",
        "train.tfrecord-00000-of-00001",
    ]
    assert (out / ".keep").exists()
    assert RecordsInfo.load(str(out)).config["shards"] == 1


# --------------------------------------------------------------------------- 3: splits


def test_non_finite_split_fractions_are_refused(gtzan, tmp_path, capsys):
    for text in ("train=nan,test=0.5", "train=inf,test=0.5", "train=1,test=-inf"):
        with pytest.raises(ConfigError, match=r"finite"):
            parse_fractions(text)
    with pytest.raises(ConfigError, match=r"splits.train=nan must be a finite"):
        check_fractions({"train": math.nan, "test": 1.0})
    out = tmp_path / "rec"
    argv = _args(gtzan, out)
    argv[argv.index("--splits") + 1] = "train=nan,test=0.5"
    assert main(argv) == 2
    assert "splits.train=nan" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- 4: short/cut


def test_truncated_and_too_short_tracks_are_skipped(tmp_path):
    from tfgenre.core import audio

    root = tmp_path / "genres"
    make_gtzan(str(root), genres=("blues", "rock"), per_genre=2, seconds=1.2)
    full = tmp_path / "full.wav"
    sf.write(full, tone(30.0, SR, 330.0), SR, subtype="PCM_16")
    cut = root / "rock" / "rock.00090.wav"
    cut.write_bytes(full.read_bytes()[: 44 + int(0.7 * SR) * 2])
    sf.write(root / "rock" / "rock.00091.wav", tone(0.5, SR, 330.0), SR)
    sf.write(root / "blues" / "blues.00092.wav", tone(1.0, SR, 330.0)[:10], SR)
    with pytest.raises(audio.TruncatedAudioError, match=r"declares 30.00 s.*holds 0.70 s"):
        audio.decode(str(cut), SR)
    cfg = _cfg(root, tmp_path / "rec", audio={"window_seconds": 3.0})
    m = write_records(cfg).info.to_json()
    reasons = {Path(s["path"]).stem: s["reason"] for s in m["skipped"]}
    assert reasons["rock.00090"].startswith("truncated: the header declares 30.00 s")
    assert reasons["rock.00091"].startswith("too short: 0.50 s < 1 s (audio.min_seconds=1)")
    assert reasons["blues.00092"].startswith("too short: 0.00 s")
    assert len(reasons) == 3 and m["counts"]["skipped"] == 3
    assert m["counts"]["written"] == 4 and len(m["padded"]) == 4  # 1.2-s tracks padded
    assert AudioConfig(min_seconds=0).min_samples == 0
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match=r"audio.min_seconds=.* must be a finite"):
            AudioConfig(min_seconds=bad)


# --------------------------------------------------------------------------- 5: formats


def test_aiff_is_decoded_and_undecodable_formats_are_listed(tmp_path):
    from tfgenre.sources.registry import get_source

    root = tmp_path / "genres"
    make_gtzan(str(root), genres=("blues", "rock"), per_genre=2, seconds=1.2)
    sf.write(root / "rock" / "rock.00010.aiff", tone(1.2, SR, 300.0), SR, format="AIFF")
    sf.write(root / "rock" / "rock.00011.aif", tone(1.2, SR, 310.0), SR, format="AIFF")
    for ext in (".m4a", ".wma", ".aac"):
        (root / "blues" / f"blues.00010{ext}").write_bytes(b"\x00" * 64)
    unsupported = {"blues.00010.m4a", "blues.00010.wma", "blues.00010.aac"}
    for name in ("gtzan", "folder"):
        source = get_source(name, str(root))
        ids = [t.track_id.rsplit("/", 1)[-1] for t in source.tracks()]
        assert "rock.00010" in ids and "rock.00011" in ids
        skipped = {Path(s.path).name: s.reason for s in source.skipped}
        assert set(skipped) == unsupported
        assert all(r.startswith("unsupported format: .") for r in skipped.values())
    rows = ["path,label", "rock/rock.00010.aiff,rock", "blues/blues.00010.m4a,blues"]
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    table = get_source("csv", str(root / "list.csv"))
    assert [t.track_id for t in table.tracks()] == ["rock/rock.00010"]
    assert [s.reason.split(":")[0] for s in table.skipped] == ["unsupported format"]
    m = write_records(_cfg(root, tmp_path / "rec")).info.to_json()
    assert m["counts"]["inputs"] == 9 and m["counts"]["written"] == 6
    assert {Path(s["path"]).name for s in m["skipped"]} == unsupported


# --------------------------------------------------------------------------- 6: progress


def test_progress_flag_reaches_the_writer(gtzan, tmp_path, capsys, monkeypatch):
    write_records(_cfg(gtzan, tmp_path / "a"), progress=True)
    assert "write_records:" in capsys.readouterr().err  # the tqdm bar
    # On a terminal the bar is the default; --no-progress turns it off.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(_args(gtzan, tmp_path / "b", "--no-progress")) == 0
    assert "write_records:" not in capsys.readouterr().err
    assert main(_args(gtzan, tmp_path / "c")) == 0
    assert "write_records:" in capsys.readouterr().err


# --------------------------------------------------------------------------- 7: output


def test_output_that_cannot_be_a_folder_fails_before_work(gtzan, tmp_path, capsys):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("mine")
    assert main(_args(gtzan, a_file)) == 2
    err = capsys.readouterr().err
    assert "taken.txt' is a file, not a folder" in err and "Traceback" not in err
    assert a_file.read_text() == "mine"
    assert main(_args(gtzan, a_file / "rec")) == 2
    assert "cannot be created" in capsys.readouterr().err
    # Checked before the source runs: the synthetic set is not generated.
    audio_dir = tmp_path / "audio"
    assert main(["--source", "synthetic", "--input", str(audio_dir), "--output", str(a_file)]) == 2
    assert not audio_dir.exists()


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes into read-only folders; the path-under-a-file case covers the check",
)
def test_output_in_a_read_only_folder_fails_before_work(gtzan, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(_args(gtzan, locked / "rec")) == 2
        assert "no write permission" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


# --------------------------------------------------------------------------- 8: numba cache


_WARM = """
import sys
from tfgenre.core import config
from tfgenre.records.executors import warm_compiled_code
from tfgenre.records.writer_config import WriterConfig
cfg = config.from_dict(WriterConfig, dict(
    source="gtzan", input=sys.argv[1], output=sys.argv[2], views=("mel", "features"),
    audio={"window_seconds": 0.5}))
warm_compiled_code(cfg)
"""

_WORKER = """
import sys
from tfgenre.core import config
from tfgenre.records.compute import compute_track
from tfgenre.records.writer_config import WriterConfig
from tfgenre.core.tracks import Track
cfg = config.from_dict(WriterConfig, dict(
    source="gtzan", input=sys.argv[1], output=sys.argv[2], views=("mel", "features"),
    audio={"window_seconds": 0.5}))
result = compute_track(Track("blues.00000", sys.argv[3], "blues"), cfg)
assert result.skip_reason is None, result.skip_reason
"""

_CHECK = """
import numpy as np, librosa
from tfgenre.views.features import FeaturesView, reference_features
y = (0.1 * np.random.default_rng(0).standard_normal(22050)).astype(np.float32)
librosa.estimate_tuning(y=y, sr=22050)
a = reference_features(y, 22050)
b = FeaturesView().compute(y[None], 22050)[0]
assert np.allclose(a, b, rtol=1e-3, atol=1e-3)
"""


@pytest.mark.slow
def test_workers_find_the_numba_cache_warm_and_leave_it_loadable(gtzan, tmp_path):
    cache = tmp_path / "numba_cache"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "NUMBA_CACHE_DIR": str(cache)}

    def python(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)

    def snapshot() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}

    out = str(tmp_path / "rec")
    warm = python("-c", _WARM, str(gtzan), out)
    assert warm.returncode == 0, warm.stderr[-2000:]
    warmed = snapshot()
    assert any("pitch" in p.name for p in warmed)  # librosa's _pi_wrapper among them
    assert any("_median31" in p.name for p in warmed)  # and tfgenre's own kernels
    # What a pool worker runs on a track finds everything compiled: it writes nothing,
    # so workers never write the cache at the same moment.
    worker = python("-c", _WORKER, str(gtzan), out, str(gtzan / "blues" / "blues.00000.wav"))
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert snapshot() == warmed
    # A 2-worker write, then a new process with the same cache: no crash (was -11).
    argv = _args(gtzan, tmp_path / "rec", "--no-progress")
    argv[argv.index("--views") + 1] = "mel,features"
    argv[argv.index("--workers") + 1] = "2"
    argv[argv.index("--shards") + 1] = "2"
    write = python("-m", "tfgenre.write_records", *argv)
    assert write.returncode == 0, write.stderr[-2000:]
    check = python("-c", _CHECK)
    assert check.returncode == 0, (check.returncode, check.stderr[-2000:])
