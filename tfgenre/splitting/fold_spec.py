"""One fold of a k-fold cross-validation as a typed record: how it was made and its tracks.

A fold's run trains, validates and tests on tracks pooled from every split of its data
(:mod:`tfgenre.evaluation.folds` makes the assignment). :class:`FoldSpec` keeps what
that assignment decided for one fold, the track ids of each of its splits included, so
that a later reader (``run.json``: evaluate, export, tune) reads the fold's tracks
instead of assigning them again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tfgenre.errors import ConfigError

#: The splits of a fold's run, in order.
FOLD_SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class FoldSpec:
    """Fold ``fold`` of a ``k``-fold cross-validation and the tracks of its splits.

    Attributes:
        k: Number of folds.
        fold: The test fold, in ``[0, k)``.
        seed: The assignment's seed.
        grouped_by: ``artist`` when the tracks carried groups, else ``track``.
        validation: Share of the other folds' tracks held out for validation.
        total_tracks: Tracks assigned to the ``k`` folds.
        tracks: ``{split: track ids, sorted}`` per split of the fold (train, validation,
            test; empty splits left out). Empty only for a fold read from a run
            written before run.json kept them (its tracks must be assigned again).
        label_counts: ``{split: examples per label index}`` (segments), same keys.
        source_splits: The record splits whose shards hold the fold's tracks (a features
            CSV's splits for a CSV run), in order.
    """

    k: int
    fold: int
    seed: int
    grouped_by: str = "track"
    validation: float = 0.0
    total_tracks: int = 0
    tracks: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    label_counts: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    source_splits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.k >= 2 and 0 <= self.fold < self.k):
            raise ConfigError(f"fold={self.fold} needs k >= 2 and must be in [0, k={self.k})")
        unknown = sorted(set(self.tracks) - set(FOLD_SPLITS))
        if unknown:
            raise ConfigError(
                f"fold split(s) {', '.join(unknown)} must be one of {', '.join(FOLD_SPLITS)}"
            )

    @property
    def has_tracks(self) -> bool:
        """Whether the fold's tracks are known (False for a fold of an older run.json)."""
        return bool(self.tracks)

    def split_of(self) -> dict[str, str]:
        """``{track_id: split}`` of every track of the fold."""
        return {t: split for split, ids in self.tracks.items() for t in ids}

    def num_examples(self, split: str) -> int:
        """Examples (segments) of ``split``'s tracks."""
        return int(sum(self.label_counts.get(split, ())))

    def policy(self) -> dict[str, Any]:
        """How the fold was made (``split_policy`` of run.json, the summary's protocol)."""
        return {
            "kind": "grouped_kfold",
            "k": self.k,
            "stratified": "label",
            "grouped_by": self.grouped_by,
            "seed": self.seed,
            "tracks": self.total_tracks,
            "fold": self.fold,
            "validation": self.validation,
        }

    def to_json(self) -> dict[str, Any]:
        """The fold as JSON (track ids sorted per split)."""
        return {
            "k": self.k,
            "fold": self.fold,
            "seed": self.seed,
            "grouped_by": self.grouped_by,
            "validation": self.validation,
            "total_tracks": self.total_tracks,
            "source_splits": list(self.source_splits),
            "label_counts": {s: list(c) for s, c in self.label_counts.items()},
            "tracks": {s: list(ids) for s, ids in self.tracks.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FoldSpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            k=int(data["k"]),
            fold=int(data["fold"]),
            seed=int(data["seed"]),
            grouped_by=str(data.get("grouped_by") or "track"),
            validation=float(data.get("validation") or 0.0),
            total_tracks=int(data.get("total_tracks") or 0),
            tracks={
                str(s): tuple(str(t) for t in ids) for s, ids in (data.get("tracks") or {}).items()
            },
            label_counts={
                str(s): tuple(int(n) for n in c)
                for s, c in (data.get("label_counts") or {}).items()
            },
            source_splits=tuple(str(s) for s in data.get("source_splits") or ()),
        )
