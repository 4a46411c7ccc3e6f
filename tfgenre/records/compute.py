"""Per-track computation: decode, cut segments, compute every view.

:func:`compute_track` is the one function every executor calls for a track (the local
process, the pool's workers and Beam's), so all of them store the same bytes. It never
raises for bad audio: a :class:`TrackResult` says why a track was skipped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from tfgenre.core import audio
from tfgenre.core.tracks import Track
from tfgenre.errors import AudioDecodeError, DamagedFileError
from tfgenre.records.writer_config import WriterConfig, make_views

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrackResult:
    """The arrays of one track, or why it was skipped.

    Attributes:
        track: The track.
        payloads: Each view's array, ``(segments, *view shape)`` in the view's dtype;
            None when skipped.
        num_samples: Decoded length in samples.
        segment_samples: Length of one segment in samples (the track's, for whole tracks).
        padded: Whether the track was shorter than one window and zero-padded.
        skip_reason: Why the track was skipped, or None.
    """

    track: Track
    payloads: dict[str, np.ndarray] | None = None
    num_samples: int = 0
    segment_samples: int = 0
    padded: bool = False
    skip_reason: str | None = None


def process_track(track: Track, cfg: WriterConfig, views: Mapping[str, Any]) -> TrackResult:
    """Decodes one track, cuts it and computes every view; never raises for bad audio.

    Executors call it through :func:`compute_track` (BLAS on one thread).
    """
    a = cfg.audio
    try:
        y = audio.decode(track.path, a.sample_rate, max_seconds=a.max_seconds)
    except audio.TruncatedAudioError as err:
        return TrackResult(track, skip_reason=str(err).removeprefix(track.path + ": "))
    except AudioDecodeError as err:
        return TrackResult(
            track, skip_reason=f"decode failed: {str(err).removeprefix(track.path + ': ')}"
        )
    if audio.is_silent(y, a.silence_threshold):
        return TrackResult(
            track, skip_reason=f"silent: peak amplitude below {a.silence_threshold:g}"
        )
    if len(y) < a.min_samples:
        return TrackResult(
            track,
            skip_reason=f"too short: {len(y) / a.sample_rate:.2f} s < "
            f"{a.min_samples / a.sample_rate:g} s (audio.min_seconds={a.min_seconds:g})",
        )
    framing = a.framing
    window = framing.window_samples
    short = window is not None and len(y) < window
    if short and a.short_tracks == "drop":
        return TrackResult(
            track,
            skip_reason=f"shorter than one window: {len(y) / a.sample_rate:.2f} s < "
            f"{a.window_seconds:g} s (short_tracks=drop)",
        )
    segments = audio.cut_segments(y, window, framing.hop_samples, short=a.short_tracks)
    try:
        payloads = {name: v.compute(segments, a.sample_rate) for name, v in views.items()}
    except DamagedFileError:
        raise  # damaged weights fail every clip alike: the job stops, naming the file
    except Exception as err:  # one bad file never kills the job
        logger.exception("computing views failed for %s", track.path)
        reason = f"view computation failed: {type(err).__name__}: {err}"
        return TrackResult(track, skip_reason=reason)
    for name, arr in payloads.items():
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            return TrackResult(track, skip_reason=f"view {name} has NaN/Inf values")
    return TrackResult(
        track,
        payloads=payloads,
        num_samples=len(y),
        segment_samples=segments.shape[1],
        padded=short,
    )


def compute_track(
    track: Track, cfg: WriterConfig, views: Mapping[str, Any] | None = None
) -> TrackResult:
    """:func:`process_track` with BLAS on one thread (see :func:`one_blas_thread`).

    ``views`` defaults to :func:`make_views` of ``cfg``; pass them to reuse them.
    """
    with one_blas_thread():
        return process_track(track, cfg, make_views(cfg) if views is None else views)


def computed_tracks(tracks: Iterable[Track], cfg: WriterConfig) -> Iterator[TrackResult]:
    """:func:`compute_track` of each track in this process, sharing one set of views."""
    views = make_views(cfg)
    for track in tracks:
        yield compute_track(track, cfg, views)


def one_blas_thread() -> Any:
    """A context with BLAS on one thread (threadpoolctl; a no-op without it).

    Float sums in BLAS depend on its thread count, so without this the features and mel
    payloads would differ in the last bit between a 1-worker write (BLAS on every core),
    pool workers and Beam workers on machines with other core counts. One thread also
    makes the views faster when several processes share the cores (features ~25%).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with librosa
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)
