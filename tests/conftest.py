"""Shared fixtures."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import pytest


@pytest.fixture
def real_data() -> str:
    """The shared real-data folder, or a skip saying why it is missing."""
    root = os.environ.get("TFGENRE_REAL_DATA")
    if not root:
        pytest.skip("TFGENRE_REAL_DATA is not set; point it at the shared data folder")
    if not os.path.isdir(root):
        pytest.skip(f"TFGENRE_REAL_DATA={root!r} is not a folder")
    return root
