"""What every view declares: its stored layout (:class:`ViewSpec`) and its interface."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from tfgenre.errors import RecordsError


def _floats(values: Any) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


@dataclasses.dataclass(frozen=True)
class ViewSpec:
    """The stored layout of one view's payload, as the manifest and run.json keep it.

    ``View.from_spec(spec)`` (see :func:`tfgenre.views.registry.from_spec`) rebuilds the
    view that wrote it, so predict and export compute exactly what the records hold.

    Attributes:
        name: The view's registered name (``raw``, ``mel``, ``features``).
        dtype: numpy dtype name of the stored bytes (``int16``, ``float16``, ``float32``).
        shape: Shape of one example's payload, e.g. ``(128, 130, 1)``.
        feature_names: Column names for the ``features`` view, else None.
        params: Every parameter of the view (what ``from_spec`` needs) plus facts a
            reader uses (the stored ``sample_rate``, ``scale``, ...).
        mean: Per-column mean over ``stats_split`` (features view), else None.
        std: Per-column standard deviation (zeros replaced by 1), else None.
        stats_split: The split the statistics come from (``train``, ``all``, ``fold 2 train``).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    feature_names: tuple[str, ...] | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    stats_split: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data for the manifest (the name is the key it is stored under)."""
        out: dict[str, Any] = {"dtype": self.dtype, "shape": [int(s) for s in self.shape]}
        if self.feature_names is not None:
            out["feature_names"] = list(self.feature_names)
        out["params"] = dict(self.params)
        if self.mean is not None:
            out["mean"] = list(self.mean)
        if self.std is not None:
            out["std"] = list(self.std)
        if self.stats_split is not None:
            out["stats_split"] = self.stats_split
        return out

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ViewSpec:
        """Inverse of :meth:`to_json`.

        Raises:
            RecordsError: when ``dtype`` or ``shape`` is missing.
        """
        try:
            dtype, shape = str(data["dtype"]), tuple(int(s) for s in data["shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise RecordsError(
                f"view {name!r} needs dtype and shape. Received: {dict(data)!r}"
            ) from err
        names = data.get("feature_names")
        return cls(
            name=name,
            dtype=dtype,
            shape=shape,
            feature_names=None if names is None else tuple(str(n) for n in names),
            params=dict(data.get("params") or {}),
            mean=_floats(data.get("mean")),
            std=_floats(data.get("std")),
            stats_split=data.get("stats_split"),
        )

    def with_stats(self, mean: Any, std: Any, stats_split: str) -> ViewSpec:
        """A copy with other normalisation statistics (a fold's own train rows)."""
        return dataclasses.replace(
            self, mean=_floats(mean), std=_floats(std), stats_split=stats_split
        )

    @property
    def sample_rate(self) -> int | None:
        """Rate of the audio the payload describes (raw: after downsampling), if stored."""
        rate = self.params.get("sample_rate")
        return None if rate is None else int(rate)


class View(Protocol):
    """Computes one view's arrays from a batch of equal-length segments."""

    name: str

    @classmethod
    def from_spec(cls, spec: ViewSpec) -> View:
        """The view that wrote ``spec`` (same parameters)."""

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
