"""Executors: who computes and writes the pending units (this process, or a pool).

An executor has one method, ``execute(units, cfg, labels) -> {unit key: state}``, and
writes each unit's shards and state file (:mod:`tfgenre.records.shards`); whatever the
executor and its number of workers, the bytes are the same. :class:`LocalExecutor` is
the default: this process for one worker, else a pool of processes forked from a
server that has imported TensorFlow (:func:`start_pool`).
:class:`tfgenre.records.beam.BeamExecutor` distributes whole units with Apache Beam.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from tfgenre.core.tracks import Track
from tfgenre.records.compute import TrackResult, compute_track, computed_tracks, one_blas_thread
from tfgenre.records.plan import Unit
from tfgenre.records.shards import write_shards, write_unit
from tfgenre.records.unit_state import UnitState
from tfgenre.records.writer_config import WriterConfig, make_views

logger = logging.getLogger(__name__)

States = dict[str, UnitState]


class Executor(Protocol):
    """Writes units; returns the state of each, by unit key."""

    def execute(self, units: list[Unit], cfg: WriterConfig, labels: list[str]) -> States:
        """Writes ``units`` (shards and state files) for ``cfg`` with ``labels``."""
        ...


def resolve_workers(workers: int) -> int:
    """``workers`` or, for 0, the number of usable cores."""
    if workers:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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


class _Progress:
    """Counts written tracks: a tqdm bar, or a log line at most every 10 s and at the end."""

    def __init__(self, total: int, show: bool) -> None:
        self.total = total
        self.done = 0
        self.last_log = time.monotonic()
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="track", desc="write_records")

    def tick(self, n: int) -> None:
        """Counts ``n`` more tracks."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif time.monotonic() - self.last_log > 10 or self.done == self.total:
            self.last_log = time.monotonic()
            logger.info("write_records: %d/%d tracks", self.done, self.total)

    def counted(self, results: Iterable[TrackResult]) -> Iterator[TrackResult]:
        """``results``, counting each as it goes by."""
        for result in results:
            self.tick(1)
            yield result

    def close(self) -> None:
        """Closes the bar, if any."""
        if self.bar is not None:
            self.bar.close()


class LocalExecutor:
    """Writes units in this process (1 worker) or with a pool of processes (:func:`start_pool`).

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
        workers: Processes (0: one per core). Without ``pool``, at most one per track
            is started; with ``pool``, the number of processes of that pool.
        progress: Show a tqdm bar (default: when stderr is a terminal).
        pool: A started pool (:func:`start_pool`) to use instead of a new one; it
            stays open.
    """

    def __init__(self, workers: int = 0, *, progress: bool | None = None, pool: Any = None) -> None:
        self.workers = workers
        self.progress = progress
        self.pool = pool

    def execute(self, units: list[Unit], cfg: WriterConfig, labels: list[str]) -> States:
        """Writes ``units``; returns the state of each unit, by unit key."""
        sizes = {u.key: len(u.tracks) for u in units}
        total = sum(sizes.values())
        show = sys.stderr.isatty() if self.progress is None else self.progress
        progress = _Progress(total, show)
        pool = own_pool = None
        try:
            if self.pool is not None:
                warm_compiled_code(cfg)  # before any worker compiles (see the function)
                pool, workers = self.pool, resolve_workers(self.workers)
            else:
                workers = min(resolve_workers(self.workers), max(1, total))
                if workers <= 1:
                    return _execute_here(units, cfg, labels, progress)
                pool = own_pool = start_pool(workers, cfg)  # warms the numba cache first
            if units_balance(sizes.values(), workers):
                return _execute_whole_units(pool, units, cfg, labels, progress)
            return _execute_per_track(pool, workers, units, cfg, labels, progress)
        finally:
            if own_pool is not None:  # every result is consumed (or an error is on its way)
                own_pool.terminate()
                own_pool.join()
            progress.close()


def _execute_here(
    units: list[Unit], cfg: WriterConfig, labels: list[str], progress: _Progress
) -> States:
    """Every unit in this process, one after the other."""
    results: States = {}
    for u in units:
        tracks = progress.counted(computed_tracks(u.tracks, cfg))
        results[u.key] = write_shards(u, cfg, labels, tracks)
    return results


def _execute_whole_units(
    pool: Any, units: list[Unit], cfg: WriterConfig, labels: list[str], progress: _Progress
) -> States:
    """Whole units, largest first, each written by a pool worker."""
    results: States = {}
    sizes = {u.key: len(u.tracks) for u in units}
    ordered = sorted(units, key=lambda u: -sizes[u.key])
    jobs = [(u, cfg, labels) for u in ordered]
    for key, state in pool.imap_unordered(_write_unit_star, jobs):
        results[key] = state
        progress.tick(sizes[key])
    return results


def _execute_per_track(
    pool: Any,
    workers: int,
    units: list[Unit],
    cfg: WriterConfig,
    labels: list[str],
    progress: _Progress,
) -> States:
    """Tracks computed by the pool; each unit written here from its tracks, in order."""
    results: States = {}
    jobs = [(t, cfg) for u in units for t in u.tracks]
    stream = _pooled_results(pool, jobs, in_flight=4 * workers)
    for u in units:
        chunk = (next(stream) for _ in u.tracks)
        results[u.key] = write_shards(u, cfg, labels, progress.counted(chunk))
    return results


def init_worker() -> None:
    """Sets up a worker process: quiet TensorFlow, one thread per TF op pool."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:
        pass


def _compute_track_star(args: tuple[Track, WriterConfig]) -> TrackResult:
    return compute_track(*args)


def _write_unit_star(args: tuple[Unit, WriterConfig, list[str]]) -> tuple[str, UnitState]:
    unit, cfg, labels = args
    return unit.key, write_unit(unit, cfg, labels)


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


#: Views that run no numba code: not run in the parent (embeddings would build its
#: backbone there, which only the workers use).
_NO_NUMBA_VIEWS: frozenset[str] = frozenset({"embeddings"})


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
    cfg = cfg if cfg is not None else WriterConfig()
    started = time.perf_counter()
    for module in _LIBROSA_NUMBA_MODULES:
        importlib.import_module(module)
    a = cfg.audio
    n = a.window_samples or a.sample_rate
    y = (0.1 * np.random.default_rng(0).standard_normal((1, n))).astype(np.float32)
    with one_blas_thread():
        for name, view in make_views(cfg).items():
            if name not in _NO_NUMBA_VIEWS:
                view.compute(y, a.sample_rate)
    logger.debug("compiled code warmed in %.1f s", time.perf_counter() - started)


def start_pool(workers: int, cfg: WriterConfig | None = None) -> Any:
    """A pool of ``workers`` processes ready for :class:`LocalExecutor` (:func:`pool_context`).

    The numba code the workers run is compiled and cached here first
    (:func:`warm_compiled_code` of ``cfg``), so that workers never write the cache at once.
    """
    warm_compiled_code(cfg)
    return pool_context().Pool(workers, initializer=init_worker)


def pool_context() -> Any:
    """The start method of worker processes: a fork server that has imported TensorFlow.

    One fresh interpreter imports TensorFlow (about 5-10 s of CPU), and each worker is a
    fork of it: with 8 workers, one import instead of 8, and its pages shared rather
    than copied 8 times. Only the import happens there (no TensorFlow runtime, no
    threads), so the forks are safe; each worker then sets its own thread pools
    (:func:`init_worker`). Where there is no fork server (Windows), spawned processes.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # tfgenre first: its import quiets TensorFlow's native start-up lines (core.tflog)
    context.set_forkserver_preload(["tfgenre", "tensorflow"])
    return context


def _pooled_results(pool: Any, jobs: list[tuple[Track, WriterConfig]], in_flight: int) -> Any:
    """Results of ``compute_track`` on ``jobs`` in job order, at most ``in_flight`` ahead."""
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
