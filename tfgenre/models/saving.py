"""Loading tfgenre ``.keras`` files: the one place that registers tfgenre's Keras objects.

Keras finds a custom class by its registered name only once the module that defines
it has been imported. A fresh process that only loads a model (``evaluate``,
``predict``, ``export``, a resumed ``tune``) has not imported those modules, so every
tfgenre model is loaded through :func:`load_model`, which imports them first.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

from tfgenre.core import io
from tfgenre.errors import DamagedFileError, TfgenreError

#: The members every Keras 3 ``.keras`` archive holds.
_KERAS_MEMBERS = ("config.json", "model.weights.h5")
#: How to get a good model file back, for the messages.
RECOVER = (
    "Restore it from a copy, or write it again: rerun the fit (with --overwrite for a finished run)"
)


def check_keras_file(path: str, *, shown: str | None = None) -> None:
    """Refuses a local ``.keras`` file that is not a complete, uncorrupted Keras archive.

    Keras reports a truncated or random-bytes file as "File not found" and a flipped
    byte as a bare ``BadZipFile``; this names the file and what is wrong with it.

    Args:
        path: The local ``.keras`` file.
        shown: The name to show in the message (default ``path``).

    Raises:
        DamagedFileError: The file is not a zip archive, lacks the Keras members, or a
            member fails its CRC check.
    """
    shown = shown or path
    problem = None
    try:
        if not zipfile.is_zipfile(path):
            problem = "not a zip archive (truncated, or not a .keras file at all)"
        else:
            with zipfile.ZipFile(path) as archive:
                missing = [m for m in _KERAS_MEMBERS if m not in archive.namelist()]
                bad = None if missing else archive.testzip()
            if missing:
                problem = f"a zip archive without {', '.join(missing)} (not a Keras 3 model)"
            elif bad is not None:
                problem = f"its member {bad!r} fails its CRC check (the file is corrupt)"
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
        problem = f"a damaged zip archive ({err})"
    if problem is not None:
        size = os.path.getsize(path)
        raise DamagedFileError(
            f"model file {shown} ({size} bytes) is damaged: {problem}. {RECOVER}"
        )


def _load_checked(local: str, shown: str, compile: bool) -> Any:
    import keras

    check_keras_file(local, shown=shown)
    try:
        return keras.saving.load_model(local, compile=compile)
    except TfgenreError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as err:
        raise DamagedFileError(
            f"model file {shown} cannot be loaded: {type(err).__name__}: {err}. {RECOVER}"
        ) from err


def register_custom_objects() -> None:
    """Imports every module that registers Keras objects (layers, schedules).

    Idempotent and cheap after the first call.
    """
    import tfgenre.backbones.batch_norm  # (FusedBatchNormalization)
    import tfgenre.backbones.frontend  # (MusicnnFrontEnd)
    import tfgenre.models.layers  # (DecibelScaling, RepeatChannels, ...)
    import tfgenre.models.musicnn_transfer  # (FoldPatches, MeanOverPatches)
    import tfgenre.models.schedules  # noqa: F401  (the schedules of saved optimizers)


def load_model(path: str, *, compile: bool = True) -> Any:
    """Loads a ``.keras`` file written by tfgenre, local or remote (``gs://``).

    Args:
        path: The ``.keras`` file.
        compile: Restore the optimizer and loss as well (needed to keep training).

    Returns:
        The ``keras.Model``.

    Raises:
        DamagedFileError: The file is truncated, corrupt or not a Keras model.
    """
    register_custom_objects()
    if not io.is_remote(path):
        return _load_checked(path, path, compile)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tfgenre-") as tmp:  # keras reads local files
        local = os.path.join(tmp, os.path.basename(path))
        with open(local, "wb") as f:
            f.write(io.read_bytes(path))
        return _load_checked(local, path, compile)
