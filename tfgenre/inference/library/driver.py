"""``python -m tfgenre.predict LIBRARY/ --model M --output X.csv|.jsonl|.parquet``: the driver.

Lists the library as a stream, skips the files already in ``--output`` (same path, size
and mtime), predicts the rest with :func:`tfgenre.inference.library.parallel.predict_library`
(or on Beam: :mod:`tfgenre.inference.library.beam`) and appends each track's rows as it finishes
(:class:`tfgenre.inference.library.sink.LibraryOutput`). Bad files are named on stderr, in the
journal and in the state file, and counted at the end (exit 1); they never stop the job.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from tfgenre.core import io
from tfgenre.inference.library import listing
from tfgenre.inference.library.parallel import Failure, check_workers, predict_library
from tfgenre.inference.library.sink import LibraryOutput, Settings, model_id

logger = logging.getLogger(__name__)

#: Tests only: after this many tracks are written the process waits to be killed (a
#: long job interrupted at a known point, without timing).
STALL_ENV = "TFGENRE_TEST_STALL_AFTER"


def settings_for(args: argparse.Namespace) -> Settings:
    """The :class:`Settings` of a command line, without loading the model (no TensorFlow)."""
    from tfgenre.inference import tagging

    weight_set = not io.exists(args.model) and tagging.is_weight_set(args.model)
    if weight_set:
        from tfgenre.backbones.weights import find_weights

        labels, kind = tuple(find_weights(args.model).labels), "tag"
    else:
        from tfgenre.inference.predictor import resolve_model_path
        from tfgenre.runs.run_info import RunInfo

        labels, kind = tuple(RunInfo.load(resolve_model_path(args.model)[1]).labels), "genre"
    return Settings(
        format=args.library,
        model=args.model,
        model_id=model_id(args.model, weight_set, args.precision),
        kind=kind,
        labels=labels,
        top_k=int(args.top_k),
        segments=bool(args.segments),
        hop_seconds=args.hop_seconds,
        runner=args.runner,
    )


class Progress:
    """A tqdm bar with tracks/s on a terminal, else a logged line every 10 s."""

    def __init__(self, already: int = 0) -> None:
        self.done = 0
        self.failed = 0
        self.already = already
        self.start = time.monotonic()
        self.last = self.start
        self.bar = None
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(unit="track", desc="predict", dynamic_ncols=True)

    def step(self, failed: bool = False) -> None:
        """One more track predicted (or failed)."""
        self.done += 1
        self.failed += int(failed)
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last > 10:
            self.last = now
            logging.getLogger("tfgenre").warning(
                "predict: %d tracks (%.2f tracks/s), %d failed, %d already done",
                self.done,
                self.rate(),
                self.failed,
                self.already,
            )

    def rate(self) -> float:
        """Tracks per second so far."""
        return self.done / max(time.monotonic() - self.start, 1e-9)

    def close(self) -> None:
        """Closes the bar."""
        if self.bar is not None:
            self.bar.close()


def predict_library_cli(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    """Runs library mode for parsed ``predict`` arguments; returns the exit code.

    Args:
        args: Checked arguments (``args.library`` is the output format).
        load: Builds the predictor or tagger of ``--model`` (loads TensorFlow).
    """
    workers = check_workers(1 if args.workers is None else args.workers)
    settings = settings_for(args)
    entries = listing.iter_library(args.paths)
    if args.runner == "beam":
        from tfgenre.inference.library.beam import predict_on_beam

        return predict_on_beam(args, settings, entries)
    out = LibraryOutput(args.output, settings)
    out.check()  # refusals before TensorFlow starts
    first = next(entries, None)  # an empty folder is refused before the model loads
    out.open()
    pending = _Pending(out, entries if first is None else _chain(first, entries))
    if out.replaced:
        sys.stderr.write(f"{out.replaced} file(s) changed since the last run: predicted again\n")
    progress = Progress()
    pool = _early_pool(args, settings, workers)  # workers start while TensorFlow loads
    try:
        predictor = load(args)
        progress.start = progress.last = time.monotonic()  # tracks/s from here
        _predict_into(out, pending, predictor, args, workers, pool, progress)
    finally:
        progress.close()
        if pool is not None:
            pool.close()
    return _finish(args, out, pending, progress)


class _Pending:
    """The library's entries still to predict; skipped and failed files are reported.

    Args:
        out: The output, which records failures and knows the files already done.
        entries: The library's listing.
    """

    def __init__(self, out: LibraryOutput, entries: Iterator[listing.Entry]) -> None:
        self.out = out
        self.entries = entries
        self.failed: list[tuple[str, str]] = []
        self.already = 0

    def fail(self, path: str, stamp: Any, reason: str) -> None:
        """Reports a file that cannot be predicted and records it in the output."""
        sys.stderr.write(f"skipped: {reason if reason.startswith(path) else f'{path}: {reason}'}\n")
        self.failed.append((path, reason))
        self.out.fail(path, stamp, reason)

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(path, stamp)`` of each file to predict: not skipped, not already done."""
        for entry in self.entries:
            if entry.skip is not None:
                self.fail(entry.path, None, entry.skip)
                continue
            try:
                stamp = listing.stamp(entry.path)
            except OSError as err:
                self.fail(entry.path, None, f"cannot stat: {err.strerror or err}")
                continue
            if self.out.is_done(entry.path, stamp):
                self.already += 1
                continue
            yield entry.path, stamp


def _predict_into(
    out: LibraryOutput,
    pending: _Pending,
    predictor: Any,
    args: argparse.Namespace,
    workers: int,
    pool: Any,
    progress: Progress,
) -> None:
    """Predicts the pending files, writing each track's rows as it comes."""
    stall = int(os.environ.get(STALL_ENV) or 0)
    for (path, stamp), result in predict_library(
        predictor, pending.items(), workers=workers, batch_size=args.batch_size, pool=pool
    ):
        if isinstance(result, Failure):
            pending.fail(path, stamp, result.reason)
            progress.step(failed=True)
            continue
        if result.silent:
            sys.stderr.write(
                f"warning: {path}: silent (peak amplitude below 1e-05): its "
                f"{result.kind}s say nothing about it\n"
            )
        out.write(result, stamp)
        progress.step()
        if stall and out.written >= stall:
            while True:  # tests kill the process here
                time.sleep(1)


def _finish(
    args: argparse.Namespace, out: LibraryOutput, pending: _Pending, progress: Progress
) -> int:
    """Closes the output with its counts, reports them; 1 when a file failed, else 0."""
    failed, already = pending.failed, pending.already
    counts = {"predicted": out.written, "already_done": already, "failed": len(failed)}
    out.close(failed, counts)
    sys.stderr.write(
        f"predicted {out.written} file(s) ({progress.rate():.2f} tracks/s), "
        f"{already} already in {args.output}, {len(failed)} failed\n"
    )
    if failed:
        total = out.written + already + len(failed)
        sys.stderr.write(
            f"error: {len(failed)} of {total} file(s) could not be decoded and were skipped "
            f"(listed in {out.state_path})\n"
        )
        return 1
    return 0


def _early_pool(args: argparse.Namespace, settings: Settings, workers: int) -> Any:
    """Decoding processes for a trained run, started before its model loads.

    None for one worker, and for a tagger (its decoder has no start-up worth hiding).
    """
    if workers <= 1 or settings.kind != "genre":
        return None
    from tfgenre.inference.library.parallel import DecodePool
    from tfgenre.inference.predictor import resolve_model_path
    from tfgenre.inference.preparer import WindowPreparer
    from tfgenre.runs.run_info import RunInfo

    run = RunInfo.load(resolve_model_path(args.model)[1])
    return DecodePool(WindowPreparer.for_run(run, args.hop_seconds, args.batch_size), workers)


def _chain(first: listing.Entry, rest: Iterator[listing.Entry]) -> Iterator[listing.Entry]:
    """``first``, then ``rest``."""
    yield first
    yield from rest
