"""The typed files between stages: RecordsInfo (manifest.json), RunInfo (run.json), views.

Round trips, refusing newer/unknown versions with a message that says what to do,
reading run.json as written before it had a version, and ``View.from_spec`` giving back
the view that wrote a spec.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tfgenre import views
from tfgenre.core import layout
from tfgenre.core.framing import GTZAN_3S_WINDOW
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.records.info import (
    AudioSpec,
    RecordsInfo,
    ShardInfo,
    SkippedInput,
    SplitInfo,
    WriteCounts,
)
from tfgenre.runs.run_info import RunInfo
from tfgenre.splitting.protocols import Protocol
from tfgenre.views.mel import MelView
from tfgenre.views.raw import RawView

RATE = 22050
MEL_PARAMS = {"n_mels": 32, "n_fft": 1024, "hop_length": 256, "fmin": 20.0, "fmax": 8000.0,
              "top_db": 70.0, "image_size": None}


def _records_info() -> RecordsInfo:
    mel = MelView(**MEL_PARAMS).spec(RATE, RATE)
    shard = ShardInfo("mel", "train", "mel/train.tfrecord-00000-of-00001", 4, 1234, "ab" * 32)
    return RecordsInfo(
        labels=("a", "b"),
        audio=AudioSpec(RATE, RATE, RATE // 2, 1.0, 0.5, "pad"),
        views={"mel": mel},
        splits={
            "train": SplitInfo("train", 2, 4, 1234, {"a": 2, "b": 2}, (shard,)),
            "test": SplitInfo("test", 0, 0, 0, {"a": 0, "b": 0}, ()),
        },
        source="synthetic",
        config={"views": ["mel"]},
        config_hash="h",
        versions={"tfgenre": "0"},
        split_policy={"kind": "stratified_grouped"},
        protocol=Protocol("random"),
        excluded=("x",),
        track_groups={"t1": "artist"},
        skipped=(SkippedInput("bad.m4a", "unsupported format"),),
        counts=WriteCounts(3, 2, 1, 0, 1 / 3),
    )


def test_records_info_round_trips_through_its_file(tmp_path):
    info = _records_info()
    info.write(str(tmp_path))
    back = RecordsInfo.load(str(tmp_path))
    assert back == info and back.root == str(tmp_path)
    assert back.split_names == ["train"]
    assert back.label_counts("train") == [2, 2]
    assert back.shard_paths("mel", "train") == [str(tmp_path / shard.file)
                                                for shard in info.splits["train"].shards]
    with pytest.raises(RecordsError, match="view 'raw' is not in .*written: mel"):
        back.view("raw")
    with pytest.raises(RecordsError, match="split 'dev' is not in"):
        back.split("dev")


@pytest.mark.parametrize(
    ("version", "hint"),
    [(99, "written by a newer tfgenre: upgrade"), (0, "rewrite it with this version"),
     ("1", "rewrite it")],
)
def test_manifest_of_another_version_is_refused_with_what_to_do(tmp_path, version, hint):
    data = _records_info().to_json()
    data["format_version"] = version
    (tmp_path / layout.MANIFEST).write_text(json.dumps(data))
    with pytest.raises(RecordsError, match=f"format_version={version!r}.*{hint}"):
        RecordsInfo.load(str(tmp_path))


def test_malformed_manifest_names_the_file(tmp_path):
    (tmp_path / layout.MANIFEST).write_text(json.dumps({"format_version": 1, "labels": []}))
    with pytest.raises(RecordsError, match="manifest.json is incomplete or malformed"):
        RecordsInfo.load(str(tmp_path))


@pytest.mark.parametrize(
    "view",
    [RawView(), RawView("float16", 4000, 2), MelView(), MelView(**MEL_PARAMS),
     MelView(image_size=64)],
    ids=["raw", "raw-f16-down2", "mel", "mel-custom", "mel-image"],
)
def test_from_spec_gives_back_the_view_that_wrote_the_spec(view):
    spec = view.spec(RATE, RATE)
    rebuilt = views.from_spec(ViewSpecJson.round_trip(spec))
    assert rebuilt == view
    assert rebuilt.spec(RATE, RATE) == spec


def test_from_spec_of_features_checks_the_settings():
    from tfgenre.views.features import FeaturesView

    spec = FeaturesView().spec(RATE, RATE)
    assert views.from_spec(spec) == FeaturesView()
    changed = dataclasses.replace(spec, params={**spec.params, "n_fft": 4096})
    with pytest.raises(ConfigError, match="n_fft=4096 .this version: 2048"):
        views.from_spec(changed)


def test_unknown_view_names_the_known_ones_and_the_closest():
    with pytest.raises(ConfigError, match="unknown view 'mels' .known: raw, mel, features.*'mel'"):
        views.check_view_names(["mels"])
    with pytest.raises(ConfigError, match="must name at least one"):
        views.check_view_names([])


class ViewSpecJson:
    @staticmethod
    def round_trip(spec: views.ViewSpec) -> views.ViewSpec:
        return views.ViewSpec.from_json(spec.name, json.loads(json.dumps(spec.to_json())))


def _run_info() -> RunInfo:
    spec = views.ViewSpec("features", "float32", (3,), ("a", "b", "c"), {}, (0.0, 1.0, 2.0),
                          (1.0, 1.0, 2.0), "train")
    return RunInfo(
        labels=("x", "y"), model="features_mlp", view_spec=spec, input_shape=(3,),
        audio=AudioSpec(RATE), source="features_csv", data_path="f.csv",
        num_examples={"train": 4}, protocol=Protocol("csv_column"), excluded=("q",),
        strategy={"name": "default"},
    )


def test_run_info_round_trips_and_keeps_what_users_read(tmp_path):
    info = _run_info()
    info.write(str(tmp_path))
    data = json.loads((tmp_path / layout.RUN_JSON).read_text())
    assert data["view"] == "features" and data["strategy"] == {"name": "default"}
    assert data["labels"] == ["x", "y"] and data["format_version"] == 3
    back = RunInfo.load(str(tmp_path))
    assert back == info
    spec = back.input_spec()
    assert spec.shape == (3,) and spec.mean == (0.0, 1.0, 2.0) and spec.std == (1.0, 1.0, 2.0)


def test_newer_run_info_is_refused(tmp_path):
    data = _run_info().to_json()
    data["format_version"] = 4
    (tmp_path / layout.RUN_JSON).write_text(json.dumps(data))
    with pytest.raises(RecordsError, match="format_version=4.*newer tfgenre"):
        RunInfo.load(str(tmp_path))


def test_a_folder_without_run_json_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="is not a tfgenre run folder .no run.json"):
        RunInfo.load(str(tmp_path))


LEGACY_MEL = {
    "labels": ["ambient", "rock"], "view": "mel", "model": "mel_cnn",
    "input_spec": {"view": "mel", "shape": [128, 44, 1], "mean": None, "std": None},
    "strategy": {"name": "default", "num_replicas": 1}, "source": "records",
    "records": "/r", "sample_rate": 22050, "window_samples": 22050, "hop_samples": 11025,
    "view_entry": {"dtype": "float16", "shape": [128, 44, 1], "params": {
        "sample_rate": 22050, "n_mels": 128, "n_fft": 2048, "hop_length": 512, "fmin": 0.0,
        "fmax": None, "top_db": 80.0, "ref": 1.0, "amin": 1e-10, "frames": 44,
        "image_size": None}},
    "feature_window": 22050, "num_examples": {"train": 18}, "skipped_corrupt": {},
    "protocol": {"name": "random", "grouping": "track"},
}
LEGACY_CSV = {
    "labels": ["blues", "jazz"], "view": "features", "model": "features_mlp",
    "input_spec": {"view": "features", "shape": [2], "mean": [0.5, 1.0], "std": [1.0, 2.0]},
    "strategy": {"name": "default"}, "source": "features_csv", "features_csv": "/f.csv",
    "feature_names": ["rms_mean", "tempo"], "feature_window": "segment",
    "split_policy": {"kind": "csv_column"}, "protocol": None,
    "excluded": {"count": 1, "tracks": ["blues.00001"]}, "num_examples": {"train": 3},
}


def test_run_json_written_before_versions_is_read(tmp_path):
    (tmp_path / layout.RUN_JSON).write_text(json.dumps(LEGACY_MEL))
    info = RunInfo.load(str(tmp_path))
    assert info.audio == AudioSpec(22050, 22050, 11025)
    assert views.from_spec(info.view_spec) == MelView()
    assert info.data_path == "/r" and info.input_shape == (128, 44, 1)
    (tmp_path / layout.RUN_JSON).write_text(json.dumps(LEGACY_CSV))
    info = RunInfo.load(str(tmp_path))
    assert info.feature_names == ("rms_mean", "tempo")
    assert info.audio.window_samples == GTZAN_3S_WINDOW
    assert info.input_spec().mean == (0.5, 1.0) and info.excluded == ("blues.00001",)
    # written back, a converted run is in the current layout and reads back equal
    assert info.format_version == 1
    info.write(str(tmp_path))
    again = RunInfo.load(str(tmp_path))
    assert again.format_version == 3 and again.to_json() == info.to_json()
