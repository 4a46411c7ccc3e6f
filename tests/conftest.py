"""Shared fixtures: the real-data folder, synthetic records and tiny trained runs.

The builders that call tfgenre live in ``builders.py``; the command suite's user (a
scratch folder running ``python -m tfgenre.<cmd>``) in ``commands.py``; feature tables
without audio in ``tables.py``; audio in ``synth.py``; image checks in ``images.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import sys
from collections.abc import Callable, Iterator
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


#: The slowest test files, slowest first (summed test seconds of the default suite on 2
#: cores, commands forked from the warm parent of ``spawn``, real data on: test_cli 278 s,
#: test_training 212 s, test_damaged_inputs 132 s, test_models 108 s...).
#: ``make test`` hands whole files to its 2 xdist workers in collection order
#: (``--dist loadfile --no-loadscope-reorder``); starting with the longest files leaves
#: the many short ones to fill the end, so neither worker waits long for the other.
#: (xdist's own order, most tests first, put files of a few long tests last.)
SLOWEST_FILES = (
    "test_cli.py",
    "test_training.py",
    "test_damaged_inputs.py",
    "test_models.py",
    "test_probe_tuning.py",
    "test_export_waveform.py",
    "test_jax_backend.py",
    "test_musicnn_transfer.py",
    "test_cli_embeddings.py",
    "test_tune_resume.py",
    "test_cli_gtzan_pretrained.py",
    "test_cli_finetune.py",
    "test_musicnn_parity.py",
    "test_bench.py",
    "test_fit_cli.py",
    "test_writer.py",
    "test_export.py",
    "test_predict_library.py",
    "test_cli_split_warnings.py",
    "test_cli_report_figures.py",
    "test_tune.py",
    "test_serve.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of ``SLOWEST_FILES`` first, in its order; each file's tests keep theirs."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def _shared_root(tmp_path_factory) -> Path:
    """The folder every test process of this run shares.

    Under pytest-xdist each worker has its own base temp folder (``<run>/gw0``...); the
    session's builds go one level up, so the workers build each of them once, not once
    each. Without xdist it is the base temp folder itself.
    """
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _building(folder: Path) -> Iterator[None]:
    """Holds ``folder``'s lock (``<folder>.lock``): one process of the run builds it,
    the others wait and then find its ``done`` file."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
    to its own folder of the run's shared folder (``_shared_root``: one build for all the
    xdist workers); asking again for the same spec returns the same folders. Tests must
    not modify them (copy first).
    """
    base = _shared_root(tmp_path_factory) / "tfgenre_records"

    def records(spec: RecordsSpec) -> SyntheticRecords:
        with _building(base / spec.key):
            return write_synthetic_records(spec, base / spec.key)

    return records


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, synthetic_records) -> TinyRuns:
    """One-epoch mel_cnn, raw_conv1d and features_mlp runs on 3 genres x 4 clips of 3 s
    (1-s windows, 0.5-s hop), plus features_mlp on the clips' whole-track feature table;
    built once per run, for all the xdist workers (see ``builders.TinyRuns``)."""
    root = _shared_root(tmp_path_factory) / "tfgenre_tiny_runs"
    with _building(root):
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
    tfgenre.write_records`` in its own process (``commands.EMBEDDINGS_WRITE``), once for
    all the xdist workers; the command-suite modules link them into their scratch
    folders. Tests must not modify them."""
    root = _shared_root(tmp_path_factory) / "tfgenre_embeddings_records"
    user = User(root)
    printed = root / "write_records.stdout"
    with _building(root):
        if not (root / "done").exists():
            root.mkdir(exist_ok=True)
            proc = user.run("tfgenre.write_records", *EMBEDDINGS_WRITE)
            printed.write_text(proc.stdout)
            (root / "done").write_text("ok")
    return EmbeddingsRecords(user.path("audio"), user.path("records"), printed.read_text())
