"""Checked reads of the JSON files tfgenre writes for itself (``metrics.json``, unit states, ...).

A typed file's ``from_json`` reads its keys through :class:`Fields`, which raises the
error class the caller names with a message that names the file, the key (as a path
such as ``track.per_class.blues.f1``) and the rule it broke, e.g.
``run/report/metrics.json: key 'track.accuracy' must be a number; got 'high'``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from tfgenre.core import io
from tfgenre.errors import TfgenreError

_MISSING = object()


def load_object(path: str, error: type[TfgenreError]) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        error: when the file is not JSON or holds something else than an object.
    """
    try:
        data = json.loads(io.read_text(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise error(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise error(f"{path} must hold a JSON object; got {type(data).__name__}")
    return data


class Fields:
    """The keys of one JSON object, read with their types checked.

    Args:
        data: The decoded object (anything: a non-object is refused here).
        where: The file it came from (named in every error).
        error: The error class to raise.
        prefix: The key path of ``data`` inside the file (``""`` at the top).
    """

    def __init__(
        self, data: Any, where: str, error: type[TfgenreError], prefix: str = ""
    ) -> None:
        self.where = where
        self.error = error
        self.prefix = prefix
        if not isinstance(data, Mapping):
            what = f"key {prefix!r}" if prefix else "the file"
            raise error(f"{where}: {what} must be a JSON object; got {type(data).__name__}")
        self.data = data

    def path(self, key: str) -> str:
        """The key path of ``key`` (``track.accuracy``)."""
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, rule: str, value: Any = _MISSING) -> NoReturn:
        """Raises the error naming the file, ``key`` and ``rule``."""
        got = "" if value is _MISSING else f"; got {value!r}"
        raise self.error(f"{self.where}: key {self.path(key)!r} {rule}{got}")

    def has(self, key: str) -> bool:
        """Whether the object has ``key`` (optional keys are read only when present)."""
        return key in self.data

    def get(self, key: str) -> Any:
        """The raw value of ``key``."""
        if key not in self.data:
            self.fail(key, "is missing")
        return self.data[key]

    def text(self, key: str) -> str:
        """A string value."""
        value = self.get(key)
        if not isinstance(value, str):
            self.fail(key, "must be a string", value)
        return value

    def integer(self, key: str) -> int:
        """An int value (not a bool)."""
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "must be an integer", value)
        return value

    def number(self, key: str) -> float:
        """An int or float value, kept as it was."""
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, "must be a number", value)
        return value

    def number_or_null(self, key: str) -> float | None:
        """A number or a JSON null."""
        return None if self.get(key) is None else self.number(key)

    def items(self, key: str) -> list[Any]:
        """A list value."""
        value = self.get(key)
        if not isinstance(value, list):
            self.fail(key, "must be a list", value)
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings, as a tuple."""
        values = self.items(key)
        if not all(isinstance(v, str) for v in values):
            self.fail(key, "must be a list of strings", values)
        return tuple(values)

    def mapping(self, key: str) -> dict[str, Any]:
        """An object value, as a plain dict (unchecked inside)."""
        value = self.get(key)
        if not isinstance(value, Mapping):
            self.fail(key, "must be a JSON object", value)
        return dict(value)

    def each(self, key: str) -> list[Fields]:
        """The objects of the list under ``key``, each with its key path (``tracks[3]``)."""
        return [
            Fields(e, self.where, self.error, f"{self.path(key)}[{i}]")
            for i, e in enumerate(self.items(key))
        ]

    def sub(self, key: str) -> Fields:
        """The object under ``key``, as :class:`Fields` with its key path."""
        return Fields(self.get(key), self.where, self.error, self.path(key))
