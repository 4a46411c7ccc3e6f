"""Pretrained embeddings as a user runs them: write_records -> baselines -> fit -> evaluate
-> predict -> export, each ``python -m tfgenre.<cmd>`` its own process, in that order.

Tiny data: 2 synthetic genres x 4 clips of 6 s, 3-s windows (one musicnn patch each).
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from commands import EMBEDDINGS_WRITE, User
from skips import needs_musicnn

WRITE = EMBEDDINGS_WRITE  # written once per session: conftest.embeddings_records

pytestmark = needs_musicnn


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, embeddings_records) -> User:
    user = User(tmp_path_factory.mktemp("embeddings"))
    user.link(embeddings_records.audio, embeddings_records.records)
    return user


def test_write_records_with_embeddings(user: User, embeddings_records) -> None:
    from tfgenre.backbones.weights import find_weights
    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.reader import to_numpy_arrays

    out = embeddings_records.stdout  # python -m tfgenre.write_records *WRITE, in the fixture
    assert "embeddings float32(803,)" in out and "features float32(57,)" in out
    m = RecordsInfo.load(str(user.root / "records"))
    spec = m.view("embeddings")
    assert spec.params["backbone"] == "musicnn_msd" and spec.params["layer"] == "max_pool"
    assert spec.params["weights_sha256"] == find_weights("musicnn_msd").checksum()
    assert spec.feature_names[0] == "max_pool_0" and spec.feature_names[-1].startswith("tag_")
    train = to_numpy_arrays(m, "embeddings", "train")
    assert train["data"].shape == (8, 803)  # 4 tracks x 2 windows
    assert np.isfinite(train["data"]).all() and train["data"][:, 753:].max() <= 1.0
    user.passed.add("write")


def test_write_records_refuses_bad_embeddings_options_up_front(user: User) -> None:
    err = user.run(
        "tfgenre.write_records", *WRITE, "--window-seconds", "2", "--output", "short",
        ok=False,
    ).stderr  # fmt: skip
    assert "error: audio.window_seconds=2 is shorter than one musicnn_msd patch" in err
    assert not (user.root / "short").exists()
    err = user.run(
        "tfgenre.write_records", *WRITE, "--set", "embeddings.backbone=musicnn_mds",
        "--output", "typo", ok=False,
    ).stderr  # fmt: skip
    assert "error: embeddings.backbone='musicnn_mds' is unknown" in err
    assert "did you mean 'musicnn_msd'" in err and not (user.root / "typo").exists()


def test_write_records_takes_the_layer_tags_and_whole_tracks(user: User) -> None:
    import yaml

    out = user.run(
        "tfgenre.write_records", *WRITE, "--set", "embeddings.layer=penultimate",
        "--set", "embeddings.tags=false", "--window-seconds", "0", "--dry-run",
    ).stdout  # fmt: skip
    cfg = yaml.safe_load(out)
    assert cfg["embeddings"] == {
        "backbone": "musicnn_msd", "layer": "penultimate", "pooling": "mean",
        "hop_seconds": None, "tags": False, "precision": "float32",
    }  # fmt: skip
    assert cfg["audio"]["window_seconds"] == 0 and cfg["views"] == ["embeddings", "features"]
    err = user.run(
        "tfgenre.write_records", *WRITE, "--set", "embeddings.layer=max_pool",
        "--set", "embeddings.backbone=vgg_msd", "--dry-run", ok=False,
    ).stderr  # fmt: skip
    assert "error: embeddings.layer='max_pool' is not an output of vgg_msd" in err


def test_baselines_on_embeddings(user: User) -> None:
    user.require("write")
    out = user.run(
        "tfgenre.baselines", "--records", "records", "--view", "embeddings",
        "--models", "logistic_regression", "--splits", "train=0.5,validation=0.25,test=0.25",
    ).stdout  # fmt: skip
    assert "(embeddings view)" in out
    header = next(line for line in out.splitlines() if line.startswith("| model |"))
    row = next(line for line in out.splitlines() if line.startswith("| logistic_regression |"))
    cells = dict(zip(header.strip("|").split("|"), row.strip("|").split("|"), strict=True))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    assert cells["level"] == "track"
    track = float(cells["accuracy [95 % CI]"].split()[0])
    segment = float(cells["segment accuracy"])
    assert 0.0 <= track <= 1.0 and 0.0 <= segment <= 1.0


def test_fit_on_embeddings(user: User) -> None:
    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.reader import to_numpy_arrays

    user.require("write")
    user.run(
        "tfgenre.fit", "--records", "records", "--view", "embeddings",
        "--model", "features_mlp", "--epochs", "1", "--run-dir", "runs/emb",
    )  # fmt: skip
    run = json.loads((user.root / "runs" / "emb" / "run.json").read_text())
    spec = run["view_spec"]
    assert run["view"] == "embeddings" and spec["params"]["backbone"] == "musicnn_msd"
    # the writer stores no statistics for embeddings: fit takes them from the train split
    train = to_numpy_arrays(RecordsInfo.load(str(user.root / "records")), "embeddings", "train")
    assert spec["stats_split"] == "train"
    np.testing.assert_allclose(spec["mean"], train["data"].mean(axis=0), rtol=1e-5, atol=1e-6)
    user.passed.add("fit")


def test_fit_a_linear_probe_on_embeddings(user: User) -> None:
    user.require("write")
    out = user.run(
        "tfgenre.fit", "--records", "records", "--view", "embeddings", "--model", "linear",
        "--epochs", "1", "--run-dir", "runs/emb_linear",
    ).stdout  # fmt: skip
    assert re.search(r"test accuracy: segment \d\.\d{4}, track \d\.\d{4}", out)
    run = json.loads((user.root / "runs" / "emb_linear" / "run.json").read_text())
    assert run["model"] == "linear" and run["view_spec"]["stats_split"] == "train"


def test_evaluate_and_predict_an_embeddings_run(user: User) -> None:
    user.require("fit")
    out = user.run("tfgenre.evaluate", "--run-dir", "runs/emb").stdout
    assert re.search(r"track: accuracy \d\.\d{4}", out)
    with (user.root / "runs" / "emb" / "report" / "tracks.csv").open() as f:
        track = next(csv.DictReader(f))
    genre, clip = track["label"], track["track_id"]
    wav = f"audio/{genre}/{clip}.wav"
    result = json.loads(
        user.run(
            "tfgenre.predict", wav, "--model", "runs/emb", "--format", "json", "--top-k", "2"
        ).stdout
    )[0]
    assert result["num_segments"] == 2
    # embeddings computed anew from the audio give the probabilities of the stored ones
    for label, p in result["genres"]:
        assert p == pytest.approx(float(track[f"p_{label}"]), abs=1e-4)
    user.passed.add("predict")


def test_export_an_embeddings_run(user: User) -> None:
    import tensorflow as tf

    from tfgenre.inference.predictor import load_keras_model
    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.reader import to_numpy_arrays

    user.require("fit")
    out = user.run(
        "tfgenre.export", "--run-dir", "runs/emb",
        "--format", "keras", "--format", "savedmodel", "--format", "tflite",
        "--input", "embeddings",  # the head alone; the default is waveform in
    ).stdout  # fmt: skip
    assert out.count("input 'embeddings'") == 3, out
    export = user.root / "runs" / "emb" / "export"
    meta = json.loads((export / "model.keras.json").read_text())
    assert meta["view"] == "embeddings" and meta["input"]["shape"] == [None, 803]
    meta = json.loads((export / "model.tflite.json").read_text())
    assert meta["signature"]["inputs"] == {"embeddings": {"dtype": "float32", "shape": [None, 803]}}
    assert meta["view_entry"]["params"]["backbone"] == "musicnn_msd"
    # the SavedModel takes the stored rows and gives the Keras model's probabilities
    rows = to_numpy_arrays(RecordsInfo.load(str(user.root / "records")), "embeddings", "test")
    x = tf.constant(rows["data"].astype(np.float32))
    serve = tf.saved_model.load(str(export / "savedmodel")).signatures["serving_default"]
    expected = load_keras_model(str(export / "model.keras")).predict(x, verbose=0)
    np.testing.assert_allclose(serve(embeddings=x)["probabilities"].numpy(), expected, atol=1e-5)
