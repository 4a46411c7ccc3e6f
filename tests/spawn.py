"""Commands as their own processes, without paying TensorFlow's import in each one.

Every command test runs ``python -m tfgenre.<cmd> ...`` (or ``python -c SCRIPT``) as a
process of its own: its own pid, working directory, environment, argv, stdout, stderr
and exit status, killed by a signal like any process. On these 2-core machines most of
such a process's life was ``import tensorflow`` (about 8-10 s of CPU, Keras included),
paid again by each of the suite's few hundred commands.

``run`` and ``start`` fork those processes from a *warm parent* (a zygote, one per test
process and import-time environment): a Python that has imported TensorFlow and nothing
of tfgenre, and that forks once per command. The child becomes the command the way
``python -m`` would make it: it changes to the working directory, takes the environment,
``sys.argv`` and ``sys.path`` that the interpreter would have built, points fds 0/1/2 at
/dev/null and the capture files, draws fresh seeds for ``random`` and NumPy, and runs
the module as ``__main__`` with :mod:`runpy` (the code path of ``python -m``). Its exit
status, or the signal that killed it, is the command's. tfgenre itself is imported fresh
in every child, so each command sees this checkout as it is now.

What a forked child cannot reproduce is the interpreter's start: the import-time
environment (``KERAS_BACKEND``, ``TF_CPP_MIN_LOG_LEVEL``, thread counts, ``PYTHON*``...)
and the hash seed are the warm parent's. So each import-time environment has its own
warm parent (``MAX_WARM`` per test process; past that, a fresh interpreter), and the
tests of start-up itself (``--help`` time, TensorFlow's quiet start) call
:func:`subprocess.run` directly. ``TFGENRE_TEST_FORK=0`` runs every command with a
fresh interpreter (``python -m``), as the suite did before.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Environment variables read when Python, NumPy, TensorFlow or Keras start (or that
#: name a library to load): commands that differ in any of them get different warm
#: parents. (``TF_CONFIG`` is read when a strategy is built, so it may differ.)
IMPORT_TIME_PREFIXES = ("TF_", "KERAS_", "CUDA_", "XLA_", "OMP_", "OPENBLAS_", "MKL_",
                        "PYTHON", "LD_", "MALLOC_", "JAX_")  # fmt: skip
RUNTIME_VARIABLES = frozenset({"TF_CONFIG", "PYTHONPATH"})

#: What the warm parent imports: TensorFlow (and the Keras it loads), nothing of tfgenre.
WARM_IMPORTS = ("tensorflow",)


#: Warm parents per test process, one per import-time environment.
MAX_WARM = 3


def _with_tfgenre_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with what ``import tfgenre`` sets before TensorFlow loads
    (``tfgenre.core.tflog``): the warm parent imports TensorFlow as a command would,
    after it. (Imported here, on the test process's side: the warm parent imports
    nothing of tfgenre.)"""
    from tfgenre.core import tflog

    return {tflog.LEVEL_VARIABLE: tflog.DEFAULT_LEVEL, **env}


def _import_time_env(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The variables of ``env`` that count when an interpreter starts and imports
    TensorFlow, with tfgenre's defaults filled in."""
    return tuple(sorted(
        (k, v) for k, v in _with_tfgenre_defaults(env).items()
        if k.startswith(IMPORT_TIME_PREFIXES) and k not in RUNTIME_VARIABLES
    ))  # fmt: skip


class _Zygote:
    """The warm parent of one test process: the pipe it takes requests on and the
    replies it sends (``{"pid"}`` when a child starts, ``{"pid", "status"}`` when one
    ends; several children may run at once)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        here = str(Path(__file__).resolve().parent)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r}); "
             "import spawn; spawn._serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=_with_tfgenre_defaults(env), cwd=here,
        )  # fmt: skip
        self.lock = threading.RLock()
        self.fd = self.proc.stdout.fileno()
        self.pending = b""
        self.ended: dict[int, int] = {}
        ready = self._reply(None)
        if ready != {"ready": True}:
            raise RuntimeError(f"the warm parent did not start: {ready!r}")

    def _reply(self, timeout: float | None) -> dict | None:
        """The next message from the warm parent, or None after ``timeout`` seconds."""
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise RuntimeError("the warm parent exited")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def start(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], out: str,
              err: str) -> int:
        """Forks ``argv`` (without the interpreter); returns the child's pid."""
        request = {"argv": list(argv), "cwd": cwd, "env": dict(env), "out": out, "err": err}
        with self.lock:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            while True:
                reply = self._reply(None)
                if "status" in reply:
                    self.ended[reply["pid"]] = reply["status"]
                else:
                    return int(reply["pid"])

    def status(self, pid: int, timeout: float | None) -> int | None:
        """``pid``'s exit status (minus the signal that ended it), or None if it is
        still running after ``timeout`` seconds (None: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while pid not in self.ended:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                reply = self._reply(left)
                if reply is None:
                    return None
                self.ended[reply["pid"]] = reply["status"]
            return self.ended[pid]


class Child:
    """A command forked from the warm parent and still running, as ``subprocess.Popen``
    with stdout and stderr captured to files: ``pid``, ``poll()``, ``wait()``,
    ``communicate()``, ``send_signal()``, ``terminate()``, ``kill()``, ``returncode``."""

    def __init__(self, zygote: _Zygote, argv: list[str], cwd: str, env: Mapping[str, str],
                 output: tuple[str, str] | None = None):
        self.args = argv
        self._zygote = zygote
        self._folder = tempfile.TemporaryDirectory(prefix="tfgenre-spawn-")
        self._out, self._err = output or (os.path.join(self._folder.name, "stdout"),
                                          os.path.join(self._folder.name, "stderr"))
        self.pid = zygote.start(argv[1:], cwd, env, self._out, self._err)
        self.returncode: int | None = None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.status(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._zygote.status(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Waits for the end; returns (stdout, stderr) as text."""
        self.wait(timeout)
        read = lambda path: Path(path).read_text(errors="replace")  # noqa: E731
        try:
            return read(self._out), read(self._err)
        finally:
            self._folder.cleanup()


_warm: dict[tuple[tuple[str, str], ...], _Zygote] = {}


@atexit.register
def _close() -> None:
    """Ends the warm parents with this test process (their requests pipe closes)."""
    for zygote in _warm.values():
        zygote.proc.stdin.close()
        try:
            zygote.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            zygote.proc.kill()
            zygote.proc.wait()
        zygote.proc.stdout.close()


def _warm_parent(argv: Sequence[str], env: Mapping[str, str], fresh: bool) -> _Zygote | None:
    """The warm parent for ``env``'s import-time environment, started on first use;
    None (a fresh interpreter) when ``fresh`` is asked or forking is off, for argv that
    is not ``python -m`` or ``python -c``, or past ``MAX_WARM`` environments."""
    if fresh or os.environ.get("TFGENRE_TEST_FORK", "1") == "0" or not hasattr(os, "fork"):
        return None
    if len(argv) < 3 or argv[0] != sys.executable or argv[1] not in ("-m", "-c"):
        return None
    key = _import_time_env(env)
    zygote = _warm.get(key)
    if zygote is not None and zygote.alive():
        return zygote
    if zygote is None and len(_warm) >= MAX_WARM:
        return None
    _warm[key] = _Zygote(env)
    return _warm[key]


def start(argv: Sequence[str], *, cwd: str | os.PathLike | None = None,
          env: Mapping[str, str] | None = None, fresh: bool = False,
          output: tuple[os.PathLike, os.PathLike] | None = None) -> Child | subprocess.Popen:
    """``subprocess.Popen(argv, stdout=PIPE, stderr=PIPE, text=True)`` for ``[python,
    -m MODULE | -c SCRIPT, args...]``, forked from the warm parent where it can be
    (a :class:`Child`; its output is read by ``communicate``), or with a fresh
    interpreter (``fresh``: for what only an interpreter's start shows).

    ``output``: (stdout, stderr) files written as the process runs, for callers that
    read them live (a server's first line); read them from there, not from
    ``communicate``."""
    argv = [str(a) for a in argv]
    env = dict(os.environ if env is None else env)
    cwd = str(cwd if cwd is not None else os.getcwd())
    zygote = _warm_parent(argv, env, fresh)
    if zygote is None and output is not None:
        with open(output[0], "w") as out, open(output[1], "w") as err:
            return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
    if zygote is None:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    files = None
    if output is not None:
        files = (str(output[0]), str(output[1]))
        for path in files:  # there, empty, before the child starts writing
            Path(path).write_text("")
    return Child(zygote, argv, cwd, env, files)


def run(argv: Sequence[str], *, cwd: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None,
        fresh: bool = False) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, text=True, ...)`` for ``[python, -m
    MODULE | -c SCRIPT, args...]``, forked from the warm parent where it can be.

    Args:
        argv: ``[sys.executable, "-m", module, *args]`` or ``[sys.executable, "-c",
            script, *args]``; anything else runs with :func:`subprocess.run`.
        cwd: the working directory (this process's when None).
        env: the environment (this process's when None).
        timeout: seconds before the process is killed and TimeoutExpired raised.
        fresh: a fresh interpreter even where the warm parent could fork it.

    Returns:
        The CompletedProcess: argv, returncode (minus the signal number when a signal
        ended it), stdout and stderr as text.
    """
    proc = start(argv, cwd=cwd, env=env, fresh=fresh)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# --- the warm parent's side ---------------------------------------------------------


def _serve() -> None:
    """Imports TensorFlow, says ready, then forks one child per request line and says
    when each ends (several may run at once)."""
    import gc
    import importlib

    for name in WARM_IMPORTS:
        importlib.import_module(name)
    requests = os.dup(0)
    replies = os.fdopen(os.dup(1), "wb")
    base_path = _interpreter_path()
    gc.freeze()  # the children's collections skip the warm parent's objects (no copies)

    def say(message: dict) -> None:
        replies.write(json.dumps(message).encode() + b"\n")
        replies.flush()

    say({"ready": True})
    running: set[int] = set()
    pending = b""
    while True:
        ready, _, _ = select.select([requests], [], [], 0.05 if running else None)
        if ready:
            chunk = os.read(requests, 1 << 20)
            if not chunk:
                return  # the test process ended
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    os.close(requests)
                    replies.close()
                    _become(json.loads(line), base_path)  # ends the child
                running.add(pid)
                say({"pid": pid})
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                running.discard(pid)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                say({"pid": pid, "status": code})


def _interpreter_path() -> list[str]:
    """``sys.path`` as the interpreter builds it before the script's folder and
    PYTHONPATH: the standard library and site-packages."""
    extra = set(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    ours = {"", str(Path(__file__).resolve().parent)}
    return [p for p in sys.path if p not in extra and p not in ours]


def _become(request: dict, base_path: list[str]) -> None:
    """In the forked child: turns into ``python ARGV`` and exits with its status."""
    import importlib
    import random
    import runpy
    import types

    import numpy as np

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, request["out"]), (2, request["err"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # read again from TMPDIR (the warm parent's was cached)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    random.seed()
    np.random.seed()
    flag, first, *rest = request["argv"]
    python_path = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    importlib.invalidate_caches()
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    try:
        if flag == "-m":
            sys.path[:] = [os.getcwd(), *python_path, *base_path]
            sys.argv[:] = [first, *rest]  # runpy puts the module's file in argv[0]
            runpy._run_module_as_main(first, alter_argv=True)
        else:
            sys.path[:] = ["", *python_path, *base_path]
            sys.argv[:] = ["-c", *rest]
            main.__dict__["__builtins__"] = __builtins__
            exec(compile(first, "<string>", "exec"), main.__dict__)
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _exit(code)


def _exit_code(stop: SystemExit) -> int:
    """The status ``python`` exits with after ``stop`` (printing a non-int code)."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code & 0xFF
    print(stop.code, file=sys.stderr)
    return 1


def _exit(code: int) -> None:
    """Ends the child as the interpreter ends a process (non-daemon threads joined,
    atexit functions run, stdio flushed), without tearing down every module: in a forked
    child that teardown copies each page the warm parent's objects sit on (3-6 s)."""
    try:
        threading._shutdown()  # what Py_FinalizeEx does first
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)
