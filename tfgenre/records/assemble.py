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

from tfgenre.core import io, layout
from tfgenre.core.tracks import Skip
from tfgenre.records.info import (
    AudioSpec,
    RecordsInfo,
    SkippedInput,
    SplitInfo,
    WriteCounts,
    package_versions,
)
from tfgenre.records.plan import Unit, state_path
from tfgenre.records.unit_state import UnitState
from tfgenre.records.writer_config import WriterConfig, view_specs
from tfgenre.splitting import splits
from tfgenre.splitting.protocols import UNKNOWN_PROTOCOL, Protocol

States = Mapping[str, UnitState]


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
) -> RecordsInfo:
    """The records' :class:`~tfgenre.records.info.RecordsInfo`, from the units' state files.

    ``excluded`` (track ids in no split list) are not inputs: they do not count towards
    ``skip_fraction``.
    """
    views = dict(view_specs(cfg, cfg.audio.window_samples))
    split_infos, unit_skips, padded = _split_infos(cfg.output, units, states, labels)
    skipped = [SkippedInput(s.path, s.reason) for s in source_skips] + unit_skips
    if "features" in views:
        spec = views["features"]
        mean, std, stats_split = _feature_stats(units, states, len(spec.feature_names or ()))
        views["features"] = spec.with_stats(mean, std, stats_split)
    inputs = sum(len(u.tracks) for u in units) + len(source_skips)
    written = sum(len(states[u.key].tracks) for u in units)
    a = cfg.audio
    return RecordsInfo(
        labels=tuple(labels),
        audio=AudioSpec(
            sample_rate=a.sample_rate,
            window_samples=a.window_samples,
            hop_samples=a.hop_samples,
            window_seconds=a.window_seconds or None,
            hop_seconds=a.resolved_hop_seconds,
            short_tracks=a.short_tracks,
        ),
        views=views,
        splits=split_infos,
        source=cfg.source,
        config=cfg.content_dict(),
        config_hash=content_hash,
        versions=package_versions(),
        split_policy=policy,
        protocol=protocol,
        excluded=tuple(sorted(excluded)),
        track_groups=_track_groups(units, states),
        padded=tuple(sorted(padded)),
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        counts=WriteCounts(
            inputs=inputs,
            written=written,
            skipped=len(skipped),
            padded=len(padded),
            skip_fraction=(len(skipped) / inputs) if inputs else 0.0,
        ),
        root=cfg.output,
    )


def _split_infos(
    output: str, units: list[Unit], states: States, labels: list[str]
) -> tuple[dict[str, SplitInfo], list[SkippedInput], list[str]]:
    """Per split its counts and shards; the units' skipped inputs; the padded track ids."""
    entries: dict[str, dict[str, Any]] = {}
    skipped: list[SkippedInput] = []
    padded: list[str] = []
    for u in units:
        st = states[u.key]
        entry = entries.setdefault(
            u.split,
            {
                "tracks": 0,
                "examples": 0,
                "bytes": 0,
                "counts": dict.fromkeys(labels, 0),
                "shards": [],
            },
        )
        for t in st.tracks:
            entry["counts"][t.label] += t.segments
        entry["tracks"] += len(st.tracks)
        entry["examples"] += sum(t.segments for t in st.tracks)
        entry["bytes"] += sum(s.num_bytes for s in st.shards)
        for s in st.shards:  # a state file's path must lie in the folder, as the manifest's
            io.inside(output, s.file, f"{state_path(output, u)}: shards file")
        entry["shards"].extend(st.shards)
        skipped.extend(st.skipped)
        padded.extend(st.padded)
    infos = {
        split: SplitInfo(
            name=split,
            num_tracks=e["tracks"],
            num_examples=e["examples"],
            num_bytes=e["bytes"],
            label_counts=e["counts"],
            shards=tuple(sorted(e["shards"], key=lambda s: (s.view, s.file))),
        )
        for split, e in entries.items()
    }
    return infos, skipped, padded


def _track_groups(units: list[Unit], states: States) -> dict[str, str]:
    """The artist of each written track, when the source knows it (fit/baselines --folds)."""
    written_ids = {t.track_id for u in units for t in states[u.key].tracks}
    track_groups = {
        t.track_id: t.group
        for u in units
        for t in u.tracks
        if t.group and t.track_id in written_ids
    }
    return dict(sorted(track_groups.items()))


def _feature_stats(
    units: list[Unit], states: States, width: int
) -> tuple[list[float], list[float], str]:
    """The features view's ``mean``, ``std`` (0 -> 1) and ``stats_split``.

    Over the train split's segments; over every segment when there is no train split
    (``stats_split: all``).
    """
    rows = [r.values for u in units if u.split == "train" for r in states[u.key].feature_rows]
    stats_split = "train"
    if not rows:  # no train split: fall back to everything, and say so
        stats_split = "all"
        rows = [r.values for u in units for r in states[u.key].feature_rows]
    values = np.asarray(rows, dtype=np.float64).reshape(-1, width)  # (segments, width)
    mean = values.mean(axis=0) if len(values) else np.zeros(width)
    std = values.std(axis=0) if len(values) else np.ones(width)
    return [float(x) for x in mean], [float(x) if x > 0 else 1.0 for x in std], stats_split


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
        for r in states[u.key].feature_rows:
            rows.append((u.split, r.track_id, r.segment, r))
    order = {name: i for i, name in enumerate(splits.SPLIT_NAMES)}
    rows.sort(key=lambda x: (order[x[0]], x[1], x[2]))
    for split, _, _, r in rows:
        w.writerow(
            [
                r.filename,
                r.length,
                *[repr(v) for v in r.values],
                r.label,
                r.track_id,
                r.segment,
                split,
            ]
        )
    io.write_text_atomic(io.join(cfg.output, layout.FEATURES_CSV), buf.getvalue())
