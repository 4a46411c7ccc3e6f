"""Assembling the outputs of a write from its units' state files.

:func:`assemble_manifest` builds ``manifest.json``'s content, :func:`write_features_csv`
writes ``features.csv`` (the GTZAN ``features_3_sec.csv`` layout). Both read only the
plan and the state files, so they give the same result whichever executor wrote the
units, and whether or not a rerun resumed.
"""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfgenre import io, splits
from tfgenre.protocols import UNKNOWN_PROTOCOL, Protocol
from tfgenre.records import manifest
from tfgenre.records.plan import Unit
from tfgenre.records.writer_config import WriterConfig, view_specs
from tfgenre.sources.base import Skip

FEATURES_CSV = "features.csv"

States = Mapping[str, dict[str, Any]]


def assemble_manifest(
    cfg: WriterConfig,
    units: list[Unit],
    states: States,
    labels: list[str],
    policy: dict[str, Any],
    source_skips: list[Skip],
    content_hash: str,
    *,
    protocol: Protocol = UNKNOWN_PROTOCOL,
    excluded: Sequence[str] = (),
) -> dict[str, Any]:
    """Builds manifest.json's content from the units' state files.

    ``protocol`` goes in as ``protocol``; ``excluded`` (track ids in no split list) as
    ``excluded: {count, tracks}``. Excluded tracks are not inputs: they do not count
    towards ``skip_fraction``.
    """
    specs = view_specs(cfg, cfg.audio.window_samples)
    views_json = {name: spec.to_json() for name, spec in specs.items()}
    split_json, unit_skips, padded = _split_entries(units, states, labels)
    skipped = [{"path": s.path, "reason": s.reason} for s in source_skips] + unit_skips
    if "features" in views_json:
        width = len(views_json["features"]["feature_names"])
        views_json["features"].update(_feature_stats(units, states, width))
    inputs = sum(len(u.tracks) for u in units) + len(source_skips)
    written = sum(len(states[u.key]["tracks"]) for u in units)
    a = cfg.audio
    return {
        "format_version": manifest.FORMAT_VERSION,
        "versions": manifest.package_versions(),
        "config_hash": content_hash,
        "config": cfg.content_dict(),
        "source": cfg.source,
        "labels": labels,
        "sample_rate": a.sample_rate,
        "window_seconds": a.window_seconds or None,
        "hop_seconds": (a.hop_seconds or a.window_seconds) or None,
        "window_samples": a.window_samples,
        "hop_samples": a.hop_samples,
        "short_tracks": a.short_tracks,
        "views": views_json,
        "splits": split_json,
        "split_policy": policy,
        "protocol": protocol.to_json(),
        "excluded": {"count": len(excluded), "tracks": sorted(excluded)},
        "track_groups": _track_groups(units, states),
        "padded": sorted(padded),
        "skipped": sorted(skipped, key=lambda s: s["path"]),
        "counts": {
            "inputs": inputs,
            "written": written,
            "skipped": len(skipped),
            "padded": len(padded),
            "skip_fraction": (len(skipped) / inputs) if inputs else 0.0,
        },
    }


def _split_entries(
    units: list[Unit], states: States, labels: list[str]
) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """Per split its counts and shards; the units' skipped inputs; the padded track ids."""
    split_json: dict[str, Any] = {}
    skipped: list[dict[str, str]] = []
    padded: list[str] = []
    for u in units:
        st = states[u.key]
        entry = split_json.setdefault(
            u.split,
            {
                "num_tracks": 0,
                "num_examples": 0,
                "num_bytes": 0,
                "label_counts": dict.fromkeys(labels, 0),
                "shards": [],
            },
        )
        for t in st["tracks"]:
            entry["label_counts"][t["label"]] += t["segments"]
        entry["num_tracks"] += len(st["tracks"])
        entry["num_examples"] += sum(t["segments"] for t in st["tracks"])
        entry["num_bytes"] += sum(s["num_bytes"] for s in st["shards"])
        entry["shards"].extend(st["shards"])
        skipped.extend(st["skipped"])
        padded.extend(st["padded"])
    for entry in split_json.values():
        entry["shards"].sort(key=lambda s: (s["view"], s["file"]))
    return split_json, skipped, padded


def _track_groups(units: list[Unit], states: States) -> dict[str, str]:
    """The artist of each written track, when the source knows it (fit/baselines --folds)."""
    written_ids = {t["track_id"] for u in units for t in states[u.key]["tracks"]}
    track_groups = {
        t.track_id: t.group
        for u in units
        for t in u.tracks
        if t.group and t.track_id in written_ids
    }
    return dict(sorted(track_groups.items()))


def _feature_stats(units: list[Unit], states: States, width: int) -> dict[str, Any]:
    """The features view's ``mean``, ``std`` (0 -> 1) and ``stats_split``.

    Over the train split's segments; over every segment when there is no train split
    (``stats_split: all``).
    """
    rows = [r["values"] for u in units if u.split == "train" for r in states[u.key]["feature_rows"]]
    stats_split = "train"
    if not rows:  # no train split: fall back to everything, and say so
        stats_split = "all"
        rows = [r["values"] for u in units for r in states[u.key]["feature_rows"]]
    values = np.asarray(rows, dtype=np.float64).reshape(-1, width)  # (segments, width)
    mean = values.mean(axis=0) if len(values) else np.zeros(width)
    std = values.std(axis=0) if len(values) else np.ones(width)
    return {
        "mean": [float(x) for x in mean],
        "std": [float(x) if x > 0 else 1.0 for x in std],
        "stats_split": stats_split,
    }


def write_features_csv(
    cfg: WriterConfig,
    units: list[Unit],
    states: States,
    feature_names: list[str],
) -> None:
    """``features.csv``: filename, length, the 57 features, label, track_id, segment, split."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["filename", "length", *feature_names, "label", "track_id", "segment", "split"])
    rows = []
    for u in units:
        for r in states[u.key]["feature_rows"]:
            rows.append((u.split, r["track_id"], r["segment"], r))
    order = {name: i for i, name in enumerate(splits.SPLIT_NAMES)}
    rows.sort(key=lambda x: (order[x[0]], x[1], x[2]))
    for split, _, _, r in rows:
        w.writerow(
            [
                r["filename"],
                r["length"],
                *[repr(v) for v in r["values"]],
                r["label"],
                r["track_id"],
                r["segment"],
                split,
            ]
        )
    io.write_text_atomic(io.join(cfg.output, FEATURES_CSV), buf.getvalue())
