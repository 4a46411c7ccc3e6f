"""Loading tfgenre ``.keras`` files: the one place that registers tfgenre's Keras objects.

Keras finds a custom class by its registered name only once the module that defines
it has been imported. A fresh process that only loads a model (``evaluate``,
``predict``, ``export``, a resumed ``tune``) has not imported those modules, so every
tfgenre model is loaded through :func:`load_model`, which imports them first.
"""

from __future__ import annotations

import os
from typing import Any

from tfgenre import io


def register_custom_objects() -> None:
    """Imports every module that registers Keras objects (layers, schedules).

    Idempotent and cheap after the first call.
    """
    import tfgenre.backbones.batch_norm  # (FusedBatchNormalization)
    import tfgenre.backbones.frontend  # (MusicnnFrontEnd)
    import tfgenre.models.layers  # (DecibelScaling, RepeatChannels, ...)
    import tfgenre.models.musicnn_transfer  # (FoldPatches, MeanOverPatches)
    import tfgenre.schedules  # noqa: F401  (the schedules of saved optimizers)


def load_model(path: str, *, compile: bool = True) -> Any:
    """Loads a ``.keras`` file written by tfgenre, local or remote (``gs://``).

    Args:
        path: The ``.keras`` file.
        compile: Restore the optimizer and loss as well (needed to keep training).

    Returns:
        The ``keras.Model``.
    """
    import keras

    register_custom_objects()
    if not io.is_remote(path):
        return keras.saving.load_model(path, compile=compile)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tfgenre-") as tmp:  # keras reads local files
        local = os.path.join(tmp, os.path.basename(path))
        with open(local, "wb") as f:
            f.write(io.read_bytes(path))
        return keras.saving.load_model(local, compile=compile)
