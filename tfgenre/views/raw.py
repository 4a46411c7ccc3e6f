"""The ``raw`` view: a segment's samples as int16 or float16 bytes."""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgenre.errors import ConfigError
from tfgenre.views.base import ViewSpec

RAW_DTYPES: tuple[str, ...] = ("int16", "float16")


@dataclasses.dataclass(frozen=True)
class RawView:
    """Stores each window's waveform.

    Attributes:
        dtype: ``int16`` (scaled by 32767, clipped) or ``float16``.
        max_samples: Keep only the first N samples of each (downsampled) window
            (the FMA TFRecord study used 10000); None keeps all.
        downsample: Integer factor to reduce the sample rate by (soxr), 1 = keep.
    """

    dtype: str = "int16"
    max_samples: int | None = None
    downsample: int = 1
    name: str = dataclasses.field(default="raw", init=False)

    def __post_init__(self) -> None:
        if self.dtype not in RAW_DTYPES:
            raise ConfigError(f"raw.dtype={self.dtype!r} must be one of {', '.join(RAW_DTYPES)}")
        if self.max_samples is not None and self.max_samples <= 0:
            raise ConfigError(f"raw.max_samples={self.max_samples} must be > 0 or null")
        if self.downsample < 1:
            raise ConfigError(f"raw.downsample={self.downsample} must be >= 1")

    @classmethod
    def from_spec(cls, spec: ViewSpec) -> RawView:
        """The raw view that wrote ``spec`` (dtype, max_samples, downsample)."""
        p = spec.params
        return cls(
            dtype=spec.dtype,
            max_samples=None if p.get("max_samples") is None else int(p["max_samples"]),
            downsample=int(p.get("downsample") or 1),
        )

    def _length(self, segment_samples: int) -> int:
        n = -(-segment_samples // self.downsample) if self.downsample > 1 else segment_samples
        return min(n, self.max_samples) if self.max_samples else n

    def spec(self, segment_samples: int, sample_rate: int) -> ViewSpec:
        """Payload ``(n,)`` of ``dtype``; params give the stored sample rate and scale."""
        return ViewSpec(
            name="raw",
            dtype=self.dtype,
            shape=(self._length(segment_samples),),
            params={
                "sample_rate": sample_rate // self.downsample,
                "scale": 32767.0 if self.dtype == "int16" else 1.0,
                "max_samples": self.max_samples,
                "downsample": self.downsample,
            },
        )

    def compute(self, segments: np.ndarray, sample_rate: int) -> np.ndarray:
        """Waveforms ``(n_segments, n)`` as ``dtype`` (int16 = round(x * 32767))."""
        x = segments
        if self.downsample > 1:
            import librosa

            x = librosa.resample(
                x, orig_sr=sample_rate, target_sr=sample_rate / self.downsample, res_type="soxr_hq"
            )
            x = librosa.util.fix_length(x, size=-(-segments.shape[-1] // self.downsample))
        if self.max_samples:
            x = x[..., : self.max_samples]
        if self.dtype == "int16":
            return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
        return x.astype("<f2")
