"""Evaluation protocols: the named splits shipped with tfgenre, and the record of a split.

A *named split* is a fixed train/validation/test assignment published with a dataset,
stored as package data under ``tfgenre/split_lists/<folder>/``. tfgenre ships one:
``fault_filtered``, the GTZAN split of Kereliuk, Sturm and Larsen (2015, "Deep learning
and music adversaries", IEEE Trans. Multimedia), from the coreyker/dnn-mgr repository:
443 train / 197 validation / 290 test clips, each artist in one split, GTZAN's repeated
and mislabelled clips left out.

A :class:`Protocol` says how the data of a run was split (``name``), what was kept
together (``grouping``), on which dataset, and whether one artist can be on both sides
(``leaks_artists``). It is written into ``manifest.json``, ``run.json`` and
``metrics.json`` under the key ``protocol``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

GTZAN_GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
_GTZAN_ID = re.compile(rf"^({'|'.join(GTZAN_GENRES)})\.\d{{5}}$")

FAULT_FILTERED_CITATION = (
    "Kereliuk, Sturm and Larsen (2015), 'Deep learning and music adversaries', IEEE "
    "Transactions on Multimedia 17(11); split lists from github.com/coreyker/dnn-mgr"
)

#: Protocol names. ``gtzan_fault_filtered`` is the key other parts (published anchors in
#: report.md) look up; keep it stable.
GTZAN_FAULT_FILTERED = "gtzan_fault_filtered"
RANDOM = "random"
SOURCE = "source"
SPLIT_FILES = "split_files"
CSV_COLUMN = "csv_column"
UNKNOWN = "unknown"

GTZAN_RANDOM_WARNING = (
    "{what} is split {how}: random GTZAN splits put one artist on both sides and inflate "
    "accuracy by about 20 points; use {fix} for the honest fault-filtered split "
    "(Kereliuk, Sturm and Larsen 2015)"
)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How a dataset was split into train/validation/test.

    Attributes:
        name: ``gtzan_fault_filtered``, ``random`` (fractions drawn here), ``source``
            (the source's own split), ``split_files`` (the user's lists),
            ``csv_column`` (a features CSV's ``split`` column) or ``unknown``.
        grouping: What no split divides: ``artist``, ``track`` or ``unknown``.
        dataset: ``gtzan`` when the data is GTZAN, the source name when it is known
            (``fma``), else None.
        leaks_artists: True when one artist can have tracks in two splits, False when
            the protocol prevents it, None when unknown.
        citation: Where the split was published (named splits only).
    """

    name: str
    grouping: str = "track"
    dataset: str | None = None
    leaks_artists: bool | None = None
    citation: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict, plus ``description`` (:meth:`describe`)."""
        return {**dataclasses.asdict(self), "description": self.describe()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Protocol:
        """The protocol of a ``protocol`` entry; ``unknown`` for None (old files).

        Keys this version does not know are ignored, so newer files still load.
        """
        if not data:
            return UNKNOWN_PROTOCOL
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(data).items() if k in fields})

    def describe(self) -> str:
        """A short description without the name, e.g. ``gtzan, grouped by artist``.

        For GTZAN split so that artists leak it ends with the one-line warning, so the
        report's protocol line says it too.
        """
        parts = [self.dataset] if self.dataset else []
        parts.append(
            f"grouped by {self.grouping}" if self.grouping != "unknown" else "grouping unknown"
        )
        if self.leaks_artists:
            parts.append("one artist can be in two splits")
        elif self.leaks_artists is False:
            parts.append("no artist in two splits")
        text = ", ".join(parts)
        if self.dataset == "gtzan" and self.leaks_artists:
            # the report's protocol line carries the warning the writer and fit log
            text += (
                "; random GTZAN splits inflate accuracy by about 20 points, use the "
                "fault-filtered split (--split fault_filtered, or "
                "source_options.split=fault_filtered)"
            )
        return text


UNKNOWN_PROTOCOL = Protocol(UNKNOWN, grouping="unknown")


@dataclasses.dataclass(frozen=True)
class NamedSplit:
    """A published split shipped as package data.

    Attributes:
        name: The name users give (``fault_filtered``).
        protocol: The protocol it stands for.
        folder: Folder under ``tfgenre/split_lists``.
        files: Split name -> list file in ``folder``.
        dataset: The dataset the lists name clips of.
    """

    name: str
    protocol: Protocol
    folder: str
    files: Mapping[str, str]
    dataset: str


NAMED_SPLITS: dict[str, NamedSplit] = {
    "fault_filtered": NamedSplit(
        name="fault_filtered",
        protocol=Protocol(
            GTZAN_FAULT_FILTERED,
            grouping="artist",
            dataset="gtzan",
            leaks_artists=False,
            citation=FAULT_FILTERED_CITATION,
        ),
        folder="gtzan_fault_filtered",
        files={
            "train": "train_filtered.txt",
            "validation": "valid_filtered.txt",
            "test": "test_filtered.txt",
        },
        dataset="gtzan",
    ),
}
_ALIASES = {GTZAN_FAULT_FILTERED: "fault_filtered"}


def known_named_splits() -> list[str]:
    """The names :func:`get_named_split` takes, sorted."""
    return sorted(NAMED_SPLITS)


def get_named_split(name: str) -> NamedSplit:
    """The named split ``name`` (``gtzan_fault_filtered`` is taken for ``fault_filtered``).

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    key = _ALIASES.get(str(name), str(name))
    if key not in NAMED_SPLITS:
        raise ConfigError(
            f"unknown named split {name!r} (known: {', '.join(known_named_splits())})"
        )
    return NAMED_SPLITS[key]


def list_entry_id(entry: str) -> str:
    """The track id of a split-list line: ``blues/blues.00000.wav`` -> ``blues.00000``."""
    from tfgenre.sources.base import strip_audio_extension

    return strip_audio_extension(entry.strip().replace("\\", "/").rsplit("/", 1)[-1])


def parse_split_list(text: str) -> list[str]:
    """The track ids of a split list: one per line, blank lines and ``#`` comments skipped."""
    out = []
    for line in text.splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            out.append(list_entry_id(entry))
    return out


def named_split_assignment(name: str) -> dict[str, str]:
    """``track_id -> split`` of the named split ``name`` (read from the package data).

    Raises:
        ConfigError: for an unknown name.
    """
    named = get_named_split(name)
    folder = resources.files("tfgenre").joinpath("split_lists", named.folder)
    out: dict[str, str] = {}
    for split, filename in named.files.items():
        for track_id in parse_split_list(folder.joinpath(filename).read_text("utf-8")):
            out[track_id] = split
    return out


def looks_like_gtzan(track_ids: Iterable[str]) -> bool:
    """True when every id (its last ``/`` part) reads ``<gtzan genre>.000NN``."""
    ids = [str(t).rsplit("/", 1)[-1] for t in track_ids]
    return bool(ids) and all(_GTZAN_ID.match(t) for t in ids)


def random_protocol(*, gtzan: bool, artist_groups: bool, dataset: str | None = None) -> Protocol:
    """The protocol of fractions drawn by tfgenre (stratified, grouped when it can).

    Args:
        gtzan: The data is GTZAN (no artist ids: artists leak).
        artist_groups: Every track carries a group (artist) that was kept together.
        dataset: Dataset name when known.
    """
    if artist_groups:
        return Protocol(RANDOM, grouping="artist", dataset=dataset, leaks_artists=False)
    return Protocol(
        RANDOM,
        grouping="track",
        dataset="gtzan" if gtzan else dataset,
        leaks_artists=True if gtzan else None,
    )


def matches_named_split(assignment: Mapping[str, str], name: str = "fault_filtered") -> bool:
    """True when ``assignment`` (``track_id -> split``) agrees with the named split.

    Every id must be in the named split with the same split name (ids given as
    ``blues/blues.00000`` are compared by their last part); a subset counts.
    """
    if not assignment:
        return False
    named = named_split_assignment(name)
    return all(named.get(str(t).rsplit("/", 1)[-1]) == s for t, s in assignment.items())


def warn_gtzan_random(what: str, how: str, fix: str) -> str:
    """Logs (and returns) the one-line warning about randomly split GTZAN.

    Args:
        what: The data (``GTZAN (gtzan source)``, ``the GTZAN table x.csv``).
        how: How it was split (``with random fractions``).
        fix: The option that gives the fault-filtered split.
    """
    message = GTZAN_RANDOM_WARNING.format(what=what, how=how, fix=fix)
    logger.warning(message)
    return message


def warn_if_leaky(protocol: Protocol, what: str, fix: str) -> str | None:
    """:func:`warn_gtzan_random` when ``protocol`` splits GTZAN at random.

    Random fractions, and a features CSV's split column that is not the fault-filtered
    one (tfgenre writes random splits there), warn; the user's own ``split_files`` and
    the fault-filtered split do not.

    Args:
        protocol: The protocol of the data.
        what: The data, for the message.
        fix: The option that gives the fault-filtered split.

    Returns:
        The message, or None when the data is not GTZAN or is split fault-filtered.
    """
    hows = {
        RANDOM: "with random fractions",
        CSV_COLUMN: "by its split column, not the fault-filtered lists",
    }
    if protocol.dataset != "gtzan" or protocol.name not in hows:
        return None
    return warn_gtzan_random(what, hows[protocol.name], fix)
