"""Keeps TensorFlow's native start-up log off the terminal unless the user asks for it.

On a machine without a GPU every TensorFlow process used to start with lines such as
``cudart_stub.cc: Could not find cuda drivers``, ``oneDNN custom operations are on``
and ``failed call to cuInit``. tfgenre shows the device in one line of its own instead
(``device: CPU (no GPU found)``, see :func:`tfgenre.training.strategy.describe_devices`).

:func:`install` (run when the ``tfgenre`` package is imported, before TensorFlow is)
does two things:

* it sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it; a user who sets it (to 0,
  say) sees exactly what they asked for;
* TensorFlow writes its first lines while it is imported, before its logging is set
  up, and ignores ``TF_CPP_MIN_LOG_LEVEL`` for those. While ``tensorflow`` is being
  imported, file descriptor 2 goes to a temporary file; afterwards every line is
  written back except TensorFlow log lines below ``TF_CPP_MIN_LOG_LEVEL`` (so
  ``TF_CPP_MIN_LOG_LEVEL=0`` keeps them all).

``TF_ENABLE_ONEDNN_OPTS`` is left alone (it changes numerics, not only the log).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
#: The level tfgenre sets when the user did not: only FATAL lines get through.
DEFAULT_LEVEL = "3"

#: A native (absl/glog) log line: severity letter, date, time, thread, file:line].
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s\]]+:\d+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
#: Lines that belong to a native log line before them, or that only announce them.
_ANNOUNCE = "WARNING: All log messages before absl::InitializeLog() is called"
_CONTINUATION = ("To enable the following instructions:",)


def min_level() -> int:
    """The ``TF_CPP_MIN_LOG_LEVEL`` in force (0 when unset or not a number)."""
    try:
        return int(os.environ.get(LEVEL_VARIABLE, "0").strip() or 0)
    except ValueError:
        return 0


def filter_native_log(text: str, level: int) -> str:
    """``text`` without the native TensorFlow log lines below ``level``.

    Args:
        text: What was written to stderr.
        level: ``TF_CPP_MIN_LOG_LEVEL`` (1 drops INFO, 2 also WARNING, 3 also ERROR).

    Returns:
        The other lines, unchanged and in order.
    """
    if level <= 0:
        return text
    kept: list[str] = []
    dropped_last = False
    for line in text.splitlines(keepends=True):
        match = _NATIVE_LINE.match(line)
        if match:
            dropped_last = _SEVERITY[match.group(1)] < level
            if not dropped_last:
                kept.append(line)
            continue
        if line.startswith(_ANNOUNCE) or (dropped_last and line.startswith(_CONTINUATION)):
            continue
        dropped_last = False
        kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def filtered_stderr(level: int) -> Iterator[None]:
    """Sends file descriptor 2 to a temporary file, then writes back the lines worth showing."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = filter_native_log(tmp.read().decode("utf-8", "replace"), level)
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader with :func:`filtered_stderr` around it."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        # The module keeps its own loader (importlib.resources and friends ask it).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with filtered_stderr(min_level()):
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders and wraps its loader."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and min_level() > 0:
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Sets the default log level and quiets TensorFlow's import (once per process)."""
    os.environ.setdefault(LEVEL_VARIABLE, DEFAULT_LEVEL)
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
