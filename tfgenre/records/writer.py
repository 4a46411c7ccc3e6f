"""The sharded TFRecord writer: tracks -> segments -> views -> shards + manifest.

Work is cut into units of one (split, shard): a unit decodes its tracks (sorted by id),
computes every requested view once per track and writes one shard file per view as
``*.incomplete``, renamed when complete, then records its outcome in
``.state/<split>-<k>-of-<n>.json``. A rerun skips units whose state file exists, so a
killed job resumes where it stopped, and since each unit's bytes depend only on its
tracks and the config, the result is byte-identical to an uninterrupted run whatever
the number of workers. The manifest is assembled from the state files at the end.

With several local workers, whole units go to a pool of processes when they balance;
otherwise the pool computes tracks (decode and views) and the main process writes the
units from their results in order (see :func:`run_units_local`). The Beam runner
distributes whole units.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tfgenre import audio, config, io, splits
from tfgenre.errors import AudioDecodeError, ConfigError, RecordsError
from tfgenre.protocols import (
    SOURCE,
    UNKNOWN_PROTOCOL,
    Protocol,
    random_protocol,
    warn_if_leaky,
)
from tfgenre.records import example, manifest, naming
from tfgenre.sources.base import Skip, Track, get_source, prepare_source
from tfgenre.views.base import VIEW_NAMES, ViewSpec, check_view_names
from tfgenre.views.mel import MelView
from tfgenre.views.raw import RawView

logger = logging.getLogger(__name__)

STATE_DIR = ".state"
FEATURES_CSV = "features.csv"


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Decoding and windowing.

    Attributes:
        sample_rate: Target rate in Hz.
        window_seconds: Segment length; 0 or None means one segment = the whole track
            (features view only, since raw and mel need a fixed shape).
        hop_seconds: Distance between segment starts (None: = window_seconds).
        short_tracks: ``pad`` or ``drop`` tracks shorter than one window.
        max_seconds: Decode at most this many seconds from the start (None: all).
        silence_threshold: Tracks whose peak amplitude is below this are skipped.
        min_seconds: Tracks shorter than this, or than one window where the window is
            shorter, are skipped (reason ``too short``) rather than padded into an
            example that is mostly silence.
    """

    sample_rate: int = 22050
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
    def window_samples(self) -> int | None:
        """Window length in samples, or None for whole tracks."""
        if not self.window_seconds:
            return None
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def hop_samples(self) -> int | None:
        """Hop in samples, or None for whole tracks."""
        if not self.window_seconds:
            return None
        return int(round((self.hop_seconds or self.window_seconds) * self.sample_rate))


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
            fixed = [v for v in self.views if v != "features"]
            config.require(
                not fixed,
                f"audio.window_seconds={self.audio.window_seconds} (whole tracks) works only "
                f"for the features view; {', '.join(fixed)} need a fixed window",
            )
        if self.labels is not None:
            config.require(
                len(set(self.labels)) == len(self.labels), f"labels={self.labels} repeat a name"
            )

    def content_dict(self) -> dict[str, Any]:
        """The part of the config that decides the bytes written (no output, no workers)."""
        data = config.to_dict(self)
        for key in ("output", "workers"):
            data.pop(key)
        return data


@dataclasses.dataclass(frozen=True)
class Unit:
    """One (split, shard) of work."""

    split: str
    index: int
    num_shards: int
    tracks: tuple[Track, ...]

    @property
    def key(self) -> str:
        """File-name-safe id of the unit."""
        return f"{self.split}-{self.index:05d}-of-{self.num_shards:05d}"


@dataclasses.dataclass
class WriteResult:
    """What a writer run produced."""

    output: str
    manifest: dict[str, Any]
    units_total: int
    units_run: int
    seconds: float


def make_views(cfg: WriterConfig) -> dict[str, Any]:
    """The view objects for ``cfg.views``, in order."""
    out: dict[str, Any] = {}
    for name in cfg.views:
        if name == "raw":
            out[name] = cfg.raw
        elif name == "mel":
            out[name] = cfg.mel
        else:
            from tfgenre.views.features import FeaturesView

            out[name] = FeaturesView()
    return out


def view_specs(cfg: WriterConfig, segment_samples: int | None) -> dict[str, ViewSpec]:
    """Each view's spec for segments of ``segment_samples`` (None: whole tracks)."""
    n = segment_samples or 0
    return {name: v.spec(n, cfg.audio.sample_rate) for name, v in make_views(cfg).items()}


# ----------------------------------------------------------------------------- planning


@dataclasses.dataclass(frozen=True)
class Plan:
    """What :func:`plan` decided before any work starts.

    Attributes:
        tracks: The tracks to write, with their splits, sorted by id.
        skipped: Inputs the source could not use (they count against max_skip_fraction).
        labels: Label names in index order.
        policy: How the splits were made (``split_policy`` in the manifest).
        protocol: The evaluation protocol (``protocol`` in the manifest).
        excluded: Track ids left out on purpose (in no list of a named split or of
            split_files); counted in the manifest, not skipped.
    """

    tracks: list[Track]
    skipped: list[Skip]
    labels: list[str]
    policy: dict[str, Any]
    protocol: Protocol
    excluded: tuple[str, ...] = ()


def plan(cfg: WriterConfig) -> Plan:
    """Lists, labels and splits the tracks; checks everything that can fail up front.

    The source's inputs are prepared first (:func:`~tfgenre.sources.base.prepare_source`:
    the synthetic source writes its set there, the one place it is written).

    Returns:
        The tracks with splits, skipped and excluded inputs, label names, split policy
        and protocol. Logs the one-line warning when GTZAN is split at random.

    Raises:
        ConfigError: on a bad source layout, unknown labels or mixed source splits.
        TfgenreError: when the disjointness check fails.
    """
    prepare_source(cfg.source, cfg.input, **dict(cfg.source_options))
    source = get_source(cfg.source, cfg.input, **dict(cfg.source_options))
    tracks = list(source.tracks())
    skipped = list(source.skipped)
    excluded = tuple(getattr(source, "excluded", ()) or ())
    if not tracks:
        raise ConfigError(f"source {cfg.source!r} found no usable audio in {cfg.input!r}")
    seen: dict[str, str] = {}
    for t in tracks:
        if t.track_id in seen:
            raise ConfigError(f"duplicate track id {t.track_id!r}: {seen[t.track_id]} and {t.path}")
        seen[t.track_id] = t.path
    labels = list(cfg.labels) if cfg.labels else sorted({t.label for t in tracks})
    unknown = sorted({t.label for t in tracks} - set(labels))
    if unknown:
        raise ConfigError(f"labels {unknown} are not in labels={labels}")

    with_split = [t for t in tracks if t.split]
    if cfg.use_source_splits and with_split:
        if len(with_split) != len(tracks):
            raise ConfigError(
                f"the source gives a split for {len(with_split)} of {len(tracks)} tracks; "
                "give all or none (or set use_source_splits=false)"
            )
        bad = sorted({t.split for t in tracks} - set(splits.SPLIT_NAMES))
        if bad:
            raise ConfigError(f"source splits {bad} are not among {splits.SPLIT_NAMES}")
        policy: dict[str, Any] = {"kind": "source", "source": cfg.source}
    else:
        tracks = splits.assign_splits(tracks, cfg.splits, seed=cfg.seed)
        policy = {
            "kind": "stratified_grouped",
            "fractions": dict(cfg.splits),
            "seed": cfg.seed,
            "stratify": "label",
            "group": "group (artist) when known, else track",
        }
    tracks = splits.limit_per_split(tracks, cfg.limit_per_split)
    report = splits.require_disjoint(tracks, source_defined=policy["kind"] == "source")
    policy["disjoint_tracks"] = True
    policy["shared_groups"] = len(report.shared_groups)
    policy["segmented_after_split"] = True
    if cfg.limit_per_split:
        policy["limit_per_split"] = cfg.limit_per_split
    protocol = records_protocol(cfg, source, tracks, policy)
    warn_if_leaky(protocol, "GTZAN (gtzan source)", "--set source_options.split=fault_filtered")
    return Plan(
        sorted(tracks, key=lambda t: t.track_id), skipped, labels, policy, protocol, excluded
    )


def records_protocol(
    cfg: WriterConfig, source: Any, tracks: list[Track], policy: Mapping[str, Any]
) -> Protocol:
    """The protocol of the planned split.

    The source's own protocol when it has one and its split is used (the gtzan source
    with ``split``/``split_files``); else ``random`` for fractions drawn here, grouped by
    artist when every track has a group; else ``source``.
    """
    artist_groups = bool(tracks) and all(t.group for t in tracks)
    gtzan = cfg.source == "gtzan"
    if policy["kind"] == "source":
        own = getattr(source, "protocol", None)
        if own is not None:
            return own
        return Protocol(
            SOURCE,
            grouping="artist" if artist_groups else "unknown",
            dataset=cfg.source if cfg.source in ("gtzan", "fma") else None,
            leaks_artists=bool(policy["shared_groups"]) if artist_groups else None,
        )
    return random_protocol(
        gtzan=gtzan,
        artist_groups=artist_groups,
        dataset=cfg.source if cfg.source in ("gtzan", "fma") else None,
    )


def make_units(tracks: list[Track], shards: int) -> list[Unit]:
    """Cuts tracks into (split, shard) units by the stable hash of their ids."""
    by_split: dict[str, list[Track]] = defaultdict(list)
    for t in tracks:
        by_split[str(t.split)].append(t)
    units = []
    for split in splits.SPLIT_NAMES:
        members = by_split.get(split, [])
        if not members:
            continue
        n = min(shards, len(members))
        buckets: dict[int, list[Track]] = defaultdict(list)
        for t in members:
            buckets[naming.shard_of(t.track_id, n)].append(t)
        for k in range(n):
            units.append(Unit(split, k, n, tuple(sorted(buckets[k], key=lambda t: t.track_id))))
    return units


# ----------------------------------------------------------------------------- per track


@dataclasses.dataclass
class TrackResult:
    """The arrays of one track, or why it was skipped."""

    track: Track
    payloads: dict[str, np.ndarray] | None = None
    num_samples: int = 0
    segment_samples: int = 0
    padded: bool = False
    skip_reason: str | None = None


def process_track(track: Track, cfg: WriterConfig, views: Mapping[str, Any]) -> TrackResult:
    """Decodes one track, cuts it and computes every view; never raises for bad audio.

    This is the per-track function shared by the local and the Beam runner.
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
    window = a.window_samples
    short = window is not None and len(y) < window
    if short and a.short_tracks == "drop":
        return TrackResult(
            track,
            skip_reason=f"shorter than one window: {len(y) / a.sample_rate:.2f} s < "
            f"{a.window_seconds:g} s (short_tracks=drop)",
        )
    segments = audio.cut_segments(y, window, a.hop_samples, short=a.short_tracks)
    try:
        payloads = {name: v.compute(segments, a.sample_rate) for name, v in views.items()}
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


# ----------------------------------------------------------------------------- units


def _state_path(output: str, unit: Unit) -> str:
    return io.join(output, STATE_DIR, unit.key + ".json")


def compute_track(
    track: Track, cfg: WriterConfig, views: Mapping[str, Any] | None = None
) -> TrackResult:
    """:func:`process_track` with BLAS on one thread (see :func:`_one_blas_thread`).

    ``views`` defaults to :func:`make_views` of ``cfg``; pass them to reuse them.
    """
    with _one_blas_thread():
        return process_track(track, cfg, make_views(cfg) if views is None else views)


def _computed(tracks: Iterable[Track], cfg: WriterConfig) -> Iterator[TrackResult]:
    """:func:`compute_track` of each track in this process, sharing one set of views."""
    views = make_views(cfg)
    for track in tracks:
        yield compute_track(track, cfg, views)


def run_unit(unit: Unit, cfg: WriterConfig, labels: list[str]) -> dict[str, Any]:
    """Computes and writes one unit in this process; returns its state."""
    return write_unit(unit, cfg, labels, _computed(unit.tracks, cfg))


def write_unit(
    unit: Unit, cfg: WriterConfig, labels: list[str], results: Iterable[TrackResult]
) -> dict[str, Any]:
    """Writes one unit's shards (all views) and its state file; returns the state.

    Shards are written as ``*.incomplete`` and renamed only when complete; the state
    file (written last, atomically) is what marks the unit done.

    Args:
        unit: The unit.
        cfg: Writer config.
        labels: Label names (their index is the stored label).
        results: The :class:`TrackResult` of each of ``unit.tracks``, in that order
            (consumed one at a time, so a generator keeps one track in memory).
    """
    import tensorflow as tf

    label_index = {name: i for i, name in enumerate(labels)}
    files = {v: naming.shard_name(v, unit.split, unit.index, unit.num_shards) for v in cfg.views}
    for rel in files.values():
        io.makedirs(io.join(cfg.output, rel.split("/")[0]))
    writers = {
        v: tf.io.TFRecordWriter(io.join(cfg.output, rel) + ".incomplete")
        for v, rel in files.items()
    }
    state: dict[str, Any] = {
        "unit": unit.key,
        "split": unit.split,
        "tracks": [],
        "skipped": [],
        "padded": [],
        "feature_rows": [],
        "shards": [],
    }
    examples = 0
    try:
        for track, result in zip(unit.tracks, results, strict=True):
            if result.track.track_id != track.track_id:
                raise RecordsError(
                    f"unit {unit.key}: got the result of {result.track.track_id!r} "
                    f"where {track.track_id!r} was expected"
                )
            if result.skip_reason:
                logger.warning("skipped %s: %s", track.path, result.skip_reason)
                state["skipped"].append({"path": track.path, "reason": result.skip_reason})
                continue
            assert result.payloads is not None
            n_seg = next(iter(result.payloads.values())).shape[0]
            for name, arr in result.payloads.items():
                for s in range(n_seg):
                    writers[name].write(
                        example.serialize(track.track_id, s, label_index[track.label], arr[s])
                    )
            examples += n_seg
            state["tracks"].append(
                {
                    "track_id": track.track_id,
                    "label": track.label,
                    "segments": n_seg,
                    "num_samples": result.num_samples,
                }
            )
            if result.padded:
                state["padded"].append(track.track_id)
            if "features" in result.payloads:
                base = os.path.basename(track.path)
                stem, ext = os.path.splitext(base)
                for s in range(n_seg):
                    filename = base if cfg.audio.window_samples is None else f"{stem}.{s}{ext}"
                    state["feature_rows"].append(
                        {
                            "filename": filename,
                            "length": result.segment_samples,
                            "values": [float(x) for x in result.payloads["features"][s]],
                            "label": track.label,
                            "track_id": track.track_id,
                            "segment": s,
                        }
                    )
    finally:
        for w in writers.values():
            w.close()
    for view, rel in files.items():
        path = io.join(cfg.output, rel)
        io.rename(path + ".incomplete", path)
        state["shards"].append(
            {
                "view": view,
                "file": rel,
                "examples": examples,
                "num_bytes": io.size(path),
                "sha256": io.sha256(path),
            }
        )
    io.write_text_atomic(_state_path(cfg.output, unit), json.dumps(state, sort_keys=True))
    return state


def _one_blas_thread() -> Any:
    """A context with BLAS on one thread (threadpoolctl; a no-op without it).

    Float sums in BLAS depend on its thread count, so without this the features and mel
    payloads would differ in the last bit between a 1-worker run (BLAS on every core),
    pool workers and Beam workers on machines with other core counts. One thread also
    makes the views faster when several processes share the cores (features ~25%).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with librosa
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _worker_init() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:
        pass


def _compute_track_star(args: tuple[Track, WriterConfig]) -> TrackResult:
    return compute_track(*args)


def _run_unit_star(args: tuple[Unit, WriterConfig, list[str]]) -> tuple[str, dict[str, Any]]:
    unit, cfg, labels = args
    return unit.key, run_unit(unit, cfg, labels)


def units_balance(sizes: Iterable[int], workers: int, slack: float = 1.1) -> bool:
    """Whether whole units, largest first, keep ``workers`` busy to within ``slack``.

    Greedy longest-processing-time assignment of the unit sizes (tracks); True when
    the busiest worker gets at most ``slack`` times the mean load.
    """
    loads = [0] * max(1, workers)
    for size in sorted(sizes, reverse=True):
        loads[loads.index(min(loads))] += size
    total = sum(loads)
    return total == 0 or max(loads) <= slack * total / len(loads)


# librosa modules whose numba functions compile (and write the on-disk cache) when they
# are imported: guvectorize/vectorize with explicit signatures (pitch's _pi_wrapper,
# util's localmax, beat's helpers, ...). The rest compile on first call.
_LIBROSA_NUMBA_MODULES: tuple[str, ...] = (
    "librosa.core.audio",
    "librosa.core.constantq",
    "librosa.core.notation",
    "librosa.core.pitch",
    "librosa.core.spectrum",
    "librosa.util.matching",
    "librosa.util.utils",
    "librosa.beat",
    "librosa.decompose",
    "librosa.effects",
    "librosa.feature",
    "librosa.feature.utils",
    "librosa.filters",
    "librosa.onset",
    "librosa.sequence",
)


def warm_compiled_code(cfg: WriterConfig | None = None) -> None:
    """Compiles, in this process, every cached numba function the workers will run.

    numba's on-disk cache (``NUMBA_CACHE_DIR`` or ``__pycache__``) is not safe to write
    from several processes at once: two pool workers compiling the same function on a
    cold cache can leave an index that points at the wrong machine code, and every later
    process that loads it crashes (``librosa.estimate_tuning`` segfaulted after a
    2-worker write). So the parent imports librosa's eagerly compiled modules and runs
    each configured view once on a short signal, with the dtypes the workers use, before
    any worker starts work: the workers then only read the cache.

    Args:
        cfg: The writer config whose views to run (None: every view, default options;
            numba compiles per dtype, not per length or rate, so that covers any config
            with default view options).
    """
    import importlib

    cfg = cfg if cfg is not None else WriterConfig()
    started = time.perf_counter()
    for module in _LIBROSA_NUMBA_MODULES:
        importlib.import_module(module)
    a = cfg.audio
    n = a.window_samples or a.sample_rate
    y = (0.1 * np.random.default_rng(0).standard_normal((1, n))).astype(np.float32)
    with _one_blas_thread():
        for view in make_views(cfg).values():
            view.compute(y, a.sample_rate)
    logger.debug("compiled code warmed in %.1f s", time.perf_counter() - started)


def start_pool(workers: int, cfg: WriterConfig | None = None) -> Any:
    """A pool of ``workers`` spawned processes ready for :func:`run_units_local`.

    The numba code the workers run is compiled and cached here first
    (:func:`warm_compiled_code` of ``cfg``), so that workers never write the cache at once.
    """
    warm_compiled_code(cfg)
    ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(workers, initializer=_worker_init)


def _pooled_results(pool: Any, jobs: list[tuple[Track, WriterConfig]], in_flight: int) -> Any:
    """Results of ``compute_track`` on ``jobs`` in job order, at most ``in_flight`` ahead."""
    from collections import deque

    todo = iter(jobs)
    pending: deque[Any] = deque()
    for job in todo:
        pending.append(pool.apply_async(_compute_track_star, (job,)))
        if len(pending) >= in_flight:
            break
    while pending:
        result = pending.popleft().get()
        job = next(todo, None)
        if job is not None:
            pending.append(pool.apply_async(_compute_track_star, (job,)))
        yield result


# ----------------------------------------------------------------------------- output folder

_STATE_FILE_RE = re.compile(r"^(config|[a-z_]+-\d{5}-of-\d{5})\.json(\.incomplete)?$")
_OWN_TOP_FILES = (manifest.MANIFEST_NAME, FEATURES_CSV)


def _listed_shards(output: str) -> set[str]:
    """Shard files (``view/name``) that the manifest or a state file of ``output`` lists."""
    listed: set[str] = set()
    documents = []
    manifest_path = io.join(output, manifest.MANIFEST_NAME)
    if io.exists(manifest_path):
        documents.append((manifest_path, "manifest"))
    state_dir = io.join(output, STATE_DIR)
    if io.isdir(state_dir):
        documents.extend(
            (io.join(state_dir, n), "state") for n in io.listdir(state_dir) if n.endswith(".json")
        )
    for path, kind in documents:
        try:
            data = json.loads(io.read_text(path))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if kind == "manifest":
            splits_info = data.get("splits") or {}
            shards = [s for info in splits_info.values() for s in info.get("shards", [])]
        else:
            shards = data.get("shards", [])
        listed.update(str(s["file"]) for s in shards if isinstance(s, dict) and "file" in s)
    return listed


def survey_output(output: str) -> tuple[list[str], list[str]]:
    """Sorts what is in a records folder into what tfgenre wrote and everything else.

    tfgenre's are: ``.state/`` files (``config.json`` and unit states), the manifest,
    ``features.csv``, and in the view folders the shard files that the manifest or a
    state file lists, or that carry tfgenre's shard names (a unit cut off before its
    state was written). Only call this for a folder that holds tfgenre records (a
    ``.state/config.json`` or manifest). Hidden entries other than ``.state`` are
    neither: they are left alone.

    Returns:
        (tfgenre's files, other entries), as paths relative to ``output``, sorted.
    """
    listed = _listed_shards(output)
    owned: list[str] = []
    foreign: list[str] = []
    for name in sorted(io.listdir(output)):
        name = name.rstrip("/")
        path = io.join(output, name)
        if name == STATE_DIR:
            for sub in sorted(io.listdir(path)):
                sub = sub.rstrip("/")
                (owned if _STATE_FILE_RE.match(sub) else foreign).append(f"{name}/{sub}")
        elif name.startswith("."):
            continue
        elif name in VIEW_NAMES and io.isdir(path):
            for sub in sorted(io.listdir(path)):
                sub = sub.rstrip("/")
                rel = f"{name}/{sub}"
                if rel in listed or _is_shard_name(sub):
                    owned.append(rel)
                elif not sub.startswith("."):
                    foreign.append(rel)
        elif name in _OWN_TOP_FILES or name in {n + ".incomplete" for n in _OWN_TOP_FILES}:
            owned.append(name)
        else:
            foreign.append(name + ("/" if io.isdir(path) else ""))
    return owned, foreign


def _is_shard_name(name: str) -> bool:
    try:
        naming.parse_shard_name(name.removesuffix(".incomplete"))
    except ConfigError:
        return False
    return True


def _remove_owned(output: str, owned: list[str]) -> None:
    """Deletes tfgenre's files, then the folders they leave empty (local only)."""
    for rel in owned:
        io.remove(io.join(output, rel))
    if io.is_remote(output):
        return
    for name in (STATE_DIR, *VIEW_NAMES):
        folder = os.path.join(output, name)
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


def _listing(names: list[str], limit: int = 8) -> str:
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def prepare_output(cfg: WriterConfig, content_hash: str, overwrite: bool) -> None:
    """Creates the output folder, or checks it holds records of this same config.

    tfgenre never deletes what it did not write: ``overwrite`` removes only the files
    :func:`survey_output` proves are tfgenre's, and refuses when anything else is there.

    Raises:
        RecordsError: when the folder holds anything but tfgenre records, or records of
            another config and ``overwrite`` is False; the message lists what is in
            the way.
    """
    state_config = io.join(cfg.output, STATE_DIR, "config.json")
    manifest_path = io.join(cfg.output, manifest.MANIFEST_NAME)
    previous = None
    for path in (state_config, manifest_path):
        if io.exists(path):
            try:
                previous = json.loads(io.read_text(path)).get("config_hash")
            except (json.JSONDecodeError, AttributeError):
                previous = "unreadable"
            break
    if previous is None and io.exists(cfg.output) and io.isdir(cfg.output):
        others = sorted(n.rstrip("/") for n in io.listdir(cfg.output) if not n.startswith("."))
        if others:
            raise RecordsError(
                f"output {cfg.output!r} is not empty and holds no tfgenre records "
                f"({_listing(others)}); choose an empty or new folder (tfgenre does not "
                "write into or delete files it did not write)"
            )
    if previous is not None:
        owned, foreign = survey_output(cfg.output)
        changed = previous != content_hash
        if foreign and (overwrite or changed):
            what = "records of another configuration" if changed else "records"
            raise RecordsError(
                f"output {cfg.output!r} holds {what} and also files tfgenre did not "
                f"write: {_listing(foreign)}. tfgenre deletes only its own files; move "
                "those out or choose another folder"
            )
        if changed and not overwrite:
            raise RecordsError(
                f"output {cfg.output!r} holds records of another configuration "
                f"(config_hash {previous[:12]} != {content_hash[:12]}); "
                "pass --overwrite to replace them"
            )
        if overwrite:  # start from scratch: nothing of an earlier run is reused
            logger.info(
                "--overwrite: removing %d files tfgenre wrote in %s", len(owned), cfg.output
            )
            _remove_owned(cfg.output, owned)
    io.makedirs(io.join(cfg.output, STATE_DIR))
    io.write_text_atomic(
        state_config,
        json.dumps({"config_hash": content_hash, "config": cfg.content_dict()}, sort_keys=True),
    )


# ----------------------------------------------------------------------------- the job


def write_records(
    cfg: WriterConfig,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
    runner: Callable[[list[Unit], WriterConfig, list[str]], dict[str, dict[str, Any]]]
    | None = None,
) -> WriteResult:
    """Runs the whole job: plan, write missing units, assemble the manifest.

    Args:
        cfg: Resolved writer config.
        overwrite: Replace records of another config in ``cfg.output``.
        progress: Show a tqdm bar (default: when stderr is a terminal).
        runner: Alternative executor for the pending units (e.g. Beam); default: local
            processes.

    Returns:
        The result, with the manifest as written.

    Raises:
        ConfigError: on bad config or input layout (before any work starts).
        RecordsError: when the output folder is taken, or skips pass max_skip_fraction
            (the manifest is written first, listing every skip).
    """
    if not cfg.output:
        raise ConfigError("output='' must name the records folder")
    io.check_output_folder(cfg.output, "output")
    start = time.perf_counter()
    planned = plan(cfg)
    tracks, source_skips, labels, policy = (
        planned.tracks,
        planned.skipped,
        planned.labels,
        planned.policy,
    )
    content = cfg.content_dict()
    content_hash = config.config_hash(content)
    prepare_output(cfg, content_hash, overwrite)
    units = make_units(tracks, cfg.shards)
    pending = [u for u in units if not io.exists(_state_path(cfg.output, u))]
    logger.info(
        "%d tracks in %d units (%d to write, %d done before)",
        len(tracks),
        len(units),
        len(pending),
        len(units) - len(pending),
    )
    if pending and runner is not None:
        warm_compiled_code(cfg)  # the runner's workers must find the numba cache warm
        runner(pending, cfg, labels)
    elif pending:
        run_units_local(pending, cfg, labels, progress=progress)
    states = {}
    for u in units:
        path = _state_path(cfg.output, u)
        if not io.exists(path):
            raise RecordsError(f"unit {u.key} finished without its state file {path}")
        states[u.key] = json.loads(io.read_text(path))
    data = assemble_manifest(
        cfg,
        units,
        states,
        labels,
        policy,
        source_skips,
        content_hash,
        protocol=planned.protocol,
        excluded=planned.excluded,
    )
    if "features" in cfg.views:
        write_features_csv(cfg, units, states, data["views"]["features"]["feature_names"])
    io.write_text_atomic(
        io.join(cfg.output, manifest.MANIFEST_NAME), json.dumps(data, indent=2, sort_keys=False)
    )
    seconds = time.perf_counter() - start
    result = WriteResult(cfg.output, data, len(units), len(pending), seconds)
    counts = data["counts"]
    if counts["skip_fraction"] > cfg.max_skip_fraction:
        reasons = Counter(s["reason"].split(":")[0] for s in data["skipped"])
        summary = ", ".join(f"{k}: {v}" for k, v in reasons.most_common())
        raise RecordsError(
            f"{counts['skipped']} of {counts['inputs']} inputs skipped "
            f"({counts['skip_fraction']:.1%} > max_skip_fraction={cfg.max_skip_fraction:g}); "
            f"reasons: {summary}. The records that were written and the manifest, which "
            "lists every skip, are kept."
        )
    return result


def resolve_workers(workers: int) -> int:
    """``workers`` or, for 0, the number of usable cores."""
    if workers:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_units_local(
    units: list[Unit],
    cfg: WriterConfig,
    labels: list[str],
    progress: bool | None = None,
    *,
    pool: Any = None,
) -> dict[str, dict[str, Any]]:
    """Runs units in this process (1 worker) or with a pool of spawned processes.

    With several workers there are two ways to share the work, and both write the
    same bytes as one worker:

    * whole units, largest first, each written by a worker, when the units balance
      (:func:`units_balance`): the main process only collects their states;
    * otherwise per track: the pool computes tracks (decode + views, the expensive
      part) and the main process writes each unit from its tracks' results in order,
      so every worker stays busy to the end whatever the number and sizes of shards
      (16 workers on 8 shards, or a few tracks hashed into uneven shards). The price
      is the main process's share of the work (serialising, writing and hashing).

    Args:
        units: Units to write.
        cfg: Writer config (``cfg.workers`` processes; 0 = one per core).
        labels: Label names.
        progress: Show a tqdm bar (default: when stderr is a terminal).
        pool: A started pool (:func:`start_pool`) to use instead of a new one.

    Returns:
        The state of each unit, by unit key.
    """
    total_tracks = sum(len(u.tracks) for u in units)
    workers = min(resolve_workers(cfg.workers), max(1, total_tracks))
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_tracks, unit="track", desc="write_records")
    done_tracks = 0
    last_log = time.monotonic()
    results: dict[str, dict[str, Any]] = {}

    def tick(n: int) -> None:
        nonlocal done_tracks, last_log
        done_tracks += n
        if bar is not None:
            bar.update(n)
        elif time.monotonic() - last_log > 10 or done_tracks == total_tracks:
            last_log = time.monotonic()
            logger.info("write_records: %d/%d tracks", done_tracks, total_tracks)

    def counted(tracks: Iterable[TrackResult]) -> Iterator[TrackResult]:
        for result in tracks:
            tick(1)
            yield result

    own_pool = None
    try:
        if pool is None and workers <= 1:
            for u in units:
                results[u.key] = write_unit(u, cfg, labels, counted(_computed(u.tracks, cfg)))
        else:
            if pool is None:
                pool = own_pool = start_pool(workers, cfg)  # warms the numba cache first
            else:
                warm_compiled_code(cfg)  # before any worker compiles (see the function)
                workers = getattr(pool, "_processes", workers)
            sizes = {u.key: len(u.tracks) for u in units}
            if units_balance(sizes.values(), workers):
                ordered = sorted(units, key=lambda u: -sizes[u.key])
                unit_jobs = [(u, cfg, labels) for u in ordered]
                for key, state in pool.imap_unordered(_run_unit_star, unit_jobs):
                    results[key] = state
                    tick(sizes[key])
            else:
                jobs = [(t, cfg) for u in units for t in u.tracks]
                stream = _pooled_results(pool, jobs, in_flight=4 * workers)
                for u in units:
                    chunk = (next(stream) for _ in u.tracks)
                    results[u.key] = write_unit(u, cfg, labels, counted(chunk))
    finally:
        if own_pool is not None:  # every result is consumed (or an error is on its way)
            own_pool.terminate()
            own_pool.join()
        if bar is not None:
            bar.close()
    return results


def assemble_manifest(
    cfg: WriterConfig,
    units: list[Unit],
    states: Mapping[str, dict[str, Any]],
    labels: list[str],
    policy: dict[str, Any],
    source_skips: list[Skip],
    content_hash: str,
    *,
    protocol: Protocol = UNKNOWN_PROTOCOL,
    excluded: Sequence[str] = (),
) -> dict[str, Any]:
    """Builds manifest.json's content from the units' state files.

    ``protocol`` goes in as ``protocol``; ``excluded`` (track ids in no split list) as
    ``excluded: {count, tracks}``. Excluded tracks are not inputs: they do not count
    towards ``skip_fraction``.
    """
    specs = view_specs(cfg, cfg.audio.window_samples)
    views_json = {name: spec.to_json() for name, spec in specs.items()}
    split_json: dict[str, Any] = {}
    skipped = [{"path": s.path, "reason": s.reason} for s in source_skips]
    padded: list[str] = []
    for u in units:
        st = states[u.key]
        entry = split_json.setdefault(
            u.split,
            {
                "num_tracks": 0,
                "num_examples": 0,
                "num_bytes": 0,
                "label_counts": dict.fromkeys(labels, 0),
                "shards": [],
            },
        )
        for t in st["tracks"]:
            entry["label_counts"][t["label"]] += t["segments"]
        entry["num_tracks"] += len(st["tracks"])
        entry["num_examples"] += sum(t["segments"] for t in st["tracks"])
        entry["num_bytes"] += sum(s["num_bytes"] for s in st["shards"])
        entry["shards"].extend(st["shards"])
        skipped.extend(st["skipped"])
        padded.extend(st["padded"])
    for entry in split_json.values():
        entry["shards"].sort(key=lambda s: (s["view"], s["file"]))
    # the artist of each written track, when the source knows it (fit/baselines --folds)
    written_ids = {t["track_id"] for u in units for t in states[u.key]["tracks"]}
    track_groups = {
        t.track_id: t.group
        for u in units
        for t in u.tracks
        if t.group and t.track_id in written_ids
    }
    if "features" in views_json:
        train_rows = [
            r["values"] for u in units if u.split == "train" for r in states[u.key]["feature_rows"]
        ]
        stats_split = "train"
        if not train_rows:  # no train split: fall back to everything, and say so
            stats_split = "all"
            train_rows = [r["values"] for u in units for r in states[u.key]["feature_rows"]]
        width = len(views_json["features"]["feature_names"])
        values = np.asarray(train_rows, dtype=np.float64).reshape(-1, width)
        mean = values.mean(axis=0) if len(values) else np.zeros(width)
        std = values.std(axis=0) if len(values) else np.ones(width)
        views_json["features"]["mean"] = [float(x) for x in mean]
        views_json["features"]["std"] = [float(x) if x > 0 else 1.0 for x in std]
        views_json["features"]["stats_split"] = stats_split
    inputs = sum(len(u.tracks) for u in units) + len(source_skips)
    written = sum(len(states[u.key]["tracks"]) for u in units)
    a = cfg.audio
    return {
        "format_version": manifest.FORMAT_VERSION,
        "versions": manifest.package_versions(),
        "config_hash": content_hash,
        "config": cfg.content_dict(),
        "source": cfg.source,
        "labels": labels,
        "sample_rate": a.sample_rate,
        "window_seconds": a.window_seconds or None,
        "hop_seconds": (a.hop_seconds or a.window_seconds) or None,
        "window_samples": a.window_samples,
        "hop_samples": a.hop_samples,
        "short_tracks": a.short_tracks,
        "views": views_json,
        "splits": split_json,
        "split_policy": policy,
        "protocol": protocol.to_json(),
        "excluded": {"count": len(excluded), "tracks": sorted(excluded)},
        "track_groups": dict(sorted(track_groups.items())),
        "padded": sorted(padded),
        "skipped": sorted(skipped, key=lambda s: s["path"]),
        "counts": {
            "inputs": inputs,
            "written": written,
            "skipped": len(skipped),
            "padded": len(padded),
            "skip_fraction": (len(skipped) / inputs) if inputs else 0.0,
        },
    }


def write_features_csv(
    cfg: WriterConfig,
    units: list[Unit],
    states: Mapping[str, dict[str, Any]],
    feature_names: list[str],
) -> None:
    """``features.csv``: filename, length, the 57 features, label, track_id, segment, split."""
    import csv
    import io as _io

    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["filename", "length", *feature_names, "label", "track_id", "segment", "split"])
    rows = []
    for u in units:
        for r in states[u.key]["feature_rows"]:
            rows.append((u.split, r["track_id"], r["segment"], r))
    order = {name: i for i, name in enumerate(splits.SPLIT_NAMES)}
    rows.sort(key=lambda x: (order[x[0]], x[1], x[2]))
    for split, _, _, r in rows:
        w.writerow(
            [
                r["filename"],
                r["length"],
                *[repr(v) for v in r["values"]],
                r["label"],
                r["track_id"],
                r["segment"],
                split,
            ]
        )
    io.write_text_atomic(io.join(cfg.output, FEATURES_CSV), buf.getvalue())
