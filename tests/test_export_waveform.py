"""One model from waveform to genre: ``export`` of an embeddings run, as a user runs it.

write_records (the default recipe: musicnn_msd + vgg_msd, whole tracks) -> fit --model
linear -> export -> predict, each ``python -m tfgenre.<cmd>`` its own process; then a
fresh python process loads the exported SavedModel (TFLite, .keras), feeds it the 16-kHz
waveform of a clip and compares with ``predict --format json``. A second run (one
backbone, 3.5-s windows every 0.5 s written at 16 kHz, patches every 0.5 s, mean/max/std
+ tags) checks the windowed graph (mean over windows) and overlapping patches.

Tiny data: 2 synthetic genres x 3 clips of 4 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import commands
import pytest
from skips import needs_musicnn

SYNTH = (
    "--source", "synthetic", "--input", "audio", "--views", "embeddings",
    "--set", "source_options.num_genres=2", "--set", "source_options.clips_per_genre=3",
    "--set", "source_options.clip_seconds=4",
    "--splits", "train=0.67,test=0.33", "--shards", "1", "--workers", "1", "--no-progress",
)  # fmt: skip
#: Fresh process: each exported model's probabilities for a clip, as JSON on stdout. The
#: formats load in this order, the SavedModel before anything registers tfgenre's layer.
SERVE = r"""
import json, sys
import numpy as np
import tensorflow as tf
from tfgenre.core import audio
from tfgenre.backbones.runner import to_backbone_rate
clip, rate, *exports = sys.argv[1:]
rate = int(rate)
y16 = to_backbone_rate(audio.decode(clip, rate), rate)   # what predict feeds the backbones
served = {}
for fmt, export in zip(exports[::2], exports[1::2]):
    meta = json.load(open(export + ("/assets.extra/tfgenre.json" if fmt == "savedmodel"
                                    else ".json")))
    assert meta["sample_rate"] == 16000
    windows = None
    if fmt == "savedmodel":
        serve = tf.saved_model.load(export).signatures["serving_default"]
        out = serve(waveform=tf.constant(y16))
        probs = out["probabilities"].numpy()
        windows = int(out["segment_probabilities"].shape[0])
    elif fmt == "keras":
        import keras
        import tfgenre.inference.embedding_serving  # registers the model's layer
        model = keras.saving.load_model(export, compile=False)
        probs = np.asarray(model(y16[None]))[0]
    else:
        runner = tf.lite.Interpreter(model_path=export).get_signature_runner("serving_default")
        out = runner(waveform=y16)
        probs, windows = out["probabilities"], int(out["segment_probabilities"].shape[0])
    served[fmt] = {"labels": meta["labels"], "probabilities": probs.tolist(),
                   "windows": windows}
print(json.dumps(served))
"""
#: The exported files of one export folder, in the order SERVE loads them.
FORMATS = (("savedmodel", "savedmodel"), ("tflite", "model.tflite"), ("keras", "model.keras"))

pytestmark = needs_musicnn


class User(commands.User):
    """The user's scratch folder; predictions and served exports are remembered.

    predict is deterministic, so one ``predict`` process per (clip, run) answers every
    test that compares with it; one fresh process loads every format of an export folder
    (``SERVE``) and answers the tests of each format.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._predicted: dict[tuple[str, str], dict[str, float]] = {}
        self._served: dict[tuple[str, str, int], dict] = {}

    def predicted(self, clip: str, run: str) -> dict[str, float]:
        if (clip, run) not in self._predicted:
            out = self.run(
                "tfgenre.predict", clip, "--model", run, "--format", "json", "--top-k", "10"
            ).stdout
            data = json.loads(out)
            item = data[0] if isinstance(data, list) else data
            item = item.get("results", [item])[0] if "results" in item else item
            self._predicted[clip, run] = {label: p for label, p in item["genres"]}
        return self._predicted[clip, run]

    def served(self, export: Path, clip: str, rate: int, fmt: str) -> tuple[dict[str, float], int]:
        key = (str(export.parent), clip, rate)
        if key not in self._served:
            pairs = [str(a) for f, name in FORMATS if (export.parent / name).exists()
                     for a in (f, export.parent / name)]  # fmt: skip
            self._served[key] = json.loads(self.run("-c", SERVE, clip, str(rate), *pairs).stdout)
        data = self._served[key][fmt]
        return dict(zip(data["labels"], data["probabilities"], strict=True)), data["windows"]


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> User:
    return User(tmp_path_factory.mktemp("export_waveform"))


def _clip(user: User) -> str:
    clips = sorted((user.root / "audio").rglob("*.wav"))
    assert clips, "the synthetic source wrote no audio"
    return str(clips[-1])


def test_recipe_run_exports_a_waveform_model(user: User) -> None:
    user.run(
        "tfgenre.write_records", *SYNTH, "--output", "records", "--window-seconds", "0"
    )  # the default recipe
    user.run(
        "tfgenre.fit", "--records", "records", "--view", "embeddings", "--model", "linear",
        "--epochs", "2", "--run-dir", "runs/recipe",
    )  # fmt: skip
    out = user.run(
        "tfgenre.export", "--run-dir", "runs/recipe", "--format", "savedmodel",
        "--format", "tflite", "--format", "keras",
    ).stdout  # fmt: skip
    assert out.count("input 'waveform'") == 3, out
    assert "waveform: mono float32 at 16000 Hz" in out
    assert "load it after `import tfgenre.inference.embedding_serving`" in out
    export = user.root / "runs" / "recipe" / "export"
    meta = json.loads((export / "savedmodel" / "assets.extra" / "tfgenre.json").read_text())
    from tfgenre.backbones.weights import find_weights

    assert meta["sample_rate"] == 16000 and meta["window_samples"] == "whole_track"
    assert meta["signature"]["inputs"] == {"waveform": {"dtype": "float32", "shape": [None]}}
    assert [b["name"] for b in meta["backbones"]] == ["musicnn_msd", "vgg_msd"]
    for b in meta["backbones"]:
        assert b["weights_sha256"] == find_weights(b["name"]).checksum()
    assert meta["backbones"][0]["layers"] == ["penultimate", "max_pool"]
    assert meta["matches_predict"] is True
    assert len(meta["labels"]) == 2
    for name in ("model.tflite.json", "model.keras.json"):
        other = json.loads((export / name).read_text())
        assert other["backbones"] == meta["backbones"] and other["sample_rate"] == 16000
    user.passed.add("recipe")


def test_recipe_savedmodel_equals_predict_in_a_fresh_process(user: User) -> None:
    import pytest as pt

    user.require("recipe")
    clip = _clip(user)
    expected = user.predicted(clip, "runs/recipe")
    export = user.root / "runs" / "recipe" / "export"
    got, windows = user.served(export / "savedmodel", clip, 22050, "savedmodel")
    assert windows == 1
    assert set(got) == set(expected)
    for label, p in expected.items():
        assert got[label] == pt.approx(p, abs=1e-4), (label, got, expected)


def test_recipe_tflite_equals_predict(user: User) -> None:
    import pytest as pt

    user.require("recipe")
    clip = _clip(user)
    expected = user.predicted(clip, "runs/recipe")
    got, _ = user.served(user.root / "runs" / "recipe" / "export" / "model.tflite", clip,
                         22050, "tflite")  # fmt: skip
    for label, p in expected.items():
        assert got[label] == pt.approx(p, abs=1e-4), (label, got, expected)


def test_recipe_keras_equals_predict_in_a_fresh_process(user: User) -> None:
    import pytest as pt

    user.require("recipe")
    clip = _clip(user)
    expected = user.predicted(clip, "runs/recipe")
    got, _ = user.served(user.root / "runs" / "recipe" / "export" / "model.keras", clip,
                         22050, "keras")  # fmt: skip
    for label, p in expected.items():
        assert got[label] == pt.approx(p, abs=1e-4), (label, got, expected)


def test_windowed_run_averages_its_windows_like_predict(user: User) -> None:
    import pytest as pt

    user.require("recipe")  # the audio
    user.run(
        "tfgenre.write_records", *SYNTH, "--output", "records16", "--window-seconds", "3.5",
        "--hop-seconds", "0.5", "--sample-rate", "16000",
        "--set", "embeddings.backbone=musicnn_msd", "--set", "embeddings.layer=max_pool",
        "--set", "embeddings.hop_seconds=0.5",  # two overlapping patches per window
        "--set", "embeddings.pooling=mean,max,std", "--set", "embeddings.tags=true",
    )  # fmt: skip
    user.run(
        "tfgenre.fit", "--records", "records16", "--view", "embeddings", "--model", "linear",
        "--epochs", "2", "--run-dir", "runs/windows",
    )  # fmt: skip
    user.run("tfgenre.export", "--run-dir", "runs/windows", "--format", "all")
    clip = _clip(user)
    expected = user.predicted(clip, "runs/windows")
    export = user.root / "runs" / "windows" / "export" / "savedmodel"
    got, windows = user.served(export, clip, 16000, "savedmodel")
    assert windows == 2  # 4 s, 3.5-s windows every 0.5 s
    for label, p in expected.items():
        assert got[label] == pt.approx(p, abs=1e-4), (label, got, expected)
    meta = json.loads((export / "assets.extra" / "tfgenre.json").read_text())
    assert meta["window_samples"] == 56000 and meta["hop_samples"] == 8000
    assert meta["matches_predict"] is True
    for name, fmt in (("model.keras", "keras"), ("model.tflite", "tflite")):
        got, _ = user.served(export.parent / name, clip, 16000, fmt)
        for label, p in expected.items():
            assert got[label] == pt.approx(p, abs=1e-4), (fmt, label, got, expected)


def test_the_embeddings_input_stays_reachable(user: User) -> None:
    user.require("recipe")
    out = user.run(
        "tfgenre.export", "--run-dir", "runs/recipe", "--input", "embeddings",
        "--output", "head_sm",
    ).stdout  # fmt: skip
    assert "input 'embeddings'" in out
    meta = json.loads((user.root / "head_sm" / "assets.extra" / "tfgenre.json").read_text())
    assert meta["signature"]["inputs"]["embeddings"]["shape"] == [None, (200 + 753 + 256) * 3]
    err = user.run(
        "tfgenre.export", "--run-dir", "runs/recipe", "--format", "tflite", "--quantize",
        ok=False,
    ).stderr  # fmt: skip
    assert "quantize" in err and "--input embeddings" in err


def test_framing_at_16_khz_and_when_it_matches_predict() -> None:
    from tfgenre.inference.embedding_serving import backbone_framing, matches_predict
    from tfgenre.records.info import AudioSpec

    whole = backbone_framing(AudioSpec(22050).framing)
    assert (whole.window_samples, whole.hop_samples) == (None, None)
    assert matches_predict(AudioSpec(22050).framing)
    at_22k = AudioSpec(22050, 66150, 22050).framing
    win = backbone_framing(at_22k)
    assert (win.sample_rate, win.window_samples, win.hop_samples) == (16000, 48000, 16000)
    assert not matches_predict(at_22k)  # each window was resampled on its own at 22050 Hz
    assert matches_predict(AudioSpec(16000, 48000, 16000).framing)
