"""The embeddings view's recipe options: several backbones and layers, pooling, hop.

In process; the runs of the backbones use one or two short windows.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from skips import needs_musicnn

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.records.writer_config import WriterConfig, make_views
from tfgenre.views import from_spec
from tfgenre.views.base import ViewSpec
from tfgenre.views.embeddings import EARLIER_DEFAULT, EmbeddingsView, runner_for

RATE = 22050


def _music(seconds: float, seed: int = 0) -> np.ndarray:
    """A few decaying tones plus noise: float32 ``(seconds * RATE,)``."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * f * t) * np.exp(-((t % 0.5) * 4)) for f in (220, 330, 440))
    return (0.2 * y + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_the_defaults_are_the_recipe() -> None:
    view = EmbeddingsView()
    assert view.backbones == ("musicnn_msd", "vgg_msd")
    assert view.poolings == ("mean", "max", "std") and view.hop_seconds is None
    assert view.tags is False
    # each layer is taken from every backbone that has it: vgg has no max_pool
    assert view.parts() == (
        ("musicnn_msd", ("penultimate", "max_pool")),
        ("vgg_msd", ("penultimate",)),
    )


def test_lists_come_as_comma_separated_strings_or_lists() -> None:
    typed = config.from_dict(
        WriterConfig,
        {
            "views": ["embeddings"],
            "audio": {"window_seconds": 0},
            "embeddings": {
                "backbone": "musicnn_msd,vgg_msd",
                "layer": "penultimate,max_pool",
                "pooling": "mean,max,std",
            },
        },
    )
    listed = config.from_dict(
        WriterConfig,
        {
            "views": ["embeddings"],
            "audio": {"window_seconds": 0},
            "embeddings": {
                "backbone": ["musicnn_msd", "vgg_msd"],
                "layer": ["penultimate", "max_pool"],
                "pooling": ["mean", "max", "std"],
            },
        },
    )
    assert typed.embeddings == listed.embeddings == EmbeddingsView()
    # one name stays a plain string, as configs and specs of earlier versions wrote it
    single = EmbeddingsView(backbone=["vgg_msd"], layer="penultimate", pooling=["max"])
    assert single.backbone == "vgg_msd" and single.layer == "penultimate"
    assert single.pooling == "max"
    assert config.to_dict(EmbeddingsView())["backbone"] == ["musicnn_msd", "vgg_msd"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"backbone": "vgg_msd", "layer": "max_pool"},
            r"embeddings.layer='max_pool' is not an output of vgg_msd "
            r"\(vgg: taggram, penultimate\)",
        ),
        (
            {"backbone": "musicnn_msd,vgg_msd", "layer": "mean_pool"},
            r"embeddings.layer='mean_pool' is not an output of vgg_msd \(vgg: taggram, penult",
        ),
        (
            {"layer": "penultimate,maxpool"},
            r"embeddings.layer='maxpool' is not an output of any backbone.*"
            r"did you mean 'max_pool'",
        ),
        ({"pooling": "mean,median"}, r"embeddings.pooling='mean,median' must be one or more of"),
        ({"pooling": "mean,mean"}, r"embeddings.pooling='mean,mean' .*each once"),
        ({"hop_seconds": 0}, r"embeddings.hop_seconds=0 must be > 0 and at most one patch"),
        ({"hop_seconds": 3.5}, r"embeddings.hop_seconds=3.5 must be > 0 and at most one patch"),
        ({"backbone": "vgg_msd,vgg_msd"}, r"embeddings.backbone='vgg_msd,vgg_msd' repeats"),
        ({"backbone": "musicnn_msd,vggish"}, r"embeddings.backbone='vggish' is unknown"),
    ],
)
def test_bad_options_are_refused_naming_the_value_and_the_rule(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        EmbeddingsView(**options)


def test_overlapping_patches_take_a_hop_in_frames() -> None:
    assert EmbeddingsView(hop_seconds=1.5).hop_frames == 94  # 1.5 s / 16 ms
    assert EmbeddingsView().hop_frames is None


@needs_musicnn
def test_spec_records_every_part_and_rebuilds_the_view() -> None:
    from tfgenre.backbones.weights import find_weights

    view = EmbeddingsView(hop_seconds=1.5, tags=True)
    spec = view.spec(0, RATE)
    parts = spec.params["parts"]
    assert [p["backbone"] for p in parts] == ["musicnn_msd", "vgg_msd"]
    assert [p["layers"] for p in parts] == [["penultimate", "max_pool"], ["penultimate"]]
    # musicnn: (200 + 753) x 3 statistics + 50 tags; vgg: 256 x 3 + 50 tags
    assert [p["width"] for p in parts] == [953 * 3 + 50, 256 * 3 + 50]
    assert spec.shape == (sum(p["width"] for p in parts),)
    for part in parts:
        assert part["weights_sha256"] == find_weights(part["backbone"]).checksum()
        assert len(part["tag_labels"]) == 50
    names = spec.feature_names
    assert names[0] == "musicnn_msd_penultimate_mean_0"
    assert names[200] == "musicnn_msd_penultimate_max_0"
    assert names[600] == "musicnn_msd_max_pool_mean_0"
    assert names[parts[0]["width"] - 50] == "musicnn_msd_tag_rock"
    assert names[parts[0]["width"]] == "vgg_msd_penultimate_mean_0"
    assert spec.params["pooling"] == ["mean", "max", "std"] and spec.params["hop_seconds"] == 1.5
    stored = ViewSpec.from_json("embeddings", spec.to_json())  # as the manifest keeps it
    again = from_spec(stored)
    assert again == view and again.spec(0, RATE) == spec


@needs_musicnn
def test_from_spec_refuses_other_weights_of_any_part() -> None:
    spec = EmbeddingsView().spec(0, RATE)
    parts = [dict(p) for p in spec.params["parts"]]
    parts[1]["weights_sha256"] = "0" * 64
    other = dataclasses.replace(spec, params={**spec.params, "parts": parts})
    with pytest.raises(ConfigError, match=r"installed vgg_msd weights .*sha256 0000"):
        from_spec(other)


@needs_musicnn
def test_a_spec_written_by_the_single_backbone_version_still_loads() -> None:
    """The params an earlier version stored (no pooling, hop or parts) give the same rows."""
    from tfgenre.backbones.weights import find_weights

    ws = find_weights("musicnn_msd")
    names = tuple(f"max_pool_{i}" for i in range(753)) + tuple(
        "tag_" + re.sub(r"\W+", "_", label.strip().lower()).strip("_") for label in ws.labels
    )
    earlier = ViewSpec(
        name="embeddings", dtype="float32", shape=(803,), feature_names=names,
        params={
            "backbone": "musicnn_msd", "layer": "max_pool", "tags": True,
            "architecture": "musicnn", "dataset": "msd", "weights_sha256": ws.checksum(),
            "tag_labels": list(ws.labels), "licence": ws.licence,
            "backbone_sample_rate": 16000, "patch_seconds": 2.992,
            "summary": "mean over the window's non-overlapping patches",
        },
    )  # fmt: skip
    view = from_spec(earlier)
    assert view == EmbeddingsView(**EARLIER_DEFAULT)
    spec = view.spec(3 * RATE, RATE)
    assert spec.shape == (803,) and spec.feature_names == names
    bad = dataclasses.replace(earlier, params={**earlier.params, "weights_sha256": "0" * 64})
    with pytest.raises(ConfigError, match="installed musicnn_msd weights"):
        from_spec(bad)


@needs_musicnn
def test_payload_pools_each_backbones_layers_from_one_pass(monkeypatch) -> None:
    from tfgenre.backbones.runner import BackboneRunner, to_backbone_rate

    view = EmbeddingsView()
    windows = np.stack([_music(6.5, seed=0), _music(6.5, seed=1)])  # 2 patches each
    calls: list[tuple[str, int]] = []
    real_run = BackboneRunner.run

    def counted(self, patches):
        calls.append((self.weights.name, len(patches)))
        return real_run(self, patches)

    monkeypatch.setattr(BackboneRunner, "run", counted)
    got = view.compute(windows, RATE)
    # each backbone runs once, on every patch of every window, for all its layers
    assert calls == [("musicnn_msd", 4), ("vgg_msd", 4)]
    assert got.shape == (2, view.spec(0, RATE).shape[0]) and got.dtype == np.float32
    musicnn, vgg = runner_for("musicnn_msd"), runner_for("vgg_msd")
    for row, window in zip(got, windows, strict=True):
        y16 = to_backbone_rate(window, RATE)
        m, v = real_run(musicnn, musicnn.patches(y16).values), vgg(y16)
        expected = [
            f(out[layer])
            for out, layer in ((m, "penultimate"), (m, "max_pool"), (v, "penultimate"))
            for f in (lambda x: x.mean(0), lambda x: x.max(0), lambda x: x.std(0))
        ]
        np.testing.assert_allclose(row, np.concatenate(expected), atol=1e-4)
    assert not np.allclose(got[0], got[1])


@needs_musicnn
def test_hop_seconds_pools_overlapping_patches() -> None:
    from tfgenre.backbones.runner import to_backbone_rate

    window = _music(6.5)[None]
    plain = EmbeddingsView(backbone="musicnn_msd", layer="penultimate", pooling="mean")
    hopped = dataclasses.replace(plain, hop_seconds=1.0)
    runner = runner_for("musicnn_msd")
    patches = runner.patches(to_backbone_rate(window[0], RATE), hop_frames=hopped.hop_frames)
    assert len(patches.values) == 4  # 6.5 s: patches start at 0, 1, 2 and 3 s (2 without hop)
    expected = runner.run(patches.values)["penultimate"].mean(axis=0)
    got = hopped.compute(window, RATE)[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert not np.allclose(got, plain.compute(window, RATE)[0])


@needs_musicnn
def test_writer_config_takes_the_recipe_on_whole_tracks() -> None:
    cfg = config.from_dict(WriterConfig, {"views": ["embeddings"], "audio": {"window_seconds": 0}})
    view = make_views(cfg)["embeddings"]
    assert view == EmbeddingsView() and view.spec(0, RATE).shape == (953 * 3 + 256 * 3,)


@needs_musicnn
def test_embeddings_recipe_cost_times_both_on_the_same_clip(tmp_path, monkeypatch) -> None:
    from benchmarks import run as bench
    from benchmarks.clips import prepare_clips
    from benchmarks.embeddings_recipe import bench_recipe_cost

    assert "embeddings_recipe_cost" in bench.FIGURES
    monkeypatch.delenv("TFGENRE_REAL_DATA", raising=False)
    clips = prepare_clips(
        str(tmp_path / "audio"), num_genres=1, clips_per_genre=1, clip_seconds=6.0
    )
    cost = bench_recipe_cost(clips.paths, repeats=1)["embeddings_recipe_cost"]
    assert cost["clips"] == 1 and cost["clip_seconds"] == pytest.approx(6.0, abs=0.01)
    assert cost["recipe_seconds_per_clip"] > 0 and cost["musicnn_msd_seconds_per_clip"] > 0
    assert cost["ratio"] == pytest.approx(
        cost["recipe_seconds_per_clip"] / cost["musicnn_msd_seconds_per_clip"]
    )
    assert cost["ratio_same_window"] == pytest.approx(
        cost["recipe_seconds_per_clip"] / cost["musicnn_msd_whole_track_seconds_per_clip"]
    )
