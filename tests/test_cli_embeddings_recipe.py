"""The default embeddings recipe as a user runs it: write_records -> baselines -> fit ->
evaluate -> predict, each ``python -m tfgenre.<cmd>`` its own process, in that order.

Tiny data: 2 synthetic genres x 4 clips of 6 s, whole tracks (two patches each), both
backbones of the recipe.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
import yaml
from commands import User
from skips import needs_musicnn

WRITE = (
    "--source", "synthetic", "--input", "audio", "--output", "records",
    "--views", "embeddings", "--window-seconds", "0",
    "--set", "source_options.num_genres=2", "--set", "source_options.clips_per_genre=4",
    "--set", "source_options.clip_seconds=6",
    "--splits", "train=0.5,validation=0.25,test=0.25", "--shards", "1", "--workers", "1",
    "--no-progress",
)  # fmt: skip
#: musicnn_msd penultimate (200) + max_pool (753), vgg_msd penultimate (256), x 3 statistics
RECIPE_WIDTH = (200 + 753 + 256) * 3

pytestmark = needs_musicnn


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> User:
    return User(tmp_path_factory.mktemp("recipe"))


def test_dry_run_shows_the_recipe_and_takes_lists(user: User) -> None:
    cfg = yaml.safe_load(user.run("tfgenre.write_records", *WRITE, "--dry-run").stdout)
    assert cfg["embeddings"] == {
        "backbone": ["musicnn_msd", "vgg_msd"], "layer": ["penultimate", "max_pool"],
        "pooling": ["mean", "max", "std"], "hop_seconds": None, "tags": False,
        "precision": "float32",
    }  # fmt: skip
    cfg = yaml.safe_load(
        user.run(
            "tfgenre.write_records", *WRITE, "--set", "embeddings.backbone=vgg_msd,musicnn_mtt",
            "--set", "embeddings.pooling=max", "--set", "embeddings.hop_seconds=1.5",
            "--dry-run",
        ).stdout
    )  # fmt: skip
    assert cfg["embeddings"]["backbone"] == ["vgg_msd", "musicnn_mtt"]
    assert cfg["embeddings"]["pooling"] == "max" and cfg["embeddings"]["hop_seconds"] == 1.5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("embeddings.backbone=musicnn_msd,vgg_msd", "embeddings.layer=mean_pool"),
            "error: embeddings.layer='mean_pool' is not an output of vgg_msd "
            "(vgg: taggram, penultimate)",
        ),
        (("embeddings.hop_seconds=4",), "error: embeddings.hop_seconds=4 must be > 0 and at most"),
        (("embeddings.pooling=median",), "error: embeddings.pooling='median' must be one or more"),
    ],
)
def test_bad_recipe_options_are_refused_before_any_work(user: User, options, message) -> None:
    sets = [arg for option in options for arg in ("--set", option)]
    err = user.run(
        "tfgenre.write_records", *WRITE, *sets, "--output", "refused", ok=False, code=2
    ).stderr
    assert message in err
    assert not (user.root / "refused").exists()


def test_write_records_with_the_recipe(user: User) -> None:
    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.reader import to_numpy_arrays

    out = user.run("tfgenre.write_records", *WRITE).stdout
    assert f"embeddings float32({RECIPE_WIDTH},)" in out
    info = RecordsInfo.load(str(user.root / "records"))
    params = info.view("embeddings").params
    assert [(p["backbone"], p["layers"]) for p in params["parts"]] == [
        ("musicnn_msd", ["penultimate", "max_pool"]),
        ("vgg_msd", ["penultimate"]),
    ]
    assert all(len(p["weights_sha256"]) == 64 for p in params["parts"])
    train = to_numpy_arrays(info, "embeddings", "train")
    assert train["data"].shape == (4, RECIPE_WIDTH)  # one row per whole track
    user.passed.add("write")


def test_baselines_and_a_linear_probe_on_the_recipe(user: User) -> None:
    user.require("write")
    out = user.run(
        "tfgenre.baselines", "--records", "records", "--view", "embeddings",
        "--models", "logistic_regression", "--splits", "train=0.5,validation=0.25,test=0.25",
    ).stdout  # fmt: skip
    assert re.search(r"^\| logistic_regression \|", out, re.M), out
    out = user.run(
        "tfgenre.fit", "--records", "records", "--view", "embeddings", "--model", "linear",
        "--epochs", "1", "--run-dir", "runs/recipe",
    ).stdout  # fmt: skip
    assert re.search(r"test accuracy: segment \d\.\d{4}, track \d\.\d{4}", out)
    run = json.loads((user.root / "runs" / "recipe" / "run.json").read_text())
    assert run["view_spec"]["params"]["backbone"] == ["musicnn_msd", "vgg_msd"]
    user.passed.add("fit")


def test_predict_rebuilds_both_backbones_from_the_run(user: User) -> None:
    user.require("fit")
    user.run("tfgenre.evaluate", "--run-dir", "runs/recipe")
    with (user.root / "runs" / "recipe" / "report" / "tracks.csv").open() as f:
        track = next(csv.DictReader(f))
    wav = f"audio/{track['label']}/{track['track_id']}.wav"
    result = json.loads(
        user.run(
            "tfgenre.predict", wav, "--model", "runs/recipe", "--format", "json", "--top-k", "2"
        ).stdout
    )[0]
    assert result["num_segments"] == 1  # the whole track
    # the recipe computed anew from the audio gives the probabilities of the stored rows
    for label, p in result["genres"]:
        assert p == pytest.approx(float(track[f"p_{label}"]), abs=1e-4)
