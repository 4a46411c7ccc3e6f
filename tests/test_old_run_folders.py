"""Run folders written by an older tfgenre still load, evaluate, predict and export.

The folders in ``tests/data/run_folders`` were written by the code of commit 799118a
(run.json format 2, and format 1: before run.json had a version; see its README). Each
command runs as its own process on a copy of them.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from commands import User

from tfgenre.runs.run_info import FORMAT_VERSION, RunInfo

DATA = Path(__file__).parent / "data" / "run_folders"
#: Where the fixtures' files were when the old code wrote them.
WRITTEN_AT = "/tmp/tfgenre-fixture"
RUNS = ("v1_records", "v2_records", "v2_features_csv", "v2_features_csv_fold1")


@pytest.fixture()
def old_runs(tmp_path: Path) -> Path:
    """A copy of the fixtures, their absolute paths moved to the copy."""
    root = tmp_path / "old"
    shutil.copytree(DATA, root)
    for name in ("run.json", "config.yaml"):
        for path in root.glob(f"*/{name}"):
            path.write_text(path.read_text().replace(WRITTEN_AT, str(root)))
    return root


def _tracks(path: Path) -> dict[str, tuple[str, str]]:
    with path.open() as f:
        return {r["track_id"]: (r["label"], r["predicted"]) for r in csv.DictReader(f)}


def test_old_run_json_is_read_with_its_selection_from_config_yaml(old_runs):
    v1 = RunInfo.load(str(old_runs / "v1_records"))
    v2 = RunInfo.load(str(old_runs / "v2_records"))
    assert (v1.format_version, v2.format_version) == (1, 2)
    assert v1.data_path == v2.data_path == str(old_runs / "records")
    assert v1.selection == v2.selection and v2.selection.eval_split == "test"
    assert v2.config["model"] == "features_mlp" and v2.selection.fractions == {}
    csv_run = RunInfo.load(str(old_runs / "v2_features_csv"))
    assert csv_run.selection.fractions == {"train": 0.5, "validation": 0.25, "test": 0.25}
    fold = RunInfo.load(str(old_runs / "v2_features_csv_fold1")).selection.fold
    assert (fold.k, fold.fold, fold.seed, fold.grouped_by) == (2, 1, 0, "artist")
    assert not fold.has_tracks  # format 2 did not keep them


def test_a_converted_run_json_is_written_in_the_current_layout(old_runs, tmp_path):
    for name in RUNS:
        info = RunInfo.load(str(old_runs / name))
        out = tmp_path / "again" / name
        out.mkdir(parents=True)
        info.write(str(out))
        again = RunInfo.load(str(out))  # no config.yaml there: run.json says it all
        assert again.format_version == FORMAT_VERSION
        assert again.to_json() == info.to_json()


@pytest.mark.parametrize("name", RUNS)
def test_evaluate_scores_an_old_run_as_the_old_code_did(old_runs, name):
    User(old_runs).run("tfgenre.evaluate", "--run-dir", name)
    got = _tracks(old_runs / name / "report" / "tracks.csv")
    want_name = "v2_records" if name == "v1_records" else name
    assert got == _tracks(old_runs / "expected" / f"{want_name}_tracks.csv")
    # evaluate reads an old run; it does not rewrite its run.json
    data = json.loads((old_runs / name / "run.json").read_text())
    assert data.get("format_version") == (None if name.startswith("v1") else 2)


@pytest.mark.parametrize("name", ["v1_records", "v2_records"])
def test_predict_and_export_an_old_records_run(old_runs, name):
    rate = 8000
    t = np.arange(2 * rate) / rate
    sf.write(old_runs / "clip.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype("f4"), rate)
    user = User(old_runs)
    out = user.run("tfgenre.predict", "--model", name, "--format", "json", "clip.wav")
    assert json.loads(out.stdout)[0]["genres"][0][0] in {"ambient", "rock", "techno"}
    user.run("tfgenre.export", "--run-dir", name, "--format", "tflite", "--quantize")
    meta = json.loads((old_runs / name / "export" / "model_quant.tflite.json").read_text())
    assert meta["quantized"] is True
    assert meta["quantization"]["data"].startswith(str(old_runs / "records"))


def test_export_quantizes_an_old_features_csv_run_on_its_split(old_runs):
    User(old_runs).run(
        "tfgenre.export", "--run-dir", "v2_features_csv", "--format", "tflite", "--quantize"
    )
    export = old_runs / "v2_features_csv" / "export"
    meta = json.loads((export / "model_quant.tflite.json").read_text())
    assert meta["quantization"]["split"] == "validation"
    assert meta["quantization"]["data"] == str(old_runs / "features.csv")
