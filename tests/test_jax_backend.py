"""tfgenre under the jax backend: the models, the training loop and the musicnn port.

Keras picks its backend when it is imported, so the checks run in a fresh interpreter
started with ``KERAS_BACKEND=jax`` (``jax_checks.py``), one for the module: each test
reads its own check's result, and the port's outputs are compared here, under
TensorFlow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import TINY_RUNS_RECORDS
from skips import needs_jax, needs_musicnn

ROOT = Path(__file__).resolve().parents[1]
HAS_MUSICNN = importlib.util.find_spec("musicnn") is not None
#: The parity bound of the musicnn port (max abs difference), as in test_musicnn_parity.
TOLERANCE = 1e-4

pytestmark = needs_jax


def run_jax_checks(out: Path, *args: str) -> dict:
    """``jax_checks.py OUT args`` in a fresh interpreter with KERAS_BACKEND=jax."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "jax_checks.py"), str(out), *args],
        cwd=out, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    assert results["backend"] == "jax", results
    return results


def _musicnn_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Two random log-mel patches and 6.5 s of a tone with noise at 16 kHz."""
    from musicnn_graph import tone_and_noise

    from tfgenre.backbones.frontend import N_MELS

    x = np.random.default_rng(2).uniform(0, 5, (2, 187, N_MELS)).astype(np.float32)
    return x, tone_and_noise()[None, :]


@pytest.fixture(scope="module")
def checked(tmp_path_factory, synthetic_records) -> tuple[Path, dict]:
    """One jax interpreter: two models, the training loop, and (with the weights) musicnn."""
    out = tmp_path_factory.mktemp("jax")
    args = ["--models", "features_mlp,mel_cnn",
            "--records", str(synthetic_records(TINY_RUNS_RECORDS).records)]  # fmt: skip
    if HAS_MUSICNN:
        x, wave = _musicnn_inputs()
        np.save(out / "x.npy", x)
        np.save(out / "wave.npy", wave)
        args.append("--musicnn")
    return out, run_jax_checks(out, *args)


def test_models_build_fit_save_and_reload_under_jax(checked) -> None:
    out, results = checked
    assert results["models"] == "ok", results["models"]
    assert (out / "mel_cnn.keras").is_file()


def test_training_loop_runs_under_jax(checked) -> None:
    out, results = checked
    assert results["training"] == "ok", results["training"]
    assert 0.0 <= results["accuracy"] <= 1.0
    assert (out / "run" / "model.keras").is_file()
    assert (out / "run" / "report" / "metrics.json").is_file()


@needs_musicnn
def test_musicnn_port_under_jax_equals_tensorflow(checked) -> None:
    from tfgenre.backbones import MusicnnFrontEnd, build_pretrained

    out, results = checked
    assert results["musicnn"] == "ok", results["musicnn"]
    x, wave = _musicnn_inputs()
    tf_out = build_pretrained("musicnn_msd").predict(x, verbose=0)["taggram"]
    assert np.max(np.abs(np.load(out / "taggram.npy") - tf_out)) <= TOLERANCE
    front = np.asarray(MusicnnFrontEnd()(wave))
    assert np.max(np.abs(np.load(out / "front.npy") - front)) <= TOLERANCE


@pytest.mark.slow
def test_more_models_under_jax(tmp_path: Path) -> None:
    """The ImageNet front end (resize, 0..255, RGB, preprocess_input) and BatchNorm models."""
    results = run_jax_checks(tmp_path, "--models", "genre_resnet,alexnet,mobilenet_v2")
    assert results["models"] == "ok", results["models"]
