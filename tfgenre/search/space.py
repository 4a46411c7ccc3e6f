"""Search spaces shared by the Optuna and keras-tuner backends.

A space file is YAML::

    description: what the space is for (optional)
    tune: {sampler: grid}          # optional defaults for the tune settings
    fixed:                         # fit-config values every trial uses
      model: features_mlp
      epochs: 10
    params:                        # one entry per hyperparameter, keyed by its config path
      optimizer.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
      model_options.units.0: {type: categorical, choices: [64, 128]}
      model_options.activation: [relu, leaky_relu]     # shorthand for a categorical
      batch_size: {type: int, low: 16, high: 128, step: 16}
      optimizer:                                       # named choices: label -> value
        type: categorical
        choices:
          adam: {name: adam, learning_rate: 0.001}
          sgd: {name: sgd, learning_rate: 0.01, momentum: 0.0}
      optimizer.momentum: {type: float, low: 0.0, high: 0.99, when: {optimizer: sgd}}

A parameter's name is the dotted path it sets in the fit config (as with ``--set``);
a numeric part indexes a list (``model_options.units.0``), which is created when the
config does not have it yet. A mapping value (a named choice) is merged into the
mapping already at that path; a parameter inside it (``optimizer.learning_rate`` next
to a named ``optimizer``) is applied after it and wins. ``when`` makes a parameter
conditional: it is sampled only when every named earlier categorical parameter has one
of the listed labels.

Types: ``float`` and ``int`` take ``low``, ``high`` and either ``log: true`` or a
``step``; ``categorical`` takes ``choices``, a list of scalars of one type or a
mapping from labels to values. Samplers see labels; trials get the values.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Protocol

from tfgenre import config
from tfgenre.errors import ConfigError

KINDS: tuple[str, ...] = ("float", "int", "categorical")
_PARAM_KEYS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "log", "step", "when"),
    "int": ("type", "low", "high", "log", "step", "when"),
    "categorical": ("type", "choices", "when"),
}
_SPACE_KEYS: tuple[str, ...] = ("description", "tune", "fixed", "params")

Scalar = bool | int | float | str


class Suggester(Protocol):
    """What :meth:`SearchSpace.sample` asks for values (an Optuna trial fits)."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


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


def _parse_param(name: str, spec: Any, earlier: dict[str, Param]) -> Param:
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


# ----------------------------------------------------------------------------- the space


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Hyperparameters (in declaration order), fixed fit values and tune defaults.

    Attributes:
        params: The hyperparameters; parents come before their conditionals.
        fixed: Fit-config values every trial uses (applied before flags and params).
        tune: Defaults for the tune settings (e.g. ``{sampler: grid}``).
        description: Free text.
        source: The file it was read from ('' when built from a dict).
    """

    params: tuple[Param, ...]
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)
    tune: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    source: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "") -> SearchSpace:
        """Parses a space mapping (see the module docstring).

        Raises:
            ConfigError: naming the offending key, value and rule.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"search space {source!r} must be a mapping")
        for key in data:
            if key not in _SPACE_KEYS:
                raise config._unknown_key_error(key, _SPACE_KEYS, "search space ")
        raw = data.get("params") or {}
        if not isinstance(raw, Mapping) or not raw:
            raise ConfigError(f"search space {source or ''} needs a non-empty 'params' mapping")
        params: dict[str, Param] = {}
        for name, spec in raw.items():
            params[str(name)] = _parse_param(str(name), spec, dict(params))
        for a in params:
            for b in params:
                if b.startswith(a + ".") and params[a].values is None:
                    raise ConfigError(
                        f"params {a!r} and {b!r} overlap: {b!r} sets a part of {a!r}, which "
                        "only a categorical with named (mapping) choices may have"
                    )
        for key in ("fixed", "tune"):
            if not isinstance(data.get(key) or {}, Mapping):
                raise ConfigError(f"search space {key}={data.get(key)!r} must be a mapping")
        return cls(
            tuple(params.values()),
            dict(data.get("fixed") or {}),
            dict(data.get("tune") or {}),
            str(data.get("description") or ""),
            source,
        )

    @property
    def names(self) -> list[str]:
        """Parameter names in declaration order."""
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        """The parameter called ``name``.

        Raises:
            ConfigError: when there is none.
        """
        for p in self.params:
            if p.name == name:
                return p
        raise ConfigError(f"unknown param {name!r} (known: {', '.join(self.names)})")

    @property
    def conditional(self) -> bool:
        """Whether any parameter has a ``when``."""
        return any(p.when for p in self.params)

    @staticmethod
    def is_active(param: Param, labels: Mapping[str, Any]) -> bool:
        """Whether ``param``'s conditions hold for the labels chosen so far."""
        return all(labels.get(parent) in allowed for parent, allowed in param.when.items())

    def sample(self, suggest: Suggester) -> dict[str, Any]:
        """Asks ``suggest`` for every active parameter, parents first.

        Returns:
            ``{name: label}`` of the active parameters.
        """
        labels: dict[str, Any] = {}
        for p in self.params:
            if not self.is_active(p, labels):
                continue
            if p.kind == "categorical":
                labels[p.name] = suggest.suggest_categorical(p.name, list(p.choices))
            elif p.kind == "int":
                labels[p.name] = suggest.suggest_int(
                    p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log
                )
            else:
                labels[p.name] = suggest.suggest_float(
                    p.name, float(p.low), float(p.high), step=p.step, log=p.log
                )
        return labels

    def default_labels(self) -> dict[str, Any]:
        """A valid point (first choices, lows), e.g. to check a space before a study."""
        labels: dict[str, Any] = {}
        for p in self.params:
            if self.is_active(p, labels):
                labels[p.name] = p.default_label()
        return labels

    def check_labels(self, labels: Mapping[str, Any]) -> dict[str, Any]:
        """Validates a point (e.g. one to enqueue) and returns it in declaration order.

        Raises:
            ConfigError: on an unknown name, a missing active parameter, an inactive one
                or a value outside its range.
        """
        unknown = [k for k in labels if k not in self.names]
        if unknown:
            raise ConfigError(f"unknown param(s) {unknown} (known: {', '.join(self.names)})")
        out: dict[str, Any] = {}
        for p in self.params:
            active = self.is_active(p, out)
            if not active:
                if p.name in labels:
                    raise ConfigError(f"param {p.name!r} is inactive here (when: {p.when})")
                continue
            if p.name not in labels:
                raise ConfigError(f"param {p.name!r} is missing from {dict(labels)}")
            value = labels[p.name]
            if p.kind == "categorical":
                if value not in p.choices:
                    raise ConfigError(f"{p.name}={value!r} must be one of {list(p.choices)}")
            elif not (float(p.low) <= float(value) <= float(p.high)):
                raise ConfigError(f"{p.name}={value!r} must be in [{p.low}, {p.high}]")
            out[p.name] = value
        return out

    # ------------------------------------------------------------------- grids

    def grid(self) -> dict[str, list[Scalar]]:
        """The full grid ``{name: values}`` for a grid sampler.

        Raises:
            ConfigError: when a parameter is conditional (a grid would repeat points)
                or continuous.
        """
        if self.conditional:
            names = [p.name for p in self.params if p.when]
            raise ConfigError(
                f"a grid cannot hold conditional params ({', '.join(names)}): it would run "
                "equivalent points; split the space into one file per branch"
            )
        return {p.name: p.grid_values() for p in self.params}

    def grid_size(self) -> int:
        """Number of points in :meth:`grid`."""
        return math.prod(len(v) for v in self.grid().values())

    # ------------------------------------------------------------------- configs

    def apply(self, data: Mapping[str, Any], labels: Mapping[str, Any]) -> dict[str, Any]:
        """A deep copy of the config mapping ``data`` with the sampled values set.

        Raises:
            ConfigError: when a path cannot be set or a list is left with gaps.
        """
        out = copy.deepcopy(dict(data))
        lists: set[str] = set()
        # Shallow paths first, so that optimizer.learning_rate beats a named optimizer choice.
        for p in sorted(self.params, key=lambda p: p.name.count(".")):
            if p.name in labels:
                lists |= set_path(out, p.name, p.value_of(labels[p.name]))
        for path in sorted(lists):
            node: Any = out
            for part in path.split("."):
                node = node[int(part)] if isinstance(node, list) else node[part]
            gaps = [i for i, v in enumerate(node) if v is None]
            if gaps:
                raise ConfigError(
                    f"{path}[{gaps[0]}] is not set: the space sets some items of the list "
                    f"{path}; set every index, or give the whole list in 'fixed'"
                )
        return out

    # ------------------------------------------------------------------- keras-tuner

    def declare_keras_tuner(self, hp: Any) -> None:
        """Registers every parameter (with conditional scopes) on a ``kt.HyperParameters``."""
        for p in self.params:
            with contextlib.ExitStack() as stack:
                for parent, allowed in p.when.items():
                    stack.enter_context(hp.conditional_scope(parent, list(allowed)))
                if p.kind == "categorical":
                    hp.Choice(p.name, list(p.choices), default=p.choices[0])
                elif p.kind == "int":
                    hp.Int(
                        p.name,
                        int(p.low),
                        int(p.high),
                        step=int(p.step) if p.step else None,
                        sampling="log" if p.log else "linear",
                        default=int(p.low),
                    )
                else:
                    hp.Float(
                        p.name,
                        float(p.low),
                        float(p.high),
                        step=p.step,
                        sampling="log" if p.log else "linear",
                        default=float(p.low),
                    )

    def labels_from_keras_tuner(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The active ``{name: label}`` of a keras-tuner ``hp.values`` mapping."""
        labels: dict[str, Any] = {}
        for p in self.params:
            if self.is_active(p, labels):
                value = values.get(p.name, p.default_label())
                if p.kind == "categorical":  # e.g. an oracle's 1 for the label True
                    value = next((c for c in p.choices if c == value), value)
                elif p.kind == "int":
                    value = int(value)
                elif p.kind == "float":
                    value = float(value)
                labels[p.name] = value
        return labels

    # ------------------------------------------------------------------- optuna

    def distributions(self, labels: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna distributions of the parameters present in ``labels``."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, Any] = {}
        for p in self.params:
            if p.name not in labels:
                continue
            if p.kind == "categorical":
                out[p.name] = CategoricalDistribution(list(p.choices))
            elif p.kind == "int":
                out[p.name] = IntDistribution(
                    int(p.low), int(p.high), log=p.log, step=int(p.step or 1)
                )
            else:
                out[p.name] = FloatDistribution(
                    float(p.low), float(p.high), log=p.log, step=p.step
                )
        return out

    def summary(self) -> dict[str, Any]:
        """A plain description of the space (for ``--dry-run`` and summaries)."""
        out: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                item: dict[str, Any] = {"choices": list(p.choices)}
            else:
                item = {"low": p.low, "high": p.high}
                if p.log:
                    item["log"] = True
                if p.step is not None:
                    item["step"] = p.step
            if p.when:
                item["when"] = {k: list(v) for k, v in p.when.items()}
            out[p.name] = {"type": p.kind, **item}
        return out


def set_path(data: dict[str, Any], path: str, value: Any) -> set[str]:
    """Sets ``value`` at the dotted ``path`` of ``data`` (numeric parts index lists).

    Missing mappings and lists are created (lists padded with None). A mapping value is
    merged into a mapping already there.

    Returns:
        The dotted paths of the lists that were created or extended.

    Raises:
        ConfigError: when the path runs through a scalar.
    """
    parts = path.split(".")
    node: Any = data
    grown: set[str] = set()
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[:depth])
        if isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(f"{path}: {here} is a list; {part!r} must be an index")
            index = int(part)
            if index >= len(node):
                node.extend([None] * (index + 1 - len(node)))
                grown.add(here)
            key: Any = index
            current = node[index]
        elif isinstance(node, dict):
            key = part
            current = node.get(part)
        else:
            raise ConfigError(f"{path}: {here}={node!r} is not a mapping or list")
        if last:
            if isinstance(value, Mapping) and isinstance(current, Mapping):
                node[key] = config.merge(current, value)
            else:
                node[key] = value
            return grown
        if current is None:
            current = [] if parts[depth + 1].isdigit() else {}
            node[key] = current
        elif isinstance(current, tuple):
            current = list(current)
            node[key] = current
        node = current
    return grown


def load_space(path_or_data: str | Mapping[str, Any]) -> SearchSpace:
    """Reads a space YAML file (or takes an already parsed mapping).

    Raises:
        ConfigError: when the file is missing or the space is invalid.
    """
    if isinstance(path_or_data, Mapping):
        return SearchSpace.from_dict(path_or_data)
    if not path_or_data:
        raise ConfigError("space='' must name a search-space YAML file (--space)")
    return SearchSpace.from_dict(config.read_yaml(path_or_data), source=path_or_data)
