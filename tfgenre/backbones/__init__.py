"""Pretrained music backbones in Keras 3: ports of musicnn and vgg with their weights.

``weights.py`` finds a published weight set; ``frontend.py`` is the waveform ->
log-mel-patch layer; ``musicnn.py`` and ``vgg.py`` the architectures;
``pretrained.py`` builds a port and fills it from a checkpoint; ``runner.py`` runs one
on audio.

The names below are imported on first use, so that ``tfgenre.backbones.weights`` (the
weight-set catalogue) can be read without starting Keras and TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "WEIGHT_SETS": "tfgenre.backbones.weights",
    "WeightSet": "tfgenre.backbones.weights",
    "find_weights": "tfgenre.backbones.weights",
    "MusicnnFrontEnd": "tfgenre.backbones.frontend",
    "build_musicnn": "tfgenre.backbones.musicnn",
    "build_vgg": "tfgenre.backbones.vgg",
    "assign_checkpoint": "tfgenre.backbones.pretrained",
    "build_pretrained": "tfgenre.backbones.pretrained",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
