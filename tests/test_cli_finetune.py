"""Fine-tuning a pretrained music backbone as a user runs it, one process per command.

write_records at 16 kHz -> fit musicnn_msd with a frozen warm-up epoch -> evaluate ->
export savedmodel + tflite (each loaded in a fresh process) -> predict a wav file.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import spawn
from builders import TINY_RUNS_RECORDS
from skips import needs_musicnn

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
GENRES = 3


def _cli(module: str, *args: object) -> subprocess.CompletedProcess:
    """``python -m tfgenre.<module> args`` in a fresh process; fails on a traceback."""
    proc = spawn.run([sys.executable, "-m", f"tfgenre.{module}", *map(str, args)],
                     env=ENV, cwd=ROOT, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def _write_records(out: Path, synth: Path, sample_rate: int) -> Path:
    """3 genres x 4 clips of 3 s, one 3-s raw window each, at ``sample_rate``."""
    proc = _cli(
        "write_records", "--source", "synthetic", "--input", synth, "--output", out,
        "--sample-rate", sample_rate, "--views", "raw", "--window-seconds", 3,
        "--set", f"source_options.num_genres={GENRES}",
        "--set", "source_options.clips_per_genre=4",
        "--set", "source_options.clip_seconds=3",
        "--splits", "train=0.5,validation=0.25,test=0.25",
        "--shards", 1, "--workers", 1, "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


_LOAD_EXPORTS = """
import json, sys
import numpy as np, soundfile as sf, tensorflow as tf
run, wav = sys.argv[1], sys.argv[2]
y, rate = sf.read(wav, dtype="float32")
sm = tf.saved_model.load(run + "/export/savedmodel").signatures["serving_default"]
saved = {k: v.numpy().tolist() for k, v in sm(waveform=tf.constant(y)).items()}
interpreter = tf.lite.Interpreter(model_path=run + "/export/model.tflite")
lite = interpreter.get_signature_runner("serving_default")(waveform=y)
print(json.dumps({"rate": rate, "savedmodel": saved,
                  "tflite": {k: v.tolist() for k, v in lite.items()}}))
"""


@needs_musicnn
def test_fine_tune_musicnn_then_evaluate_export_and_predict(tmp_path):
    records = _write_records(tmp_path / "records", tmp_path / "synth", 16000)
    info = json.loads((records / "manifest.json").read_text())
    raw = info["views"]["raw"]
    assert raw["shape"] == [48000] and raw["params"]["sample_rate"] == 16000

    listing = _cli("fit", "--list-models")
    line = next(x for x in listing.stdout.splitlines() if x.startswith("musicnn_msd "))
    assert "views=raw" in line and "ISC licence" in line and "MSD" in line

    run = tmp_path / "run"
    fit = _cli(
        "fit", "--records", records, "--view", "raw", "--model", "musicnn_msd",
        "--epochs", 2, "--batch-size", 3, "--set", "fine_tune.warmup_epochs=1",
        "--run-dir", run,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "fine-tune phase 2: unfroze 8 backbone layers" in fit.stderr
    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in history] == [0, 1]
    rates = [float(r["learning_rate"]) for r in history]
    assert rates[1] == pytest.approx(rates[0] * 0.1)  # phase 2 at learning_rate_factor
    run_json = json.loads((run / "run.json").read_text())
    assert run_json["model"] == "musicnn_msd" and run_json["input_shape"] == [48000]

    evaluation = _cli("evaluate", "--run-dir", run)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    assert 0.0 <= metrics["segment"]["accuracy"] <= 1.0
    assert sum(c["support"] for c in metrics["segment"]["per_class"].values()) == 3

    export = _cli("export", "--run-dir", run, "--format", "savedmodel", "--format", "tflite")
    assert export.returncode == 0, export.stderr[-3000:]
    assert "input 'waveform'" in export.stdout

    # 7 s at 16 kHz: two 3-s windows for the exports and for predict alike
    t = np.arange(7 * 16000) / 16000
    y = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * 2 * t) * np.sin(
        2 * np.pi * 110 * t
    )
    wav = tmp_path / "clip.wav"
    sf.write(wav, y.astype(np.float32), 16000, subtype="FLOAT")
    loaded = spawn.run([sys.executable, "-c", _LOAD_EXPORTS, str(run), str(wav)],
                       env=ENV, cwd=ROOT, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    out = json.loads(loaded.stdout.strip().splitlines()[-1])
    saved = np.array(out["savedmodel"]["probabilities"])
    assert saved.shape == (GENRES,) and saved.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.array(out["savedmodel"]["segment_probabilities"]).shape == (2, GENRES)
    lite = np.array(out["tflite"]["probabilities"])
    assert lite.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(lite, saved, atol=1e-4)

    predicted = _cli("predict", wav, "--model", run, "--format", "json")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    (track,) = json.loads(predicted.stdout)
    assert track["num_segments"] == 2 and track["duration_seconds"] == pytest.approx(7.0)
    labels = run_json["labels"]
    by_label = dict(track["genres"])
    assert set(by_label) == set(labels)
    np.testing.assert_allclose([by_label[g] for g in labels], saved, atol=1e-4)


def test_fit_refuses_records_at_another_rate(tmp_path, synthetic_records):
    # any raw records at 22050 Hz: the session's shared ones (tiny_runs' records)
    records = synthetic_records(TINY_RUNS_RECORDS).records
    fit = _cli(
        "fit", "--records", records, "--view", "raw", "--model", "vgg_mtt",
        "--set", "model_options.weights=none", "--epochs", 1, "--run-dir", tmp_path / "run",
    )  # fmt: skip
    assert fit.returncode == 2
    assert "error:" in fit.stderr and "sample_rate=22050 Hz" in fit.stderr
    assert "write_records --sample-rate 16000" in fit.stderr


@pytest.mark.slow  # a benchmark; test_bench's run covers the figure in the default suite
def test_finetune_benchmark_prints_both_phases():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.finetune_bench", "--model", "vgg_mtt",
         "--batch-size", "2", "--steps", "1", "--mixed-on-cpu"],
        env=ENV, capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    figure = json.loads(proc.stdout[proc.stdout.index("{") :])["finetune_throughput"]
    assert figure["model"] == "vgg_mtt" and figure["batch_size"] == 2
    assert figure["device"] in ("CPU", "GPU")
    rates = figure["examples_per_second"]
    assert set(rates) == {"frozen", "unfrozen"} and min(rates.values()) > 0
    assert figure["unfrozen_over_frozen"] == pytest.approx(rates["unfrozen"] / rates["frozen"])
    mixed = figure["examples_per_second_mixed_float16"]  # measured on a GPU without the flag
    assert set(mixed) == {"frozen", "unfrozen"} and min(mixed.values()) > 0
