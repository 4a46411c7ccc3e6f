"""The writer's configuration: what decides the records' content, and its views.

:class:`WriterConfig` (with :class:`AudioConfig`) is everything ``write_records`` reads
from ``--config``/flags; :func:`make_views` and :func:`view_specs` give the view objects
it asks for and their specs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tfgenre.core import audio, config
from tfgenre.core.framing import DEFAULT_SAMPLE_RATE, Framing, resolve_hop
from tfgenre.splitting import splits
from tfgenre.views import VECTOR_VIEWS, ViewSpec, check_view_names, view_class
from tfgenre.views.embeddings import EmbeddingsView
from tfgenre.views.mel import MelView
from tfgenre.views.raw import RawView


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Decoding and windowing.

    Attributes:
        sample_rate: Target rate in Hz.
        window_seconds: Segment length; 0 or None means one segment = the whole track
            (features and embeddings views only, since raw and mel need a fixed shape).
        hop_seconds: Distance between segment starts (None: = window_seconds).
        short_tracks: ``pad`` or ``drop`` tracks shorter than one window.
        max_seconds: Decode at most this many seconds from the start (None: all).
        silence_threshold: Tracks whose peak amplitude is below this are skipped.
        min_seconds: Tracks shorter than this, or than one window where the window is
            shorter, are skipped (reason ``too short``) rather than padded into an
            example that is mostly silence.
    """

    sample_rate: int = DEFAULT_SAMPLE_RATE
    window_seconds: float | None = 3.0
    hop_seconds: float | None = None
    short_tracks: str = "pad"
    max_seconds: float | None = None
    silence_threshold: float = 1e-5
    min_seconds: float = 1.0

    def __post_init__(self) -> None:
        config.require(self.sample_rate > 0, f"audio.sample_rate={self.sample_rate} must be > 0")
        if self.window_seconds is not None:
            config.require(
                self.window_seconds >= 0,
                f"audio.window_seconds={self.window_seconds} must be >= 0 (0 = whole track)",
            )
        if self.hop_seconds is not None:
            config.require(
                self.hop_seconds > 0, f"audio.hop_seconds={self.hop_seconds} must be > 0"
            )
        config.require(
            self.short_tracks in audio.SHORT_POLICIES,
            f"audio.short_tracks={self.short_tracks!r} must be one of pad, drop",
        )
        if self.max_seconds is not None:
            config.require(
                self.max_seconds > 0, f"audio.max_seconds={self.max_seconds} must be > 0"
            )
        config.require(
            math.isfinite(self.min_seconds) and self.min_seconds >= 0,
            f"audio.min_seconds={self.min_seconds} must be a finite number >= 0",
        )

    @property
    def min_samples(self) -> int:
        """Tracks with fewer samples are skipped: ``min_seconds``, capped at one window."""
        n = int(math.ceil(self.min_seconds * self.sample_rate - 1e-9))
        window = self.window_samples
        return min(n, window) if window else n

    @property
    def framing(self) -> Framing:
        """The window and hop in samples at ``sample_rate`` (whole tracks: no window)."""
        return Framing.from_seconds(self.sample_rate, self.window_seconds, self.hop_seconds)

    @property
    def window_samples(self) -> int | None:
        """Window length in samples, or None for whole tracks."""
        return self.framing.window_samples

    @property
    def hop_samples(self) -> int | None:
        """Hop in samples, or None for whole tracks."""
        return self.framing.hop_samples

    @property
    def resolved_hop_seconds(self) -> float | None:
        """The hop in seconds as given, defaulting to the window (None: whole tracks)."""
        return resolve_hop(self.window_seconds or None, self.hop_seconds)


@dataclasses.dataclass(frozen=True)
class WriterConfig:
    """Everything that decides the records' content (plus workers, which does not).

    Attributes:
        source: Source name (gtzan, fma, folder, csv, synthetic).
        input: The source's root (folder, or CSV file for ``csv``).
        output: Records folder.
        source_options: Keyword options for the source.
        views: Views to write.
        labels: Label names in index order (None: sorted names found).
        audio: Decoding and windowing.
        raw: Raw view options.
        mel: Mel view options.
        embeddings: Embeddings view options (backbone, layer, tags).
        splits: Target split fractions when the source defines none.
        use_source_splits: Use the source's own split when it has one.
        shards: Shards per split (capped at the split's number of tracks).
        workers: Processes (0: all cores). Does not change the output.
        seed: Split seed.
        limit_per_split: Keep at most N tracks per split (balanced over labels).
        max_skip_fraction: Fail when more than this fraction of inputs is skipped.
    """

    source: str = "gtzan"
    input: str = ""
    output: str = ""
    source_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    views: tuple[str, ...] = ("raw", "mel", "features")
    labels: tuple[str, ...] | None = None
    audio: AudioConfig = dataclasses.field(default_factory=AudioConfig)
    raw: RawView = dataclasses.field(default_factory=RawView)
    mel: MelView = dataclasses.field(default_factory=MelView)
    embeddings: EmbeddingsView = dataclasses.field(default_factory=EmbeddingsView)
    splits: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1}
    )
    use_source_splits: bool = True
    shards: int = 8
    workers: int = 0
    seed: int = 0
    limit_per_split: int | None = None
    max_skip_fraction: float = 0.05

    def __post_init__(self) -> None:
        check_view_names(self.views)
        config.require(len(set(self.views)) == len(self.views), f"views={self.views} repeats")
        splits.check_fractions(self.splits)
        config.require(self.shards > 0, f"shards={self.shards} must be > 0")
        config.require(self.workers >= 0, f"workers={self.workers} must be >= 0 (0 = all cores)")
        config.require(
            0.0 <= self.max_skip_fraction <= 1.0,
            f"max_skip_fraction={self.max_skip_fraction} must be in [0, 1]",
        )
        if self.limit_per_split is not None:
            config.require(
                self.limit_per_split > 0, f"limit_per_split={self.limit_per_split} must be > 0"
            )
        if self.audio.window_samples is None:
            fixed = [v for v in self.views if v not in VECTOR_VIEWS]
            config.require(
                not fixed,
                f"audio.window_seconds={self.audio.window_seconds} (whole tracks) works only "
                f"for the {' and '.join(VECTOR_VIEWS)} views; {', '.join(fixed)} need a "
                "fixed window",
            )
        if "embeddings" in self.views:  # before any track is decoded
            from tfgenre.backbones.precision import check_precision

            self.embeddings.check_window(self.audio.window_seconds)
            check_precision(self.embeddings.precision, "embeddings.precision")
            self.embeddings.all_weights()
        if self.labels is not None:
            config.require(
                len(set(self.labels)) == len(self.labels), f"labels={self.labels} repeat a name"
            )

    def content_dict(self) -> dict[str, Any]:
        """The part of the config that decides the bytes written (no output, no workers)."""
        data = config.to_dict(self)
        for key in ("output", "workers"):
            data.pop(key)
        if "embeddings" not in self.views:  # the hash of records without it is unchanged
            data.pop("embeddings")
        elif data["embeddings"].get("precision") == "float32":  # so is that of float32 ones
            data["embeddings"].pop("precision")
        return data


def make_views(cfg: WriterConfig) -> dict[str, Any]:
    """The view objects for ``cfg.views``, in order."""
    # a view with settings in the config (raw, mel, embeddings) is configured there
    return {name: getattr(cfg, name, None) or view_class(name)() for name in cfg.views}


def view_specs(cfg: WriterConfig, segment_samples: int | None) -> dict[str, ViewSpec]:
    """Each view's spec for segments of ``segment_samples`` (None: whole tracks)."""
    n = segment_samples or 0
    return {name: v.spec(n, cfg.audio.sample_rate) for name, v in make_views(cfg).items()}
