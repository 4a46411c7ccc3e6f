"""The ``mel`` view: a log-mel spectrogram in dB, stored as one float16 channel."""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgenre.errors import ConfigError
from tfgenre.views.base import ViewSpec


@dataclasses.dataclass(frozen=True)
class MelView:
    """Log-mel spectrogram, librosa parameter names.

    The dB scale is absolute (``ref=1.0``) and floored ``top_db`` below each segment's
    own peak, so loudness differences between segments survive.

    Attributes:
        n_mels: Mel bands.
        n_fft: FFT size in samples.
        hop_length: Frame hop in samples.
        fmin: Lowest band edge in Hz.
        fmax: Highest band edge in Hz (None: sample_rate / 2).
        top_db: Dynamic range kept below each segment's peak, in dB.
        image_size: When set, store the spectrogram resized (bilinear) to
            ``image_size x image_size`` for ImageNet backbones. Still one channel: the
            3-channel expansion happens at load time.
    """

    n_mels: int = 128
    n_fft: int = 2048
    hop_length: int = 512
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float = 80.0
    image_size: int | None = None
    name: str = dataclasses.field(default="mel", init=False)

    def __post_init__(self) -> None:
        for key in ("n_mels", "n_fft", "hop_length"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"mel.{key}={getattr(self, key)} must be > 0")
        if self.image_size is not None and self.image_size <= 0:
            raise ConfigError(f"mel.image_size={self.image_size} must be > 0 or null")
        if self.top_db <= 0:
            raise ConfigError(f"mel.top_db={self.top_db} must be > 0")
        if self.fmax is not None and self.fmax <= self.fmin:
            raise ConfigError(f"mel.fmax={self.fmax} must be > mel.fmin={self.fmin}")

    @classmethod
    def from_spec(cls, spec: ViewSpec) -> MelView:
        """The mel view that wrote ``spec``: every field comes from ``spec.params``.

        Raises:
            ConfigError: when ``spec.params`` lacks one of the view's fields.
        """
        fields = [f.name for f in dataclasses.fields(cls) if f.init]
        missing = [f for f in fields if f not in spec.params]
        if missing:
            raise ConfigError(
                f"mel spec lacks {', '.join(missing)}. Received: params={dict(spec.params)!r}"
            )
        return cls(**{f: spec.params[f] for f in fields})

    def spec(self, segment_samples: int, sample_rate: int) -> ViewSpec:
        """Payload ``(n_mels, frames, 1)`` float16, or ``(size, size, 1)`` when resized."""
        if self.fmax is not None and self.fmax > sample_rate / 2:
            raise ConfigError(f"mel.fmax={self.fmax} must be <= sample_rate/2={sample_rate / 2}")
        frames = 1 + segment_samples // self.hop_length
        shape = (
            (self.image_size, self.image_size, 1) if self.image_size else (self.n_mels, frames, 1)
        )
        params = {
            "sample_rate": sample_rate,
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "top_db": self.top_db,
            "ref": 1.0,
            "amin": 1e-10,
            "frames": frames,
            "image_size": self.image_size,
        }
        return ViewSpec(name="mel", dtype="float16", shape=shape, params=params)

    def compute(self, segments: np.ndarray, sample_rate: int) -> np.ndarray:
        """Log-mel dB images.

        Args:
            segments: float32 ``(n_segments, n_samples)``.
            sample_rate: Rate of ``segments`` in Hz.

        Returns:
            float16 ``(n_segments, n_mels, frames, 1)`` (or ``(n, size, size, 1)``).
        """
        import librosa

        power = librosa.feature.melspectrogram(
            y=segments,
            sr=sample_rate,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
            power=2.0,
        )
        db = power_to_db(power, top_db=self.top_db)
        if self.image_size:
            db = resize_images(db, self.image_size)
        return db[..., np.newaxis].astype("<f2")


def power_to_db(power: np.ndarray, *, top_db: float = 80.0, amin: float = 1e-10) -> np.ndarray:
    """``10 log10(power)`` with ref 1.0, floored ``top_db`` below each item's own peak.

    Unlike ``librosa.power_to_db`` on a batch, the floor is per item (last two axes).

    Args:
        power: ``(..., n_mels, frames)`` power spectrogram.
        top_db: Dynamic range to keep, in dB.
        amin: Smallest power before the log.

    Returns:
        float32 array of the same shape.
    """
    db = 10.0 * np.log10(np.maximum(power, amin, dtype=np.float32))
    peak = db.max(axis=(-2, -1), keepdims=True)
    return np.maximum(db, peak - top_db).astype(np.float32)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``(n, h, w)`` images to ``(n, size, size)`` (tf.image, as Keras does)."""
    import tensorflow as tf

    resized = tf.image.resize(images[..., np.newaxis], (size, size), method="bilinear")
    return resized.numpy()[..., 0].astype(np.float32)
