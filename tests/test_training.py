"""fit/evaluate end to end on records written at test time from the synthetic source."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import spawn
from builders import RecordsSpec

from tfgenre.core import config
from tfgenre.errors import RecordsError
from tfgenre.training.fit_config import FitConfig
from tfgenre.training.loop import train

ROOT = Path(__file__).resolve().parents[1]


#: 4 genres x 12 clips of 6 s, 2-s windows, raw (4000 samples), mel (64) and features
#: views, splits 0.6/0.2/0.2, 2 shards.
TRAINING_RECORDS = RecordsSpec(
    num_genres=4, clips_per_genre=12, clip_seconds=6.0, views=("raw", "mel", "features"),
    window_seconds=2.0, raw_max_samples=4000, n_mels=64, shards=2)


@pytest.fixture(scope="module")
def records(synthetic_records) -> Path:
    """The ``TRAINING_RECORDS`` folder."""
    return synthetic_records(TRAINING_RECORDS).records


def _fit(records: Path, run_dir: Path, **kw) -> FitConfig:
    data = {
        "records": str(records),
        "run_dir": str(run_dir),
        "view": "mel",
        "model": "genre_resnet",
        "epochs": 1,
        "batch_size": 16,
        "early_stopping_patience": 0,
        **kw,
    }
    return config.from_dict(FitConfig, data)


def test_short_fit_learns_synthetic_genres(records, tmp_path):
    cfg = _fit(records, tmp_path / "run", epochs=10, optimizer={"learning_rate": 3e-3},
               schedule={"name": "cosine"}, early_stopping_patience=0)
    result = train(cfg)
    m = json.loads((tmp_path / "run" / "report" / "metrics.json").read_text())
    assert set(m) >= {"segment", "track", "track_vote"}
    for level in ("segment", "track"):
        assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(m[level])
    # 4 genres: chance is 0.25.
    assert m["track"]["accuracy"] >= 0.6, m["track"]
    assert result.metrics["segment"]["accuracy"] == m["segment"]["accuracy"]
    for name in ("config.yaml", "run.json", "model.keras", "history.csv",
                 "checkpoints/best.keras", "report/report.md", "report/training_curves.png",
                 "report/confusion_matrix_track.png"):
        assert (tmp_path / "run" / name).exists(), name
    assert list((tmp_path / "run" / "tb").rglob("events.out.tfevents*"))


def test_report_equals_sklearn_on_same_predictions(records, tmp_path):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    from tfgenre.evaluation.predictions import evaluate_run, predict_split

    train(_fit(records, tmp_path / "run"), evaluate=False)
    probs, labels, track_ids, names = predict_split(str(tmp_path / "run"), "test")
    metrics = evaluate_run(str(tmp_path / "run"), "test")
    pred = probs.argmax(1)
    assert metrics["segment"]["accuracy"] == pytest.approx(accuracy_score(labels, pred))
    assert metrics["segment"]["macro_f1"] == pytest.approx(
        f1_score(labels, pred, average="macro", labels=range(len(names)), zero_division=0)
    )
    assert metrics["segment"]["confusion_matrix"] == confusion_matrix(
        labels, pred, labels=range(len(names))
    ).tolist()
    tracks = sorted(set(track_ids))
    tp = [probs[track_ids == t].mean(0).argmax() for t in tracks]
    tl = [labels[track_ids == t][0] for t in tracks]
    assert metrics["track"]["accuracy"] == pytest.approx(accuracy_score(tl, tp))


def test_evaluation_order_matches_index(records):
    from tfgenre.records.info import RecordsInfo
    from tfgenre.tfdata.records_dataset import records_dataset, split_index

    m = RecordsInfo.load(str(records))
    index = split_index(m, "mel", "validation")
    assert len(index.label) == m.split("validation").num_examples
    ds = records_dataset(m, "mel", "validation", batch_size=7, training=False)
    labels = np.concatenate([y.argmax(1) for _, y in ds.as_numpy_iterator()])
    np.testing.assert_array_equal(labels, index.label)


@pytest.mark.parametrize(
    "view,model,options",
    [("features", "features_mlp", {}), ("raw", "raw_conv1d", {})],
)
def test_other_views_train(records, tmp_path, view, model, options):
    cfg = _fit(records, tmp_path / "run", view=view, model=model, model_options=options,
               optimizer={"name": "sgd", "momentum": 0.9, "nesterov": True, "l2": 1e-4},
               schedule={"name": "triangular2", "options": {"base_lr": 1e-5}},
               class_weights="balanced", label_smoothing=0.1)
    result = train(cfg)
    assert "segment" in result.metrics
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["view"] == view and info["labels"]


def test_augmentation_and_seeded_repeatability(records, tmp_path):
    aug = {"time_masks": 2, "freq_masks": 2, "mixup_alpha": 0.2, "noise_std": 0.5,
           "gain_db": 3.0}
    a = train(_fit(records, tmp_path / "a", augment=aug, seed=7), evaluate=False)
    b = train(_fit(records, tmp_path / "b", augment=aug, seed=7), evaluate=False)
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-5)


def test_features_csv_training(tmp_path, records):
    result = train(config.from_dict(FitConfig, {
        "features_csv": str(records / "features.csv"), "view": "features",
        "model": "features_mlp", "run_dir": str(tmp_path / "run"), "epochs": 20,
        "batch_size": 16, "early_stopping_patience": 0,
    }))
    # tfgenre's own features.csv carries its split column, so the split is reused.
    assert json.loads((tmp_path / "run" / "run.json").read_text())["split_policy"] == {
        "kind": "csv_column"
    }
    assert result.metrics["track"]["accuracy"] > 0.5


def test_corrupt_shard_named_and_skip_corrupt(records, tmp_path):
    import shutil

    copy = tmp_path / "rec"
    shutil.copytree(records, copy)
    shard = sorted((copy / "mel").glob("train.*"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, bad CRC
    shard.write_bytes(bytes(data))
    with pytest.raises(RecordsError, match=shard.name):
        train(_fit(copy, tmp_path / "run1"))
    with pytest.raises(RecordsError, match="sha256"):
        train(_fit(copy, tmp_path / "run2", verify=True))
    result = train(_fit(copy, tmp_path / "run3", skip_corrupt=True))
    assert result.metrics["skipped_corrupt"]
    [(name, lost)] = result.metrics["skipped_corrupt"].items()
    assert name.endswith(shard.name) and lost > 0


def test_killed_fit_resumes(records, tmp_path):
    run = tmp_path / "run"
    code = (
        "import sys, keras\n"
        "from tfgenre.core import config\n"
        "from tfgenre.training.fit_config import FitConfig\n"
        "from tfgenre.training.loop import train\n"
        "class Stop(keras.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch, logs=None):\n"
        "        if epoch == 1: import os; os._exit(9)\n"
        "import tfgenre.training.callbacks as cb\n"
        "orig = cb.standard_callbacks\n"
        "cb.standard_callbacks = lambda *a, **k: orig(*a, **k) + [Stop()]\n"
        f"train(config.from_dict(FitConfig, dict(records={str(records)!r}, "
        f"run_dir={str(run)!r}, view='features', model='features_mlp', epochs=4, "
        "batch_size=16, early_stopping_patience=0)))\n"
    )
    proc = spawn.run([sys.executable, "-c", code], timeout=600)
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert not (run / "model.keras").exists()
    result = train(config.from_dict(FitConfig, dict(
        records=str(records), run_dir=str(run), view="features", model="features_mlp",
        epochs=4, batch_size=16, early_stopping_patience=0)))
    # Epochs 0-1 ran before the kill; the rerun only runs epochs 2-3.
    assert len(result.history["loss"]) == 2
    assert (run / "model.keras").exists()


def test_cli_fit_and_evaluate(records, tmp_path, capsys):
    from tfgenre.evaluate import main as evaluate_main
    from tfgenre.fit import main as fit_main

    run = tmp_path / "run"
    assert fit_main(["--records", str(records), "--view", "features", "--model",
                     "features_mlp", "--run-dir", str(run), "--epochs", "2",
                     "--batch-size", "8", "--strategy", "default", "--seed", "1"]) == 0
    assert "track" in capsys.readouterr().out
    assert evaluate_main(["--run-dir", str(run), "--split", "validation"]) == 0
    assert (run / "report_validation" / "metrics.json").exists()
    assert fit_main(["--records", str(records), "--model", "nope", "--run-dir",
                     str(tmp_path / "x")]) == 2
    assert fit_main(["--list-models"]) == 0
    assert "mel_cnn" in capsys.readouterr().out


@pytest.mark.slow
def test_every_model_one_step_on_records_and_round_trip(records, tmp_path):
    import keras

    from tfgenre.models.registry import InputSpec, get_entry, get_model, known_models
    from tfgenre.records.info import RecordsInfo
    from tfgenre.tfdata.records_dataset import records_dataset

    m = RecordsInfo.load(str(records))
    from tfgenre.models.musicnn_transfer import MODEL_NAMES as MUSIC_BACKBONES

    for name in known_models():
        if name in MUSIC_BACKBONES:  # 16-kHz windows: tests/test_musicnn_transfer.py
            continue
        view = get_entry(name).views[0]
        entry = m.view(view)
        spec = InputSpec(view, entry.shape, entry.mean, entry.std)
        # 64: the smallest side every backbone takes (alexnet needs >= 63)
        opts = {"input_size": 64} if "input_size" in get_entry(name).options else {}
        if "weights" in get_entry(name).options:
            opts["weights"] = None
        model = get_model(name, spec, len(m.labels), **opts)
        model.compile("adam", "categorical_crossentropy")
        ds = records_dataset(m, view, "train", batch_size=4, training=True).take(1)
        model.fit(ds, epochs=1, verbose=0)
        x = next(iter(ds))[0]
        path = tmp_path / f"{name}.keras"
        model.save(path)
        again = keras.saving.load_model(path)
        np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0),
                                   atol=1e-5, err_msg=name)


# The training loop under the jax backend: tests/test_jax_backend.py.
