"""The command suite's processes (``spawn``) are what ``python -m`` / ``python -c`` make.

Each check runs the same script both ways, forked from the warm parent and with a fresh
interpreter, and compares what a command can see: argv, ``__name__``, working folder,
``sys.path``, environment, stdin, the exit status (``sys.exit``, an exception, a signal),
atexit functions and threads at exit, and fresh random seeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spawn

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import atexit, json, os, random, sys, tempfile, threading, time
import numpy as np
def late():
    time.sleep(0.3)
    print("thread done", flush=True)
threading.Thread(target=late).start()  # not a daemon: the process waits for it
atexit.register(lambda: print("atexit ran", flush=True))
print(json.dumps({
    "argv": sys.argv, "name": __name__, "cwd": os.getcwd(), "path0": sys.path[0],
    "pythonpath": [p for p in sys.path if p == os.environ.get("PYTHONPATH")],
    "marker": os.environ.get("SPAWN_MARKER"), "stdin": sys.stdin.read(),
    "tmp": tempfile.gettempdir(), "random": random.random(), "numpy": float(np.random.rand()),
    "tensorflow_loaded": "tensorflow" in sys.modules,
}), flush=True)
sys.stderr.write("to stderr\\n")
raise SystemExit(int(sys.argv[-1]))
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "SPAWN_MARKER": "m",
            "TMPDIR": str(ROOT / "tests"), **extra}  # fmt: skip


def _both(argv: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, ...]:
    forked = spawn.run(argv, cwd=cwd, env=_env(), timeout=300)
    fresh = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True,
                           timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip
    return forked, fresh


def _said(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.splitlines()[0])


def test_a_script_sees_what_python_c_gives_it(tmp_path):
    forked, fresh = _both([sys.executable, "-c", PROBE, "a b", "3"], tmp_path)
    assert forked.returncode == fresh.returncode == 3
    assert forked.stdout.splitlines()[1:] == fresh.stdout.splitlines()[1:] == [
        "thread done", "atexit ran"]  # fmt: skip
    assert forked.stderr == fresh.stderr == "to stderr\n"
    got, want = _said(forked), _said(fresh)
    for key in ("argv", "name", "cwd", "path0", "pythonpath", "marker", "stdin", "tmp"):
        assert got[key] == want[key], key
    assert got["tmp"] == str(ROOT / "tests")  # TMPDIR, though the warm parent had another
    assert got["argv"] == ["-c", "a b", "3"] and got["cwd"] == str(tmp_path)
    # the warm parent imported TensorFlow (that is the point); a fresh python has not
    assert got["tensorflow_loaded"] and not want["tensorflow_loaded"]


def test_a_module_runs_as_main_with_its_file_in_argv0(tmp_path):
    (tmp_path / "probe_module.py").write_text(PROBE)
    forked, fresh = _both([sys.executable, "-m", "probe_module", "0"], tmp_path)
    assert forked.returncode == fresh.returncode == 0
    got, want = _said(forked), _said(fresh)
    for key in ("argv", "name", "cwd", "path0", "pythonpath", "marker"):
        assert got[key] == want[key], key
    assert got["argv"][0] == str(tmp_path / "probe_module.py") and got["name"] == "__main__"


def test_each_child_draws_its_own_seeds(tmp_path):
    draws = [_said(spawn.run([sys.executable, "-c", PROBE, "0"], cwd=tmp_path, env=_env(),
                             timeout=300)) for _ in range(2)]  # fmt: skip
    assert draws[0]["random"] != draws[1]["random"]
    assert draws[0]["numpy"] != draws[1]["numpy"]


@pytest.mark.parametrize("script, status, shown", [
    ("1/0", 1, "ZeroDivisionError"),
    ("raise SystemExit('bad value')", 1, "bad value"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -9, ""),
])  # fmt: skip
def test_exit_statuses_are_those_of_python(tmp_path, script, status, shown):
    forked, fresh = _both([sys.executable, "-c", script], tmp_path)
    assert forked.returncode == fresh.returncode == status
    assert shown in forked.stderr and shown in fresh.stderr


def test_background_children_run_at_once_and_time_out(tmp_path):
    slow = spawn.start([sys.executable, "-c", "import time; time.sleep(1); print('slow')"],
                       cwd=tmp_path, env=_env())  # fmt: skip
    quick = spawn.start([sys.executable, "-c", "print('quick')"], cwd=tmp_path, env=_env())
    assert quick.communicate(timeout=60) == ("quick\n", "")
    assert slow.poll() is None  # still sleeping while the other one ended
    assert slow.communicate(timeout=60) == ("slow\n", "") and slow.returncode == 0
    with pytest.raises(subprocess.TimeoutExpired):
        spawn.run([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path,
                  env=_env(), timeout=1)  # fmt: skip


def test_another_import_time_environment_gets_its_own_warm_parent(tmp_path):
    """Keras reads KERAS_BACKEND when it is imported: the child must see the one asked."""
    code = "import keras; print(keras.backend.backend())"
    for backend in ("jax", "tensorflow"):
        proc = spawn.run([sys.executable, "-c", code], cwd=tmp_path,
                         env=_env(KERAS_BACKEND=backend), timeout=300)  # fmt: skip
        assert proc.stdout.strip() == backend, proc.stderr[-2000:]
