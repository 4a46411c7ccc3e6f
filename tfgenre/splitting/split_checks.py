"""What a split lacks: labels with no example in it, and asked-for splits that came out empty.

A split without some label is a figure waiting to go wrong: a model cannot learn a
label its train split lacks, and a validation split without half the labels makes
``val_accuracy`` say little. These helpers find such gaps and word them; the writer's
summary, ``fit`` and ``baselines`` print them, and ``fit`` refuses a train split that
lacks a label another split has (:func:`check_train_labels`) unless told to allow it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tfgenre.errors import ConfigError

#: The fit flag that lets a run train without a label that another split has.
ALLOW_FLAG = "--allow-missing-labels"


def missing_labels(
    labels: Sequence[str], present: Mapping[str, Iterable[str]]
) -> dict[str, tuple[str, ...]]:
    """The labels each split has no example of.

    Args:
        labels: Every label name (in index order).
        present: Split name -> the labels it holds (an empty split is left out).

    Returns:
        ``{split: labels missing}`` for the splits that miss at least one label, in
        the order of ``present``; labels in the order of ``labels``.
    """
    out: dict[str, tuple[str, ...]] = {}
    for split, have in present.items():
        have = set(have)
        if not have:
            continue
        gone = tuple(label for label in labels if label not in have)
        if gone:
            out[split] = gone
    return out


def missing_label_lines(labels: Sequence[str], missing: Mapping[str, Sequence[str]]) -> list[str]:
    """One line per split that lacks labels: ``validation lacks 4 of 10 labels: a, b``."""
    return [
        f"split {split!r} lacks {len(gone)} of {len(labels)} labels: {', '.join(gone)}"
        for split, gone in missing.items()
    ]


def train_gaps(
    present: Mapping[str, Iterable[str]], train_split: str, other_splits: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """The labels that ``other_splits`` hold and ``train_split`` lacks, per other split.

    Args:
        present: Split name -> the labels it holds.
        train_split: The split trained on.
        other_splits: The splits validated or scored on.

    Returns:
        ``{other split: labels it holds that train lacks}`` (only non-empty entries).
    """
    train = set(present.get(train_split, ()))
    out: dict[str, tuple[str, ...]] = {}
    for split in dict.fromkeys(other_splits):
        if split == train_split:
            continue
        gone = tuple(sorted(set(present.get(split, ())) - train))
        if gone:
            out[split] = gone
    return out


def check_train_labels(
    present: Mapping[str, Iterable[str]],
    train_split: str,
    other_splits: Iterable[str],
    source: str,
    *,
    allow: bool = False,
) -> list[str]:
    """Refuses a train split that lacks a label another split has (unless ``allow``).

    Args:
        present: Split name -> the labels it holds.
        train_split: The split trained on.
        other_splits: The splits validated or scored on.
        source: The records folder or features CSV, for the message.
        allow: Only return the lines (for a warning) instead of raising.

    Returns:
        The lines that say what train lacks (empty when it lacks nothing).

    Raises:
        ConfigError: when train lacks such a label and ``allow`` is false.
    """
    gaps = train_gaps(present, train_split, other_splits)
    lines = [
        f"split {train_split!r} has no example of {', '.join(gone)}, which {split!r} has"
        for split, gone in gaps.items()
    ]
    if lines and not allow:
        raise ConfigError(
            f"{source}: " + "; ".join(lines) + ". A model cannot learn a label it never sees "
            "and every such example would count as an error. Use a split whose train split "
            "holds every label (more tracks per label, other fractions or other split "
            f"lists), or pass {ALLOW_FLAG} to train anyway"
        )
    return lines


def label_sets(label_counts: Mapping[str, Mapping[str, int]]) -> dict[str, set[str]]:
    """``{split: labels with a count > 0}`` from ``{split: {label: count}}``."""
    return {
        split: {label for label, n in counts.items() if int(n) > 0}
        for split, counts in label_counts.items()
    }


def records_label_sets(info: Any) -> dict[str, set[str]]:
    """``{split: labels it holds}`` of a records folder's manifest (splits with tracks)."""
    return label_sets({name: s.label_counts for name, s in info.splits.items() if s.num_tracks > 0})


def empty_split_lines(info: Any) -> list[str]:
    """Why each split that was asked for a share of the tracks holds none, and the fix.

    Only for splits made from fractions here (``split_policy.kind`` ``stratified_grouped``);
    a source's own split (lists, a split column) is what it is.

    Args:
        info: The records' :class:`~tfgenre.records.info.RecordsInfo`.

    Returns:
        One line per empty asked-for split (none when every one holds tracks).
    """
    policy = info.split_policy or {}
    fractions = {k: float(v) for k, v in (policy.get("fractions") or {}).items()}
    if policy.get("kind") != "stratified_grouped" or not fractions:
        return []
    sizes = {name: s.num_tracks for name, s in info.splits.items()}
    total = sum(sizes.values())
    empty = [n for n, f in fractions.items() if f > 0 and sizes.get(n, 0) == 0]
    if not empty:
        return []
    labels = max(len(info.labels), 1)
    per_label = total / labels
    per = f"{per_label:g}" if per_label == int(per_label) else f"about {per_label:.1f}"
    kept = {n: f for n, f in fractions.items() if n not in empty and f > 0}
    if kept:
        spare = sum(fractions[n] for n in empty)
        first = next(iter(kept))
        kept[first] += spare
    fix_splits = ",".join(f"{n}={f:g}" for n, f in kept.items())
    lines = []
    for name in empty:
        need = math.ceil(1 / fractions[name] - 1e-9)
        lines.append(
            f"split {name!r} was asked for {fractions[name]:.0%} of the tracks but holds none: "
            f"{total} tracks in {labels} labels ({per} per label) give it "
            f"{fractions[name] * total:.1f} of a track. Fix: write at least {need} tracks in "
            f"all ({need} per label for every label to reach it), or leave the split "
            f"out: --splits {fix_splits}"
        )
    return lines


def small_labels_line(info: Any) -> str | None:
    """Why splits made here lack labels when labels are small, and what fixes it.

    Args:
        info: The records' :class:`~tfgenre.records.info.RecordsInfo`.

    Returns:
        One line when the smallest asked-for fraction needs more tracks per label than
        the labels have (``None`` otherwise, or for a source's own split).
    """
    policy = info.split_policy or {}
    fractions = [float(v) for v in (policy.get("fractions") or {}).values() if float(v) > 0]
    if policy.get("kind") != "stratified_grouped" or len(fractions) < 2:
        return None
    total = sum(s.num_tracks for s in info.splits.values())
    labels = max(len(info.labels), 1)
    need = math.ceil(1 / min(fractions) - 1e-9)
    if total / labels >= need:
        return None
    per_label = total / labels
    per = f"{per_label:g}" if per_label == int(per_label) else f"about {per_label:.1f}"
    return (
        f"{total} tracks in {labels} labels is {per} per label; a split of "
        f"{min(fractions):.0%} reaches every label from {need} tracks per label. Add tracks, "
        "or use fewer splits, or cross-validate (fit/baselines --folds K)"
    )
