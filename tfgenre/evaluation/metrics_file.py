"""``metrics.json`` as typed objects: what the report writes and every reader reads.

The file holds one object per metric level (``segment``, ``track``, ``track_vote``:
an object with an ``accuracy``), then the context of the evaluation (``split``,
``model``, ``view``, ``skipped_corrupt``, ``protocol``, ``excluded_tracks``, ``data``,
``note``, ``training``, ``anchor_comparability``). :meth:`MetricsFile.to_json` gives
back exactly the keys and nesting :meth:`MetricsFile.from_json` read (keys this
version does not know are kept as they were), in the order the report writes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tfgenre.core import io, layout
from tfgenre.core.json_fields import Fields, load_object
from tfgenre.errors import DamagedFileError

#: The context keys of ``metrics.json`` beside the levels, in the order they are written.
CONTEXT_KEYS: tuple[str, ...] = (
    "split",
    "model",
    "view",
    "skipped_corrupt",
    "protocol",
    "excluded_tracks",
    "data",
    "note",
    "training",
    "anchor_comparability",
)
_TEXT_KEYS = ("split", "model", "view", "data", "note")
_OBJECT_KEYS = ("skipped_corrupt", "training", "anchor_comparability")


def metrics_path(run_dir: str, split: str = "test") -> str:
    """``<run_dir>/report/metrics.json`` (``report_<split>/`` for other splits)."""
    from tfgenre.runs.run_folder import report_dir

    return io.join(report_dir(run_dir, split), layout.METRICS_JSON)


def protocol_name_of(protocol: Any) -> str | None:
    """The name of a ``protocol`` value (a dict with a ``name``, or a name), else None."""
    if isinstance(protocol, Mapping):
        name = protocol.get("name")
        return str(name) if name else None
    if isinstance(protocol, str) and protocol:
        return protocol
    return None


@dataclasses.dataclass(frozen=True)
class ClassScores:
    """One class at one level: precision, recall, F1 (None without support), support."""

    precision: float | None
    recall: float | None
    f1: float | None
    support: int

    def to_json(self) -> dict[str, Any]:
        """The ``per_class`` entry."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> ClassScores:
        """Inverse of :meth:`to_json`."""
        return cls(
            precision=fields.number_or_null("precision"),
            recall=fields.number_or_null("recall"),
            f1=fields.number_or_null("f1"),
            support=fields.integer("support"),
        )


@dataclasses.dataclass(frozen=True)
class IntervalMethod:
    """How the intervals of a level were drawn: ``{method, resamples, seed, level}``."""

    method: str
    resamples: int
    seed: int
    level: float

    def to_json(self) -> dict[str, Any]:
        """The level's ``ci`` entry."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> IntervalMethod:
        """Inverse of :meth:`to_json`."""
        return cls(
            method=fields.text("method"),
            resamples=fields.integer("resamples"),
            seed=fields.integer("seed"),
            level=fields.number("level"),
        )


def _interval(fields: Fields, key: str) -> tuple[float, float] | None:
    if not fields.has(key):
        return None
    values = fields.items(key)
    if len(values) != 2 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        fields.fail(key, "must be [low, high], two numbers", values)
    return (values[0], values[1])


@dataclasses.dataclass(frozen=True)
class LevelMetrics:
    """The scores of one level (see :func:`tfgenre.evaluation.metrics.classification_metrics`).

    Attributes:
        accuracy, macro_f1, weighted_f1, macro_precision, macro_recall: The scores.
        per_class: ``{class name: ClassScores}``, in class order.
        confusion_matrix: Counts, shape (classes, classes), rows true classes.
        num_examples: Examples scored at this level.
        macro_labels: Classes the macro averages run over (None in older reports).
        absent_labels: Classes without support (None in older reports).
        accuracy_ci, macro_f1_ci: ``(low, high)`` bootstrap intervals (None unscored).
        ci: How the intervals were drawn (None without intervals).
    """

    accuracy: float
    macro_f1: float
    weighted_f1: float
    macro_precision: float
    macro_recall: float
    per_class: Mapping[str, ClassScores]
    confusion_matrix: tuple[tuple[int, ...], ...]
    num_examples: int
    macro_labels: tuple[str, ...] | None = None
    absent_labels: tuple[str, ...] | None = None
    accuracy_ci: tuple[float, float] | None = None
    macro_f1_ci: tuple[float, float] | None = None
    ci: IntervalMethod | None = None

    def to_json(self) -> dict[str, Any]:
        """The level's object, keys in the order the report writes them."""
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
        }
        if self.macro_labels is not None:
            out["macro_labels"] = list(self.macro_labels)
        if self.absent_labels is not None:
            out["absent_labels"] = list(self.absent_labels)
        out["per_class"] = {name: s.to_json() for name, s in self.per_class.items()}
        out["confusion_matrix"] = [list(row) for row in self.confusion_matrix]
        out["num_examples"] = self.num_examples
        for key in ("accuracy_ci", "macro_f1_ci"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value)
        if self.ci is not None:
            out["ci"] = self.ci.to_json()
        return out

    @classmethod
    def from_json(cls, fields: Fields) -> LevelMetrics:
        """Inverse of :meth:`to_json`.

        Raises:
            DamagedFileError: naming the file and the key that breaks the layout.
        """
        per_class = fields.sub("per_class")
        matrix = fields.items("confusion_matrix")
        counts = [v for row in matrix if isinstance(row, list) for v in row]
        if not all(isinstance(row, list) for row in matrix) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in counts
        ):
            fields.fail("confusion_matrix", "must be a list of rows of integer counts")
        return cls(
            accuracy=fields.number("accuracy"),
            macro_f1=fields.number("macro_f1"),
            weighted_f1=fields.number("weighted_f1"),
            macro_precision=fields.number("macro_precision"),
            macro_recall=fields.number("macro_recall"),
            per_class={
                str(name): ClassScores.from_json(per_class.sub(name)) for name in per_class.data
            },
            confusion_matrix=tuple(tuple(row) for row in matrix),
            num_examples=fields.integer("num_examples"),
            macro_labels=fields.texts("macro_labels") if fields.has("macro_labels") else None,
            absent_labels=fields.texts("absent_labels") if fields.has("absent_labels") else None,
            accuracy_ci=_interval(fields, "accuracy_ci"),
            macro_f1_ci=_interval(fields, "macro_f1_ci"),
            ci=IntervalMethod.from_json(fields.sub("ci")) if "ci" in fields.data else None,
        )

    def line(self, name: str) -> str:
        """``"     track: accuracy 0.6200 [0.5500, 0.6900]  macro-F1 ...  (n=40)"``."""
        from tfgenre.core.stats import format_interval

        return (
            f"{name:>10}: accuracy {format_interval(self.accuracy, self.accuracy_ci)}  "
            f"macro-F1 {format_interval(self.macro_f1, self.macro_f1_ci)}  "
            f"(n={self.num_examples})"
        )

    @property
    def class_names(self) -> list[str]:
        """The class names, in index order."""
        return list(self.per_class)


def _is_level(key: str, value: Any) -> bool:
    return key not in CONTEXT_KEYS and isinstance(value, Mapping) and "accuracy" in value


@dataclasses.dataclass(frozen=True)
class MetricsFile:
    """``metrics.json``: the metric levels and the context of one evaluation.

    Attributes:
        levels: ``{level: LevelMetrics}``, in file order (``segment``, ``track``, ...).
        split: The split scored.
        model: The run's model name.
        view: The run's view.
        skipped_corrupt: ``{shard: examples lost}`` of ``--skip-corrupt``.
        protocol: The split protocol (:class:`tfgenre.splitting.protocols.Protocol`'s
            JSON, or a protocol name in older reports; any other value is kept in
            ``extra``).
        excluded_tracks: Tracks left out on purpose (in no split list).
        data: ``synthetic`` for a synthetic dataset.
        note: A remark beside the figures.
        training: What early stopping did and which weights are scored.
        anchor_comparability: Whether the run is comparable with published figures.
        extra: Keys this version does not know, kept as they were.
    """

    levels: Mapping[str, LevelMetrics]
    split: str | None = None
    model: str | None = None
    view: str | None = None
    skipped_corrupt: Mapping[str, Any] | None = None
    protocol: Any = None
    excluded_tracks: int | None = None
    data: str | None = None
    note: str | None = None
    training: Mapping[str, Any] | None = None
    anchor_comparability: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The file's object: the levels, then the context keys that are set, then ``extra``."""
        out: dict[str, Any] = {name: m.to_json() for name, m in self.levels.items()}
        for key in CONTEXT_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = dict(value) if isinstance(value, Mapping) else value
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = layout.METRICS_JSON) -> MetricsFile:
        """Reads the object of a ``metrics.json``.

        Args:
            data: The decoded JSON (or the dict the evaluation returned).
            where: The file it came from, named in errors.

        Raises:
            DamagedFileError: naming the file and the key that breaks the layout.
        """
        fields = Fields(data, where, DamagedFileError)
        levels = {
            str(k): LevelMetrics.from_json(fields.sub(k))
            for k, v in data.items()
            if _is_level(k, v)
        }
        if not levels:
            raise DamagedFileError(
                f"{where}: holds no metric level (an object with an 'accuracy' such as "
                "'segment' or 'track'); evaluate the run again (python -m tfgenre.evaluate)"
            )
        context: dict[str, Any] = {}
        for key in _TEXT_KEYS:
            context[key] = fields.text(key) if fields.has(key) else None
        for key in _OBJECT_KEYS:
            context[key] = fields.mapping(key) if fields.has(key) else None
        excluded = fields.has("excluded_tracks")
        context["excluded_tracks"] = fields.integer("excluded_tracks") if excluded else None
        protocol = data.get("protocol")
        typed = isinstance(protocol, (str, Mapping))
        context["protocol"] = dict(protocol) if isinstance(protocol, Mapping) else protocol
        extra = {
            k: v
            for k, v in data.items()
            if k not in levels and (k not in CONTEXT_KEYS or (k == "protocol" and not typed))
        }
        if not typed:  # a null or odd protocol (no anchors then) is kept as it was
            context["protocol"] = None
        return cls(levels=levels, extra=extra, **context)

    @classmethod
    def load(cls, path: str) -> MetricsFile:
        """Reads ``path`` (a ``metrics.json``).

        Raises:
            DamagedFileError: when the file is not JSON or breaks the layout.
        """
        return cls.from_json(load_object(path, DamagedFileError), where=path)

    def level(self, name: str) -> LevelMetrics:
        """The metrics of level ``name``.

        Raises:
            DamagedFileError: when the file has no such level.
        """
        if name not in self.levels:
            raise DamagedFileError(
                f"{self.split or 'the'} metrics have no level {name!r} (have: "
                f"{', '.join(self.levels)}); evaluate the run again (python -m tfgenre.evaluate)"
            )
        return self.levels[name]

    @property
    def protocol_name(self) -> str | None:
        """The split protocol's name (None when unknown)."""
        return protocol_name_of(self.protocol)

    def headline(self) -> tuple[str, LevelMetrics]:
        """The level a summary quotes: ``track``, else ``segment``, else the first."""
        for name in ("track", "segment"):
            if name in self.levels:
                return name, self.levels[name]
        name = next(iter(self.levels))
        return name, self.levels[name]
