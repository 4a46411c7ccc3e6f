"""A unit's state file (``<output>/.state/<split>-<k>-of-<n>.json``) as a typed object.

The writer writes one per (split, shard) unit when the unit's shards are complete
(:func:`tfgenre.records.shards.write_shards`); its existence marks the unit done, and
the manifest and ``features.csv`` are assembled from these files alone
(:mod:`tfgenre.records.assemble`), whichever executor wrote the units.
:meth:`UnitState.to_json` gives back exactly the keys :meth:`UnitState.from_json` read.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tfgenre.core import io
from tfgenre.core.json_fields import Fields, load_object
from tfgenre.errors import RecordsError
from tfgenre.records.info import ShardInfo, SkippedInput


@dataclasses.dataclass(frozen=True)
class WrittenTrack:
    """A track the unit wrote: its id, label, segments (per view) and decoded length."""

    track_id: str
    label: str
    segments: int
    num_samples: int

    def to_json(self) -> dict[str, Any]:
        """The state's ``tracks`` entry."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> WrittenTrack:
        """Inverse of :meth:`to_json`."""
        return cls(
            track_id=fields.text("track_id"),
            label=fields.text("label"),
            segments=fields.integer("segments"),
            num_samples=fields.integer("num_samples"),
        )


@dataclasses.dataclass(frozen=True)
class FeatureRow:
    """One segment's row of ``features.csv`` (the GTZAN ``features_3_sec.csv`` layout)."""

    filename: str
    length: int
    values: tuple[float, ...]
    label: str
    track_id: str
    segment: int

    def to_json(self) -> dict[str, Any]:
        """The state's ``feature_rows`` entry."""
        return {**dataclasses.asdict(self), "values": list(self.values)}

    @classmethod
    def from_json(cls, fields: Fields) -> FeatureRow:
        """Inverse of :meth:`to_json`."""
        values = fields.items("values")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            fields.fail("values", "must be a list of numbers")
        return cls(
            filename=fields.text("filename"),
            length=fields.integer("length"),
            values=tuple(values),
            label=fields.text("label"),
            track_id=fields.text("track_id"),
            segment=fields.integer("segment"),
        )


def _shard(fields: Fields, split: str) -> ShardInfo:
    return ShardInfo(
        view=fields.text("view"),
        split=split,
        file=fields.text("file"),
        examples=fields.integer("examples"),
        num_bytes=fields.integer("num_bytes"),
        sha256=fields.text("sha256"),
    )


def _skipped(fields: Fields) -> SkippedInput:
    return SkippedInput(fields.text("path"), fields.text("reason"))


@dataclasses.dataclass(frozen=True)
class UnitState:
    """What one finished unit wrote.

    Attributes:
        unit: The unit's key (``train-00000-of-00004``).
        split: Its split.
        tracks: The tracks written, in the unit's order.
        skipped: The inputs it could not use, and why.
        padded: Ids of the tracks shorter than one window, zero-padded.
        feature_rows: The ``features.csv`` rows of its segments (features view only).
        shards: Its shard files, one per view.
    """

    unit: str
    split: str
    tracks: tuple[WrittenTrack, ...] = ()
    skipped: tuple[SkippedInput, ...] = ()
    padded: tuple[str, ...] = ()
    feature_rows: tuple[FeatureRow, ...] = ()
    shards: tuple[ShardInfo, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The state file's object."""
        return {
            "unit": self.unit,
            "split": self.split,
            "tracks": [t.to_json() for t in self.tracks],
            "skipped": [s.to_json() for s in self.skipped],
            "padded": list(self.padded),
            "feature_rows": [r.to_json() for r in self.feature_rows],
            "shards": [s.to_json() for s in self.shards],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> UnitState:
        """Reads the object of a state file.

        Args:
            data: The decoded JSON.
            where: The file it came from, named in errors.

        Raises:
            RecordsError: naming the file and the key that breaks the layout.
        """
        fields = Fields(data, where, RecordsError)
        split = fields.text("split")
        each = fields.each
        return cls(
            unit=fields.text("unit"),
            split=split,
            tracks=tuple(WrittenTrack.from_json(f) for f in each("tracks")),
            skipped=tuple(_skipped(f) for f in each("skipped")),
            padded=fields.texts("padded"),
            feature_rows=tuple(FeatureRow.from_json(f) for f in each("feature_rows")),
            shards=tuple(_shard(f, split) for f in each("shards")),
        )

    @classmethod
    def load(cls, path: str) -> UnitState:
        """Reads the state file ``path``.

        Raises:
            RecordsError: when it is not JSON or breaks the layout.
        """
        return cls.from_json(load_object(path, RecordsError), path)

    def write(self, path: str) -> None:
        """Writes the state file atomically (sorted keys): the mark that the unit is done."""
        io.write_text_atomic(path, json.dumps(self.to_json(), sort_keys=True))


#: :func:`read_config_hash` of a state config or manifest that is not a JSON object.
UNREADABLE = "unreadable"


@dataclasses.dataclass(frozen=True)
class WriteStamp:
    """``<output>/.state/config.json``: the configuration a records folder is written with.

    Written before the first unit, so that a rerun with another configuration is told
    apart from a resumed one even before the manifest exists.

    Attributes:
        config_hash: Hash of ``config`` (:attr:`tfgenre.records.info.RecordsInfo.config_hash`).
        config: The writer's content config (what decides the records' bytes).
    """

    config_hash: str
    config: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The file's object: ``config_hash`` and ``config``."""
        return {"config_hash": self.config_hash, "config": dict(self.config)}

    def write(self, path: str) -> None:
        """Writes the stamp atomically (sorted keys)."""
        io.write_text_atomic(path, json.dumps(self.to_json(), sort_keys=True))


def read_config_hash(path: str) -> str | None:
    """The ``config_hash`` of a records folder's state config or manifest.

    Args:
        path: ``.state/config.json`` (a :class:`WriteStamp`) or ``manifest.json``: both
            carry the key at the top.

    Returns:
        The hash; None when the file has none (records of before the key); and
        :data:`UNREADABLE` when the file is not a JSON object (a damaged write), which
        no configuration's hash equals.
    """
    try:
        data = load_object(path, RecordsError)
    except RecordsError:
        return UNREADABLE
    value = data.get("config_hash")
    return None if value is None else str(value)
