"""Shared fixtures: the real-data folder, synthetic records and tiny trained runs.

The builders that call tfgenre live in ``builders.py``; the command suite's user (a
scratch folder running ``python -m tfgenre.<cmd>``) in ``commands.py``; feature tables
without audio in ``tables.py``; audio in ``synth.py``; image checks in ``images.py``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import pytest
from builders import (
    RecordsSpec,
    SyntheticRecords,
    TinyRuns,
    build_tiny_runs,
    write_synthetic_records,
)
from commands import EMBEDDINGS_WRITE, User
from synth import write_long_stereo


@dataclasses.dataclass(frozen=True)
class EmbeddingsRecords:
    """The shared embeddings records (``commands.EMBEDDINGS_WRITE``).

    Attributes:
        audio: the synthetic clips (``audio/<genre>/<clip>.wav``).
        records: the records folder (embeddings and features views).
        stdout: what ``python -m tfgenre.write_records`` printed when it wrote them.
    """

    audio: Path
    records: Path
    stdout: str


@pytest.fixture
def real_data() -> str:
    """The shared real-data folder, or a skip saying why it is missing."""
    root = os.environ.get("TFGENRE_REAL_DATA")
    if not root:
        pytest.skip("TFGENRE_REAL_DATA is not set; point it at the shared data folder")
    if not os.path.isdir(root):
        pytest.skip(f"TFGENRE_REAL_DATA={root!r} is not a folder")
    return root


@pytest.fixture(scope="session")
def synthetic_records(tmp_path_factory) -> Callable[[RecordsSpec], SyntheticRecords]:
    """A function that writes the records of a ``RecordsSpec`` once per session.

    Each spec (genres, clips, clip length, views, window, splits, shards...) is written
    to its own folder of the session's base temp folder; asking again for the same spec
    returns the same folders. Tests must not modify them (copy first).
    """
    base = tmp_path_factory.getbasetemp() / "tfgenre_records"

    def records(spec: RecordsSpec) -> SyntheticRecords:
        return write_synthetic_records(spec, base / spec.key)

    return records


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, synthetic_records) -> TinyRuns:
    """One-epoch mel_cnn, raw_conv1d and features_mlp runs on 3 genres x 4 clips of 3 s
    (1-s windows, 0.5-s hop), plus features_mlp on the clips' whole-track feature table;
    built once per session (see ``builders.TinyRuns``)."""
    root = Path(tmp_path_factory.getbasetemp()) / "tfgenre_tiny_runs"
    return build_tiny_runs(root, synthetic_records)


@pytest.fixture(scope="session")
def long_stereo(tiny_runs, tmp_path_factory) -> Path:
    """125 s of 44.1-kHz stereo made of the ``tiny_runs`` clips (``synth.write_long_stereo``)."""
    path = tmp_path_factory.mktemp("long") / "long_stereo_44k.wav"
    write_long_stereo(path, tiny_runs.audio, seconds=125.0, sample_rate=44100)
    return path


@pytest.fixture(scope="session")
def embeddings_records(tmp_path_factory) -> EmbeddingsRecords:
    """Records with musicnn_msd embeddings, written once per session by ``python -m
    tfgenre.write_records`` in its own process (``commands.EMBEDDINGS_WRITE``); the
    command-suite modules link them into their scratch folders. Tests must not modify
    them."""
    user = User(tmp_path_factory.mktemp("embeddings_records"))
    proc = user.run("tfgenre.write_records", *EMBEDDINGS_WRITE)
    return EmbeddingsRecords(user.path("audio"), user.path("records"), proc.stdout)
