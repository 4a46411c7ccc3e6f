"""The files tfgenre writes for itself, read back as types: metrics.json, unit states, trial.json.

Each type's ``to_json(from_json(x)) == x`` on a file the real code path wrote (and the
file's bytes come back), and a bad file is refused naming the file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from synth import make_gtzan

from tfgenre.errors import DamagedFileError, RecordsError
from tfgenre.evaluation.metrics import evaluate_predictions
from tfgenre.evaluation.metrics_file import MetricsFile
from tfgenre.evaluation.report import write_report

CLASSES = ["blues", "jazz", "rock"]


def _predictions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    track_label = rng.integers(0, 3, 12)
    labels = np.repeat(track_label, 4)
    probs = rng.dirichlet(np.ones(3), size=48)
    probs[np.arange(48) % 3 == 0, labels[np.arange(48) % 3 == 0]] += 1.0
    return probs, labels, np.repeat([f"t{i:02d}" for i in range(12)], 4)


def _written_metrics(tmp_path: Path) -> Path:
    probs, labels, ids = _predictions()
    metrics = evaluate_predictions(probs, labels, ids, CLASSES)
    context = {
        "split": "test",
        "model": "genre_resnet",
        "view": "mel",
        "skipped_corrupt": {},
        "protocol": {"name": "gtzan_fault_filtered", "dataset": "gtzan"},
        "excluded_tracks": 0,
        "note": "a note",
        "training": {"summary": "trained 3 epochs"},
    }
    write_report({**metrics, **context}, tmp_path, predictions=(probs, labels, ids))
    return tmp_path / "metrics.json"


def test_metrics_json_round_trips_byte_for_byte(tmp_path: Path) -> None:
    path = _written_metrics(tmp_path)
    text = path.read_text()
    typed = MetricsFile.load(str(path))
    assert typed.to_json() == json.loads(text)
    assert json.dumps(typed.to_json(), indent=2) + "\n" == text
    assert list(typed.levels) == ["segment", "track", "track_vote"]
    assert typed.level("track").class_names == CLASSES
    assert typed.split == "test" and typed.anchor_comparability is not None
    assert MetricsFile.from_json(typed.to_json()) == typed


def test_metrics_json_keeps_unknown_keys_and_older_levels(tmp_path: Path) -> None:
    data = json.loads(_written_metrics(tmp_path).read_text())
    for key in ("macro_labels", "absent_labels", "accuracy_ci", "macro_f1_ci", "ci"):
        del data["segment"][key]  # as an older version wrote it
    data["from_a_newer_version"] = {"x": 1}
    data["protocol"] = 3
    assert MetricsFile.from_json(data).to_json() == data


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["track"].update(accuracy="high"), "'track.accuracy' must be a number"),
        (lambda d: d["segment"]["per_class"]["jazz"].pop("support"), "'segment.per_class.jazz"),
        (lambda d: d["track"].update(accuracy_ci=[0.1]), "'track.accuracy_ci' must be"),
        (lambda d: d.update(note=7), "'note' must be a string"),
        (lambda d: d["track_vote"].update(confusion_matrix=[[0.5]]), "'track_vote.confusion"),
    ],
)
def test_a_bad_metrics_json_names_the_file_and_the_key(tmp_path: Path, edit, key) -> None:
    path = _written_metrics(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DamagedFileError, match="metrics.json") as err:
        MetricsFile.load(str(path))
    assert key in str(err.value)


def test_a_metrics_json_without_levels_or_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text('{"split": "test"}')
    with pytest.raises(DamagedFileError, match="no metric level"):
        MetricsFile.load(str(path))
    path.write_text("{not json")
    with pytest.raises(DamagedFileError, match="not valid JSON"):
        MetricsFile.load(str(path))


def _small_records_config(tmp_path: Path) -> Any:
    from tfgenre.core import config
    from tfgenre.records.writer_config import WriterConfig

    root = tmp_path / "genres"
    make_gtzan(str(root), genres=("blues", "jazz"), per_genre=2, seconds=1.2)
    out = tmp_path / "records"
    cfg = {
        "source": "gtzan",
        "input": str(root),
        "output": str(out),
        "views": ("raw", "features"),
        "audio": {"window_seconds": 0.5},
        "shards": 1,
        "workers": 1,
        "splits": {"train": 0.5, "validation": 0.25, "test": 0.25},
    }
    return config.from_dict(WriterConfig, cfg)


def test_unit_state_round_trips_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    from tfgenre.records.unit_state import UnitState
    from tfgenre.records.writer import write_records

    cfg = _small_records_config(tmp_path)
    write_records(cfg)
    out = Path(cfg.output)
    paths = sorted(p for p in (out / ".state").glob("*.json") if p.name != "config.json")
    assert paths
    for path in paths:
        text = path.read_text()
        state = UnitState.load(str(path))
        assert state.to_json() == json.loads(text)
        assert json.dumps(state.to_json(), sort_keys=True) == text
        assert state.unit == path.stem and {s.view for s in state.shards} == {"raw", "features"}
    assert any(s.feature_rows for s in map(UnitState.load, map(str, paths)))

    data = json.loads(paths[0].read_text())
    data["tracks"][0]["segments"] = "two"
    paths[0].write_text(json.dumps(data))
    with pytest.raises(RecordsError, match=r"tracks\[0\]\.segments' must be an integer") as err:
        UnitState.load(str(paths[0]))
    assert str(paths[0]) in str(err.value)
    with pytest.raises(RecordsError, match="must be an integer"):  # a rerun reads it too
        write_records(cfg)


def test_trial_record_round_trips_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    from tfgenre.search.objectives import Objective
    from tfgenre.search.trials import RECORD, TrialRecord, TrialResult, TrialRunner

    objectives = [
        Objective("val_accuracy", "maximize", "metric"),
        Objective("params", "minimize", "measured"),
    ]
    runner = TrialRunner({}, None, objectives, run_dir=str(tmp_path))  # no space needed here
    result = TrialResult((0.75, 1234.0), {"loss": [1.0]}, str(tmp_path), 12.34567, 3)
    runner._write_record({"learning_rate": 0.001, "model": "genre_resnet"}, result)
    text = (tmp_path / RECORD).read_text()
    record = runner.read_record(str(tmp_path))
    assert record == TrialRecord(
        {"learning_rate": 0.001, "model": "genre_resnet"},
        {"val_accuracy": 0.75, "params": 1234.0},
        12.346,
        3,
    )
    assert record.to_json() == json.loads(text)
    assert json.dumps(record.to_json(), indent=2) == text
    assert TrialRunner.read_record(str(tmp_path / "none")) is None

    (tmp_path / RECORD).write_text(text.replace('"epochs": 3', '"epochs": "3"'))
    with pytest.raises(DamagedFileError, match=r"trial\.json: key 'epochs' must be an integer"):
        runner.read_record(str(tmp_path))


def test_worker_record_round_trips() -> None:
    from tfgenre.errors import ConfigError
    from tfgenre.search.dead_trials import WorkerRecord, this_process

    attr = this_process()
    worker = WorkerRecord.from_json(attr, "trial 0's worker attribute")
    assert worker.to_json() == attr and worker.alive()
    with pytest.raises(ConfigError, match="trial 0's worker attribute: key 'pid'"):
        WorkerRecord.from_json({**attr, "pid": "7"}, "trial 0's worker attribute")
