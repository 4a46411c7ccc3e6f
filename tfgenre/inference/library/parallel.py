"""Decoding workers feeding batched inference: the engine of ``predict LIBRARY --workers N``.

Worker processes (spawned: TensorFlow is never forked) decode each file and cut it into
the model's inputs with the predictor's picklable :meth:`preparer` (numpy only); the
main process runs the model on windows of several tracks at once (at least
``batch_size`` windows per round) and hands each finished track on, in the order of the
listing. At most ``2 * workers`` files are in flight, so memory stays bounded whatever
the library's size. ``workers=1`` decodes in the main process (no pool) with the same
batching, so it gives the same rows.

A predictor here is anything with ``preparer()``, ``finish(prepared)``,
``classify(x)`` and ``assemble(prepared, probs)``: :class:`tfgenre.inference.predictor.Predictor`
and :class:`tfgenre.inference.tagging.Tagger`.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from tfgenre.errors import AudioDecodeError, ConfigError

logger = logging.getLogger(__name__)

Item = tuple[str, Any]  # (path, anything the caller wants back: the file's stamp)


@dataclasses.dataclass(frozen=True)
class Failure:
    """A file that could not be decoded (or prepared), with the reason."""

    path: str
    reason: str


def check_workers(workers: Any) -> int:
    """``--workers``: an int >= 0 (0 = one per core); returns the resolved count.

    Raises:
        ConfigError: naming the value and the rule.
    """
    from tfgenre.records.executors import resolve_workers

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(
            f"--workers must be an integer >= 0 (0 = one per core, default 1). "
            f"Received: workers={workers!r}"
        )
    return resolve_workers(workers)


def _prepare(preparer: Callable[[str], Any], path: str) -> Any:
    """The prepared track, or a :class:`Failure` (a bad file never ends the job)."""
    try:
        return preparer(path)
    except AudioDecodeError as err:
        return Failure(path, str(err))
    except Exception as err:  # a decoder library's own error on a damaged file
        logger.debug("prepare %s", path, exc_info=True)
        return Failure(path, f"{path}: {type(err).__name__}: {err}")


_WORKER: dict[str, Any] = {}


def _init_worker(preparer: Callable[[str], Any]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from threadpoolctl import threadpool_limits

    _WORKER["limits"] = threadpool_limits(1)  # one BLAS thread per worker
    _WORKER["preparer"] = preparer


def _prepare_in_worker(path: str) -> Any:
    return _prepare(_WORKER["preparer"], path)


def _warm(preparer: Any) -> None:
    """Compiles the numba code the workers will run, once, in this process.

    See :func:`tfgenre.records.executors.warm_compiled_code`: a cold cache written by
    two workers at once can crash later processes. The preparer runs here on a short
    44.1-kHz stereo file (decoded, resampled, framed, viewed): every module and numba
    function a worker reaches is imported and compiled here first, and nothing else.
    """
    import tempfile

    import soundfile as sf

    y = (0.1 * np.random.default_rng(0).standard_normal((44100 * 2, 2))).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="tfgenre_warm_") as tmp:
        path = os.path.join(tmp, "warm.wav")
        sf.write(path, y, 44100)
        result = _prepare(preparer, path)
    if isinstance(result, Failure):
        logger.warning("warming the decoders failed: %s", result.reason)


def _ready() -> None:
    """A no-op task: submitting one per worker starts them all."""


class DecodePool:
    """Spawned decoding processes, started at once (their imports can overlap the model's load).

    Args:
        preparer: Picklable ``path -> PreparedTrack`` (the predictor's :meth:`preparer`,
            or one equal to it).
        workers: Processes (>= 2).
    """

    def __init__(self, preparer: Callable[[str], Any], workers: int) -> None:
        _warm(preparer)
        self.workers = int(workers)
        self.pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(preparer,),
        )
        for _ in range(self.workers):
            self.pool.submit(_ready)

    def close(self) -> None:
        """Stops the processes (pending work is dropped)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def prepared_tracks(
    preparer: Callable[[str], Any],
    items: Iterable[Item],
    workers: int,
    pool: DecodePool | None = None,
) -> Iterator[tuple[Item, Any]]:
    """``(item, prepared track or Failure)`` for each item, in order.

    Args:
        preparer: Picklable ``path -> PreparedTrack``.
        items: ``(path, extra)`` pairs, consumed lazily.
        workers: Decoding processes (1: this process).
        pool: Already started processes for ``preparer`` (None: started here when
            ``workers`` > 1, and stopped at the end).
    """
    if workers <= 1 and pool is None:
        for item in items:
            yield item, _prepare(preparer, item[0])
        return
    own = pool is None
    decode = pool if pool is not None else DecodePool(preparer, workers)
    workers = decode.workers
    pending: deque[tuple[Item, Future[Any]]] = deque()
    try:
        iterator = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * workers:
                try:
                    item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, decode.pool.submit(_prepare_in_worker, item[0])))
            if not pending:
                return
            item, future = pending.popleft()
            yield item, future.result()
    finally:
        if own:
            decode.close()


def predict_library(
    predictor: Any,
    items: Iterable[Item],
    *,
    workers: int = 1,
    batch_size: int = 32,
    pool: DecodePool | None = None,
) -> Iterator[tuple[Item, Any]]:
    """``(item, TrackPrediction or Failure)`` for each item, in order.

    Windows of consecutive tracks are classified together, in rounds of at least
    ``batch_size`` windows (the model is called on at most ``batch_size`` at a time).

    Args:
        predictor: A :class:`~tfgenre.inference.predictor.Predictor` or
            :class:`~tfgenre.inference.tagging.Tagger`.
        items: ``(path, extra)`` pairs, consumed lazily.
        workers: Decoding processes (1: decode here).
        batch_size: Windows per round.
        pool: Decoding processes started earlier for an equal preparer (see
            :class:`DecodePool`); None: as ``workers`` says.
    """
    waiting: list[tuple[Item, Any]] = []  # prepared tracks and failures, in order
    windows = 0

    def flush() -> Iterator[tuple[Item, Any]]:
        tracks = [p for _, p in waiting if not isinstance(p, Failure)]
        if tracks:
            x = np.concatenate([t.inputs for t in tracks], axis=0)
            probs = predictor.classify(x)
        offset = 0
        for item, p in waiting:
            if isinstance(p, Failure):
                yield item, p
                continue
            n = len(p.inputs)
            yield item, predictor.assemble(p, probs[offset : offset + n])
            offset += n

    for item, prepared in prepared_tracks(predictor.preparer(), items, workers, pool):
        if not isinstance(prepared, Failure):
            try:
                prepared = predictor.finish(prepared)
            except AudioDecodeError as err:
                prepared = Failure(item[0], str(err))
        waiting.append((item, prepared))
        if not isinstance(prepared, Failure):
            windows += len(prepared.inputs)
        if windows >= batch_size:
            yield from flush()
            waiting, windows = [], 0
    yield from flush()
