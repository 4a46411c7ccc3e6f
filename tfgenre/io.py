"""File access through ``tf.io.gfile`` so that local paths and ``gs://`` both work.

TensorFlow is imported lazily: listing and reading local files does not need it, and
worker processes that never touch gs:// start faster without it.
"""

from __future__ import annotations

import os
from typing import Any


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
    tmp = path + ".incomplete"
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
