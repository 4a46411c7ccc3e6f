"""The k-fold assignment shared by ``fit --folds K`` and ``baselines --folds K``.

Every track of the data (all splits pooled) goes to one of K folds: stratified by label,
grouped by artist when the data knows it (a track's group) and by track otherwise, and
deterministic from the seed. Fit and baselines call :func:`assign_folds` on the same
tracks with the same seed, so the same tracks form each test fold and their numbers are
comparable.

For fold ``k`` of a deep model (:func:`fold_splits`): test = fold ``k``; validation = a
grouped, stratified :data:`VALIDATION_FRACTION` of the other folds' tracks (for early
stopping and the best checkpoint; made by :func:`tfgenre.splitting.splits.assign_splits` with the
same seed); train = the rest. Nothing is ever selected on the test fold. The fold is kept
as a :class:`~tfgenre.splitting.fold_spec.FoldSpec` with its tracks (:func:`records_fold`,
:func:`table_fold`), which ``run.json`` stores and later readers apply
(:func:`apply_table_fold`, :func:`fold_selections`) without assigning again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import numbers
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tfgenre.errors import ConfigError
from tfgenre.records.info import RecordsInfo
from tfgenre.splitting.fold_spec import FOLD_SPLITS, FoldSpec

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
    name = _label_namer(label_names)
    labels, groups = _tracks_labels_groups(tracks, name)
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
    fold_of = _place_groups(members, labels, per_label, k, seed)
    if groups:
        _warn_thin_groups(members, labels, k, name)
    return FoldAssignment(k, seed, "artist" if groups else "track", fold_of, labels, groups)


def _label_namer(label_names: Sequence[str] | None) -> Callable[[Any], str]:
    """``label -> name`` for messages (an index is named by ``label_names``)."""

    def name(label: Any) -> str:
        integral = isinstance(label, numbers.Integral) and not isinstance(label, bool)
        if label_names is not None and integral and 0 <= int(label) < len(label_names):
            return str(label_names[int(label)])
        return str(label)

    return name


def _tracks_labels_groups(
    tracks: Iterable[tuple[str, Any, str | None]], name: Callable[[Any], str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``({track_id: label}, {track_id: group})``, refusing a track with two labels.

    Raises:
        ConfigError: when a track has two labels, or there are no tracks.
    """
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
    return labels, groups


def _place_groups(
    members: dict[str, list[str]],
    labels: dict[str, Any],
    per_label: Counter,
    k: int,
    seed: int,
) -> dict[str, int]:
    """``{track_id: fold}``: each group, largest first, to its least loaded fold."""
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
    return fold_of


def _warn_thin_groups(
    members: dict[str, list[str]], labels: dict[str, Any], k: int, name: Callable[[Any], str]
) -> None:
    """Warns about labels with fewer groups (artists) than folds."""
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


def fold_spec(
    assignment: FoldAssignment,
    fold: int,
    examples: Iterable[tuple[str, int, int]],
    num_labels: int,
    source_splits: Sequence[str],
) -> FoldSpec:
    """Fold ``fold`` of ``assignment`` with its tracks and label counts per split.

    Args:
        assignment: The folds.
        fold: The test fold.
        examples: ``(track_id, label index, examples)`` per track (or per row: a track
            may repeat), every track of the assignment.
        num_labels: Number of classes.
        source_splits: The data's splits the tracks are read from.
    """
    split_of = fold_splits(assignment, fold)
    counts = {name: [0] * num_labels for name in FOLD_SPLITS}
    for track_id, label, n in examples:
        counts[split_of[str(track_id)]][int(label)] += int(n)
    tracks = {
        name: tuple(sorted(t for t, s in split_of.items() if s == name)) for name in FOLD_SPLITS
    }
    return FoldSpec(
        k=assignment.k,
        fold=fold,
        seed=assignment.seed,
        grouped_by=assignment.grouped_by,
        validation=VALIDATION_FRACTION,
        total_tracks=len(assignment.fold_of),
        tracks={name: ids for name, ids in tracks.items() if ids},
        label_counts={name: tuple(counts[name]) for name, ids in tracks.items() if ids},
        source_splits=tuple(source_splits),
    )


def table_fold(table: Any, features_csv: str, k: int, fold: int, seed: int) -> FoldSpec:
    """Fold ``fold`` of ``k`` of a features table (every row of every split pooled).

    Args:
        table: The :class:`tfgenre.views.feature_table.FeatureTable` as read from
            ``features_csv``.
        features_csv: The CSV (for its group column).
        k: Number of folds.
        fold: The test fold.
        seed: The assignment seed.

    Returns:
        The fold with the tracks of its train/validation/test (:func:`fold_splits`).
    """
    from tfgenre.views.feature_table import csv_track_groups

    groups = csv_track_groups(features_csv)
    rows = [
        (str(t), int(label), groups.get(str(t)))
        for _, y, ids in table.splits.values()
        for t, label in zip(ids, y)
    ]
    assignment = assign_folds(rows, k, seed, label_names=table.labels)
    examples = ((t, label, 1) for t, label, _ in rows)
    return fold_spec(assignment, fold, examples, len(table.labels), list(table.splits))


def apply_table_fold(table: Any, spec: FoldSpec) -> Any:
    """``table`` split as ``spec`` says: its rows pooled, then split by the fold's tracks.

    Returns:
        The :class:`tfgenre.views.feature_table.FeatureTable` with splits
        train/validation/test of the fold, its policy and protocol.

    Raises:
        ConfigError: when a track of the table is not in the fold (another CSV).
    """
    from tfgenre.splitting.protocols import looks_like_gtzan, random_protocol
    from tfgenre.views.feature_table import refold_table

    split_of = spec.split_of()
    folded = refold_table(table, split_of, spec.policy())
    # random folds: GTZAN without artists leaks them
    protocol = random_protocol(
        gtzan=looks_like_gtzan(split_of), artist_groups=spec.grouped_by == "artist"
    )
    return dataclasses.replace(folded, protocol=protocol)


def records_fold(
    manifest: Any, k: int, fold: int, seed: int, *, skip_corrupt: bool = False
) -> FoldSpec:
    """Fold ``fold`` of ``k`` of a records folder (every split pooled).

    Args:
        manifest: The records' :class:`tfgenre.records.info.RecordsInfo`.
        k: Number of folds.
        fold: The test fold.
        seed: The assignment seed.
        skip_corrupt: Skip unreadable records while listing the tracks.

    Returns:
        The fold, its tracks and its per-split label counts (segments).
    """
    from tfgenre.tfdata.selection import records_tracks

    tracks = records_tracks(manifest, skip_corrupt=skip_corrupt)
    groups = records_groups(manifest)
    assignment = assign_folds(
        ((t, label, groups.get(t)) for t, (label, _) in tracks.items()),
        k,
        seed,
        label_names=manifest.labels,
    )
    examples = ((t, label, n) for t, (label, n) in tracks.items())
    return fold_spec(assignment, fold, examples, len(manifest.labels), manifest.split_names)


def fold_selections(spec: FoldSpec) -> dict[str, Any]:
    """``{split: TrackSelection}`` of a records fold (its non-empty splits)."""
    from tfgenre.tfdata.selection import TrackSelection

    return {
        split: TrackSelection(spec.source_splits, frozenset(ids), spec.num_examples(split))
        for split, ids in spec.tracks.items()
    }
