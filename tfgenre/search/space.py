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

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.search.param import Param, Scalar, parse_param

_SPACE_KEYS: tuple[str, ...] = ("description", "tune", "fixed", "params")


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
            params[str(name)] = parse_param(str(name), spec, dict(params))
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
                lists |= config.set_path(
                    out, p.name, p.value_of(labels[p.name]), merge_mappings=True
                )
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
