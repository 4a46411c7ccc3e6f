"""``python -m tfgenre.run pipelines/gtzan_pretrained.yaml`` as a user runs it, shrunk.

The pipeline's own YAML, with ``--set`` overrides only for the data (the synthetic
source instead of GTZAN: 2 genres x 4 clips of 4 s, fractions instead of the
fault-filtered lists), the epochs and the baselines' models; every stage
(write_records, baselines, fit x 2, evaluate x 2, compare, export) runs in one
``tfgenre.run`` process, and the exported waveform model is loaded in another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import spawn
import yaml
from skips import needs_musicnn

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "gtzan_pretrained.yaml"
TRACEBACK = "Traceback (most recent call last)"
SHRINK = (
    "write_records.source=synthetic",
    "write_records.input=audio",
    "write_records.source_options={num_genres: 2, clips_per_genre: 4, clip_seconds: 4.0, "
    "seed: 0}",
    "write_records.splits={train: 0.5, validation: 0.25, test: 0.25}",
    "write_records.shards=1",
    "write_records.workers=1",
    "baselines.models=[logistic_regression]",
    "fit.epochs=2",
)


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _run(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    proc = spawn.run([sys.executable, *argv], cwd=cwd, env=_env(), timeout=1500)
    said = f"$ python {' '.join(argv)[:300]}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, said
    assert TRACEBACK not in proc.stdout + proc.stderr, said
    return proc


def test_the_pipeline_keeps_the_recipe_and_the_fault_filtered_split():
    data = yaml.safe_load(PIPELINE.read_text())
    stages = [k for k in data if k not in ("name", "description")]
    assert stages == ["write_records", "baselines", "fit", "evaluate", "compare", "export"]
    writer = data["write_records"]
    assert writer["source"] == "gtzan" and writer["source_options"]["split"] == "fault_filtered"
    assert writer["audio"]["window_seconds"] == 0 and "embeddings" in writer["views"]
    assert "embeddings" not in writer  # the view's defaults are the recipe
    assert [f["view"] for f in data["fit"]] == ["embeddings", "features"]
    assert data["fit"][0]["model"] == "linear"
    assert data["export"]["run_dir"] == data["fit"][0]["run_dir"]
    readme = (ROOT / "README.md").read_text()
    assert "pipelines/gtzan_pretrained.yaml" in readme and "0.77-0.79" in readme


@needs_musicnn
def test_gtzan_pretrained_runs_every_stage(tmp_path):
    sets = [a for s in SHRINK for a in ("--set", s)]
    out = _run(tmp_path, "-m", "tfgenre.run", str(PIPELINE), *sets).stdout
    assert "[write_records] records/gtzan_pretrained" in out
    assert "| logistic_regression |" in out  # the probe
    assert "[evaluate] runs/gtzan_pretrained_linear (test)" in out
    assert "[evaluate] runs/gtzan_pretrained_features (test)" in out
    assert "[compare] runs/gtzan_pretrained_linear, runs/gtzan_pretrained_features" in out
    assert "[export] savedmodel" in out and "[export] tflite" in out
    assert out.count("input 'waveform'") == 2
    info = json.loads((tmp_path / "records" / "gtzan_pretrained" / "manifest.json").read_text())
    assert "embeddings" in json.dumps(info) and "vgg_msd" in json.dumps(info)
    for run in ("gtzan_pretrained_linear", "gtzan_pretrained_features"):
        assert (tmp_path / "runs" / run / "report" / "metrics.json").exists()
    assert (tmp_path / "runs" / "gtzan_pretrained_compare" / "compare.md").exists()
    export = tmp_path / "runs" / "gtzan_pretrained_linear" / "export"
    assert (export / "model.tflite").exists()
    meta = json.loads((export / "savedmodel" / "assets.extra" / "tfgenre.json").read_text())
    assert meta["sample_rate"] == 16000
    assert [b["name"] for b in meta["backbones"]] == ["musicnn_msd", "vgg_msd"]
    # the exported model runs in a fresh process on a 16-kHz waveform
    probe = (
        "import sys, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "p = m(waveform=tf.constant(np.zeros(16000 * 4, np.float32)))['probabilities']\n"
        "print(p.shape[0], round(float(np.sum(p)), 4))\n"
    )
    said = _run(tmp_path, "-c", probe, str(export / "savedmodel")).stdout.split()
    assert said == ["2", "1.0"]


def test_compare_and_export_sections_are_checked_before_any_work(tmp_path):
    cases = {
        "export.formats=[onnx]": "export.formats=['onnx'] must list some of savedmodel",
        "export.input=rows": "export.input='rows' must be 'waveform' or 'embeddings'",
        "compare.runs=[runs/a]": "compare.runs=['runs/a'] must list two or more run folders",
        "compare.resample=10": "compare",
    }
    for override, expected in cases.items():
        proc = spawn.run(
            [sys.executable, "-m", "tfgenre.run", str(PIPELINE), "--dry-run", "--set", override],
            cwd=tmp_path, env=_env(), timeout=300,
        )  # fmt: skip
        assert proc.returncode == 2, (override, proc.stderr[-2000:])
        assert expected in proc.stderr and "(nothing was run)" in proc.stderr, proc.stderr
        assert TRACEBACK not in proc.stderr
    assert not any(tmp_path.iterdir())
