"""Published figures to show beside a run's own (``tfgenre/anchors.yaml``).

A run's accuracy means little on its own: on GTZAN a random split gives about 0.9,
the artist-disjoint fault-filtered split far less. The anchors are published figures
on a named protocol; report.md lists them next to the run's figure when the run's
``metrics["protocol"]["name"]`` names that protocol.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from typing import Any

import yaml

__all__ = ["Anchor", "anchors_for", "load_anchors", "protocol_name"]


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
        ``{protocol: {"description": str, "split_citation": str, "anchors": [Anchor]}}``.
    """
    text = resources.files("tfgenre").joinpath("anchors.yaml").read_text(encoding="utf-8")
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
            "anchors": anchors,
        }
    return out


def protocol_name(metrics: dict[str, Any]) -> str | None:
    """``metrics["protocol"]["name"]`` when present (a str or a dict with a name), else None."""
    protocol = metrics.get("protocol") if isinstance(metrics, dict) else None
    if isinstance(protocol, dict):
        name = protocol.get("name")
        return str(name) if name else None
    if isinstance(protocol, str) and protocol:
        return protocol
    return None


def anchors_for(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The anchors entry of the run's protocol, or None when it has none."""
    name = protocol_name(metrics)
    return load_anchors().get(name) if name else None
