"""File access through ``tf.io.gfile`` so that local paths and ``gs://`` both work.

TensorFlow is imported lazily: listing and reading local files does not need it, and
worker processes that never touch gs:// start faster without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import time
from collections.abc import Iterator
from typing import Any

from tfgenre.core import layout

logger = logging.getLogger(__name__)


def check_output_folder(path: str, name: str) -> None:
    """Checks, before any work, that a local output folder exists or can be created.

    ``gs://`` paths are not checked (their first write tells). Used by every command
    that writes a folder, so a bad path is one line instead of a traceback after the
    work.

    Args:
        path: The folder.
        name: How the user named it (a flag or config key), for the message.

    Raises:
        ConfigError: when ``path`` is a file, lies under a file, or cannot be written.
    """
    from tfgenre.errors import ConfigError

    if not path or is_remote(path):
        return
    target = os.path.abspath(path)
    probe = target
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        if probe == target:
            raise ConfigError(f"{name} {path!r} is a file, not a folder; name a folder")
        raise ConfigError(f"{name} {path!r} cannot be created: it is under the file {probe!r}")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "the folder" if probe == target else f"its parent {probe!r}"
        raise ConfigError(f"{name} {path!r} cannot be written: no write permission on {what}")


def is_remote(path: str) -> bool:
    """True for URLs such as ``gs://bucket/x`` that need tf.io.gfile."""
    return "://" in str(path)


def _gfile() -> Any:
    import tensorflow as tf

    return tf.io.gfile


def exists(path: str) -> bool:
    """Whether ``path`` exists."""
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def makedirs(path: str) -> None:
    """Creates ``path`` and its parents (no error when it exists)."""
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def listdir(path: str) -> list[str]:
    """Names in the folder ``path``, sorted."""
    names = _gfile().listdir(path) if is_remote(path) else os.listdir(path)
    return sorted(n.rstrip("/") for n in names)


def isdir(path: str) -> bool:
    """Whether ``path`` is a folder."""
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def join(*parts: str) -> str:
    """Joins path parts with ``/`` for URLs and os.path.join locally."""
    if is_remote(parts[0]):
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts))
    return os.path.join(*parts)


def read_bytes(path: str) -> bytes:
    """The bytes of ``path``."""
    if is_remote(path):
        with _gfile().GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    """The UTF-8 text of ``path``."""
    return read_bytes(path).decode("utf-8")


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` via a ``.incomplete`` file and a rename."""
    tmp = path + layout.INCOMPLETE_SUFFIX
    if is_remote(path):
        gf = _gfile()
        with gf.GFile(tmp, "wb") as f:
            f.write(data)
        gf.rename(tmp, path, overwrite=True)
    else:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def write_text_atomic(path: str, text: str) -> None:
    """Writes UTF-8 ``text`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def rename(src: str, dst: str) -> None:
    """Renames ``src`` to ``dst``, replacing ``dst``."""
    if is_remote(src):
        _gfile().rename(src, dst, overwrite=True)
    else:
        os.replace(src, dst)


def remove(path: str) -> None:
    """Deletes a file (no error when it is missing)."""
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().remove(path)
    elif os.path.exists(path):
        os.remove(path)


def rmtree(path: str) -> None:
    """Deletes a folder and everything in it (no error when it is missing)."""
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def size(path: str) -> int:
    """Size of a file in bytes."""
    return int(_gfile().stat(path).length) if is_remote(path) else os.path.getsize(path)


def sha256(path: str) -> str:
    """Hex sha256 of the file's bytes, read in chunks."""
    import hashlib

    digest = hashlib.sha256()
    if is_remote(path):
        with _gfile().GFile(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    else:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def inside(root: str, rel: Any, entry: str) -> str:
    """The path of ``rel`` in ``root``, refusing one that leaves ``root``.

    Every path that tfgenre reads from one of its own files (a manifest's shard
    ``file``, a writer's ``.state`` file) is relative to the folder holding it. An
    absolute path, a URL, a ``..`` that climbs out, or an empty name is refused, so
    that an altered file cannot make a command read (or name) files elsewhere, such
    as ``features/../../outside/x.tfrecord`` or ``/etc/passwd``.

    Args:
        root: The folder the path belongs to.
        rel: The path as read from the file.
        entry: Where it was read, for the message (``manifest.json splits.train
            shards[0].file``).

    Returns:
        ``join(root, rel)``.

    Raises:
        RecordsError: naming the entry, its value and the rule.
    """
    from tfgenre.errors import RecordsError

    text = rel if isinstance(rel, str) else ""
    norm = posixpath.normpath(text.replace("\\", "/")) if text else ""
    if (
        not text
        or "\x00" in text
        or is_remote(text)
        or os.path.isabs(text)
        or text.startswith(("/", "\\"))
        or (len(text) > 1 and text[1] == ":")  # a Windows drive
        or norm == ".."
        or norm.startswith("../")
        or norm == "."
    ):
        raise RecordsError(
            f"{entry}={rel!r} must be a path inside {root!r} (relative, without '..' "
            "that leaves the folder); the file was altered or is not tfgenre's: rewrite "
            "it (e.g. `python -m tfgenre.write_records ... --overwrite`)"
        )
    return join(root, norm)


def irregular_reason(path: str) -> str | None:
    """Why ``path`` must not be opened as a file, or None for a regular file.

    Opening a named pipe (FIFO) waits for a writer forever, and a device or socket is
    no audio: only regular files (or symbolic links to one) are opened. Remote paths
    are always regular. A missing path is None (opening it says so).
    """
    import stat

    if is_remote(path):
        return None
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else None
    except OSError as err:
        return f"cannot read it: {err.strerror or err}"
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a folder" if stat.S_ISDIR(mode)
        else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )  # fmt: skip
    return f"not a regular file ({kind}): not opened"


def first_visit_reason(path: str, seen_files: dict[str, str], once: str) -> str | None:
    """Why a listed file is not taken: not a regular file, or a file taken before.

    Only regular files are opened (a named pipe would block forever), and each real
    file once (two links to one file, or a symbolic link loop, would repeat it).

    Args:
        path: The file as listed.
        seen_files: Real paths taken so far -> the path they were taken as; updated.
        once: What happens to a repeat, e.g. ``"listed once"``.

    Returns:
        The reason, or None when ``path`` is taken (then it is in ``seen_files``).
    """
    reason = irregular_reason(path)
    if reason is not None or is_remote(path):
        return reason
    real = os.path.realpath(path)
    if real in seen_files:
        return f"the same file as {seen_files[real]}: {once}"
    seen_files[real] = path
    return None


def _read_holder(path: str) -> str:
    """The pid written in a lock file (a holder writes it right after locking)."""
    for _ in range(20):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read().strip()
        except OSError:
            text = ""
        if text:
            return text.split()[0]
        time.sleep(0.025)
    return "unknown"


@contextlib.contextmanager
def folder_lock(folder: str, what: str) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` (creating it) while the block runs.

    The lock is ``fcntl.flock`` on ``<folder>/.tfgenre.lock``
    (:data:`tfgenre.core.layout.LOCK_FILE`),
    which holds the holder's pid. The operating system releases it when the process
    ends, however it ends (``kill -9`` included), so no stale lock is ever left: a file
    left by a killed process is taken over by the next run, and counts as a foreign
    file nowhere. A holder removes the file when it is done. ``gs://`` (and other
    remote) folders are not locked: there is no such lock there, which is logged.

    Args:
        folder: The output folder (a records folder or a run folder).
        what: What the caller writes, for the message (``write_records``, ``fit``).

    Raises:
        FolderInUseError: when another process holds the lock, naming its pid.
    """
    from tfgenre.errors import FolderInUseError

    if is_remote(folder):
        logger.info(
            "%s: %s is remote: no lock is taken, so make sure no other process writes "
            "into it at the same time",
            what,
            folder,
        )
        yield
        return
    import fcntl

    makedirs(folder)
    path = os.path.join(folder, layout.LOCK_FILE)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _read_holder(path)
            raise FolderInUseError(
                f"{folder!r} is in use: another process (pid {holder}) is writing into "
                f"it ({path} is locked). Wait for it to finish, or stop it, then run "
                f"{what} again; two writers into one folder would mix their files"
            ) from None
        # A holder that finishes removes the file: make sure ours is still the one there.
        try:
            same = os.path.samestat(os.stat(path), os.fstat(fd))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still locked, so no one else's lock file is removed
        os.close(fd)
