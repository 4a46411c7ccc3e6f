"""Layered, validated configuration: defaults, then a YAML file, then ``--set`` overrides.

Configs are frozen dataclasses that validate themselves in ``__post_init__``. This
module turns plain dicts (from YAML) into them, applies ``key.sub=value`` overrides,
and rejects unknown keys with a suggestion of the closest known name.

A pipeline YAML may hold one section per stage (``write_records:``, ``fit:``, ...);
:func:`load_section` picks the stage's section, or the whole file when it has none.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import yaml

from tfgenre.errors import ConfigError

T = TypeVar("T")

STAGES: tuple[str, ...] = (
    "write_records", "fit", "evaluate", "tune", "baselines", "explore", "compare", "export",
)  # fmt: skip


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """The hint that ends an "unknown name" error: the closest of ``known``, if any.

    The one closest-name rule of tfgenre (config keys, optimizers, sources, views,
    models and their options): the known name with the highest
    ``difflib.SequenceMatcher`` ratio, at least 0.6; ties go to the alphabetically
    first.

    Args:
        value: The unknown name.
        known: The names it could have meant.

    Returns:
        ``"; did you mean 'adam'?"``, or ``""`` when no name is close.
    """
    scored = [(difflib.SequenceMatcher(None, str(value), k).ratio(), k) for k in known]
    scored = [(score, k) for score, k in scored if score >= 0.6]
    if not scored:
        return ""
    close = min(scored, key=lambda item: (-item[0], item[1]))[1]
    return f"; did you mean {close!r}?"


def _unknown_key_error(key: str, known: Iterable[str], where: str) -> ConfigError:
    known = sorted(known)
    hint = did_you_mean(key, known)
    return ConfigError(f"unknown key {where}{key!r} (known: {', '.join(known)}){hint}")


def _section_error(name: str, value: Any, section: type) -> ConfigError:
    """The error for a plain value given to a section: name its keys and the likely one."""
    keys = [f.name for f in dataclasses.fields(section) if f.init]
    guess = "name" if "name" in keys else keys[0] if len(keys) == 1 else None
    hint = f"; did you mean {name}.{guess}={value}?" if guess else ""
    return ConfigError(
        f"{name} is a section ({', '.join(f'{name}.{k}' for k in keys)}), not a value{hint}"
    )


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Converts a YAML value to the field's annotated type where it is unambiguous."""
    if isinstance(annotation, str):  # postponed annotations are resolved by the caller
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{name}={value!r} has the wrong type")
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if isinstance(annotation, type) and isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise _section_error(name, value, annotation)
        return from_dict(annotation, value, prefix=f"{name}.")
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r} must be a list")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{name}[]") for v in value)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}={value!r} must be a mapping")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={value!r} must be true or false")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{name}={value!r} must be an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r} must be a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r} must be a string")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Builds the dataclass ``cls`` from a (nested) mapping.

    Args:
        cls: A dataclass type.
        data: Keys are field names; nested dataclass fields take nested mappings.
        prefix: Dotted path of ``data`` inside the whole config, for error messages.

    Raises:
        ConfigError: on unknown keys (with the closest name) or wrongly typed values.
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise _unknown_key_error(key, fields, prefix)
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from err


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain, YAML/JSON-serialisable data (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
            }
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    return plain(config)


def config_hash(data: Mapping[str, Any]) -> str:
    """A stable sha256 of plain config data (key order does not matter)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parses ``a.b.c=value`` into (["a", "b", "c"], value); the value is YAML.

    Raises:
        ConfigError: when ``text`` has no ``=`` or an empty key.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r} must look like key=value (e.g. mel.n_mels=64)")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"--set {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return parts, value


def set_path(
    data: dict[str, Any], path: str | Sequence[str], value: Any, *, merge_mappings: bool = False
) -> set[str]:
    """Sets ``value`` at the dotted ``path`` of ``data`` in place: the one dotted setter.

    ``--set`` overrides, dedicated CLI flags, pipeline list stages and search-space
    parameters all set values through this function. A numeric part indexes a list
    (``model_options.units.0``). Missing mappings and lists on the way are created
    (a list for a numeric next part, padded with None); tuples become lists.

    Args:
        data: The nested mapping to change.
        path: ``"a.b.c"`` or its parts ``["a", "b", "c"]``.
        value: The value to set.
        merge_mappings: Merge a mapping ``value`` into a mapping already at ``path``
            (a search space's named choices) instead of replacing it.

    Returns:
        The dotted paths of the lists that were created or extended (a caller that
        sets list items one by one checks them for gaps).

    Raises:
        ConfigError: when the path runs through a scalar, or a list with a non-index.
    """
    parts = path.split(".") if isinstance(path, str) else list(path)
    path = ".".join(parts)
    node: Any = data
    grown: set[str] = set()
    for depth, part in enumerate(parts):
        here = ".".join(parts[:depth])
        if isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(f"{path}: {here} is a list; {part!r} must be an index")
            key: Any = int(part)
            if key >= len(node):
                node.extend([None] * (key + 1 - len(node)))
                grown.add(here)
        elif isinstance(node, dict):
            key = part
        else:
            raise ConfigError(f"{path}: {here}={node!r} is not a mapping or list")
        current = node[key] if isinstance(node, list) else node.get(key)
        if depth == len(parts) - 1:
            if merge_mappings and isinstance(value, Mapping) and isinstance(current, Mapping):
                value = merge(current, value)
            node[key] = value
            return grown
        if current is None:
            current = [] if parts[depth + 1].isdigit() else {}
        elif isinstance(current, tuple):
            current = list(current)
        node[key] = current
        node = current
    return grown


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Returns a deep copy of ``data`` with each ``key.sub=value`` set (:func:`set_path`)."""
    result = json.loads(json.dumps(dict(data), default=list))
    for text in overrides:
        parts, value = parse_override(text)
        set_path(result, parts, value)
    return result


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merges ``update`` into a copy of ``base`` (mappings merge, the rest replaces)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: str) -> dict[str, Any]:
    """Reads a YAML mapping from ``path`` (local or gs://).

    Raises:
        ConfigError: when the file is missing, not YAML, or not a mapping.
    """
    from tfgenre.core.io import read_text

    try:
        data = yaml.safe_load(read_text(path))
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path!r} does not exist") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path!r} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must hold a mapping, got {type(data).__name__}")
    return data


def load_section(path: str | None, stage: str) -> dict[str, Any]:
    """The ``stage`` section of a pipeline YAML, or the whole file when it has no stages."""
    if not path:
        return {}
    data = read_yaml(path)
    if any(key in STAGES for key in data):
        section = data.get(stage) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: section {stage!r} must be a mapping")
        return section
    return data


def set_flags(data: dict[str, Any], flags: Mapping[str, Any]) -> dict[str, Any]:
    """Sets dotted keys (``optimizer.learning_rate``) of ``data`` in place; None is skipped."""
    for key, value in flags.items():
        if value is not None:
            set_path(data, key, value)
    return data


def resolve(
    cls: type[T],
    config_path: str | None = None,
    stage: str | None = None,
    overrides: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
) -> T:
    """Defaults, then the YAML section, then explicit CLI flags, then ``--set`` overrides.

    Args:
        cls: The config dataclass.
        config_path: Optional YAML file.
        stage: Section of a pipeline file to use (defaults to the whole file).
        overrides: ``key.sub=value`` strings.
        flags: Values given by dedicated CLI flags (None values are ignored).
    """
    data = (
        load_section(config_path, stage)
        if stage
        else (read_yaml(config_path) if config_path else {})
    )
    data = set_flags(data, flags or {})
    data = apply_overrides(data, overrides)
    return from_dict(cls, data)


def replace(config: T, **changes: Any) -> T:
    """``dataclasses.replace`` that re-validates."""
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


def require(condition: bool, message: str) -> None:
    """Raises ConfigError(message) unless ``condition``."""
    if not condition:
        raise ConfigError(message)
