"""Pretrained music backbones in Keras 3: ports of musicnn and vgg with their weights.

``weights.py`` finds a published weight set; ``frontend.py`` is the waveform ->
log-mel-patch layer; ``musicnn.py`` and ``vgg.py`` the architectures;
``pretrained.py`` builds a port and fills it from a checkpoint.
"""

from tfgenre.backbones.frontend import MusicnnFrontEnd
from tfgenre.backbones.musicnn import build_musicnn
from tfgenre.backbones.pretrained import assign_checkpoint, build_pretrained
from tfgenre.backbones.vgg import build_vgg
from tfgenre.backbones.weights import WEIGHT_SETS, WeightSet, find_weights

__all__ = [
    "WEIGHT_SETS",
    "MusicnnFrontEnd",
    "WeightSet",
    "assign_checkpoint",
    "build_musicnn",
    "build_pretrained",
    "build_vgg",
    "find_weights",
]
