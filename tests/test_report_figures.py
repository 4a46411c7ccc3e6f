"""The fine print of the figures (issue 18, "Figures"): published anchors only beside
comparable runs, macro-F1 over the labels that are there, one bootstrap interval per
run, the synthetic demo said so, and compare's refusals. Library-level tests; the
commands as a user runs them are in ``test_cli_report_figures.py``.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tfgenre.core.stats import BootstrapSettings, bootstrap_metrics, macro_f1_from_confusion
from tfgenre.errors import ConfigError
from tfgenre.evaluation.anchors import comparability, load_anchors
from tfgenre.evaluation.comparison import compare_runs, load_run_predictions
from tfgenre.evaluation.metrics import classification_metrics, evaluate_predictions
from tfgenre.evaluation.report import write_report
from tfgenre.splitting.protocols import named_split_assignment

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
          "reggae", "rock"]  # fmt: skip
FAULT_FILTERED = {"name": "gtzan_fault_filtered", "dataset": "gtzan"}


def test_clips(n: int | None = None) -> list[str]:
    """The first ``n`` (all: 290) test clips of the fault-filtered lists, sorted."""
    ids = sorted(t for t, s in named_split_assignment("fault_filtered").items() if s == "test")
    return ids if n is None else ids[:n]


test_clips.__test__ = False  # a helper, not a test


def predictions_for(track_ids: list[str], segments: int = 2, right: float = 0.75, seed: int = 0):
    """Segment probabilities of ``track_ids`` (labelled by their genre), mostly right.

    Rows come in an order other than sorted (the order records are read in).
    """
    rng = np.random.default_rng(seed)
    labels = np.array([GENRES.index(t.split(".")[0]) for t in track_ids])
    good = rng.random(len(track_ids)) < right
    predicted = np.where(good, labels, (labels + 1) % len(GENRES))
    probs = np.full((len(track_ids), len(GENRES)), 0.01)
    probs[np.arange(len(track_ids)), predicted] = 0.9
    probs = np.repeat(probs, segments, axis=0)
    order = rng.permutation(len(probs))
    ids = np.repeat(np.array([t.encode() for t in track_ids], dtype=object), segments)
    return probs[order], np.repeat(labels, segments)[order], ids[order]


# ----------------------------------------------------------------------------- 1 anchors


def report_with_protocol(tmp_path: Path, track_ids: list[str], split: str = "test") -> str:
    probs, labels, ids = predictions_for(track_ids)
    metrics = evaluate_predictions(probs, labels, ids, GENRES)
    metrics = {**metrics, "split": split, "model": "mel_cnn", "protocol": FAULT_FILTERED}
    write_report(metrics, tmp_path, predictions=(probs, labels, ids))
    return (tmp_path / "report.md").read_text()


def test_anchors_are_not_set_beside_a_run_on_4_of_the_290_test_clips(tmp_path: Path) -> None:
    report = report_with_protocol(tmp_path, test_clips(4))
    assert "not comparable: 4 of the 290 test clips" in report
    assert "this run (mel_cnn)" not in report  # no row of its own beside the papers
    assert "VGGish + SVM" in report and "77.2 %" in report  # the published figures stay
    stored = json.loads((tmp_path / "metrics.json").read_text())["anchor_comparability"]
    assert stored["comparable"] is False and stored["in_published"] == 4
    assert stored["published"] == 290


def test_anchors_are_set_beside_a_run_on_the_290_test_clips(tmp_path: Path) -> None:
    report = report_with_protocol(tmp_path, test_clips())
    assert "not comparable" not in report
    row = next(line for line in report.splitlines() if line.startswith("| this run (mel_cnn)"))
    assert "track accuracy, test" in row and "this report" in row


def test_anchors_are_not_comparable_on_another_split_or_extra_clips(tmp_path: Path) -> None:
    validation = sorted(t for t, s in named_split_assignment("fault_filtered").items()
                        if s == "validation")  # fmt: skip
    report = report_with_protocol(tmp_path / "v", validation, split="validation")
    assert "not comparable: 0 of the 290 test clips and 197 other clip(s)" in report
    assert "validation split" in report and "this run (mel_cnn)" not in report
    entry = load_anchors()["gtzan_fault_filtered"]
    # 290 test clips plus one more is another experiment too.
    check = comparability(entry, "test", [*test_clips(), "blues.00000"], 291)
    assert not check.comparable and "290 of the 290 test clips and 1 other" in check.reason()
    # "genre/clip" ids (as a folder source names them) are the same clips.
    check = comparability(entry, "test", [f"{t.split('.')[0]}/{t}" for t in test_clips()], 290)
    assert check.comparable
    # Without the scored ids a count alone does not make a run comparable.
    assert not comparability(entry, "test", None, 290).comparable


def test_anchor_sources_cite_papers_not_issues() -> None:
    for protocol, entry in load_anchors().items():
        for anchor in entry["anchors"]:
            assert not re.search(r"\bissue\b", anchor.citation, re.I), (protocol, anchor)
            assert re.search(r"(19|20)\d\d", anchor.citation), anchor  # a year: a paper
            assert re.search(r"arXiv:\d{4}\.\d{4,5}|doi|Transactions", anchor.citation), anchor


# ------------------------------------------------------------------------ 2 macro-F1


def test_macro_f1_leaves_out_labels_absent_from_the_scored_split() -> None:
    """accuracy 0.75 must not come with macro-F1 0.23 because 7 labels are absent."""
    names = GENRES
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 2, 2, 2, 2, 1])
    got = classification_metrics(y_true, y_pred, names)
    present = [0, 1, 2]
    assert got["accuracy"] == 0.75
    expected = f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    assert got["macro_f1"] == pytest.approx(expected) and got["macro_f1"] > 0.7
    assert got["macro_labels"] == ["blues", "classical", "country"]
    assert got["absent_labels"] == names[3:]
    assert got["per_class"]["rock"] == {"precision": None, "recall": None, "f1": None,
                                        "support": 0}  # fmt: skip
    assert got["per_class"]["blues"]["f1"] == 1.0
    assert macro_f1_from_confusion(np.array(got["confusion_matrix"])) == pytest.approx(expected)
    json.dumps(got)  # None is JSON's null


def test_report_says_which_labels_are_averaged_and_absent_rows(tmp_path: Path) -> None:
    ids = ["blues.00001", "blues.00002", "jazz.00001", "jazz.00002", "rock.00001"]
    probs, labels, track_ids = predictions_for(ids, right=1.0)
    metrics = evaluate_predictions(probs, labels, track_ids, GENRES)
    assert metrics["track"]["macro_f1"] == 1.0  # every present label perfect
    write_report(metrics, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "Macro averages run over the 3 classes with examples in this split" in report
    absent = "classical, country, disco, hiphop, metal, pop, reggae"
    assert f"absent (not averaged in): {absent}." in report
    row = next(line for line in report.splitlines() if line.startswith("| pop |"))
    assert row.count("absent") == 6 and row.endswith("| 0 |")


def test_perfect_predictions_have_a_macro_f1_interval_of_one() -> None:
    """The demo showed macro-F1 0.957 [0.740, 1.000]: resamples lacking a class scored it 0."""
    y = np.repeat(np.arange(8), 3)
    got = bootstrap_metrics(y, y, 8)
    assert got["accuracy_ci"] == [1.0, 1.0]
    assert got["macro_f1_ci"] == [1.0, 1.0]


def test_baseline_macro_f1_over_the_labels_that_are_there() -> None:
    from sklearn.dummy import DummyClassifier

    from tfgenre.classical.scoring import score

    x = np.zeros((8, 1))
    y_train = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    model = DummyClassifier(strategy="constant", constant=0).fit(x, y_train)
    y_test = np.array([0, 0, 0, 1])  # labels 2..9 absent from test
    got = score(model, x[:4], y_test, np.array(["a", "b", "c", "d"]), 10, segments=False)
    assert got["accuracy"] == 0.75
    expected = f1_score(y_test, np.zeros(4, int), labels=[0, 1], average="macro", zero_division=0)
    assert got["macro_f1"] == pytest.approx(expected)
    assert got["macro_f1_lo"] <= got["macro_f1"] <= got["macro_f1_hi"]


# ------------------------------------------------------------------ 5 one interval


def test_report_and_compare_give_one_interval_for_one_run(tmp_path: Path) -> None:
    """fit's report said [0.55, 0.90] and compare [0.55, 0.95] for the same run and seed."""
    ids = [f"{GENRES[i % 10]}.{i:05d}" for i in range(40)][::-1]  # not in sorted order
    probs, labels, track_ids = predictions_for(ids, segments=3, right=0.7, seed=3)
    metrics = evaluate_predictions(probs, labels, track_ids, GENRES)
    for name in ("a", "b"):
        write_report({**metrics, "split": "test"}, tmp_path / name / "report",
                     predictions=(probs, labels, track_ids))  # fmt: skip
    runs = [load_run_predictions(str(tmp_path / n)) for n in ("a", "b")]
    rows = compare_runs(runs)
    track = metrics["track"]
    for row in rows:
        assert row["accuracy"] == track["accuracy"]
        assert [row["accuracy_lo"], row["accuracy_hi"]] == track["accuracy_ci"]
        assert row["macro_f1"] == pytest.approx(track["macro_f1"])
        assert [row["macro_f1_lo"], row["macro_f1_hi"]] == pytest.approx(track["macro_f1_ci"])
    # The segment level draws the same tracks: with all segments of a track decided
    # alike, its interval is the track level's.
    assert metrics["segment"]["accuracy_ci"] == track["accuracy_ci"]


def test_track_order_does_not_change_the_interval() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 50)
    p = np.where(rng.random(50) < 0.6, y, rng.integers(0, 4, 50))
    ids = np.array([f"t{i:03d}" for i in range(50)])
    order = rng.permutation(50)
    a = bootstrap_metrics(y, p, 4, groups=ids)
    b = bootstrap_metrics(y[order], p[order], 4, groups=ids[order])
    assert a["accuracy_ci"] == b["accuracy_ci"] and a["macro_f1_ci"] == b["macro_f1_ci"]


@pytest.mark.parametrize("resamples", [0, 1, 99])
def test_fewer_than_100_resamples_are_refused(resamples: int) -> None:
    with pytest.raises(ConfigError, match=rf"resamples={resamples} is too few.*at least 100"):
        BootstrapSettings(resamples=resamples)
    BootstrapSettings(resamples=100)


# -------------------------------------------------------------------- 8 synthetic


def test_synthetic_records_carry_a_synthetic_protocol() -> None:
    from types import SimpleNamespace

    from tfgenre.core.tracks import Track
    from tfgenre.records.plan import records_protocol

    tracks = [Track("blues.00000", "", "blues"), Track("jazz.00000", "", "jazz")]
    cfg = SimpleNamespace(source="synthetic")
    protocol = records_protocol(cfg, None, tracks, {"kind": "stratified_grouped"})
    assert protocol.dataset == "synthetic"
    assert "synthetic data generated by tfgenre, not real music" in protocol.describe()


def test_report_of_synthetic_data_says_so(tmp_path: Path) -> None:
    probs, labels, ids = predictions_for(["blues.00001", "jazz.00001"])
    metrics = evaluate_predictions(probs, labels, ids, GENRES)
    protocol = {"name": "random", "dataset": "synthetic", "description": "synthetic data"}
    write_report({**metrics, "protocol": protocol}, tmp_path)
    assert "**Synthetic data:**" in (tmp_path / "report.md").read_text()


# ----------------------------------------------------------------------- 9 compare


def fake_tracks_csv(folder: Path, rows: list[tuple[str, str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "tracks.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["track_id", "label", "predicted", "predicted_vote", "num_segments"])
        writer.writerows([t, y, p, p, 1] for t, y, p in rows)


def fake_cross_validation(root: Path, folds: dict[int, list[tuple[str, str, str]]]) -> Path:
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(f"fit:\n  folds: {len(folds)}\n")
    for k, rows in folds.items():
        if rows:
            fake_tracks_csv(root / "folds" / str(k) / "report", rows)
        else:
            (root / "folds" / str(k)).mkdir(parents=True)
    return root


def test_a_cross_validation_is_compared_on_its_pooled_folds(tmp_path: Path) -> None:
    rows = [(f"t{i}", "blues" if i % 2 else "jazz", "blues") for i in range(8)]
    cv = fake_cross_validation(tmp_path / "cv", {0: rows[:4], 1: rows[4:]})
    fake_tracks_csv(tmp_path / "single" / "report", [(t, y, y) for t, y, _ in rows])
    pooled = load_run_predictions(str(cv))
    assert pooled.track_ids == tuple(sorted(t for t, _, _ in rows))
    got = compare_runs([pooled, load_run_predictions(str(tmp_path / "single"))])
    assert {r["run"]: r["accuracy"] for r in got} == {"cv": 0.5, "single": 1.0}
    with pytest.raises(ConfigError, match="cross-validation.*--split validation"):
        load_run_predictions(str(cv), "validation")


def test_an_unfinished_cross_validation_is_refused_naming_its_folds(tmp_path: Path) -> None:
    cv = fake_cross_validation(tmp_path / "cv", {0: [("t0", "blues", "blues")], 1: [], 2: []})
    with pytest.raises(ConfigError, match=r"fold\(s\) 1, 2 .*rerun the same fit --folds"):
        load_run_predictions(str(cv))


def test_the_same_run_twice_is_refused(tmp_path: Path) -> None:
    fake_tracks_csv(tmp_path / "a" / "report", [("t0", "blues", "blues")])
    run = load_run_predictions(str(tmp_path / "a"))
    same = load_run_predictions(str(tmp_path / "a" / ".." / "a"))
    with pytest.raises(ConfigError, match="given twice"):
        compare_runs([run, same])


def test_fold_messages_name_classes_not_indices() -> None:
    from tfgenre.evaluation.folds import assign_folds

    tracks = [(f"t{i}", i % 3 if i < 9 else 0, None) for i in range(12)]  # label 1: 3 tracks
    tracks[1] = ("t1", 1, None)
    names = ["blues", "jazz", "rock"]
    with pytest.raises(ConfigError, match=r"smallest class \((jazz|rock)\); use --folds 3"):
        assign_folds(tracks, 4, label_names=names)
    with pytest.raises(ConfigError, match=r"two labels \(blues, jazz\)"):
        assign_folds([("t0", 0, None), ("t0", 1, None)], 2, label_names=names)


def test_figure_to_rgba_draws_the_same_figure_as_pixels() -> None:
    import io

    from matplotlib.image import imread

    from tfgenre.evaluation.figures import confusion_matrix_figure, figure_to_png, figure_to_rgba

    matrix = [[3, 1, 0], [0, 2, 2], [1, 0, 3]]
    pixels = figure_to_rgba(confusion_matrix_figure(matrix, ["a", "b", "c"]))
    png = imread(io.BytesIO(figure_to_png(confusion_matrix_figure(matrix, ["a", "b", "c"]))))
    # 5.0 x 4.0 inches at 100 dpi, pixel for pixel the PNG's
    assert pixels.shape == (400, 500, 4) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(np.round(png * 255).astype(np.uint8), pixels)
    assert pixels[..., 2].min() < 120  # the darkest blue of the diagonal is there
