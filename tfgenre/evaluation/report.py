"""The written evaluation report: ``metrics.json``, ``report.md``, figures, ``tracks.csv``.

Files are written through ``tf.io.gfile`` so ``gs://`` folders work.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfgenre.core.layout import METRICS_JSON, REPORT_MD, TRACKS_CSV
from tfgenre.core.stats import format_interval
from tfgenre.errors import ConfigError
from tfgenre.evaluation.figures import (
    confusion_matrix_figure,
    figure_to_png,
    read_history,
    training_curves_figure,
)
from tfgenre.evaluation.metrics import LEVELS
from tfgenre.evaluation.metrics_file import LevelMetrics, MetricsFile
from tfgenre.evaluation.tracks_csv import track_prediction_rows, track_predictions_csv

logger = logging.getLogger(__name__)

_SUMMARY_KEYS: tuple[str, ...] = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
)


def _write_bytes(path: str, data: bytes) -> None:
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(data)


def _fmt(value: float) -> str:
    return f"{value:.4f}"


#: What a per-class cell says for a class with no example in the scored split.
ABSENT = "absent"


def _fmt_class(value: float | None) -> str:
    return ABSENT if value is None else _fmt(value)


def _macro_lines(metrics: MetricsFile, levels: Sequence[str]) -> list[str]:
    """Which classes the macro averages run over, naming those absent from the split."""
    entry = metrics.levels[levels[0]]
    if entry.macro_labels is None:  # a report of an older version
        return []
    absent = list(entry.absent_labels or ())
    scored = len(entry.macro_labels)
    if not absent:
        return ["", f"Macro averages run over all {scored} classes."]
    return [
        "",
        f"Macro averages run over the {scored} classes with examples in this split; "
        f"absent (not averaged in): {', '.join(absent)}.",
    ]


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(str(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return lines


def _levels(metrics: MetricsFile) -> list[str]:
    """The metric levels of ``metrics``, in report order."""
    found = list(metrics.levels)
    return [level for level in LEVELS if level in found] + [
        level for level in found if level not in LEVELS
    ]


def _with_ci(entry: LevelMetrics, key: str) -> str:
    return format_interval(getattr(entry, key), getattr(entry, f"{key}_ci"))


def _protocol_lines(metrics: MetricsFile, levels: Sequence[str]) -> list[str]:
    """The protocol line, the interval method, and published anchors when they match."""
    from tfgenre.evaluation.anchors import anchors_named
    from tfgenre.splitting.protocols import SYNTHETIC_DATASET, SYNTHETIC_NOTE

    lines: list[str] = []
    name = metrics.protocol_name
    protocol = metrics.protocol
    dataset = protocol.get("dataset") if isinstance(protocol, dict) else None
    if metrics.data == SYNTHETIC_DATASET or dataset == SYNTHETIC_DATASET:
        lines += [f"**Synthetic data:** {SYNTHETIC_NOTE}.", ""]
    if name:
        text = f"Protocol: `{name}`"
        if isinstance(protocol, dict) and protocol.get("description"):
            text += f" ({protocol['description']})"
        lines += [text + ".", ""]
    ci = next((metrics.levels[lv].ci for lv in levels if metrics.levels[lv].ci), None)
    if ci:
        lines += [
            f"Intervals: {100 * ci.level:.0f} % percentile {ci.method} "
            f"({ci.resamples} resamples, seed {ci.seed}); a segment-level resample "
            "draws whole tracks.",
            "",
        ]
    entry = anchors_named(name)
    if entry and entry["anchors"] and "track" in metrics.levels:
        lines += _anchor_lines(metrics, name or "", entry)
    return lines


def _anchor_lines(metrics: MetricsFile, name: str, entry: dict[str, Any]) -> list[str]:
    """The published figures; the run's own beside them only when it is comparable."""
    from tfgenre.evaluation.anchors import Comparability, comparability

    own = metrics.levels["track"]
    split = metrics.split or "test"
    stored = metrics.anchor_comparability
    check = (
        Comparability.from_json(dict(stored))
        if stored is not None
        else comparability(entry, split, None, own.num_examples)
    )
    lines = [f"## Published figures on `{name}`", ""]
    if entry.get("description"):
        lines += [entry["description"], ""]
    rows = []
    if check.comparable:
        run = f"this run ({metrics.model})" if metrics.model else "this run"
        rows.append([run, f"track accuracy, {split}", _with_ci(own, "accuracy"), "this report"])
    else:
        lines += [
            f"**This run is {check.reason()}.** Its figures are not set beside the "
            f"published ones, which are on all {check.published} test clips; score the "
            "whole published test split to compare.",
            "",
        ]
    rows += [
        [a.name, f"{a.level} {a.metric}, {a.split}", a.text(), a.citation] for a in entry["anchors"]
    ]
    lines += _markdown_table(["system", "figure", "value", "source"], rows)
    if entry.get("split_citation"):
        lines += ["", f"Split: {entry['split_citation']}"]
    return [*lines, ""]


def _report_markdown(metrics: MetricsFile, title: str, images: dict[str, str]) -> str:
    levels = _levels(metrics)
    class_names = metrics.levels[levels[0]].class_names
    lines = [f"# {title}", ""]
    descriptions = {
        "segment": "each segment on its own",
        "track": "a track's segments by mean probability",
        "track_vote": "a track's segments by majority vote",
    }
    lines += _protocol_lines(metrics, levels)
    if (metrics.training or {}).get("summary"):
        summary = str((metrics.training or {})["summary"])
        lines += ["## Training", "", f"{summary[:1].upper()}{summary[1:]}.", ""]
    lines += ["## Overall", ""]
    others = [key for key in _SUMMARY_KEYS if key not in ("accuracy", "macro_f1")]
    lines += _markdown_table(
        ["level", "examples", "accuracy [95 % CI]", "macro_f1 [95 % CI]", *others],
        [
            [
                f"{level} ({descriptions.get(level, level)})",
                metrics.levels[level].num_examples,
                _with_ci(metrics.levels[level], "accuracy"),
                _with_ci(metrics.levels[level], "macro_f1"),
            ]
            + [_fmt(getattr(metrics.levels[level], key)) for key in others]
            for level in levels
        ],
    )
    lines += _macro_lines(metrics, levels)
    lines += ["", "## Per class", ""]
    per_class_levels = [lv for lv in ("segment", "track") if lv in metrics.levels] or levels[:1]
    header = ["class"]
    for level in per_class_levels:
        header += [f"{level} precision", f"{level} recall", f"{level} f1", f"{level} support"]
    rows = []
    for name in class_names:
        row: list[Any] = [name]
        for level in per_class_levels:
            scores = metrics.levels[level].per_class[name]
            row += [
                _fmt_class(scores.precision),
                _fmt_class(scores.recall),
                _fmt_class(scores.f1),
                scores.support,
            ]
        rows.append(row)
    lines += _markdown_table(header, rows)
    for level in [level for level in ("segment", "track") if level in metrics.levels]:
        lines += [
            "",
            f"## Confusion matrix ({level})",
            "",
            "Rows are true classes, columns predicted classes.",
            "",
        ]
        matrix = metrics.levels[level].confusion_matrix
        lines += _markdown_table(
            ["true \\ predicted", *class_names],
            [[name, *matrix[i]] for i, name in enumerate(class_names)],
        )
        image = images.get(f"confusion_matrix_{level}")
        if image:
            lines += ["", f"![confusion matrix ({level})]({image})"]
    if "training_curves" in images:
        lines += ["", "## Training curves", "", f"![training curves]({images['training_curves']})"]
    return "\n".join(lines) + "\n"


def write_report(
    metrics: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    history_csv: str | os.PathLike[str] | None = None,
    title: str = "tfgenre evaluation report",
    predictions: tuple[np.ndarray, np.ndarray, np.ndarray | Sequence[Any]] | None = None,
) -> dict[str, str]:
    """Writes ``metrics.json``, ``report.md`` and the figures into ``out_dir``.

    Files: ``metrics.json``; ``report.md`` (protocol, overall table per level with
    bootstrap intervals, published anchors of the protocol with the run's figure
    beside them only when it scored the published test clips, per-class table,
    confusion matrices); ``confusion_matrix_segment.png`` and ``confusion_matrix_track.png``
    (normalised per row, counts annotated); when ``history_csv`` is given,
    ``training_curves.png``; when ``predictions`` are given, ``tracks.csv`` (one row
    per track, see :func:`tfgenre.evaluation.tracks_csv.track_prediction_rows`), which
    ``tfgenre.compare`` reads.

    Args:
        metrics: Output of :func:`tfgenre.evaluation.metrics.evaluate_predictions`,
            optionally with context keys that are not levels (``split``, ``model``,
            ``protocol``: ``{"name": ...}``).
        out_dir: Folder to write into (local or ``gs://``); created if missing.
        history_csv: Optional Keras ``CSVLogger`` file of the training run.
        title: Report heading.
        predictions: ``(probs (n, classes), labels (n,), track_ids (n,))`` that were
            scored, for ``tracks.csv``.

    Returns:
        ``{artifact: path}`` of every file written.

    Raises:
        ConfigError: If ``metrics`` is empty or ``history_csv`` does not exist.
    """
    if not metrics:
        raise ConfigError("metrics is empty; pass the output of evaluate_predictions")
    out = os.fspath(out_dir)
    tf.io.gfile.makedirs(out)
    written: dict[str, str] = {}
    path = os.path.join(out, METRICS_JSON)
    # through the type every reader uses: a layout it cannot read is never written
    typed = _with_anchor_comparability(MetricsFile.from_json(metrics, where=path), predictions)
    _write_bytes(path, (json.dumps(typed.to_json(), indent=2) + "\n").encode("utf-8"))
    written["metrics"] = path

    if predictions is not None:
        rows = track_prediction_rows(*predictions, typed.levels[_levels(typed)[0]].class_names)
        path = os.path.join(out, TRACKS_CSV)
        _write_bytes(path, track_predictions_csv(rows).encode("utf-8"))
        written["tracks"] = path

    images = _write_confusion_images(typed, out)
    if history_csv is not None:
        images.update(_write_training_curves(os.fspath(history_csv), out))
    written.update({key: os.path.join(out, name) for key, name in images.items()})

    path = os.path.join(out, REPORT_MD)
    _write_bytes(path, _report_markdown(typed, title, images).encode("utf-8"))
    written["report"] = path
    logger.info("evaluation report written to %s", out)
    return written


def _with_anchor_comparability(
    metrics: MetricsFile,
    predictions: tuple[np.ndarray, np.ndarray, np.ndarray | Sequence[Any]] | None,
) -> MetricsFile:
    """``metrics`` plus ``anchor_comparability`` when its protocol has published figures.

    Whether the scored tracks are the published test clips is checked on their ids
    (from ``predictions``); without them a run is never shown as comparable.
    """
    from tfgenre.evaluation.anchors import anchors_named, comparability

    entry = anchors_named(metrics.protocol_name)
    if not entry or "track" not in metrics.levels:
        return metrics
    track_ids = None if predictions is None else predictions[2]
    check = comparability(
        entry, metrics.split or "test", track_ids, metrics.levels["track"].num_examples
    )
    return dataclasses.replace(metrics, anchor_comparability=check.to_json())


def _write_confusion_images(metrics: MetricsFile, out: str) -> dict[str, str]:
    """Writes the segment and track confusion matrices; returns ``{artifact: file name}``."""
    images: dict[str, str] = {}
    for level in ("segment", "track"):
        if level not in metrics.levels:
            continue
        name = f"confusion_matrix_{level}.png"
        entry = metrics.levels[level]
        figure = confusion_matrix_figure(
            [list(row) for row in entry.confusion_matrix],
            entry.class_names,
            title=f"Confusion matrix ({level}, accuracy {entry.accuracy:.3f})",
        )
        _write_bytes(os.path.join(out, name), figure_to_png(figure))
        images[f"confusion_matrix_{level}"] = name
    return images


def _write_training_curves(history_path: str, out: str) -> dict[str, str]:
    """Writes ``training_curves.png`` from a history CSV; ``{}`` when it has no rows.

    Raises:
        ConfigError: If ``history_path`` does not exist.
    """
    if not tf.io.gfile.exists(history_path):
        raise ConfigError(f"history_csv={history_path!r} does not exist")
    history = read_history(history_path)
    if not (history and any(history.values())):
        logger.warning("history %s has no rows; no training curves drawn", history_path)
        return {}
    name = "training_curves.png"
    _write_bytes(os.path.join(out, name), figure_to_png(training_curves_figure(history)))
    return {"training_curves": name}
