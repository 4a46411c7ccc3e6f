"""The benchmark helpers on a minimal size: correct values and the JSON's keys (no timings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skips import needs_musicnn

from benchmarks import clips as bench_clips
from benchmarks import naive, reader_bench, writer_bench
from benchmarks import run as bench
from benchmarks.table import format_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two 6-s synthetic clips (two 3-s segments each): naive records and tfgenre mel records."""
    from tfgenre.records.writer import write_records

    root = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as mp:  # these sizes are for synthetic clips
        mp.delenv("TFGENRE_REAL_DATA", raising=False)
        clips = bench_clips.prepare_clips(
            str(root / "cache"), num_genres=2, clips_per_genre=1, clip_seconds=6.0
        )
    naive_path = str(root / "naive.tfrecord")
    info = naive.write(
        clips.paths, clips.labels, naive_path, window_seconds=bench_clips.WINDOW_SECONDS
    )
    records = str(root / "records")
    write_records(writer_bench.writer_config(clips, records, ("mel",), workers=1), progress=False)
    return clips, naive_path, info, records


def test_naive_and_tfgenre_readers_deliver_the_same_images(tiny):
    clips, naive_path, info, records = tiny
    assert info["examples"] == 4
    fast = [
        (x.numpy(), y.numpy())
        for x, y in reader_bench.tfgenre_image_dataset(records, batch_size=4).unbatch()
    ]
    slow = [
        (x.numpy(), y.numpy())
        for x, y in naive.records_dataset(naive_path, len(clips.label_names), 4).unbatch()
    ]
    assert len(fast) == len(slow) == 4
    for x, y in fast:
        assert x.shape == (224, 224, 3) and x.dtype == np.float32
        assert np.array_equal(x[..., 0], x[..., 2])
        # the same segment in the naive records: float16 storage costs < 0.07 dB
        errors = [np.abs(x - xs).max() for xs, ys in slow if np.array_equal(y, ys)]
        assert min(errors) < 0.07, min(errors)


def test_naive_three_view_writer_stores_raw_and_reference_features(tiny, tmp_path):
    import librosa
    import tensorflow as tf

    from tfgenre.views.features import reference_features

    clips, _, _, _ = tiny
    path = str(tmp_path / "naive_all.tfrecord")
    info = naive.write(
        clips.paths[:1], clips.labels[:1], path, window_seconds=3.0, views=bench_clips.ALL_VIEWS
    )
    assert info["examples"] == 2 and set(info["view_bytes"]) == set(bench_clips.ALL_VIEWS)
    y, _ = librosa.load(clips.paths[0], sr=22050, mono=True)
    window = 3 * 22050
    for s, record in enumerate(tf.data.TFRecordDataset(path)):
        example = tf.train.Example.FromString(record.numpy())
        values = {k: np.array(f.float_list.value) for k, f in example.features.feature.items()}
        np.testing.assert_array_equal(values["audio"], y[s * window : (s + 1) * window])
        expected = reference_features(y[s * window : (s + 1) * window], 22050)
        np.testing.assert_allclose(values["features"], expected, rtol=1e-6)
        assert values["image"].shape == (224 * 224 * 3,)
    # a float32 FloatList costs 4+ bytes per sample; tfgenre's raw view is int16
    assert info["view_bytes"]["raw"] / info["examples"] > 4 * window
    with pytest.raises(ValueError, match="must include 'mel'"):
        naive.write(clips.paths, clips.labels, path, views=("raw",))


def test_audio_reader_matches_naive_records(tiny):
    clips, naive_path, _, _ = tiny
    n = len(clips.label_names)
    from_audio = np.concatenate(
        [x.numpy() for x, _ in naive.audio_dataset(clips.paths, clips.labels, n, 4)]
    )
    from_records = np.concatenate([x.numpy() for x, _ in naive.records_dataset(naive_path, n, 4)])
    assert from_audio.shape == from_records.shape == (4, 224, 224, 3)
    # interleave may reorder clips: compare as sets of segments
    for x in from_audio:
        assert min(np.abs(x - r).max() for r in from_records) < 1e-4


#: The smallest sizes of every figure (synthetic clips).
TINY_SIZES = {
    "num_genres": 2,
    "clips_per_genre": 1,
    "clip_seconds": 3.0,
    "models": ["features_mlp", "mel_cnn"],
    "required_models": (),
    "steps": 1,
    "passes": 2,
    "features_clips": 1,
    "batch_size": 1,
    "workers": 1,
    "repeats": 1,
    "mixed_on_cpu": True,  # the GPU code path: mixed precision off and on
    "embedding_clips": 1,
    "probe_clips": 10,
    "recipe_clips": 1,
    "finetune_batch_size": 1,
    "finetune_steps": 1,
    "serve_requests": 2,
    "library_tracks": 2,
}


def test_only_measures_the_figures_asked_for_and_what_they_need(tmp_path, monkeypatch):
    monkeypatch.delenv("TFGENRE_REAL_DATA", raising=False)  # sizes are for synthetic clips
    out = tmp_path / "latest.json"
    only = ["reader_vs_train", "predict_latency", "library_predict"]
    sizes = {**TINY_SIZES, "models": ["mel_cnn"], "mixed_on_cpu": False}
    results = bench.run(out=str(out), workdir=str(tmp_path / "work"), only=only, sizes=sizes)
    data = json.loads(out.read_text())
    measured = {*only, "reader_speedup", "train_throughput", *bench.WRITER_FIGURES}
    assert set(data) == {"meta", *measured}
    assert data["meta"]["figures"] == [f for f in bench.FIGURES if f in measured]
    assert data["library_predict"]["tracks"] == 2
    assert set(data["reader_vs_train"]) == {"mel_cnn"}
    assert set(data["train_throughput"]["examples_per_s"]) == {"mel_cnn"}
    assert data["predict_latency"]["segments"] == 1
    table = format_table(results)
    assert "reader vs train mel_cnn" in table and "predict library 2 tracks" in table
    assert "features:" not in table and "serve p50" not in table


def test_figures_to_measure_adds_what_a_figure_is_measured_from():
    assert bench.figures_to_measure(None) == frozenset(bench.FIGURES)
    assert bench.figures_to_measure(["library_predict"]) == {"library_predict"}
    assert bench.figures_to_measure(["bytes_per_segment"]) == set(bench.WRITER_FIGURES)
    assert bench.figures_to_measure(["serve_latency"]) == {"serve_latency",
                                                           *bench.WRITER_FIGURES}
    with pytest.raises(ValueError, match=r"unknown figure\(s\) 'serve'.*serve_latency"):
        bench.figures_to_measure(["serve"])


def test_only_names_an_unknown_figure_before_any_work(tmp_path):
    import sys

    import spawn

    proc = spawn.run([sys.executable, "-m", "benchmarks.run", "--only", "writer,nope",
                      "--out", str(tmp_path / "out.json")], cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "unknown figure(s) 'writer', 'nope'" in proc.stderr
    assert "writer_speedup" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow  # every figure, fresh processes included; the default suite runs a part
def test_run_writes_every_figure(tmp_path, monkeypatch):
    monkeypatch.delenv("TFGENRE_REAL_DATA", raising=False)  # sizes are for synthetic clips
    out = tmp_path / "latest.json"
    results = bench.run(out=str(out), workdir=str(tmp_path / "work"), sizes=TINY_SIZES)
    data = json.loads(out.read_text())
    assert set(bench.FIGURES) <= set(data)
    assert data["features_speedup"]["agree"] is True
    assert data["library_predict"]["tracks"] == 2
    train = data["train_throughput"]
    assert set(train["examples_per_s"]) == {"features_mlp", "mel_cnn"}
    assert set(train["examples_per_s_mixed_precision"]) == {"features_mlp", "mel_cnn"}
    assert "failed" not in train
    assert set(data["reader_vs_train"]) == {"mel_cnn"}
    assert data["bytes_per_segment"]["naive_over_mel"] > 10  # float16, 1 channel, no resize
    assert data["bytes_per_segment"]["naive_over_raw"] > 1.9  # int16 against float32
    assert data["writer_speedup"]["naive_all_views_clips_per_s"] > 0
    # tfgenre's writer ran on each clip twice (links), the naive one once
    assert data["writer_speedup"]["tfgenre_tracks"] == 2 * data["writer_speedup"]["naive_tracks"]
    assert data["predict_latency"]["segments"] == 1
    embeddings = data["embeddings_throughput"]
    assert "skipped" in embeddings or embeddings["clips"] == 1
    variants = {"batched", "bfloat16", "limit", "recipe", "onednn"}
    assert "skipped" in embeddings or variants <= set(embeddings)
    recipe = data["embeddings_recipe_cost"]
    assert "skipped" in recipe or recipe["clips"] == 1
    probe = data["probe_time"]
    assert probe.get("clips") == 10 or "musicnn" in probe.get("skipped", "")
    finetune = data["finetune_throughput"]
    assert finetune["batch_size"] == 1 and finetune["device"] == "CPU"
    assert set(finetune["examples_per_second"]) == {"frozen", "unfrozen"}
    assert all(rate > 0 for rate in finetune["examples_per_second"].values())
    serve = data["serve_latency"]
    assert serve["model"] == "serve_run" and serve["server_workers"] == 4
    assert serve["1_clients"]["requests"] == serve["4_clients"]["requests"] == 2
    assert serve["fresh_predict_seconds"] > 0 and serve["4_clients"]["requests_per_s"] > 0
    table = format_table(results)
    assert "writer mel" in table and "predict" in table and "mixed precision" in table
    assert "skipped" in embeddings or "embeddings realtime factor" in table
    assert "skipped" in recipe or "embeddings recipe s per" in table
    assert "finetune musicnn_msd (CPU) ex/s, unfrozen" in table
    assert "serve p50 / p95 s, 4 client(s)" in table


@needs_musicnn
def test_embeddings_throughput_times_both_sides_on_the_same_clips(tiny):
    from benchmarks.backbones_bench import bench_embeddings

    clips = tiny[0]
    e = bench_embeddings(clips.paths[:1], repeats=1, rounds=1)["embeddings_throughput"]
    assert e["clips"] == 1 and e["clip_seconds"] == pytest.approx(6.0, abs=0.01)
    assert e["clips_per_second"] > 0 and e["original_clips_per_second"] > 0
    assert e["ratio"] == pytest.approx(e["clips_per_second"] / e["original_clips_per_second"])
    assert e["realtime_factor"] == pytest.approx(6.0 * e["clips_per_second"], rel=1e-3)
    # the same clip's tags on both sides: the port and its front end equal the original
    assert e["max_abs_diff_taggram"] < 1e-3


def test_machine_scaling_probe_runs_in_a_pool(tiny):
    # The reference for writer_scaling: the same pure computation by 1 and by 2 processes.
    from tfgenre.records.executors import start_pool

    clips = tiny[0]
    pool = start_pool(2)
    try:
        ratio = writer_bench.machine_scaling(pool, 2, clips.paths[0])
    finally:
        pool.terminate()
        pool.join()
    assert np.isfinite(ratio) and 0 < ratio < 4


@needs_musicnn
def test_probe_time_writes_embeddings_and_probes_them(tmp_path, monkeypatch):
    from benchmarks.probe_bench import bench_probe
    from tfgenre.records.info import RecordsInfo

    monkeypatch.delenv("TFGENRE_REAL_DATA", raising=False)
    clips = bench_clips.prepare_clips(
        str(tmp_path / "audio"), num_genres=2, clips_per_genre=2, clip_seconds=6.0
    )
    out = bench_probe(clips, str(tmp_path / "probe"), 1, count=8)["probe_time"]
    assert out["clips"] == 8 and out["windows"] == 16 and out["backbone"] == "musicnn_msd"
    assert out["total_seconds"] == pytest.approx(out["write_seconds"] + out["baselines_seconds"])
    assert 0.0 <= out["track_accuracy"] <= 1.0 and 0.0 <= out["segment_accuracy"] <= 1.0
    info = RecordsInfo.load(str(tmp_path / "probe" / "records"))
    assert list(info.views) == ["embeddings"] and info.view("embeddings").shape == (803,)
    # the two copies of a clip are on one side of the split
    assert info.split("train").num_tracks == info.split("test").num_tracks == 4


def test_embeddings_throughput_counts_flops_and_drift():
    from benchmarks.embeddings_throughput import drift, model_flops
    from tfgenre.backbones.musicnn import build_musicnn

    # the timbral 7x38 / 7x67 and temporal 128/64/32 x 1 convolutions, the mid-end, dense
    assert model_flops(build_musicnn()) == 2_797_107_168
    a = {"x": np.asarray([[1.0, 2.0], [3.0, 4.0]])}
    same = drift(a, a)["x"]
    assert same["max_abs"] == 0.0 and abs(same["max_cosine_distance"]) < 1e-12
    off = drift(a, {"x": a["x"] * [1.0, 1.01]})["x"]
    assert off["max_abs"] == pytest.approx(0.04) and off["max_abs_relative"] == pytest.approx(0.01)
