"""The k-fold assignment shared by ``fit --folds K`` and ``baselines --folds K``.

Every track of the data (all splits pooled) goes to one of K folds: stratified by label,
grouped by artist when the data knows it (a track's group) and by track otherwise, and
deterministic from the seed. Fit and baselines call :func:`assign_folds` on the same
tracks with the same seed, so the same tracks form each test fold and their numbers are
comparable.

For fold ``k`` of a deep model (:func:`fold_splits`): test = fold ``k``; validation = a
grouped, stratified :data:`VALIDATION_FRACTION` of the other folds' tracks (for early
stopping and the best checkpoint; made by :func:`tfgenre.splitting.splits.assign_splits` with the
same seed); train = the rest. Nothing is ever selected on the test fold.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import numbers
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from tfgenre.errors import ConfigError
from tfgenre.records.info import RecordsInfo

logger = logging.getLogger(__name__)

#: Share of the training folds' tracks held out for validation in a deep fold run.
VALIDATION_FRACTION = 0.2


@dataclasses.dataclass(frozen=True)
class FoldAssignment:
    """Tracks assigned to K folds.

    Attributes:
        k: Number of folds.
        seed: The seed of the assignment.
        grouped_by: ``artist`` when the tracks carry groups, else ``track``.
        fold_of: ``{track_id: fold index in [0, k)}``.
        labels: ``{track_id: label}``.
        groups: ``{track_id: group}`` for the tracks that have one.
    """

    k: int
    seed: int
    grouped_by: str
    fold_of: dict[str, int]
    labels: dict[str, Any]
    groups: dict[str, str]

    def tracks(self, fold: int) -> list[str]:
        """The track ids of ``fold``, sorted."""
        return sorted(t for t, f in self.fold_of.items() if f == fold)

    def protocol(self) -> dict[str, Any]:
        """How the folds were made, for reports and summaries."""
        return {
            "kind": "grouped_kfold",
            "k": self.k,
            "stratified": "label",
            "grouped_by": self.grouped_by,
            "seed": self.seed,
            "tracks": len(self.fold_of),
        }


def _key(seed: int, text: str) -> str:
    return hashlib.sha256(f"folds:{seed}:{text}".encode()).hexdigest()


def assign_folds(
    tracks: Iterable[tuple[str, Any, str | None]],
    k: int,
    seed: int = 0,
    *,
    label_names: Sequence[str] | None = None,
) -> FoldAssignment:
    """Assigns every track to one of ``k`` folds: stratified, grouped, deterministic.

    Groups (the artist when given, else the track itself) are visited largest first,
    ties in an order fixed by a hash of (seed, group id); each goes to the fold that
    holds the fewest tracks of the group's labels (relative to each label's total),
    then the smallest fold, then the lowest index. The result depends only on the set
    of tracks, ``k`` and ``seed`` (not on the order the tracks come in).

    Args:
        tracks: ``(track_id, label, group or None)`` per track; a track id may repeat
            (one per segment row) with the same label.
        k: Number of folds, >= 2.
        seed: Changes the assignment; the same seed gives the same folds.
        label_names: Class names by index, for messages when labels are indices (a
            message names ``blues``, not ``0``).

    Returns:
        The assignment.

    Raises:
        ConfigError: when ``k`` < 2, a track has two labels, or a label has fewer
            tracks than folds.
    """
    if k < 2:
        raise ConfigError(f"folds={k} must be >= 2")

    def name(label: Any) -> str:
        integral = isinstance(label, numbers.Integral) and not isinstance(label, bool)
        if label_names is not None and integral and 0 <= int(label) < len(label_names):
            return str(label_names[int(label)])
        return str(label)

    labels: dict[str, Any] = {}
    groups: dict[str, str] = {}
    for track_id, label, group in tracks:
        track_id = str(track_id)
        if labels.setdefault(track_id, label) != label:
            raise ConfigError(
                f"track {track_id!r} has two labels ({name(labels[track_id])}, {name(label)})"
            )
        if group:
            groups[track_id] = str(group)
    if not labels:
        raise ConfigError("no tracks to assign to folds")
    per_label = Counter(labels.values())
    fewest_label, fewest = min(per_label.items(), key=lambda kv: (kv[1], str(kv[0])))
    if fewest < k:
        hint = f"; use --folds {fewest} or fewer" if fewest >= 2 else ""
        raise ConfigError(
            f"folds={k} is more than the {fewest} track(s) of the smallest class "
            f"({name(fewest_label)}){hint}"
        )
    members: dict[str, list[str]] = defaultdict(list)
    for track_id in labels:
        gid = f"group:{groups[track_id]}" if track_id in groups else f"track:{track_id}"
        members[gid].append(track_id)
    counts = [Counter() for _ in range(k)]
    sizes = [0] * k
    fold_of: dict[str, int] = {}
    for gid in sorted(members, key=lambda g: (-len(members[g]), _key(seed, g))):
        tally = Counter(labels[t] for t in members[gid])

        def cost(f: int, tally: Counter = tally) -> tuple[float, int, int]:
            load = sum(n * counts[f][lab] / per_label[lab] for lab, n in tally.items())
            return load, sizes[f], f

        best = min(range(k), key=cost)
        for t in members[gid]:
            fold_of[t] = best
        counts[best].update(tally)
        sizes[best] += len(members[gid])
    grouped_by = "artist" if groups else "track"
    if groups:
        per_label_groups = Counter(
            Counter(labels[t] for t in ts).most_common(1)[0][0] for ts in members.values()
        )
        thin = sorted(name(lab) for lab, n in per_label_groups.items() if n < k)
        if thin:
            logger.warning(
                "folds=%d: label(s) %s have fewer groups (artists) than folds, so some "
                "test folds lack them",
                k,
                ", ".join(thin),
            )
    return FoldAssignment(k, seed, grouped_by, fold_of, labels, groups)


def fold_splits(
    assignment: FoldAssignment, fold: int, validation: float = VALIDATION_FRACTION
) -> dict[str, str]:
    """``{track_id: train | validation | test}`` of fold ``fold`` for a deep model.

    Test is fold ``fold``; validation is a grouped, stratified ``validation`` share of
    the other folds' tracks (:func:`tfgenre.splitting.splits.assign_splits`, the assignment's
    seed); train is the rest.

    Raises:
        ConfigError: when ``fold`` is not in ``[0, k)``.
    """
    from tfgenre.core.tracks import Track
    from tfgenre.splitting.splits import assign_splits

    if not 0 <= fold < assignment.k:
        raise ConfigError(f"fold={fold} must be in [0, {assignment.k})")
    out = {t: "test" for t in assignment.tracks(fold)}
    rest = sorted(t for t, f in assignment.fold_of.items() if f != fold)
    if validation > 0:
        pool = [Track(t, "", str(assignment.labels[t]), assignment.groups.get(t)) for t in rest]
        fractions = {"train": 1.0 - validation, "validation": validation}
        for track in assign_splits(pool, fractions, seed=assignment.seed):
            out[track.track_id] = str(track.split)
    else:
        out.update(dict.fromkeys(rest, "train"))
    return out


def records_groups(info: RecordsInfo) -> dict[str, str]:
    """``{track_id: group}`` stored in a records manifest (``track_groups``), or empty."""
    return {str(t): str(g) for t, g in info.track_groups.items() if g}


# ----------------------------------------------------------------------------- fold data


def table_fold(table: Any, features_csv: str, k: int, fold: int, seed: int) -> Any:
    """A features table split for fold ``fold`` of ``k`` (every row of every split pooled).

    Args:
        table: The :class:`tfgenre.views.feature_table.FeatureTable` as read from ``features_csv``.
        features_csv: The CSV (for its group column).
        k: Number of folds.
        fold: The test fold.
        seed: The assignment seed.

    Returns:
        The table with splits train/validation/test of the fold (:func:`fold_splits`).
    """
    from tfgenre.splitting.protocols import looks_like_gtzan, random_protocol
    from tfgenre.views.feature_table import csv_track_groups, refold_table

    groups = csv_track_groups(features_csv)
    rows = [
        (str(t), int(label), groups.get(str(t)))
        for _, y, ids in table.splits.values()
        for t, label in zip(ids, y)
    ]
    assignment = assign_folds(rows, k, seed, label_names=table.labels)
    policy = {**assignment.protocol(), "fold": fold, "validation": VALIDATION_FRACTION}
    folded = refold_table(table, fold_splits(assignment, fold), policy)
    # random folds: GTZAN without artists leaks them
    protocol = random_protocol(
        gtzan=looks_like_gtzan(assignment.fold_of),
        artist_groups=assignment.grouped_by == "artist",
    )
    return dataclasses.replace(folded, protocol=protocol)


def records_fold(
    manifest: Any, k: int, fold: int, seed: int, *, skip_corrupt: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tracks of fold ``fold`` of ``k`` in a records folder (every split pooled).

    Args:
        manifest: The records' :class:`tfgenre.records.info.RecordsInfo`.
        k: Number of folds.
        fold: The test fold.
        seed: The assignment seed.
        skip_corrupt: Skip unreadable records while listing the tracks.

    Returns:
        ``({split: TrackSelection}, info)``: a selection per non-empty split of the
        fold, and ``info`` with the protocol and the per-split label counts (segments).
    """
    from tfgenre.training.data import TrackSelection, records_tracks

    tracks = records_tracks(manifest, skip_corrupt=skip_corrupt)
    groups = records_groups(manifest)
    assignment = assign_folds(
        ((t, label, groups.get(t)) for t, (label, _) in tracks.items()),
        k,
        seed,
        label_names=manifest.labels,
    )
    split_of = fold_splits(assignment, fold)
    selections: dict[str, Any] = {}
    label_counts: dict[str, list[int]] = {}
    for name in ("train", "validation", "test"):
        ids = frozenset(t for t, s in split_of.items() if s == name)
        if not ids:
            continue
        n = sum(tracks[t][1] for t in ids)
        selections[name] = TrackSelection(tuple(manifest.split_names), ids, n)
        counts = [0] * len(manifest.labels)
        for t in ids:
            counts[tracks[t][0]] += tracks[t][1]
        label_counts[name] = counts
    info = {
        **assignment.protocol(),
        "fold": fold,
        "validation": VALIDATION_FRACTION,
        "label_counts": label_counts,
    }
    return selections, info
