"""Published figures to show beside a run's own (``tfgenre/evaluation/anchors.yaml``).

A run's accuracy means little on its own: on GTZAN a random split gives about 0.9,
the artist-disjoint fault-filtered split far less. The anchors are published figures
on a named protocol; report.md lists them when the run's ``metrics["protocol"]["name"]``
names that protocol, and sets the run's figure beside them only when the run scored
the very clips they were scored on (:func:`comparability`): 4 of the 290 test clips,
or the validation split, is another experiment, and the report says so.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "Anchor",
    "Comparability",
    "anchors_for",
    "anchors_named",
    "comparability",
    "load_anchors",
    "protocol_name",
]


@dataclasses.dataclass(frozen=True)
class Anchor:
    """One published figure.

    Attributes:
        protocol: Protocol name, e.g. ``gtzan_fault_filtered``.
        name: The system, e.g. ``MFCC + SVM``.
        metric: ``accuracy``.
        level: ``track`` (one label per clip) or ``segment``.
        split: The split scored.
        value: The figure, a fraction.
        value_high: Upper end when a range was published, else None.
        citation: Where it comes from.
    """

    protocol: str
    name: str
    metric: str
    level: str
    split: str
    value: float
    value_high: float | None
    citation: str

    def text(self) -> str:
        """``53.4 %`` or ``78.6-79.3 %``."""
        if self.value_high is None:
            return f"{100 * self.value:.1f} %"
        return f"{100 * self.value:.1f}-{100 * self.value_high:.1f} %"


@functools.cache
def load_anchors() -> dict[str, dict[str, Any]]:
    """The packaged anchors, read once.

    Returns:
        ``{protocol: {"description": str, "split_citation": str, "named_split": str or
        None, "anchors": [Anchor]}}``.
    """
    table = resources.files("tfgenre.evaluation").joinpath("anchors.yaml")
    text = table.read_text(encoding="utf-8")
    out: dict[str, dict[str, Any]] = {}
    for protocol, entry in (yaml.safe_load(text).get("protocols") or {}).items():
        anchors = [
            Anchor(
                protocol=protocol,
                name=str(a["name"]),
                metric=str(a.get("metric", "accuracy")),
                level=str(a.get("level", "track")),
                split=str(a.get("split", "test")),
                value=float(a["value"]),
                value_high=float(a["value_high"]) if a.get("value_high") is not None else None,
                citation=" ".join(str(a["citation"]).split()),
            )
            for a in entry.get("anchors") or []
        ]
        out[protocol] = {
            "description": " ".join(str(entry.get("description", "")).split()),
            "split_citation": " ".join(str(entry.get("split_citation", "")).split()),
            "named_split": str(entry["named_split"]) if entry.get("named_split") else None,
            "anchors": anchors,
        }
    return out


def protocol_name(metrics: dict[str, Any]) -> str | None:
    """``metrics["protocol"]["name"]`` when present (a str or a dict with a name), else None."""
    from tfgenre.evaluation.metrics_file import protocol_name_of

    return protocol_name_of(metrics.get("protocol") if isinstance(metrics, dict) else None)


def anchors_named(name: str | None) -> dict[str, Any] | None:
    """The anchors entry of the protocol ``name``, or None when it has none."""
    return load_anchors().get(name) if name else None


def anchors_for(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The anchors entry of the run's protocol, or None when it has none."""
    return anchors_named(protocol_name(metrics))


@dataclasses.dataclass(frozen=True)
class Comparability:
    """Whether a run scored the clips the published figures were scored on.

    Attributes:
        comparable: The run scored exactly the published test clips.
        published: Number of published test clips (290 for the fault-filtered split).
        scored: Number of tracks the run scored.
        in_published: How many of them are published test clips.
        split: The split the run scored.
        checked: The scored track ids were known (else nothing could be checked).
    """

    comparable: bool
    published: int
    scored: int
    in_published: int
    split: str
    checked: bool = True

    def reason(self) -> str:
        """Why not, e.g. ``not comparable: 4 of the 290 test clips``; "" when comparable."""
        if self.comparable:
            return ""
        if not self.checked:
            return (
                f"not comparable: the {self.scored} scored tracks could not be checked "
                f"against the {self.published} test clips"
            )
        text = f"not comparable: {self.in_published} of the {self.published} test clips"
        others = self.scored - self.in_published
        if others:
            text += f" and {others} other clip(s)"
        if self.split != "test":
            text += f" (this report scores the {self.split} split)"
        return text

    def to_json(self) -> dict[str, Any]:
        """The fields and :meth:`reason` as a JSON-ready dict."""
        return {**dataclasses.asdict(self), "reason": self.reason()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Comparability:
        """The comparability stored by :meth:`to_json`."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


@functools.cache
def _published_test_clips(named_split: str) -> frozenset[str]:
    from tfgenre.splitting.protocols import named_split_assignment

    return frozenset(
        t for t, split in named_split_assignment(named_split).items() if split == "test"
    )


def comparability(
    entry: dict[str, Any], split: str, track_ids: Iterable[Any] | None, scored: int
) -> Comparability:
    """Whether a run's scored tracks are the published test clips of ``entry``.

    Args:
        entry: An entry of :func:`load_anchors` (its ``named_split`` lists the clips).
        split: The split the run scored.
        track_ids: The scored tracks (bytes or str; ``blues/blues.00012`` is taken as
            ``blues.00012``), or None when unknown: then only the count can be checked,
            and a count alone never makes a run comparable.
        scored: Number of tracks scored (used when ``track_ids`` is None).
    """
    from tfgenre.core.stats import track_key

    named = entry.get("named_split")
    published = _published_test_clips(named) if named else frozenset()
    if track_ids is None or not published:
        return Comparability(False, len(published), scored, 0, split, checked=False)
    ids = {track_key(t).rsplit("/", 1)[-1] for t in track_ids}
    inside = len(ids & published)
    comparable = split == "test" and ids == published
    return Comparability(comparable, len(published), len(ids), inside, split)
