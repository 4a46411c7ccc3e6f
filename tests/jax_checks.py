"""tfgenre under the jax backend, in one fresh interpreter (``tests/test_jax_backend.py``).

Keras picks its backend when it is imported, so these checks need an interpreter
started with ``KERAS_BACKEND=jax``; one interpreter runs them all (each start imports
TensorFlow and jax, about 10-15 s of CPU here).

Usage: ``python tests/jax_checks.py OUT [--models a,b] [--records R] [--musicnn]``,
in a folder of its own (it writes the models there). ``OUT/results.json`` maps each
check to ``"ok"`` or its traceback; ``OUT/results.json["accuracy"]`` is the training
check's test accuracy; with ``--musicnn``, ``OUT/x.npy`` and ``OUT/wave.npy`` (inputs
the caller wrote) give ``OUT/taggram.npy`` and ``OUT/front.npy``.
"""

from __future__ import annotations

import argparse
import json
import traceback
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np


def check_models(names: list[str]) -> None:
    """Builds, fits a step, predicts, saves and reloads each model."""
    from tfgenre.models import InputSpec, get_model

    rng = np.random.default_rng(0)
    mel = InputSpec("mel", (32, 24, 1))
    cases = {
        "features_mlp": (InputSpec("features", (5,), mean=(1.0,) * 5, std=(2.0,) * 5), {}),
        "mel_cnn": (mel, {"input_size": 32}),
        "genre_resnet": (mel, {"width": 8}),
        "alexnet": (mel, {"weights": None, "input_size": 64, "dense_units": 16}),
        "mobilenet_v2": (mel, {"weights": None, "input_size": 32}),
    }
    for name in names:
        spec, options = cases[name]
        model = get_model(name, spec, 3, **options)
        x = rng.uniform(-80, 40, (4, *spec.shape)).astype("float32")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, np.array([0, 1, 2, 0]), batch_size=4, epochs=1, verbose=0)
        probs = model.predict(x, verbose=0)
        assert probs.dtype == np.float32 and probs.shape == (4, 3), (probs.dtype, probs.shape)
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5), probs
        model.save(f"{name}.keras")
        again = keras.saving.load_model(f"{name}.keras").predict(x, verbose=0)
        assert np.allclose(again, probs, atol=1e-5), name


def check_training(records: str, run_dir: str) -> float:
    """tfgenre's training loop (features_mlp, 2 epochs); returns the test accuracy."""
    from tfgenre.core import config
    from tfgenre.training.fit_config import FitConfig
    from tfgenre.training.loop import train

    cfg = dict(records=records, run_dir=run_dir, view="features", model="features_mlp",
               epochs=2, batch_size=16, early_stopping_patience=0)  # fmt: skip
    result = train(config.from_dict(FitConfig, cfg))
    return float(result.metrics["segment"]["accuracy"])


def check_musicnn(out: Path) -> None:
    """musicnn_msd's port and its front end on the caller's inputs."""
    from tfgenre.backbones import MusicnnFrontEnd, build_pretrained

    taggram = build_pretrained("musicnn_msd").predict(np.load(out / "x.npy"), verbose=0)
    np.save(out / "taggram.npy", np.asarray(taggram["taggram"]))
    np.save(out / "front.npy", np.asarray(MusicnnFrontEnd()(np.load(out / "wave.npy"))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", default="")
    parser.add_argument("--records")
    parser.add_argument("--musicnn", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {"backend": keras.backend.backend()}

    def attempt(name: str, check: Callable[[], object]) -> None:
        try:
            value = check()
        except Exception:  # reported to the test that reads this check
            results[name] = traceback.format_exc()
        else:
            results[name] = "ok"
            if value is not None:
                results["accuracy"] = value

    if args.models:
        attempt("models", lambda: check_models(args.models.split(",")))
    if args.records:
        attempt("training", lambda: check_training(args.records, str(args.out / "run")))
    if args.musicnn:
        attempt("musicnn", lambda: check_musicnn(args.out))
    (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
