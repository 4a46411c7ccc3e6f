"""The embeddings view: its spec, payloads equal to BackboneRunner, and its checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from skips import needs_musicnn

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.records.writer_config import AudioConfig, WriterConfig, make_views
from tfgenre.views import VECTOR_VIEWS, VIEW_NAMES, from_spec
from tfgenre.views.embeddings import EARLIER_DEFAULT, EmbeddingsView, runner_for

RATE = 22050


def _music(seconds: float, seed: int = 0) -> np.ndarray:
    """A few decaying tones plus noise: float32 ``(seconds * RATE,)``."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * f * t) * np.exp(-((t % 0.5) * 4)) for f in (220, 330, 440))
    return (0.2 * y + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_registered_as_a_vector_view() -> None:
    assert "embeddings" in VIEW_NAMES and "embeddings" in VECTOR_VIEWS


def test_unknown_backbone_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="musicnn_msd.*did you mean 'musicnn_msd'"):
        EmbeddingsView(backbone="musicnn_mds")
    with pytest.raises(ConfigError, match="embeddings.backbone='vggish'.*vgg_msd"):
        config.from_dict(
            WriterConfig,
            {"views": ["embeddings"], "embeddings": {"backbone": "vggish"}},
        )


def test_layer_must_be_an_output_of_the_architecture() -> None:
    with pytest.raises(ConfigError, match="embeddings.layer='max_pool'.*vgg: taggram, penult"):
        EmbeddingsView(backbone="vgg_msd", layer="max_pool")
    with pytest.raises(ConfigError, match="tags twice"):
        EmbeddingsView(layer="taggram", tags=True)
    assert EmbeddingsView(backbone="musicnn_msd", layer=None).output == "max_pool"
    assert EmbeddingsView(backbone="vgg_mtt").output == "penultimate"
    assert EmbeddingsView(layer="taggram", tags=False).output == "taggram"


def test_window_shorter_than_a_patch_is_refused_up_front() -> None:
    with pytest.raises(ConfigError, match=r"audio.window_seconds=2.5 .*at least 2.992 s"):
        WriterConfig(views=("embeddings",), audio=AudioConfig(window_seconds=2.5))


def test_records_without_embeddings_keep_their_config_hash() -> None:
    cfg = WriterConfig(views=("features",))
    assert "embeddings" not in cfg.content_dict()


@needs_musicnn
def test_spec_round_trip_and_whole_tracks() -> None:
    cfg = config.from_dict(
        WriterConfig,
        {
            "views": ["embeddings", "features"],
            "audio": {"window_seconds": 0},
            "embeddings": {
                "backbone": "musicnn_msd", "layer": "penultimate", "pooling": "mean", "tags": True
            },
        },
    )
    view = make_views(cfg)["embeddings"]
    spec = view.spec(0, RATE)
    assert spec.shape == (250,) and spec.dtype == "float32"
    assert spec.feature_names[:2] == ("penultimate_0", "penultimate_1")
    assert spec.feature_names[200] == "tag_rock" and len(spec.params["tag_labels"]) == 50
    assert len(spec.params["weights_sha256"]) == 64 and "ISC" in spec.params["licence"]
    # predict decodes at the records' rate: the view must not claim 16 kHz
    assert spec.sample_rate is None and spec.params["backbone_sample_rate"] == 16000
    again = from_spec(spec)
    assert again == view and again.spec(0, RATE) == spec
    # a whole track of 7 s is 2 patches, and one of 1 s is padded to one
    long, short = view.compute(_music(7)[None], RATE), view.compute(_music(1)[None], RATE)
    assert long.shape == short.shape == (1, 250)
    assert np.isfinite(long).all() and not np.allclose(long, short)


@needs_musicnn
def test_from_spec_refuses_other_weights() -> None:
    spec = EmbeddingsView(**EARLIER_DEFAULT).spec(3 * RATE, RATE)
    other = dataclasses.replace(spec, params={**spec.params, "weights_sha256": "0" * 64})
    with pytest.raises(ConfigError, match=f"sha256 {spec.params['weights_sha256']}.*sha256 0000"):
        from_spec(other)


@needs_musicnn
def test_payload_is_the_runner_mean_over_patches() -> None:
    from tfgenre.backbones.runner import to_backbone_rate

    view = EmbeddingsView(**EARLIER_DEFAULT)
    windows = np.stack([_music(6.5, seed=0), _music(6.5, seed=1)])  # 2 patches each
    got = view.compute(windows, RATE)
    assert got.shape == (2, 753 + 50) and got.dtype == np.float32
    runner = runner_for("musicnn_msd")
    for row, window in zip(got, windows, strict=True):
        out = runner(to_backbone_rate(window, RATE))
        assert out["max_pool"].shape[0] == 2
        np.testing.assert_allclose(row[:753], out["max_pool"].mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(row[753:], out["taggram"].mean(axis=0), atol=1e-5)
    assert runner_for("musicnn_msd") is runner  # built once per process
    assert not np.allclose(got[0], got[1])


def test_missing_weights_package_is_refused_before_any_work(monkeypatch) -> None:
    import tfgenre.backbones.weights as weights

    real = weights.importlib.util.find_spec
    monkeypatch.setattr(
        weights.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "musicnn" else real(name, *a),
    )
    with pytest.raises(ConfigError, match="pip install --no-deps musicnn"):
        WriterConfig(views=("embeddings",))
    WriterConfig(views=("features",))  # other views do not need the package


@pytest.mark.parametrize("model", ["features_mlp", "linear"])
def test_vector_heads_take_embeddings(model: str) -> None:
    from tfgenre.models import get_model, models_for_view
    from tfgenre.models.registry import InputSpec

    assert {"features_mlp", "linear"} <= set(models_for_view("embeddings"))
    mean, std = np.linspace(-1, 1, 20), np.linspace(0, 2, 20)  # one column of std 0
    spec = InputSpec("embeddings", (20,), tuple(mean), tuple(std))
    net = get_model(model, spec, 3)
    x = np.tile(mean, (4, 1)).astype(np.float32)
    probs = np.asarray(net(x))
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert net.inputs[0].name == "embeddings"
    if model == "linear":  # one dense layer on standardised inputs: softmax regression
        assert [w.shape for w in net.get_layer("logits").weights] == [(20, 3), (3,)]
        assert len([layer for layer in net.layers if "dense" in layer.name]) == 0


@needs_musicnn
def test_predict_front_end_of_a_whole_track_embeddings_run() -> None:
    """predict decodes at the records' rate (not 16 kHz) and the view computes the rows."""
    from tfgenre.inference.preparer import make_frontend
    from tfgenre.records.info import AudioSpec
    from tfgenre.runs.run_info import RunInfo

    view = EmbeddingsView(**{**EARLIER_DEFAULT, "tags": False})
    spec = view.spec(0, RATE)
    run = RunInfo(
        labels=("a", "b"), model="linear", view_spec=spec, input_shape=spec.shape,
        audio=AudioSpec(RATE, None, None), source="records", data_path="/r",
    )  # fmt: skip
    framing, frontend = make_frontend(run)
    assert framing.sample_rate == RATE and framing.window_samples is None
    segments, _, _ = framing.cut(_music(4.0))
    np.testing.assert_allclose(frontend(segments), view.compute(segments, RATE), atol=1e-6)
    assert frontend(segments).shape == (1, 753)
