"""The per-track predictions file (``tracks.csv``) of a report folder.

One row per track: its true label, the class of its mean probability and of its
majority vote, its number of segments and its mean probability per class. ``tfgenre
.compare`` reads it to line runs up track by track.
"""

from __future__ import annotations

import csv
import io as std_io
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre.core import io
from tfgenre.errors import ConfigError


def track_prediction_rows(
    probs: np.ndarray,
    labels: np.ndarray,
    track_ids: np.ndarray | Sequence[Any],
    class_names: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per track: what ``evaluate_predictions`` scored at track level.

    Args:
        probs: Segment class probabilities, shape (n_segments, n_classes).
        labels: True class indices, shape (n_segments,).
        track_ids: Track id of each segment, shape (n_segments,).
        class_names: The n_classes class names.

    Returns:
        Rows ``{"track_id", "label", "predicted", "predicted_vote", "num_segments",
        "p_<class>"...}`` (labels as class names, ``p_`` the mean probability), in order
        of first appearance.
    """
    from tfgenre.evaluation.metrics import aggregate_tracks

    tracks = aggregate_tracks(probs, labels, track_ids)
    names = [str(n) for n in class_names]
    rows = []
    for i, track in enumerate(tracks["track_ids"]):
        row: dict[str, Any] = {
            "track_id": track.decode() if isinstance(track, bytes) else str(track),
            "label": names[tracks["labels"][i]],
            "predicted": names[tracks["pred_mean"][i]],
            "predicted_vote": names[tracks["pred_vote"][i]],
            "num_segments": int(tracks["num_segments"][i]),
        }
        row.update(
            {f"p_{name}": f"{tracks['mean_probs'][i, j]:.6g}" for j, name in enumerate(names)}
        )
        rows.append(row)
    return rows


def read_track_predictions(path: str) -> list[dict[str, str]]:
    """Reads a ``tracks.csv`` (:func:`tfgenre.evaluation.report.write_report`) as rows of strings.

    Raises:
        ConfigError: If the file lacks the ``track_id``, ``label`` or ``predicted`` column.
    """
    reader = csv.DictReader(std_io.StringIO(io.read_text(path)))
    missing = {"track_id", "label", "predicted"} - set(reader.fieldnames or [])
    if missing:
        raise ConfigError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
    return list(reader)


def track_predictions_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`track_prediction_rows` as CSV text (empty without rows)."""
    buffer = std_io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()
