"""fit and evaluate as a user runs them: fresh processes, reruns, odd splits and inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import spawn
import yaml
from builders import RecordsSpec
from tables import write_gtzan_feature_table

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.training.fit_config import FitConfig
from tfgenre.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
GENRES = ("blues", "jazz", "rock")


def _records_spec(**splits: float) -> RecordsSpec:
    """3 genres x 4 clips of 2 s, 1-s windows, mel (32 bands) and features views, 1 shard."""
    return RecordsSpec(num_genres=3, clips_per_genre=4, clip_seconds=2.0,
                       views=("mel", "features"), window_seconds=1.0, n_mels=32,
                       splits=tuple(splits.items()), shards=1)


@pytest.fixture(scope="module")
def records(synthetic_records) -> Path:
    """``_records_spec`` with splits 0.5/0.25/0.25."""
    return synthetic_records(_records_spec(train=0.5, validation=0.25, test=0.25)).records


def write_table(path: Path, *, tracks: int = 8, drop: str = "", cell: tuple = ()) -> Path:
    """A learnable table in the GTZAN layout with all 57 features (or one dropped).

    ``cell=(row, column, text)`` writes ``text`` into one cell (row 1 is file line 2).
    """
    from tfgenre.views.features import FEATURE_NAMES

    names = [n for n in FEATURE_NAMES if n != drop]
    write_gtzan_feature_table(path, classes=GENRES, tracks_per_class=tracks, features=names,
                              spread=3.0, decimals=5)
    if cell:
        row, column, text = cell
        lines = path.read_text().splitlines()
        values = lines[row].split(",")
        values[lines[0].split(",").index(column)] = text
        lines[row] = ",".join(values)
        path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    return write_table(tmp_path_factory.mktemp("csv") / "features_30_sec.csv")


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return spawn.run([sys.executable, "-m", f"tfgenre.{module}", *map(str, args)],
                     env=ENV, cwd=ROOT, timeout=600)


def _csv_fit(table: Path, run: Path, **kw) -> FitConfig:
    data = {"features_csv": str(table), "view": "features", "model": "features_mlp",
            "run_dir": str(run), "epochs": 1, "batch_size": 8, "early_stopping_patience": 0,
            **kw}
    return config.from_dict(FitConfig, data)


def test_evaluate_in_a_fresh_process_loads_mel_and_features_models(records, table, tmp_path):
    runs = {
        "mel": ["--records", records, "--view", "mel", "--model", "mel_cnn",
                "--set", "model_options.input_size=32"],
        "features": ["--features-csv", table, "--model", "features_mlp"],
    }
    for name, args in runs.items():
        run = tmp_path / name
        fit = _cli("fit", *args, "--run-dir", run, "--epochs", "1", "--batch-size", "8",
                   "--no-evaluate")
        assert fit.returncode == 0, fit.stderr[-3000:]
        proc = _cli("evaluate", "--run-dir", run, "--split", "test")
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics = json.loads((run / "report" / "metrics.json").read_text())
        assert metrics["split"] == "test"
        for level in ("segment", "track", "track_vote"):
            assert 0.0 <= metrics[level]["accuracy"] <= 1.0


def test_empty_test_split_is_evaluated_on_validation_features_csv(table, tmp_path):
    run = tmp_path / "run"
    proc = _cli("fit", "--features-csv", table, "--model", "features_mlp", "--run-dir", run,
                "--splits", "train=0.85,validation=0.15,test=0", "--epochs", "1",
                "--batch-size", "8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "evaluated on 'validation'" in proc.stderr + proc.stdout
    assert "validation accuracy" in proc.stdout
    metrics = json.loads((run / "report_validation" / "metrics.json").read_text())
    assert metrics["split"] == "validation" and "'test' is empty" in metrics["note"]
    assert not (run / "report").exists()


def test_empty_test_split_records_and_nothing_to_evaluate(tmp_path, table, synthetic_records):
    records = synthetic_records(_records_spec(train=0.5, validation=0.5)).records
    cfg = config.from_dict(FitConfig, {
        "records": str(records), "view": "features", "model": "features_mlp",
        "run_dir": str(tmp_path / "run"), "epochs": 1, "batch_size": 8,
        "early_stopping_patience": 0})
    result = train(cfg)
    assert result.metrics["split"] == "validation"
    saved = json.loads((tmp_path / "run" / "report_validation" / "metrics.json").read_text())
    assert saved["split"] == "validation" and saved["note"]
    # No split to evaluate at all: refused before anything is written.
    only_train = _csv_fit(table, tmp_path / "none", splits={"train": 1.0})
    with pytest.raises(ConfigError, match="no 'validation' split to evaluate on"):
        train(only_train)
    assert not (tmp_path / "none").exists()
    train(only_train, evaluate=False)  # --no-evaluate is fine
    assert (tmp_path / "none" / "model.keras").exists()


def test_rerun_into_a_run_folder(records, table, tmp_path, capsys):
    from tfgenre.fit import main as fit_main

    run = tmp_path / "run"
    train(_csv_fit(table, run), evaluate=False)
    saved = (run / "config.yaml").read_text()
    model_bytes = (run / "model.keras").read_bytes()
    with pytest.raises(ConfigError, match="already holds a finished run"):
        train(_csv_fit(table, run))
    # Another model: refused before config.yaml is rewritten, naming the keys.
    with pytest.raises(ConfigError, match=r"differs in: .*model, .*view"):
        train(_csv_fit(table, run, features_csv="", records=str(records), view="mel",
                       model="mel_cnn"))
    assert (run / "config.yaml").read_text() == saved
    assert (run / "model.keras").read_bytes() == model_bytes
    # --overwrite with a file fit did not write: refused, listed, nothing removed.
    (run / "notes.txt").write_text("mine")
    args = ["--features-csv", str(table), "--model", "features_mlp", "--run-dir", str(run),
            "--epochs", "1", "--batch-size", "8", "--no-evaluate", "--overwrite"]
    assert fit_main(args) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (run / "model.keras").exists() and (run / "notes.txt").exists()
    (run / "notes.txt").unlink()
    assert fit_main([*args, "--epochs", "2"]) == 0
    rows = (run / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # the header and this run's epochs, nothing of the first run
    assert yaml.safe_load((run / "config.yaml").read_text())["fit"]["epochs"] == 2
    # An unfinished run of another config is refused too (no raw Keras error on resume).
    (run / "model.keras").unlink()
    with pytest.raises(ConfigError, match="unfinished run of another config"):
        train(_csv_fit(table, run, epochs=3))
    # Run outputs that tfgenre cannot prove it wrote are never replaced.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.keras").write_text("someone's model")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="no config.yaml of a tfgenre fit"):
            train(_csv_fit(table, foreign), overwrite=overwrite)
    assert (foreign / "model.keras").read_text() == "someone's model"


def test_run_dir_that_is_a_file_or_under_one(table, tmp_path, capsys):
    from tfgenre.fit import main as fit_main

    afile = tmp_path / "afile"
    afile.write_text("x")
    for run_dir, message in ((afile, "is a file, not a folder"),
                             (afile / "run", "cannot be created")):
        code = fit_main(["--features-csv", str(table), "--model", "features_mlp",
                         "--run-dir", str(run_dir), "--epochs", "1"])
        assert code == 2
        assert message in capsys.readouterr().err
    assert afile.read_text() == "x"


def test_skip_corrupt_does_not_warn_about_running_out_of_data(records, tmp_path):
    import shutil

    copy = tmp_path / "rec"
    shutil.copytree(records, copy)
    shard = sorted((copy / "features").glob("train.*"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    cfg = config.from_dict(FitConfig, {
        "records": str(copy), "view": "features", "model": "features_mlp",
        "run_dir": str(tmp_path / "run"), "epochs": 2, "batch_size": 4,
        "early_stopping_patience": 0, "skip_corrupt": True})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(cfg)
    assert result.metrics["skipped_corrupt"]
    assert not [w for w in caught if "ran out of data" in str(w.message)]


@pytest.mark.parametrize(
    "kw,expected",
    [
        ({"cell": (3, "tempo", "fast")}, ["line 4", "column 'tempo'", "'fast'"]),
        ({"drop": "tempo"}, ["lacks feature column(s) tempo", "56 of the 57"]),
    ],
)
def test_bad_features_csv_is_refused_before_training(tmp_path, kw, expected):
    bad = write_table(tmp_path / "bad.csv", **kw)
    proc = _cli("fit", "--features-csv", bad, "--model", "features_mlp",
                "--run-dir", tmp_path / "run", "--epochs", "1")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "run").exists()


def test_empty_or_infinite_cells_are_named(tmp_path):
    from tfgenre.views.feature_table import load_feature_table

    for text, what in (("", "empty or NaN"), ("nan", "empty or NaN"), ("inf", "'inf'")):
        bad = write_table(tmp_path / "bad.csv", cell=(5, "rms_mean", text))
        with pytest.raises(ConfigError, match=f"line 6, column 'rms_mean': the value is {what}"):
            load_feature_table(str(bad))


def test_bad_names_are_refused_before_the_run_folder_is_made(table, tmp_path):
    for kw, message in (({"schedule": {"name": "cosin"}}, "schedule.name='cosin' is unknown"),
                        ({"model": "mel_cnn"}, "model 'mel_cnn' takes view 'mel'"),
                        ({"model": "nope"}, "unknown model 'nope'")):
        with pytest.raises(ConfigError, match=message):
            train(_csv_fit(table, tmp_path / "run", **kw))
        assert not (tmp_path / "run").exists()
