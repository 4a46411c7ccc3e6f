"""The Beam runner of the writer: same units, same per-track function, identical records.

Needs apache_beam (``pip install 'tfgenre[beam]'``). requirements.txt pins it, so the
test environment (``make test``, CI) runs these tests; elsewhere the pipeline tests skip.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.records.beam import parse_beam_options


def test_parse_beam_options():
    assert parse_beam_options(None) == []
    assert parse_beam_options("--runner=DirectRunner --direct_num_workers=2") == [
        "--runner=DirectRunner",
        "--direct_num_workers=2",
    ]
    assert parse_beam_options(["--a=1"]) == ["--a=1"]
    with pytest.raises(ConfigError, match="must be a flag"):
        parse_beam_options("DirectRunner")


def _cfg(root, output: str):
    from tfgenre.records.writer_config import WriterConfig

    return config.from_dict(
        WriterConfig,
        {
            "source": "synthetic",
            "input": str(root / "audio"),
            "output": output,
            "source_options": {"num_genres": 2, "clips_per_genre": 3, "clip_seconds": 3.0},
            "views": ["raw", "mel", "features"],
            "audio": {"window_seconds": 1.0},
            "splits": {"train": 0.67, "test": 0.33},
            "shards": 2,
            "workers": 1,
        },
    )


def test_beam_direct_runner_multiprocess_writes_identical_records(tmp_path):
    pytest.importorskip("apache_beam")
    from tfgenre.records.beam import BeamExecutor
    from tfgenre.records.writer import write_records

    local = write_records(_cfg(tmp_path, str(tmp_path / "local")), progress=False)
    executor = BeamExecutor("--direct_num_workers=2 --direct_running_mode=multi_processing")
    beam = write_records(_cfg(tmp_path, str(tmp_path / "beam")), progress=False, executor=executor)
    assert beam.units_written == beam.units_total == local.units_total
    assert json.dumps(beam.info.to_json()["splits"], sort_keys=True) == json.dumps(
        local.info.to_json()["splits"], sort_keys=True
    )
    for name in ("views", "counts", "config_hash", "labels"):
        assert beam.info.to_json()[name] == local.info.to_json()[name], name
    assert (tmp_path / "beam" / "features.csv").read_bytes() == (
        tmp_path / "local" / "features.csv"
    ).read_bytes()
    for view in ("raw", "mel", "features"):
        files = sorted(p.name for p in (tmp_path / "local" / view).iterdir())
        assert files == sorted(p.name for p in (tmp_path / "beam" / view).iterdir())
        for name in files:
            a = (tmp_path / "local" / view / name).read_bytes()
            assert a == (tmp_path / "beam" / view / name).read_bytes(), name


def test_cli_runner_beam(tmp_path):
    pytest.importorskip("apache_beam")
    from tfgenre import write_records

    out = tmp_path / "records"
    _cfg(tmp_path, str(out))  # validates the options below
    args = [
        "--source", "synthetic", "--input", str(tmp_path / "audio"), "--output", str(out),
        "--views", "mel", "--window-seconds", "1.0", "--shards", "2", "--no-progress",
        "--set", "source_options.num_genres=2", "--set", "source_options.clips_per_genre=2",
        "--set", "source_options.clip_seconds=2.0",
        "--runner", "beam", "--beam-options=--direct_num_workers=1",
    ]  # fmt: skip
    assert write_records.main(args) == 0
    assert (out / "manifest.json").exists()


def test_beam_options_need_beam_runner(tmp_path, capsys):
    from tfgenre import write_records

    args = ["--source", "synthetic", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
            "--beam-options=--direct_num_workers=2"]  # fmt: skip
    assert write_records.main(args) == 2
    assert "--runner beam" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return pins


def test_the_test_environment_has_beam_with_a_protobuf_it_accepts():
    """requirements.txt pins apache-beam and a protobuf 6 that both Beam and TF take."""
    pins = _pins()
    assert "apache-beam" in pins, "apache-beam must be in requirements.txt (CI runs Beam)"
    assert pins["protobuf"].split(".")[0] == "6", pins["protobuf"]
    protobuf = tuple(int(x) for x in pins["protobuf"].split(".")[:3])
    assert (6, 31, 1) <= protobuf < (7,), "TensorFlow 2.21 takes >= 6.31.1, Beam < 7"
    if ROOT.joinpath(".venv").exists() and Path(sys.prefix).resolve() == (
        ROOT / ".venv"
    ).resolve():
        assert metadata.version("apache-beam") == pins["apache-beam"]
        assert metadata.version("protobuf") == pins["protobuf"]


def test_setup_py_shim_for_beam_setup_file():
    """The README's Beam example passes --setup_file=./setup.py; it must exist and work."""
    readme = (ROOT / "README.md").read_text()
    assert "--setup_file=./setup.py" in readme
    proc = subprocess.run(
        [sys.executable, "setup.py", "--name"], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "tfgenre"
