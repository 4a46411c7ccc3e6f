"""``python -m tfgenre.predict --model musicnn_msd`` as a user runs it, in the order they would.

List the weight sets, tag a clip, look at the timeline, write a CSV beside a broken
file, mistype the name. Every command runs as its own process on a ~7-s synthetic wav.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import spawn
from skips import needs_musicnn

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("musicnn_mtt", "musicnn_msd", "vgg_mtt", "vgg_msd")
PATCH = 187 * 256 / 16000


def _predict(*argv: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = spawn.run([sys.executable, "-m", "tfgenre.predict", *map(str, argv)], env=env,
                     timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli_tagging") / "clip.wav"
    rate = 22050
    t = np.arange(int(7.2 * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(1).standard_normal(len(t))
    sf.write(path, y.astype(np.float32), rate)
    return path


def test_list_models_names_the_four_weight_sets_and_their_licence():
    proc = _predict("--list-models")
    assert proc.returncode == 0, proc.stderr
    blocks = {b.splitlines()[0]: b for b in proc.stdout.split("\n\n") if b.split("\n")[0] in NAMES}
    assert sorted(blocks) == sorted(NAMES)
    for name, block in blocks.items():
        fields = dict(re.findall(r"^  (\w[\w ]*):\s+(.*)$", block, re.MULTILINE))
        assert fields["architecture"] == name.split("_")[0]
        assert ("MagnaTagATune" if name.endswith("mtt") else "Million Song") in fields["trained on"]
        assert fields["licence"].startswith("ISC licence") and "Pons" in fields["licence"]
        assert fields["installed"].startswith(("yes, ", "no: "))
    assert "run folder" in proc.stdout


@needs_musicnn
def test_top_tags_table(clip):
    proc = _predict(clip, "--model", "musicnn_msd", "--top-k", "5")
    assert proc.returncode == 0, proc.stderr
    head, tags = proc.stdout.splitlines()
    assert head.startswith(f"{clip}  (7.2 s, 2 seg)")
    pairs = re.findall(r"(\S[^\d]*?) (\d\.\d{3})", tags.strip())
    probs = [float(p) for _, p in pairs]
    assert len(pairs) == 5 and all(0 <= p <= 1 for p in probs)
    assert probs == sorted(probs, reverse=True)


@needs_musicnn
def test_segments_as_json(clip):
    proc = _predict(clip, "--model", "musicnn_msd", "--segments", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (track,) = json.loads(proc.stdout)
    assert track["path"] == str(clip) and len(track["tags"]) == 3 and not track["padded"]
    segments = track["segments"]
    assert track["num_segments"] == len(segments) == 2
    starts = [s["start_seconds"] for s in segments]
    ends = [s["end_seconds"] for s in segments]
    assert starts[0] == 0 and starts[1:] == ends[:-1]  # contiguous 3-s patches
    assert ends == pytest.approx([PATCH, 2 * PATCH], abs=1e-3)
    assert 0 <= track["duration_seconds"] - ends[-1] < PATCH  # only a tail < one patch is left
    for s in segments:
        probs = [p for _, p in s["tags"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True)


@needs_musicnn
def test_csv_output_beside_a_broken_file(clip, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    out = tmp_path / "tags.csv"
    proc = _predict(
        broken, clip, "--model", "musicnn_msd", "--format", "csv", "--output", out, "--segments"
    )
    assert proc.returncode == 1
    assert f"skipped: {broken}" in proc.stderr and "1 of 2 file(s)" in proc.stderr
    assert proc.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert [r["level"] for r in rows] == ["track", "segment", "segment"]
    assert {r["path"] for r in rows} == {str(clip)}
    assert rows[0]["tag_1"] and 0 <= float(rows[0]["probability_1"]) <= 1
    assert float(rows[2]["start_seconds"]) == pytest.approx(PATCH, abs=1e-3)


def test_mistyped_weight_set_name(clip):
    proc = _predict(clip, "--model", "musicnn_mds")
    assert proc.returncode == 2
    assert "error: file not found: --model musicnn_mds" in proc.stderr
    assert "did you mean 'musicnn_msd'?" in proc.stderr and "vgg_mtt" in proc.stderr
    proc = _predict("--top-k", "5")
    assert proc.returncode == 2 and "required: PATH, --model" in proc.stderr
