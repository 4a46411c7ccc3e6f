"""tfgenre: music genre classification with TensorFlow/Keras, from audio files to models."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
