"""tfgenre: music genre classification with TensorFlow/Keras, from audio files to models."""

from __future__ import annotations

from tfgenre.core import tflog as _tflog

# Before anything imports TensorFlow: its native start-up log stays quiet unless the
# user sets TF_CPP_MIN_LOG_LEVEL (see tfgenre.core.tflog).
_tflog.install()

__version__ = "0.1.0"

__all__ = ["__version__"]
