"""Tests for tfgenre.evaluation: metrics match sklearn, track aggregation, report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from tfgenre.core.stats import BootstrapSettings
from tfgenre.errors import ConfigError
from tfgenre.evaluation.metrics import aggregate_tracks, evaluate_predictions
from tfgenre.evaluation.report import write_report
from tfgenre.evaluation.tracks_csv import read_track_predictions

CLASSES = ["blues", "jazz", "metal", "pop"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_predictions(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_tracks, per_track = 24, 5
    track_labels = rng.integers(0, len(CLASSES), n_tracks)
    labels = np.repeat(track_labels, per_track)
    track_ids = np.repeat([f"t{i:03d}".encode() for i in range(n_tracks)], per_track)
    logits = rng.normal(size=(len(labels), len(CLASSES)))
    logits[np.arange(len(labels)), labels] += 1.0  # better than chance, not perfect
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    order = rng.permutation(len(labels))  # segments of a track need not be adjacent
    return probs[order], labels[order], track_ids[order]


def assert_matches_sklearn(got: dict, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    labels = list(range(len(CLASSES)))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    for key, average in (("macro_f1", "macro"), ("weighted_f1", "weighted")):
        expected = skm.f1_score(y_true, y_pred, labels=labels, average=average, zero_division=0)
        assert got[key] == pytest.approx(expected)
    assert got["macro_precision"] == pytest.approx(
        skm.precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )
    assert got["macro_recall"] == pytest.approx(
        skm.recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, name in enumerate(CLASSES):
        assert got["per_class"][name] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
        )
    assert got["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert got["num_examples"] == len(y_true)


def test_segment_and_track_metrics_equal_sklearn() -> None:
    probs, labels, track_ids = make_predictions()
    metrics = evaluate_predictions(probs, labels, track_ids, CLASSES)
    assert set(metrics) == {"segment", "track", "track_vote"}
    assert_matches_sklearn(metrics["segment"], labels, probs.argmax(axis=1))

    # Track level computed independently with a plain loop.
    tracks = sorted(set(track_ids.tolist()))
    y_true, y_mean, y_vote = [], [], []
    for track in tracks:
        mask = track_ids == track
        y_true.append(labels[mask][0])
        mean = probs[mask].mean(axis=0)
        y_mean.append(mean.argmax())
        votes = np.bincount(probs[mask].argmax(axis=1), minlength=len(CLASSES))
        tied = np.flatnonzero(votes == votes.max())
        y_vote.append(tied[np.argmax(mean[tied])])
    assert_matches_sklearn(metrics["track"], np.array(y_true), np.array(y_mean))
    assert_matches_sklearn(metrics["track_vote"], np.array(y_true), np.array(y_vote))
    assert metrics["track"]["num_examples"] == len(tracks)


def test_metrics_are_plain_python_and_json_safe() -> None:
    metrics = evaluate_predictions(*make_predictions(), CLASSES)

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert type(key) is str
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            assert type(value) in (int, float, str), type(value)

    walk(metrics)
    assert json.loads(json.dumps(metrics)) == metrics


def test_vote_and_mean_differ() -> None:
    # One track, three segments: two weakly say class 1, one strongly says class 0.
    probs = np.array([[0.40, 0.60, 0.0, 0.0], [0.40, 0.60, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    labels = np.zeros(3, dtype=int)
    metrics = evaluate_predictions(probs, labels, ["a", "a", "a"], CLASSES)
    assert metrics["track"]["accuracy"] == 1.0  # mean: 0.6 vs 0.4 -> class 0
    assert metrics["track_vote"]["accuracy"] == 0.0  # vote: 2 of 3 -> class 1
    assert metrics["segment"]["accuracy"] == pytest.approx(1 / 3)


def test_vote_tie_broken_by_mean_probability() -> None:
    probs = np.array([[0.9, 0.1, 0.0, 0.0], [0.45, 0.55, 0.0, 0.0]])
    tracks = aggregate_tracks(probs, np.array([0, 0]), [7, 7])
    assert tracks["pred_vote"].tolist() == [0]
    assert tracks["num_segments"].tolist() == [2]


def test_inconsistent_track_labels_and_shapes_are_errors() -> None:
    probs = np.full((2, 4), 0.25)
    with pytest.raises(ConfigError, match="different labels"):
        evaluate_predictions(probs, np.array([0, 1]), ["x", "x"], CLASSES)
    with pytest.raises(ConfigError, match=r"expected \(n_segments, 3\)"):
        evaluate_predictions(probs, np.array([0, 1]), ["x", "y"], CLASSES[:3])
    with pytest.raises(ConfigError, match="labels must be in"):
        evaluate_predictions(probs, np.array([0, 4]), ["x", "y"], CLASSES)


def test_write_report(tmp_path: Path) -> None:
    metrics = evaluate_predictions(*make_predictions(), CLASSES)
    history = tmp_path / "history.csv"
    history.write_text(
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\n"
        "0,0.3,0.001,1.4,0.35,1.3\n"
        "1,0.5,0.0008,1.1,0.45,1.2\n"
        "1,0.52,0.0008,1.05,0.47,1.15\n"  # an epoch logged twice by a resumed run
        "2,0.6,0.0005,0.9,0.5,1.1\n"
    )
    out = tmp_path / "report"
    written = write_report(metrics, out, history_csv=str(history), title="Test report")
    names = {
        "metrics.json",
        "report.md",
        "confusion_matrix_segment.png",
        "confusion_matrix_track.png",
        "training_curves.png",
    }
    assert names == {path.name for path in out.iterdir()}
    assert set(written) == {
        "metrics",
        "report",
        "confusion_matrix_segment",
        "confusion_matrix_track",
        "training_curves",
    }
    for name in names:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert json.loads((out / "metrics.json").read_text()) == metrics
    report = (out / "report.md").read_text()
    assert report.startswith("# Test report")
    for text in (
        "track_vote",
        "macro_f1",
        "| jazz |",
        "Confusion matrix (track)",
        "confusion_matrix_segment.png",
        "training_curves.png",
    ):
        assert text in report


def test_write_report_without_history_and_missing_history(tmp_path: Path) -> None:
    metrics = evaluate_predictions(*make_predictions(1), CLASSES)
    write_report(metrics, tmp_path / "a")
    assert not (tmp_path / "a" / "training_curves.png").exists()
    with pytest.raises(ConfigError, match="does not exist"):
        write_report(metrics, tmp_path / "b", history_csv=str(tmp_path / "nope.csv"))


def test_metrics_carry_bootstrap_intervals_over_tracks() -> None:
    probs, labels, track_ids = make_predictions()
    metrics = evaluate_predictions(probs, labels, track_ids, CLASSES)
    for level in ("segment", "track", "track_vote"):
        entry = metrics[level]
        for key in ("accuracy", "macro_f1"):
            lo, hi = entry[f"{key}_ci"]
            assert 0.0 <= lo <= entry[key] <= hi <= 1.0, (level, key)
            assert hi - lo > 0.05, (level, key)  # 24 tracks: far from certain
        assert entry["ci"] == {
            "method": "bootstrap over tracks", "resamples": 1000, "seed": 0, "level": 0.95,
        }
    other = evaluate_predictions(
        probs, labels, track_ids, CLASSES, bootstrap=BootstrapSettings(resamples=100, seed=1)
    )
    assert other["track"]["ci"]["resamples"] == 100


def test_report_shows_intervals_and_writes_track_predictions(tmp_path: Path) -> None:
    probs, labels, track_ids = make_predictions()
    metrics = evaluate_predictions(probs, labels, track_ids, CLASSES)
    metrics = {**metrics, "split": "test", "model": "m"}
    written = write_report(metrics, tmp_path, predictions=(probs, labels, track_ids))
    report = (tmp_path / "report.md").read_text()
    track = metrics["track"]
    lo, hi = track["accuracy_ci"]
    assert f"{track['accuracy']:.4f} [{lo:.4f}, {hi:.4f}]" in report
    assert "1000 resamples, seed 0" in report
    assert "Published figures" not in report  # no protocol: no anchors
    rows = read_track_predictions(written["tracks"])
    assert len(rows) == 24 and set(rows[0]) >= {"track_id", "label", "predicted", "p_jazz"}
    correct = np.mean([r["label"] == r["predicted"] for r in rows])
    assert correct == pytest.approx(track["accuracy"])
    assert sum(int(r["num_segments"]) for r in rows) == len(labels)
    assert json.loads((tmp_path / "metrics.json").read_text())["model"] == "m"


def test_report_shows_published_anchors_for_the_fault_filtered_protocol(tmp_path: Path) -> None:
    metrics = evaluate_predictions(*make_predictions(), CLASSES)
    metrics = {**metrics, "split": "test", "protocol": {"name": "gtzan_fault_filtered"}}
    write_report(metrics, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Published figures on `gtzan_fault_filtered`" in report
    for text in ("MFCC + SVM", "53.4 %", "VGGish + SVM", "77.2 %", "78.6-79.3 %", "Kereliuk"):
        assert text in report, text
    assert "Protocol: `gtzan_fault_filtered`" in report
    # Another protocol, or an unexpected value: no anchors, no error.
    for protocol in ({"name": "random"}, None, 3):
        write_report({**metrics, "protocol": protocol}, tmp_path / "other")
        assert "Published figures" not in (tmp_path / "other" / "report.md").read_text()


def test_tune_best_trial_evaluation_carries_intervals() -> None:
    from tfgenre.evaluation.metrics_file import MetricsFile
    from tfgenre.search.report import evaluation_summary, evaluation_text

    metrics = evaluate_predictions(*make_predictions(), CLASSES)
    got = evaluation_summary(MetricsFile.from_json(metrics), "test")
    assert got["accuracy_ci"] == metrics["track"]["accuracy_ci"] and got["tracks"] == 24
    assert got["segment_accuracy_ci"] == metrics["segment"]["accuracy_ci"]
    text = evaluation_text(got)
    lo, hi = got["accuracy_ci"]
    assert text.startswith(
        f"test (24 tracks): track accuracy {got['accuracy']:.4f} [{lo:.4f}, {hi:.4f}]"
    )
    assert "95 % bootstrap over tracks, 1000 resamples, seed 0" in text
