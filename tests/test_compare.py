"""Tests for tfgenre.evaluation.comparison and ``python -m tfgenre.compare`` on run folders."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from tfgenre import compare
from tfgenre.core.stats import BootstrapSettings, mcnemar
from tfgenre.errors import ConfigError
from tfgenre.evaluation.comparison import compare_runs, load_run_predictions

CLASSES = ("blues", "jazz", "rock")


def fake_run(root: Path, name: str, truth: list[str], predicted: list[str], split="test",
             ids: list[str] | None = None) -> Path:
    """A run folder holding only report/tracks.csv, as evaluate writes it."""
    ids = ids or [f"track{i:03d}" for i in range(len(truth))]
    folder = root / name / ("report" if split == "test" else f"report_{split}")
    folder.mkdir(parents=True)
    with (folder / "tracks.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["track_id", "label", "predicted", "predicted_vote", "num_segments",
                         *(f"p_{c}" for c in CLASSES)])
        for t, y, p in zip(ids, truth, predicted):
            writer.writerow([t, y, p, p, 3, *(1.0 if c == p else 0.0 for c in CLASSES)])
    return root / name


def two_runs(tmp_path: Path, n: int = 60) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = rng.choice(CLASSES, n)
    good = np.where(rng.random(n) < 0.8, truth, rng.choice(CLASSES, n))
    poor = np.where(rng.random(n) < 0.5, truth, rng.choice(CLASSES, n))
    a = fake_run(tmp_path, "good", list(truth), list(good))
    # The second run lists its tracks in another order: rows are matched by track id.
    order = rng.permutation(n)
    ids = [f"track{i:03d}" for i in range(n)]
    b = fake_run(tmp_path, "poor", list(truth[order]), list(poor[order]),
                 ids=[ids[i] for i in order])
    return a, b, good == truth, poor == truth


def test_compare_two_runs(tmp_path: Path) -> None:
    a, b, good, poor = two_runs(tmp_path)
    runs = [load_run_predictions(str(b)), load_run_predictions(str(a))]
    rows = compare_runs(runs, BootstrapSettings(resamples=500))
    assert [r["run"] for r in rows] == ["good", "poor"]
    best, other = rows
    assert best["best"] and best["diff_to_best"] == 0.0 and best["mcnemar_p"] == 1.0
    assert best["accuracy"] == pytest.approx(good.mean())
    assert other["accuracy"] == pytest.approx(poor.mean())
    assert other["diff_to_best"] == pytest.approx(poor.mean() - good.mean())
    assert other["diff_lo"] <= other["diff_to_best"] <= other["diff_hi"] < 0
    expected = mcnemar(good, poor)
    assert other["mcnemar_p"] == pytest.approx(expected["p_value"])
    assert (other["only_best_right"], other["only_run_right"]) == (
        expected["a_only"], expected["b_only"],
    )
    for r in rows:
        assert r["accuracy_lo"] <= r["accuracy"] <= r["accuracy_hi"]
        assert r["macro_f1_lo"] <= r["macro_f1"] <= r["macro_f1_hi"]


def test_macro_f1_averages_over_the_classes_with_tracks(tmp_path: Path) -> None:
    """A class in p_<class> but without a track is not averaged in (as evaluate's)."""
    from sklearn.metrics import f1_score

    truth = ["blues", "jazz"] * 5
    pred = ["blues", "jazz", "jazz", "jazz", "blues"] * 2
    a = fake_run(tmp_path, "a", truth, pred)
    shutil.copytree(a, tmp_path / "b")
    rows = compare_runs([load_run_predictions(str(a)), load_run_predictions(str(tmp_path / "b"))])
    expected = f1_score(truth, pred, labels=["blues", "jazz"], average="macro", zero_division=0)
    assert rows[0]["macro_f1"] == pytest.approx(expected)


def test_a_run_against_itself_differs_by_zero(tmp_path: Path) -> None:
    """Two folders with the same predictions (one folder twice is refused: issue 18)."""
    a, _, _, _ = two_runs(tmp_path)
    shutil.copytree(a, tmp_path / "copy")
    copy = load_run_predictions(str(tmp_path / "copy"))
    rows = compare_runs([load_run_predictions(str(a)), copy])
    assert rows[1]["diff_to_best"] == 0.0 and rows[1]["diff_lo"] == rows[1]["diff_hi"] == 0.0
    assert rows[1]["mcnemar_p"] == 1.0
    assert rows[0]["run"] != rows[1]["run"] or rows[0]["run"] == str(a)


def test_cli_writes_markdown_csv_and_png(tmp_path: Path, capsys) -> None:
    a, b, good, _ = two_runs(tmp_path)
    out = tmp_path / "cmp"
    code = compare.main([str(a), str(b), "--out", str(out), "--resamples", "200", "--seed", "1"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "| good |" in stdout and "| poor |" in stdout and "200 resamples, seed 1" in stdout
    assert (out / "compare.md").read_text() in stdout
    with (out / "compare.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == ["good", "poor"]
    assert float(rows[0]["accuracy"]) == pytest.approx(good.mean())
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_runs_on_different_tracks(tmp_path: Path, capsys) -> None:
    truth = ["blues", "jazz", "rock"] * 4
    a = fake_run(tmp_path, "a", truth, truth)
    ids = [f"track{i:03d}" for i in range(10)] + ["other1", "other2"]
    b = fake_run(tmp_path, "b", truth, truth, ids=ids)
    with pytest.raises(ConfigError, match=r"2 only in .*a \(e.g. track010, track011\); "
                                          r"2 only in .*b \(e.g. other1, other2\)"):
        compare_runs([load_run_predictions(str(a)), load_run_predictions(str(b))])
    assert compare.main([str(a), str(b)]) == 2
    assert "not evaluated on the same test tracks" in capsys.readouterr().err
    # Same tracks, different true labels: refused too.
    c = fake_run(tmp_path, "c", truth[::-1], truth)
    with pytest.raises(ConfigError, match="different true labels"):
        compare_runs([load_run_predictions(str(a)), load_run_predictions(str(c))])


def test_argument_errors(tmp_path: Path, capsys) -> None:
    a = fake_run(tmp_path, "a", ["jazz"], ["jazz"])
    assert compare.main([str(a)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert compare.main([str(a), str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert compare.main([str(a), str(tmp_path / "empty")]) == 2
    assert "no model.keras" in capsys.readouterr().err
    # The validation split reads report_validation/.
    fake_run(tmp_path, "v", ["jazz"], ["rock"], split="validation")
    run = load_run_predictions(str(tmp_path / "v"), "validation")
    assert run.predicted == ("rock",)
    assert compare.main([str(a), str(a), "--resamples", "0"]) == 2


@pytest.mark.slow
def test_evaluates_a_run_without_predictions(tmp_path: Path, tiny_runs) -> None:
    """A trained run whose report lacks tracks.csv is evaluated first."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_runs.features, copy)
    shutil.rmtree(copy / "report", ignore_errors=True)
    run = load_run_predictions(str(copy))
    assert (copy / "report" / "tracks.csv").is_file() and len(run.track_ids) > 0
    rows = compare_runs([run, load_run_predictions(str(tiny_runs.features))])
    assert rows[0]["tracks"] == len(run.track_ids)
