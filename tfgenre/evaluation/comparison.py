"""Runs compared on the same tracks: intervals, paired differences and McNemar's test.

Each run's evaluation leaves its per-track predictions in ``report/tracks.csv``
(``report_<split>/`` for other splits). :func:`compare_runs` lines the runs up track by
track, refuses when they were not scored on the same tracks, and reports per run:

* track accuracy with its percentile bootstrap interval (resampling tracks) and
  macro-F1 with its interval;
* the paired difference in accuracy to the best run, with the interval of a paired
  bootstrap (one set of resampled tracks for both runs), and McNemar's exact p-value
  on the tracks that exactly one of the two got right.

Outputs are plain rows (for CSV), a Markdown table, and a PNG of the intervals.
"""

from __future__ import annotations

import csv
import dataclasses
import io as std_io
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre.core import io, layout
from tfgenre.core.layout import FOLDS, MODEL, RUN_JSON, TRACKS_CSV
from tfgenre.core.stats import (
    BootstrapSettings,
    bootstrap_metrics,
    format_interval,
    macro_f1_from_confusion,
    mcnemar,
    paired_bootstrap,
)
from tfgenre.errors import ConfigError
from tfgenre.evaluation.tracks_csv import read_track_predictions
from tfgenre.runs.run_folder import report_dir, saved_fit_config

logger = logging.getLogger(__name__)

__all__ = [
    "RunPredictions",
    "check_distinct_runs",
    "check_same_tracks",
    "compare_runs",
    "comparison_csv",
    "comparison_markdown",
    "fold_dirs",
    "intervals_png",
    "is_cross_validation",
    "load_run_predictions",
    "write_comparison",
]

#: Example ids named in a refusal.
EXAMPLES = 5


@dataclasses.dataclass(frozen=True)
class RunPredictions:
    """One run's per-track predictions on one split.

    Attributes:
        run_dir: The run folder.
        split: The split scored.
        track_ids: Track ids, shape (n,), sorted.
        labels: True class names, aligned with ``track_ids``.
        predicted: Predicted class names (mean probability), aligned with ``track_ids``.
        classes: The run's class names (its ``p_<class>`` columns; empty when absent).
    """

    run_dir: str
    split: str
    track_ids: tuple[str, ...]
    labels: tuple[str, ...]
    predicted: tuple[str, ...]
    classes: tuple[str, ...] = ()


def load_run_predictions(
    run_dir: str, split: str = "test", *, evaluate_missing: bool = True
) -> RunPredictions:
    """Reads a run's ``tracks.csv`` for ``split``, evaluating the run first when it is missing.

    A cross-validation's folder (``fit --folds K``) gives its K test folds pooled: every
    track once, predicted by the fold model that did not train on it.

    Args:
        run_dir: A run folder written by ``tfgenre.fit`` (or any folder holding
            ``report/tracks.csv``), or a cross-validation's folder.
        split: The split; ``test`` reads ``report/``, others ``report_<split>/``.
        evaluate_missing: Run ``tfgenre.evaluate`` when the file is missing.

    Raises:
        ConfigError: When the folder does not exist, or holds neither the predictions
            nor a model to make them, or the file is malformed or has a repeated track;
            for a cross-validation, when ``split`` is not test or a fold is unfinished.
    """
    if not io.isdir(run_dir):
        raise ConfigError(f"run folder {run_dir!r} does not exist")
    if is_cross_validation(run_dir):
        return _pooled_folds(run_dir, split)
    path = io.join(report_dir(run_dir, split), TRACKS_CSV)
    if not io.exists(path):
        if not evaluate_missing or not io.exists(io.join(run_dir, MODEL)):
            raise ConfigError(
                f"{run_dir!r} has no {split} predictions ({path}) and no model.keras to "
                "make them; run python -m tfgenre.evaluate on it first"
            )
        logger.info("%s has no %s predictions yet: evaluating it", run_dir, split)
        from tfgenre.evaluation.predictions import evaluate_run

        evaluate_run(run_dir, split)
    return _run_predictions(run_dir, split, read_track_predictions(path), path)


def is_cross_validation(run_dir: str) -> bool:
    """Whether ``run_dir`` is a cross-validation's folder (``folds/``, no ``run.json``)."""
    return io.isdir(io.join(run_dir, FOLDS)) and not io.exists(io.join(run_dir, RUN_JSON))


def fold_dirs(run_dir: str) -> list[tuple[int, str]]:
    """``(k, folder)`` of each fold of a cross-validation, in order.

    The number of folds is the one in the folder's ``config.yaml`` (``folds``), else
    the numbered folders under ``folds/``.
    """
    saved = saved_fit_config(run_dir) or {}
    k = saved.get("folds")
    if isinstance(k, int) and k >= 2:
        numbers = list(range(k))
    else:
        numbers = sorted(int(n) for n in io.listdir(io.join(run_dir, FOLDS)) if n.isdigit())
    return [(n, io.join(run_dir, FOLDS, str(n))) for n in numbers]


def _pooled_folds(run_dir: str, split: str) -> RunPredictions:
    """A cross-validation's test predictions, its K test folds pooled (each track once)."""
    if split != "test":
        raise ConfigError(
            f"{run_dir!r} is a cross-validation: it is compared on its test folds pooled "
            f"(every track scored once, by the fold that did not train on it); --split "
            f"{split} has no pooled predictions (each fold has its own {split} tracks)"
        )
    folds = fold_dirs(run_dir)
    missing = [
        k for k, folder in folds if not io.exists(io.join(report_dir(folder, "test"), TRACKS_CSV))
    ]
    if missing or not folds:
        which = ", ".join(str(k) for k in missing) or "all"
        raise ConfigError(
            f"cross-validation {run_dir!r} lacks the test predictions of fold(s) {which} "
            f"({layout.FOLDS}/<k>/{layout.REPORT}/{TRACKS_CSV}); rerun the same fit --folds "
            "command to finish them, then compare"
        )
    rows: list[dict[str, str]] = []
    for _, folder in folds:
        rows += read_track_predictions(io.join(report_dir(folder, "test"), TRACKS_CSV))
    where = io.join(run_dir, FOLDS, "*", layout.REPORT, TRACKS_CSV)
    return _run_predictions(run_dir, split, rows, where)


def _run_predictions(
    run_dir: str, split: str, rows: list[dict[str, str]], path: str
) -> RunPredictions:
    """The rows of a ``tracks.csv`` as a :class:`RunPredictions`, refusing repeated tracks."""
    classes = tuple(k[2:] for k in (rows[0] if rows else {}) if k.startswith("p_"))
    ids = [r["track_id"] for r in rows]
    if len(set(ids)) != len(ids):
        repeated = sorted({t for t in ids if ids.count(t) > 1})[:EXAMPLES]
        raise ConfigError(f"{path} lists a track more than once (e.g. {', '.join(repeated)})")
    rows.sort(key=lambda r: r["track_id"])
    return RunPredictions(
        run_dir=run_dir,
        split=split,
        track_ids=tuple(r["track_id"] for r in rows),
        labels=tuple(r["label"] for r in rows),
        predicted=tuple(r["predicted"] for r in rows),
        classes=classes,
    )


def check_distinct_runs(run_dirs: Sequence[str]) -> None:
    """Refuses a run folder given twice (also as another path to the same folder).

    A run compared with itself differs by exactly 0 with McNemar p = 1: a table that
    looks like evidence and is none.

    Raises:
        ConfigError: Naming the folder and both spellings.
    """
    seen: dict[str, str] = {}
    for run in run_dirs:
        key = os.path.realpath(run) if "://" not in run else run.rstrip("/")
        if key in seen:
            same = f" ({seen[key]!r} and {run!r})" if seen[key] != run else ""
            raise ConfigError(
                f"run folder {run!r} is given twice{same}: compare needs two or more different runs"
            )
        seen[key] = run


def check_same_tracks(runs: Sequence[RunPredictions]) -> None:
    """Refuses runs that were not scored on the same tracks with the same labels.

    Raises:
        ConfigError: Naming the two runs, how many tracks only each has, and example
            ids (or the tracks whose true label differs).
    """
    first = runs[0]
    reference = set(first.track_ids)
    for run in runs[1:]:
        tracks = set(run.track_ids)
        if tracks != reference:
            only_first = sorted(reference - tracks)
            only_run = sorted(tracks - reference)
            parts = [
                f"{len(only)} only in {name}"
                + (f" (e.g. {', '.join(only[:EXAMPLES])})" if only else "")
                for only, name in ((only_first, first.run_dir), (only_run, run.run_dir))
            ]
            raise ConfigError(
                f"{first.run_dir} and {run.run_dir} were not evaluated on the same "
                f"{first.split} tracks ({len(reference)} vs {len(tracks)}; "
                f"{len(reference & tracks)} shared): {'; '.join(parts)}. Compare runs "
                "trained on the same records/split"
            )
        differ = [t for t, a, b in zip(first.track_ids, first.labels, run.labels) if a != b]
        if differ:
            raise ConfigError(
                f"{first.run_dir} and {run.run_dir} give {len(differ)} track(s) different "
                f"true labels (e.g. {', '.join(differ[:EXAMPLES])})"
            )


def _names(runs: Sequence[RunPredictions]) -> list[str]:
    """Short names: the folder's base name, or the path as given when those clash."""
    base = [os.path.basename(os.path.normpath(r.run_dir)) or r.run_dir for r in runs]
    return base if len(set(base)) == len(base) else [r.run_dir for r in runs]


def compare_runs(
    runs: Sequence[RunPredictions], settings: BootstrapSettings | None = None
) -> list[dict[str, Any]]:
    """Scores the runs on their shared tracks and pairs each with the best one.

    Args:
        runs: Two or more runs' predictions on the same tracks.
        settings: Resamples, seed and level of every interval (default 1000, 0, 0.95).

    Returns:
        One plain row per run, best accuracy first: ``run``, ``run_dir``, ``tracks``,
        ``accuracy``, ``accuracy_lo``/``_hi``, ``macro_f1``, ``macro_f1_lo``/``_hi``,
        ``best`` (bool), ``diff_to_best`` (accuracy minus the best's; 0 for the best),
        ``diff_lo``/``_hi``, ``mcnemar_p``, ``only_best_right``, ``only_run_right``.

    Raises:
        ConfigError: With fewer than two runs, one run folder given twice, or runs on
            different tracks.
    """
    if len(runs) < 2:
        raise ConfigError(f"compare needs at least two runs; got {len(runs)}")
    check_distinct_runs([r.run_dir for r in runs])
    settings = settings or BootstrapSettings()
    check_same_tracks(runs)
    # Macro-F1 averages over the classes with tracks here, as evaluate's does.
    classes = sorted({c for r in runs for c in (*r.classes, *r.labels, *r.predicted)})
    index = {c: i for i, c in enumerate(classes)}
    y_true = np.array([index[c] for c in runs[0].labels], dtype=np.int64)
    preds = [np.array([index[c] for c in r.predicted], dtype=np.int64) for r in runs]
    correct = [p == y_true for p in preds]
    accuracies = [float(c.mean()) for c in correct]
    best = int(np.argmax(accuracies))
    rows = []
    for name, run, pred, right in zip(_names(runs), runs, preds, correct):
        confusion = np.zeros((len(classes), len(classes)))
        np.add.at(confusion, (y_true, pred), 1.0)
        # Resampled by track id, as the run's own report: the same figures as there.
        ci = bootstrap_metrics(y_true, pred, len(classes), groups=run.track_ids, settings=settings)
        diff = paired_bootstrap(right, correct[best], settings)
        test = mcnemar(correct[best], right)
        rows.append(
            {
                "run": name,
                "run_dir": run.run_dir,
                "split": run.split,
                "tracks": len(y_true),
                "accuracy": float(right.mean()),
                "accuracy_lo": ci["accuracy_ci"][0],
                "accuracy_hi": ci["accuracy_ci"][1],
                "macro_f1": float(macro_f1_from_confusion(confusion)),
                "macro_f1_lo": ci["macro_f1_ci"][0],
                "macro_f1_hi": ci["macro_f1_ci"][1],
                "best": run is runs[best],
                "diff_to_best": diff["difference"],
                "diff_lo": diff["difference_ci"][0],
                "diff_hi": diff["difference_ci"][1],
                "mcnemar_p": test["p_value"],
                "only_best_right": test["a_only"],
                "only_run_right": test["b_only"],
            }
        )
    rows.sort(key=lambda r: (not r["best"], -r["accuracy"]))
    return rows


def comparison_markdown(rows: Sequence[dict[str, Any]], settings: BootstrapSettings) -> str:
    """The rows as a Markdown table with a line on the protocol and the intervals."""
    split, tracks = rows[0]["split"], rows[0]["tracks"]
    lines = [
        f"### {len(rows)} runs on the same {tracks} {split} tracks (track level)",
        "",
        f"Intervals: {100 * settings.level:.0f} % percentile bootstrap over tracks "
        f"({settings.resamples} resamples, seed {settings.seed}); the difference to the "
        "best run is a paired bootstrap; McNemar: exact binomial test on the tracks only "
        "one of the two got right.",
        "",
        "| run | accuracy [95 % CI] | macro-F1 [95 % CI] | difference to best [95 % CI] "
        "| McNemar p | only best right / only run right |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r["best"]:
            diff, p, counts = "best", "", ""
        else:
            diff = format_interval(r["diff_to_best"], [r["diff_lo"], r["diff_hi"]])
            p = f"{r['mcnemar_p']:.3g}"
            counts = f"{r['only_best_right']} / {r['only_run_right']}"
        lines.append(
            f"| {r['run']} | {format_interval(r['accuracy'], [r['accuracy_lo'], r['accuracy_hi']])}"
            f" | {format_interval(r['macro_f1'], [r['macro_f1_lo'], r['macro_f1_hi']])} "
            f"| {diff} | {p} | {counts} |"
        )
    return "\n".join(lines) + "\n"


def comparison_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV text."""
    buffer = std_io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def intervals_png(rows: Sequence[dict[str, Any]], settings: BootstrapSettings) -> bytes:
    """A PNG of each run's accuracy and macro-F1 with their intervals (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(rows)
    figure = Figure(figsize=(7.0, 1.2 + 0.45 * n))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    y = np.arange(n)[::-1]
    for offset, key, label in ((0.12, "accuracy", "accuracy"), (-0.12, "macro_f1", "macro-F1")):
        values = np.array([r[key] for r in rows])
        lo = np.array([r[f"{key}_lo"] for r in rows])
        hi = np.array([r[f"{key}_hi"] for r in rows])
        axes.errorbar(
            values, y + offset, xerr=[values - lo, hi - values], fmt="o", capsize=3, label=label
        )
    axes.set_yticks(y, labels=[r["run"] for r in rows])
    axes.set_xlabel(
        f"track-level score, {100 * settings.level:.0f} % bootstrap interval "
        f"({settings.resamples} resamples)"
    )
    axes.set_title(f"{n} runs on {rows[0]['tracks']} {rows[0]['split']} tracks")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="best")
    figure.tight_layout()
    buffer = std_io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def write_comparison(
    rows: Sequence[dict[str, Any]], out_dir: str, settings: BootstrapSettings
) -> list[str]:
    """Writes ``compare.md``, ``compare.csv`` and ``compare.png`` into ``out_dir``."""
    io.makedirs(out_dir)
    paths = [io.join(out_dir, n) for n in ("compare.md", "compare.csv", "compare.png")]
    io.write_text_atomic(paths[0], comparison_markdown(rows, settings))
    io.write_text_atomic(paths[1], comparison_csv(rows))
    io.write_bytes_atomic(paths[2], intervals_png(rows, settings))
    return paths
