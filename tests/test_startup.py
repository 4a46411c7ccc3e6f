"""``python -m tfgenre.<cmd> --help`` starts without TensorFlow or Keras.

The README promises that ``--help`` answers at once (under 0.3 s on a quiet machine);
importing TensorFlow alone takes seconds, so each command's parser must leave it (and
Keras) to the code that runs the command. Timing is not asserted here (no timing in
tests); what is checked is the cause of a slow start: which modules ``--help`` loads,
each command in its own process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "librosa", "sklearn", "pandas", "apache_beam")


def commands() -> list[str]:
    """Every ``tfgenre/<cmd>.py`` with a ``main`` (the user's entry points)."""
    names = []
    for path in sorted((ROOT / "tfgenre").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^def main\(", text, re.M) and "build_parser" in text:
            names.append(path.stem)
    return names


PROBE = """
import json, runpy, sys
sys.argv = ["python -m tfgenre.{cmd}", "--help"]
try:
    runpy.run_module("tfgenre.{cmd}", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write("\\n" + json.dumps(sorted(m for m in {heavy} if m in sys.modules)) + "\\n")
"""


def test_commands_are_found() -> None:
    found = commands()
    assert {"predict", "write_records", "fit", "export"} <= set(found), found


@pytest.mark.parametrize("cmd", commands())
def test_help_imports_no_tensorflow(cmd: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    code = PROBE.format(cmd=cmd, heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout, proc.stdout[:500]
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert loaded == [], f"python -m tfgenre.{cmd} --help imports {loaded}"
