"""Skip marks shared by the tests that need an optional package."""

from __future__ import annotations

import importlib.util

import pytest

#: For tests that need the published musicnn weights (``pip install --no-deps musicnn``;
#: ``make venv`` installs it, so CI runs them).
needs_musicnn = pytest.mark.skipif(
    importlib.util.find_spec("musicnn") is None,
    reason="the musicnn package (the published weights) is not installed: "
    "pip install --no-deps musicnn==0.1.0",
)

#: For tests of the jax backend (``KERAS_BACKEND=jax``; jax is in requirements.txt).
needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed: pip install jax"
)
