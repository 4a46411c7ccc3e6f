"""How ``python -m tfgenre.predict`` writes its results: a table, JSON or CSV.

Each formatter takes a sequence of :class:`~tfgenre.inference.prediction.TrackPrediction`, the
number of labels to list and whether to add the per-segment timeline, and returns the
whole text (see :mod:`tfgenre.predict` for the layouts). Genre predictions and the
tags of a pretrained tagger share the layouts; the JSON key and the CSV columns say
which (``genres``/``genre_1`` or ``tags``/``tag_1``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

FORMATS: tuple[str, ...] = ("table", "json", "csv")


def format_table(results: Sequence[Any], top_k: int, segments: bool) -> str:
    """Human-readable lines: path, duration, then ``genre probability`` pairs."""
    lines = []
    for r in results:
        genres = "  ".join(f"{label} {p:.3f}" for label, p in r.top(top_k))
        note = (", padded" if r.padded else "") + (", SILENT" if r.silent else "")
        lines.append(f"{r.path}  ({r.duration_seconds:.1f} s, {r.num_segments} seg{note})")
        lines.append(f"    {genres}")
        if segments:
            for i in range(r.num_segments):
                start, end = r.segment_span(i)
                seg = "  ".join(f"{label} {p:.3f}" for label, p in r.segment_top(i, top_k))
                lines.append(f"    {start:7.2f}-{end:7.2f} s  {seg}")
    return "\n".join(lines) + ("\n" if lines else "")


def format_json(results: Sequence[Any], top_k: int, segments: bool) -> str:
    """The JSON list (see the module docstring)."""
    return json.dumps([r.to_json(top_k, segments) for r in results], indent=2) + "\n"


def csv_header(kind: str, k: int) -> list[str]:
    """The CSV columns for ``k`` labels of ``kind`` (``genre`` or ``tag``)."""
    head = ["path", "level", "segment", "start_seconds", "end_seconds", "padded", "silent"]
    for i in range(1, k + 1):
        head += [f"{kind}_{i}", f"probability_{i}"]
    return head


def csv_rows(r: Any, k: int, segments: bool) -> list[list[Any]]:
    """The CSV rows of one prediction: its track row, then one per segment with ``segments``."""
    flags = {True: "true", False: "false"}

    def pairs(top: list[tuple[str, float]]) -> list[Any]:
        return [x for label, p in top for x in (label, f"{p:.6f}")]

    track_flags = [flags[bool(r.padded)], flags[bool(r.silent)]]
    span = ["0.000", f"{r.duration_seconds:.3f}"]
    rows = [[r.path, "track", "", *span, *track_flags, *pairs(r.top(k))]]
    if segments:
        for i in range(r.num_segments):
            start, end = r.segment_span(i)
            rows.append(
                [
                    r.path,
                    "segment",
                    i,
                    f"{start:.3f}",
                    f"{end:.3f}",
                    *track_flags,
                    *pairs(r.segment_top(i, k)),
                ]
            )
    return rows


def format_csv(results: Sequence[Any], top_k: int, segments: bool) -> str:
    """CSV rows per file and, with ``segments``, per segment."""
    k = min(top_k, len(results[0].labels)) if results else top_k
    kind = results[0].kind if results else "genre"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header(kind, k))
    for r in results:
        w.writerows(csv_rows(r, k, segments))
    return buf.getvalue()


FORMATTERS: dict[str, Callable[[Sequence[Any], int, bool], str]] = {
    "table": format_table,
    "json": format_json,
    "csv": format_csv,
}
