"""Pretrained music backbones in Keras 3: ports of musicnn and vgg with their weights.

``weights.py`` finds a published weight set; ``frontend.py`` is the waveform ->
log-mel-patch layer; ``musicnn.py`` and ``vgg.py`` the architectures;
``pretrained.py`` builds a port and fills it from a checkpoint; ``runner.py`` runs one
on audio.

The names below are imported on first use (PEP 562), so that ``tfgenre.backbones.weights``
can be read (names, labels, licences) without importing Keras.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES: dict[str, str] = {
    "MusicnnFrontEnd": "tfgenre.backbones.frontend",
    "build_musicnn": "tfgenre.backbones.musicnn",
    "assign_checkpoint": "tfgenre.backbones.pretrained",
    "build_pretrained": "tfgenre.backbones.pretrained",
    "build_vgg": "tfgenre.backbones.vgg",
    "WEIGHT_SETS": "tfgenre.backbones.weights",
    "WeightSet": "tfgenre.backbones.weights",
    "find_weights": "tfgenre.backbones.weights",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
