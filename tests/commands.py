"""The command suite's user: a scratch folder where ``python -m tfgenre.<cmd>`` runs as
its own process, as a user runs it from a shell.

Shared by the command-suite modules (embeddings, the recipe, the waveform export, the
tuned probe, the figures); ``conftest.py`` builds the session's shared embeddings
records with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import spawn

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"

#: ``write_records`` of the shared embeddings records (``conftest.embeddings_records``):
#: 2 synthetic genres x 4 clips of 6 s, 3-s windows (one musicnn patch each), the
#: single-backbone embedding (max_pool, mean, tags) and the features view.
EMBEDDINGS_WRITE = (
    "--source", "synthetic", "--input", "audio", "--output", "records",
    "--views", "embeddings,features", "--set", "embeddings.backbone=musicnn_msd",
    # the single-backbone embedding of earlier versions (the recipe has its own tests)
    "--set", "embeddings.layer=max_pool", "--set", "embeddings.pooling=mean",
    "--set", "embeddings.tags=true",
    "--set", "source_options.num_genres=2", "--set", "source_options.clips_per_genre=4",
    "--set", "source_options.clip_seconds=6", "--window-seconds", "3",
    "--splits", "train=0.5,validation=0.25,test=0.25", "--shards", "1", "--workers", "2",
    "--no-progress",
)  # fmt: skip


class User:
    """The user's scratch folder and the steps that passed so far.

    Commands run with this checkout's tfgenre first on ``PYTHONPATH``; each must exit as
    expected and print no Python traceback.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.passed: set[str] = set()
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        self.env = {**os.environ, "PYTHONPATH": path}

    def run(
        self, module: str, *args: str, ok: bool = True, code: int | None = None
    ) -> subprocess.CompletedProcess:
        """``python -m module args...`` (``module="-c"``: ``python -c args[0] args[1:]``).

        Args:
            module: the module to run, or ``-c`` for a script.
            *args: its arguments.
            ok: whether it must exit 0 (True) or fail (False).
            code: the exact exit code it must return (overrides ``ok``).
        """
        argv = [sys.executable, "-c", args[0], *args[1:]] if module == "-c" else [
            sys.executable, "-m", module, *args]  # fmt: skip
        proc = spawn.run(argv, cwd=self.root, env=self.env, timeout=900)
        shown = " ".join(argv[1:])[: 300 if module == "-c" else None]
        said = f"$ python {shown}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        if code is not None:
            assert proc.returncode == code, said
        else:
            assert (proc.returncode == 0) == ok, said
        assert TRACEBACK not in proc.stdout + proc.stderr, said
        return proc

    def require(self, *steps: str) -> None:
        """Skips the test, naming the earlier steps that did not pass."""
        missing = [s for s in steps if s not in self.passed]
        if missing:
            pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def link(self, *folders: Path) -> None:
        """Links shared, read-only folders (records, audio) into the scratch folder."""
        for folder in folders:
            (self.root / folder.name).symlink_to(folder, target_is_directory=True)
