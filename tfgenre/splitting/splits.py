"""Split assignment (deterministic, stratified by label, grouped) and the disjointness check.

Tracks are split before they are cut into segments, so segments of one track can never
land in two splits. Tracks that share a group (the artist, when the source knows it)
always land in the same split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from tfgenre.core.tracks import Track
from tfgenre.errors import ConfigError, TfgenreError

logger = logging.getLogger(__name__)

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")


def parse_fractions(text: str) -> dict[str, float]:
    """Parses ``train=0.8,validation=0.1,test=0.1`` (zeros allowed).

    Raises:
        ConfigError: on an unknown split name, a value that is not a finite number >= 0,
            or a sum that is not 1.
    """
    out: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(f"--splits item {part!r} must look like name=fraction")
        name, value = part.split("=", 1)
        try:
            out[name.strip()] = float(value)
        except ValueError as err:
            raise ConfigError(f"--splits {name}={value!r} must be a number") from err
    check_fractions(out)
    return out


def check_fractions(fractions: Mapping[str, float]) -> None:
    """Raises ConfigError unless names are known, values finite and >= 0, and the sum is 1."""
    if not fractions:
        raise ConfigError("splits={} must name at least one split")
    for name, value in fractions.items():
        if name not in SPLIT_NAMES:
            raise ConfigError(f"unknown split {name!r} (known: {', '.join(SPLIT_NAMES)})")
        try:
            finite = math.isfinite(value)
        except TypeError as err:
            raise ConfigError(f"splits.{name}={value!r} must be a number") from err
        if not finite:
            raise ConfigError(f"splits.{name}={value} must be a finite number (not NaN or inf)")
        if value < 0:
            raise ConfigError(f"splits.{name}={value} must be >= 0")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"split fractions {dict(fractions)} must sum to 1 (got {total:g})")


def _stable_key(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def assign_splits(
    tracks: Sequence[Track], fractions: Mapping[str, float], seed: int = 0
) -> list[Track]:
    """Gives every track a split: stratified by label, grouped, deterministic.

    First every label gets an integer quota of tracks per split
    (:func:`label_quotas`): the quotas of a label sum to its tracks, each as close to
    the label's share as integers allow, and each split's total is its fraction of all
    tracks rounded down or up, so the fractions are honoured overall even when labels
    are too small to honour them one by one (20 tracks, 2 per label, at 0.8/0.1/0.1
    give 16/2/2, not 10/10/0). Then
    groups (``track.group``, else the track itself) are visited in an order fixed by a
    hash of (seed, group id), largest first; each goes to the split whose share of the
    group's majority label is furthest below its quota. The result depends only on the
    track list, the fractions and the seed.

    Args:
        tracks: Tracks without a split (an existing ``split`` is overwritten).
        fractions: Target fraction per split name; zeros allowed.
        seed: Changes the assignment; the same seed gives the same split.

    Returns:
        New Track objects with ``split`` set, in the input order.
    """
    check_fractions(fractions)
    names = [n for n in SPLIT_NAMES if fractions.get(n, 0.0) > 0]
    groups: dict[str, list[Track]] = defaultdict(list)
    for track in tracks:
        groups[group_of(track)].append(track)

    label_totals = Counter(t.label for t in tracks)
    quotas = label_quotas(label_totals, {n: fractions[n] for n in names}, seed)
    counts: dict[str, Counter[str]] = {n: Counter() for n in names}

    def group_label(members: list[Track]) -> str:
        tally = Counter(t.label for t in members)
        return min(tally, key=lambda lab: (-tally[lab], lab))

    order = sorted(groups, key=lambda g: (-len(groups[g]), _stable_key(seed, g)))
    assigned: dict[str, str] = {}
    for gid in order:
        members = groups[gid]
        label = group_label(members)

        def deficit(name: str, label: str = label) -> tuple[float, int]:
            target = quotas[label][name]
            return (counts[name][label] - target) / max(target, 1e-9), names.index(name)

        best = min(names, key=deficit)
        assigned[gid] = best
        for member in members:
            counts[best][member.label] += 1
    return [dataclasses.replace(t, split=assigned[group_of(t)]) for t in tracks]


def label_quotas(
    label_totals: Mapping[str, int], fractions: Mapping[str, float], seed: int = 0
) -> dict[str, dict[str, int]]:
    """Integer tracks per (label, split): each label rounded, the splits kept in bounds.

    Each label's exact shares (fraction x its tracks) are rounded by largest remainder
    (ties to the earlier split), as close to stratified as integers allow. Then, while
    a split's total lies outside the floor and ceiling of its exact share of all tracks,
    one track moves between splits in the label where the move costs stratification
    least (ties in a seeded hash order of the labels). So small labels, which would all
    round the same way, are spread over the splits: 10 labels of 2 tracks at 0.8/0.1/0.1
    give 16/2/2, not 20/0/0; labels that round well are left as they are.

    Args:
        label_totals: Tracks per label.
        fractions: Target fraction per split (only splits with a fraction > 0).
        seed: Decides ties between labels.

    Returns:
        ``{label: {split: tracks}}``; each label's quotas sum to its tracks.
    """
    names = list(fractions)
    exact = {
        label: {n: fractions[n] * count for n in names} for label, count in label_totals.items()
    }
    quotas = {
        label: _largest_remainder(exact[label], count) for label, count in label_totals.items()
    }
    total = sum(label_totals.values())
    low = {n: math.floor(fractions[n] * total + 1e-9) for n in names}
    high = {n: math.ceil(fractions[n] * total - 1e-9) for n in names}
    tie = {label: _stable_key(seed, label) for label in label_totals}

    def size(name: str) -> int:
        return sum(q[name] for q in quotas.values())

    def cost(label: str, src: str, dst: str) -> float:
        q, e = quotas[label], exact[label]
        before = abs(q[src] - e[src]) + abs(q[dst] - e[dst])
        return abs(q[src] - 1 - e[src]) + abs(q[dst] + 1 - e[dst]) - before

    for _ in range(total * max(len(names), 1) + 1):  # each move lowers the excess by 1
        short = [n for n in names if size(n) < low[n]]
        over = [n for n in names if size(n) > high[n]]
        if short:
            pairs = [(s, short[0]) for s in names if s != short[0] and size(s) > low[s]]
        elif over:
            pairs = [(over[0], d) for d in names if d != over[0] and size(d) < high[d]]
        else:
            break
        moves = [
            (round(cost(label, src, dst), 9), tie[label], names.index(dst), label, src, dst)
            for src, dst in pairs
            for label in quotas
            if quotas[label][src] > 0
        ]
        if not moves:  # cannot happen: the bounds bracket the total
            break
        *_, label, src, dst = min(moves)
        quotas[label][src] -= 1
        quotas[label][dst] += 1
    return quotas


def _largest_remainder(exact: Mapping[str, float], total: int) -> dict[str, int]:
    """Integers that sum to ``total``: floors, then +1 by largest remainder (ties: order)."""
    names = list(exact)
    out = {n: math.floor(exact[n] + 1e-9) for n in names}
    order = sorted(names, key=lambda n: (-round(exact[n] - out[n], 9), names.index(n)))
    for name in order[: max(0, total - sum(out.values()))]:
        out[name] += 1
    return out


def group_of(track: Track) -> str:
    """The id that must not span two splits: the group (artist), else the track."""
    return f"group:{track.group}" if track.group else f"track:{track.track_id}"


@dataclasses.dataclass(frozen=True)
class DisjointnessReport:
    """Result of :func:`check_disjoint`: counts of ids found in more than one split."""

    shared_tracks: tuple[str, ...]
    shared_groups: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is shared."""
        return not self.shared_tracks and not self.shared_groups


def check_disjoint(tracks: Sequence[Track]) -> DisjointnessReport:
    """Finds track ids and groups that appear in more than one split."""
    track_splits: dict[str, set[str]] = defaultdict(set)
    group_splits: dict[str, set[str]] = defaultdict(set)
    for t in tracks:
        track_splits[t.track_id].add(str(t.split))
        if t.group:
            group_splits[t.group].add(str(t.split))
    return DisjointnessReport(
        shared_tracks=tuple(sorted(k for k, v in track_splits.items() if len(v) > 1)),
        shared_groups=tuple(sorted(k for k, v in group_splits.items() if len(v) > 1)),
    )


def require_disjoint(tracks: Sequence[Track], *, source_defined: bool) -> DisjointnessReport:
    """Runs the disjointness check.

    A shared track is always an error. A shared group is an error for splits made here
    (it cannot happen) and a logged warning for splits the source defined.

    Raises:
        TfgenreError: when the check fails.
    """
    report = check_disjoint(tracks)
    if report.shared_tracks:
        raise TfgenreError(
            f"{len(report.shared_tracks)} track(s) appear in two splits, e.g. "
            f"{report.shared_tracks[0]!r}; a track must belong to exactly one split"
        )
    if report.shared_groups:
        message = (
            f"{len(report.shared_groups)} group(s) (artists) span two splits, e.g. "
            f"{report.shared_groups[0]!r}"
        )
        if not source_defined:
            raise TfgenreError(message + "; grouped splitting must keep a group together")
        logger.warning("%s (the source defined these splits; kept as given)", message)
    return report


def limit_per_split(tracks: Sequence[Track], limit: int | None) -> list[Track]:
    """Keeps at most ``limit`` tracks per split, taking labels in turn (balanced)."""
    if not limit:
        return list(tracks)
    if limit < 0:
        raise ConfigError(f"limit_per_split={limit} must be > 0 or null")
    by_split: dict[str, dict[str, list[Track]]] = defaultdict(lambda: defaultdict(list))
    for t in sorted(tracks, key=lambda t: t.track_id):
        by_split[str(t.split)][t.label].append(t)
    kept: list[Track] = []
    for per_label in by_split.values():
        queues = [list(per_label[label]) for label in sorted(per_label)]
        taken = 0
        while taken < limit and any(queues):
            for queue in queues:
                if queue and taken < limit:
                    kept.append(queue.pop(0))
                    taken += 1
    return sorted(kept, key=lambda t: t.track_id)
