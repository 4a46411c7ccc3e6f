"""One hyperparameter of a search space: its kind, range or choices, and condition.

A parameter is parsed from one ``params:`` entry of a space file (see
:mod:`tfgenre.search.space`). Its name is the dotted fit-config path it sets. Kinds:
``float`` and ``int`` take ``low``, ``high`` and either ``log: true`` or a ``step``;
``categorical`` takes ``choices``, a list of scalars of one type or a mapping from
labels to values (named choices). ``when`` lists earlier categorical parameters and
the labels under which this one is sampled.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from tfgenre.core import config
from tfgenre.errors import ConfigError

KINDS: tuple[str, ...] = ("float", "int", "categorical")
_PARAM_KEYS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "log", "step", "when"),
    "int": ("type", "low", "high", "log", "step", "when"),
    "categorical": ("type", "choices", "when"),
}
Scalar = bool | int | float | str


@dataclasses.dataclass(frozen=True)
class Param:
    """One hyperparameter.

    Attributes:
        name: The dotted config path it sets, e.g. ``optimizer.learning_rate``.
        kind: ``float``, ``int`` or ``categorical``.
        low: Lower bound (float/int), inclusive.
        high: Upper bound (float/int), inclusive.
        log: Sample on a log scale (float/int).
        step: Grid step (float/int); None for a continuous float.
        choices: The labels a sampler chooses from (categorical).
        values: Label -> value for named choices; None when labels are the values.
        when: Conditions ``{parent name: allowed labels}``; all must hold.
    """

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Scalar, ...] = ()
    values: dict[Scalar, Any] | None = None
    when: dict[str, tuple[Scalar, ...]] = dataclasses.field(default_factory=dict)

    def value_of(self, label: Any) -> Any:
        """The config value for a sampled label (a deep copy for named choices)."""
        if self.values is None:
            return label
        return copy.deepcopy(self.values[label])

    def grid_values(self) -> list[Scalar]:
        """Every value this parameter takes in a grid.

        Raises:
            ConfigError: for a float without ``step`` or a log-scaled int.
        """
        if self.kind == "categorical":
            return list(self.choices)
        if self.step is None:
            if self.kind == "int" and not self.log:
                return list(range(int(self.low), int(self.high) + 1))
            raise ConfigError(
                f"param {self.name!r}: a grid needs a step (or a categorical list) for "
                f"type={self.kind}{' with log' if self.log else ''}"
            )
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step)))
        n = int(math.floor((float(self.high) - float(self.low)) / float(self.step) + 1e-9)) + 1
        return [round(float(self.low) + i * float(self.step), 12) for i in range(n)]

    def default_label(self) -> Any:
        """A valid label: the first choice, or ``low``."""
        return self.choices[0] if self.kind == "categorical" else self.low


# ----------------------------------------------------------------------------- parsing


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}={value!r} must be a number")
    try:
        # YAML 1.1 reads 1e-4 (no dot) as a string; accept it as a number.
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} must be a number") from None


def parse_param(name: str, spec: Any, earlier: dict[str, Param]) -> Param:
    """Parses the ``params:`` entry ``name: spec`` of a space file.

    Args:
        name: The dotted config path the parameter sets.
        spec: A mapping with a ``type``, or a list (a categorical's choices).
        earlier: The parameters declared before it (the parents ``when`` may name).

    Raises:
        ConfigError: naming the offending key, value and rule.
    """
    where = f"params.{name}"
    if not name or any(not part for part in name.split(".")):
        raise ConfigError(f"param name {name!r} must be a dotted config path like a.b.c")
    if isinstance(spec, list):
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}={spec!r} must be a mapping with a type (float, int, categorical) "
            "or a list of choices"
        )
    kind = spec.get("type")
    if kind not in KINDS:
        raise ConfigError(f"{where}.type={kind!r} is unknown (known: {', '.join(KINDS)})")
    for key in spec:
        if key not in _PARAM_KEYS[kind]:
            raise config._unknown_key_error(key, _PARAM_KEYS[kind], f"{where}.")
    when = _parse_when(name, spec.get("when") or {}, earlier)
    if kind == "categorical":
        return _parse_categorical(name, spec.get("choices"), when)
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where} needs low and high")
    low, high = _number(spec["low"], f"{where}.low"), _number(spec["high"], f"{where}.high")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log={log!r} must be true or false")
    step = spec.get("step")
    if step is not None:
        step = _number(step, f"{where}.step")
        if step <= 0:
            raise ConfigError(f"{where}.step={step:g} must be > 0")
        if log:
            raise ConfigError(f"{where}: log and step cannot be combined")
    if low > high:
        raise ConfigError(f"{where}: low={low:g} must be <= high={high:g}")
    if log and low <= 0:
        raise ConfigError(f"{where}: low={low:g} must be > 0 with log: true")
    if kind == "int":
        if not (low.is_integer() and high.is_integer()):
            raise ConfigError(f"{where}: low={low:g} and high={high:g} must be integers")
        if step is not None and not step.is_integer():
            raise ConfigError(f"{where}.step={step:g} must be an integer")
        return Param(
            name,
            kind,
            int(low),
            int(high),
            log,
            int(step) if step is not None else None,
            when=when,
        )
    return Param(name, kind, low, high, log, step, when=when)


def _parse_categorical(name: str, choices: Any, when: dict[str, tuple[Scalar, ...]]) -> Param:
    where = f"params.{name}.choices"
    if isinstance(choices, Mapping):
        if not choices:
            raise ConfigError(f"{where}={{}} must not be empty")
        labels = tuple(choices)
        for label in labels:
            if not isinstance(label, (str, int)) or isinstance(label, bool):
                raise ConfigError(f"{where}: label {label!r} must be a string or an integer")
        _one_type(labels, where)
        return Param(name, "categorical", choices=labels, values=dict(choices), when=when)
    if not isinstance(choices, (list, tuple)) or not choices:
        raise ConfigError(f"{where}={choices!r} must be a non-empty list or a mapping")
    for choice in choices:
        if not isinstance(choice, (bool, int, float, str)):
            raise ConfigError(
                f"{where}: choice {choice!r} must be a number, string or bool; give a "
                "mapping label -> value for lists, mappings or null"
            )
    labels = _one_type(tuple(choices), where)
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{where}={list(labels)} has duplicates")
    return Param(name, "categorical", choices=labels, when=when)


def _one_type(labels: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    """The labels, ints made floats when mixed with floats (keras-tuner needs one type)."""
    kinds = {type(v) for v in labels}
    if kinds == {int, float}:
        return tuple(float(v) for v in labels)
    if len(kinds) > 1:
        names = sorted(k.__name__ for k in kinds)
        raise ConfigError(f"{where}={list(labels)} mixes types ({', '.join(names)}); use one")
    return labels


def _parse_when(
    name: str, when: Any, earlier: dict[str, Param]
) -> dict[str, tuple[Scalar, ...]]:
    where = f"params.{name}.when"
    if not isinstance(when, Mapping):
        raise ConfigError(f"{where}={when!r} must be a mapping {{parent: label or [labels]}}")
    out: dict[str, tuple[Scalar, ...]] = {}
    for parent, allowed in when.items():
        if parent not in earlier:
            raise ConfigError(
                f"{where}: parent {parent!r} must be a categorical param listed before "
                f"{name!r} (earlier: {', '.join(earlier) or 'none'})"
            )
        if earlier[parent].kind != "categorical":
            raise ConfigError(f"{where}: parent {parent!r} must be categorical")
        labels = tuple(allowed) if isinstance(allowed, (list, tuple)) else (allowed,)
        unknown = [v for v in labels if v not in earlier[parent].choices]
        if unknown or not labels:
            raise ConfigError(
                f"{where}.{parent}={list(labels)}: labels must be among "
                f"{list(earlier[parent].choices)}"
            )
        out[parent] = labels
    return out
