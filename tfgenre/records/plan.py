"""Planning a write: the tracks and their splits, the work units, what is already done.

A unit is the tracks of one split's shard: :func:`make_units` puts each track in the
shard chosen by the stable hash of its id (:func:`tfgenre.records.naming.shard_of`), so
units can be written by independent workers. A unit is done when its state file
(:func:`state_path`) exists; :func:`pending_units` is what a rerun still has to write.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from tfgenre.core import io, layout
from tfgenre.core.tracks import Skip, Track
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.records import naming
from tfgenre.records.unit_state import UnitState
from tfgenre.records.writer_config import WriterConfig
from tfgenre.sources.registry import get_source, prepare_source
from tfgenre.splitting import splits
from tfgenre.splitting.protocols import SOURCE, Protocol, random_protocol, warn_if_leaky

STATE_DIR = layout.STATE_DIR


@dataclasses.dataclass(frozen=True)
class Unit:
    """One (split, shard) of work: the tracks of one split's shard.

    Attributes:
        split: The split.
        index: The shard's index in the split, from 0.
        num_shards: The split's number of shards.
        tracks: The shard's tracks, sorted by id.
    """

    split: str
    index: int
    num_shards: int
    tracks: tuple[Track, ...]

    @property
    def key(self) -> str:
        """File-name-safe id of the unit."""
        return f"{self.split}-{self.index:05d}-of-{self.num_shards:05d}"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What :func:`plan` decided before any work starts.

    Attributes:
        tracks: The tracks to write, with their splits, sorted by id.
        skipped: Inputs the source could not use (they count against max_skip_fraction).
        labels: Label names in index order.
        policy: How the splits were made (``split_policy`` in the manifest).
        protocol: The evaluation protocol (``protocol`` in the manifest).
        excluded: Track ids left out on purpose (in no list of a named split or of
            split_files); counted in the manifest, not skipped.
    """

    tracks: list[Track]
    skipped: list[Skip]
    labels: list[str]
    policy: dict[str, Any]
    protocol: Protocol
    excluded: tuple[str, ...] = ()


def plan(cfg: WriterConfig) -> Plan:
    """Lists, labels and splits the tracks; checks everything that can fail up front.

    The source's inputs are prepared first (:func:`~tfgenre.sources.registry.prepare_source`:
    the synthetic source writes its set there, the one place it is written).

    Returns:
        The tracks with splits, skipped and excluded inputs, label names, split policy
        and protocol. Logs the one-line warning when GTZAN is split at random.

    Raises:
        ConfigError: on a bad source layout, unknown labels or mixed source splits.
        TfgenreError: when the disjointness check fails.
    """
    prepare_source(cfg.source, cfg.input, **dict(cfg.source_options))
    source = get_source(cfg.source, cfg.input, **dict(cfg.source_options))
    tracks = list(source.tracks())
    skipped = list(source.skipped)
    excluded = tuple(getattr(source, "excluded", ()) or ())
    if not tracks:
        raise ConfigError(f"source {cfg.source!r} found no usable audio in {cfg.input!r}")
    seen: dict[str, str] = {}
    for t in tracks:
        if t.track_id in seen:
            raise ConfigError(f"duplicate track id {t.track_id!r}: {seen[t.track_id]} and {t.path}")
        seen[t.track_id] = t.path
    labels = list(cfg.labels) if cfg.labels else sorted({t.label for t in tracks})
    unknown = sorted({t.label for t in tracks} - set(labels))
    if unknown:
        raise ConfigError(f"labels {unknown} are not in labels={labels}")

    with_split = [t for t in tracks if t.split]
    if cfg.use_source_splits and with_split:
        if len(with_split) != len(tracks):
            raise ConfigError(
                f"the source gives a split for {len(with_split)} of {len(tracks)} tracks; "
                "give all or none (or set use_source_splits=false)"
            )
        bad = sorted({t.split for t in tracks} - set(splits.SPLIT_NAMES))
        if bad:
            raise ConfigError(f"source splits {bad} are not among {splits.SPLIT_NAMES}")
        policy: dict[str, Any] = {"kind": "source", "source": cfg.source}
    else:
        tracks = splits.assign_splits(tracks, cfg.splits, seed=cfg.seed)
        policy = {
            "kind": "stratified_grouped",
            "fractions": dict(cfg.splits),
            "seed": cfg.seed,
            "stratify": "label",
            "group": "group (artist) when known, else track",
        }
    tracks = splits.limit_per_split(tracks, cfg.limit_per_split)
    report = splits.require_disjoint(tracks, source_defined=policy["kind"] == "source")
    policy["disjoint_tracks"] = True
    policy["shared_groups"] = len(report.shared_groups)
    policy["segmented_after_split"] = True
    if cfg.limit_per_split:
        policy["limit_per_split"] = cfg.limit_per_split
    protocol = records_protocol(cfg, source, tracks, policy)
    warn_if_leaky(protocol, "GTZAN (gtzan source)", "--set source_options.split=fault_filtered")
    return Plan(
        sorted(tracks, key=lambda t: t.track_id), skipped, labels, policy, protocol, excluded
    )


#: Sources whose name is the dataset's (``synthetic``: clips tfgenre generated).
KNOWN_DATASETS: tuple[str, ...] = ("gtzan", "fma", "synthetic")


def records_protocol(
    cfg: WriterConfig, source: Any, tracks: list[Track], policy: Mapping[str, Any]
) -> Protocol:
    """The protocol of the planned split.

    The source's own protocol when it has one and its split is used (the gtzan source
    with ``split``/``split_files``); else ``random`` for fractions drawn here, grouped by
    artist when every track has a group; else ``source``.
    """
    artist_groups = bool(tracks) and all(t.group for t in tracks)
    gtzan = cfg.source == "gtzan"
    if policy["kind"] == "source":
        own = getattr(source, "protocol", None)
        if own is not None:
            return own
        return Protocol(
            SOURCE,
            grouping="artist" if artist_groups else "unknown",
            dataset=cfg.source if cfg.source in KNOWN_DATASETS else None,
            leaks_artists=bool(policy["shared_groups"]) if artist_groups else None,
        )
    return random_protocol(
        gtzan=gtzan,
        artist_groups=artist_groups,
        dataset=cfg.source if cfg.source in KNOWN_DATASETS else None,
    )


def make_units(tracks: list[Track], shards: int) -> list[Unit]:
    """Cuts tracks into (split, shard) units by the stable hash of their ids."""
    by_split: dict[str, list[Track]] = defaultdict(list)
    for t in tracks:
        by_split[str(t.split)].append(t)
    units = []
    for split in splits.SPLIT_NAMES:
        members = by_split.get(split, [])
        if not members:
            continue
        n = min(shards, len(members))
        buckets: dict[int, list[Track]] = defaultdict(list)
        for t in members:
            buckets[naming.shard_of(t.track_id, n)].append(t)
        for k in range(n):
            units.append(Unit(split, k, n, tuple(sorted(buckets[k], key=lambda t: t.track_id))))
    return units


def state_path(output: str, unit: Unit) -> str:
    """The state file that marks ``unit`` done: ``<output>/.state/<unit key>.json``."""
    return io.join(output, STATE_DIR, unit.key + ".json")


def pending_units(output: str, units: list[Unit]) -> list[Unit]:
    """The units of ``units`` that have no state file in ``output`` yet, in order."""
    return [u for u in units if not io.exists(state_path(output, u))]


def read_states(output: str, units: list[Unit]) -> dict[str, UnitState]:
    """Every unit's state, by unit key.

    Raises:
        RecordsError: when a unit has no state file (its executor did not finish it), or
            one that is not a state file of this unit.
    """
    states = {}
    for u in units:
        path = state_path(output, u)
        if not io.exists(path):
            raise RecordsError(f"unit {u.key} finished without its state file {path}")
        states[u.key] = read_state(path, u)
    return states


def read_state(path: str, unit: Unit) -> UnitState:
    """The state file ``path`` of ``unit``.

    Raises:
        RecordsError: when it breaks the layout or names another unit or split.
    """
    state = UnitState.load(path)
    if state.unit != unit.key or state.split != unit.split:
        raise RecordsError(
            f"{path}: key 'unit' is {state.unit!r} of split {state.split!r}; this file "
            f"belongs to unit {unit.key!r} of split {unit.split!r}"
        )
    return state
