"""What every view declares (name, dtype, shape) and how views are looked up."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np

from tfgenre.config import did_you_mean
from tfgenre.errors import ConfigError

VIEW_NAMES: tuple[str, ...] = ("raw", "mel", "features")


@dataclasses.dataclass(frozen=True)
class ViewSpec:
    """The stored layout of one view's payload.

    Attributes:
        name: ``raw``, ``mel`` or ``features``.
        dtype: numpy dtype name of the stored bytes (``int16``, ``float16``, ``float32``).
        shape: Shape of one example's payload, e.g. ``(128, 130, 1)``.
        feature_names: Column names for the ``features`` view, else None.
        params: View parameters that a reader or exporter needs (n_fft, scale, ...).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    feature_names: tuple[str, ...] | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain data for the manifest."""
        out: dict[str, Any] = {"dtype": self.dtype, "shape": [int(s) for s in self.shape]}
        if self.feature_names is not None:
            out["feature_names"] = list(self.feature_names)
        out["params"] = dict(self.params)
        return out


class View(Protocol):
    """Computes one view's arrays from a batch of equal-length segments."""

    name: str

    def spec(self, segment_samples: int, sample_rate: int) -> ViewSpec:
        """The payload layout for segments of ``segment_samples`` samples."""

    def compute(self, segments: np.ndarray, sample_rate: int) -> np.ndarray:
        """Payloads for ``segments``.

        Args:
            segments: float32 array of shape ``(n_segments, segment_samples)``.
            sample_rate: Sampling rate of ``segments`` in Hz.

        Returns:
            Array of shape ``(n_segments, *spec.shape)`` with dtype ``spec.dtype``.
        """


def check_view_names(names: tuple[str, ...] | list[str]) -> None:
    """Raises ConfigError for an empty list or an unknown view name."""
    if not names:
        raise ConfigError("views=[] must name at least one of raw, mel, features")
    for name in names:
        if name not in VIEW_NAMES:
            hint = did_you_mean(name, VIEW_NAMES)
            raise ConfigError(f"unknown view {name!r} (known: {', '.join(VIEW_NAMES)}){hint}")
