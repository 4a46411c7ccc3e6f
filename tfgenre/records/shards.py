"""Shard writing: one unit's tracks -> one shard file per view, and the unit's state file.

Each shard is written as ``<view>/<split>.tfrecord-<k>-of-<n>.incomplete`` and renamed
when complete; the unit's state file (written last, atomically, see
:func:`tfgenre.records.plan.state_path`) lists its tracks, skips, padded tracks, feature
rows and shard files with their example counts, sizes and sha256, and is what marks the
unit done.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from tfgenre.core import io, layout
from tfgenre.core.tracks import Track
from tfgenre.errors import RecordsError
from tfgenre.records import example, naming
from tfgenre.records.compute import TrackResult, computed_tracks
from tfgenre.records.info import ShardInfo, SkippedInput
from tfgenre.records.plan import Unit, state_path
from tfgenre.records.unit_state import FeatureRow, UnitState, WrittenTrack
from tfgenre.records.writer_config import WriterConfig

logger = logging.getLogger(__name__)


def write_unit(unit: Unit, cfg: WriterConfig, labels: list[str]) -> UnitState:
    """Computes and writes one unit in this process; returns its state.

    The function a pool worker or a Beam worker runs for a whole unit.
    """
    return write_shards(unit, cfg, labels, computed_tracks(unit.tracks, cfg))


def write_shards(
    unit: Unit, cfg: WriterConfig, labels: list[str], results: Iterable[TrackResult]
) -> UnitState:
    """Writes one unit's shards (all views) and its state file; returns the state.

    Shards are written as ``*.incomplete`` and renamed only when complete; the state
    file (written last, atomically) is what marks the unit done.

    Args:
        unit: The unit.
        cfg: Writer config.
        labels: Label names (their index is the stored label).
        results: The :class:`TrackResult` of each of ``unit.tracks``, in that order
            (consumed one at a time, so a generator keeps one track in memory).

    Returns:
        The unit's state (as written to its state file).

    Raises:
        RecordsError: when ``results`` are not those of ``unit.tracks`` in order.
    """
    import tensorflow as tf

    label_index = {name: i for i, name in enumerate(labels)}
    files = {v: naming.shard_name(v, unit.split, unit.index, unit.num_shards) for v in cfg.views}
    for rel in files.values():
        io.makedirs(io.join(cfg.output, rel.split("/")[0]))
    writers = {
        v: tf.io.TFRecordWriter(io.join(cfg.output, rel) + layout.INCOMPLETE_SUFFIX)
        for v, rel in files.items()
    }
    state: dict[str, list[Any]] = {
        "tracks": [],
        "skipped": [],
        "padded": [],
        "feature_rows": [],
    }
    examples = 0
    try:
        for track, result in zip(unit.tracks, results, strict=True):
            if result.track.track_id != track.track_id:
                raise RecordsError(
                    f"unit {unit.key}: got the result of {result.track.track_id!r} "
                    f"where {track.track_id!r} was expected"
                )
            examples += _write_track(track, result, cfg, label_index, writers, state)
    finally:
        for w in writers.values():
            w.close()
    shards = [_finish_shard(cfg.output, v, unit.split, rel, examples) for v, rel in files.items()]
    done = UnitState(
        unit=unit.key,
        split=unit.split,
        tracks=tuple(state["tracks"]),
        skipped=tuple(state["skipped"]),
        padded=tuple(state["padded"]),
        feature_rows=tuple(state["feature_rows"]),
        shards=tuple(shards),
    )
    done.write(state_path(cfg.output, unit))
    return done


def _write_track(
    track: Track,
    result: TrackResult,
    cfg: WriterConfig,
    label_index: Mapping[str, int],
    writers: Mapping[str, Any],
    state: dict[str, list[Any]],
) -> int:
    """Writes one track's examples to every view's shard and notes it in ``state``.

    Returns:
        The number of segments written per view (0 for a skipped track).
    """
    if result.skip_reason:
        logger.warning("skipped %s: %s", track.path, result.skip_reason)
        state["skipped"].append(SkippedInput(track.path, result.skip_reason))
        return 0
    assert result.payloads is not None
    n_seg = next(iter(result.payloads.values())).shape[0]
    for name, arr in result.payloads.items():
        for s in range(n_seg):
            writers[name].write(
                example.serialize(track.track_id, s, label_index[track.label], arr[s])
            )
    state["tracks"].append(WrittenTrack(track.track_id, track.label, n_seg, result.num_samples))
    if result.padded:
        state["padded"].append(track.track_id)
    if "features" in result.payloads:
        state["feature_rows"].extend(_feature_rows(track, result, cfg))
    return n_seg


def _feature_rows(track: Track, result: TrackResult, cfg: WriterConfig) -> list[FeatureRow]:
    """The rows of ``features.csv`` for one track's segments (as kept in the state)."""
    assert result.payloads is not None
    features = result.payloads["features"]
    base = os.path.basename(track.path)
    stem, ext = os.path.splitext(base)
    rows = []
    for s in range(features.shape[0]):
        filename = base if cfg.audio.window_samples is None else f"{stem}.{s}{ext}"
        rows.append(
            FeatureRow(
                filename=filename,
                length=result.segment_samples,
                values=tuple(float(x) for x in features[s]),
                label=track.label,
                track_id=track.track_id,
                segment=s,
            )
        )
    return rows


def _finish_shard(output: str, view: str, split: str, rel: str, examples: int) -> ShardInfo:
    """Renames a complete shard into place; returns its entry in the unit's state."""
    path = io.join(output, rel)
    io.rename(path + layout.INCOMPLETE_SUFFIX, path)
    return ShardInfo(view, split, rel, examples, io.size(path), io.sha256(path))
