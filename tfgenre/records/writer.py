"""The sharded TFRecord writer: tracks -> segments -> views -> shards + manifest.

:func:`write_records` runs a write in four steps, each in a module of its own:

1. plan (:mod:`~tfgenre.records.plan`): list, label and split the tracks, and cut them
   into units of one (split, shard); units whose state file exists are done;
2. execute (:mod:`~tfgenre.records.executors`): an executor writes the pending units:
   each track is decoded and every view computed once
   (:mod:`~tfgenre.records.compute`), and each unit's shards are written as
   ``*.incomplete``, renamed when complete, then its state file
   (:mod:`~tfgenre.records.shards`);
3. assemble (:mod:`~tfgenre.records.assemble`): the manifest (and ``features.csv``)
   from the state files;
4. check the skip fraction.

A rerun skips units whose state file exists, so a killed job resumes where it stopped,
and since each unit's bytes depend only on its tracks and the config, the result is
byte-identical to an uninterrupted write whatever the executor and its number of
workers. :mod:`~tfgenre.records.output` guards the output folder.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter

from tfgenre.core import config, io
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.records.assemble import assemble_manifest, write_features_csv
from tfgenre.records.executors import Executor, LocalExecutor
from tfgenre.records.info import RecordsInfo
from tfgenre.records.output import prepare_output
from tfgenre.records.plan import Plan, make_units, pending_units, plan, read_states
from tfgenre.records.writer_config import WriterConfig

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """What a write produced.

    Attributes:
        output: The records folder.
        info: The records' RecordsInfo, as written to manifest.json.
        units_total: Units of the write (one per split and shard).
        units_written: Units written by this call (the others were done before).
        seconds: Wall time of the call.
    """

    output: str
    info: RecordsInfo
    units_total: int
    units_written: int
    seconds: float


def write_records(
    cfg: WriterConfig,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
    executor: Executor | None = None,
) -> WriteResult:
    """Runs the whole job: plan, write missing units, assemble the manifest.

    Args:
        cfg: Resolved writer config.
        overwrite: Replace records of another config in ``cfg.output``.
        progress: Show a tqdm bar (default: when stderr is a terminal); for the default
            executor only.
        executor: Who writes the pending units (e.g.
            :class:`tfgenre.records.beam.BeamExecutor`); default: a
            :class:`~tfgenre.records.executors.LocalExecutor` of ``cfg.workers``.

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
    # One writer per folder: a second one, with another config or the same, would mix
    # its shards and states with ours (the lock goes with the process, kill -9 too).
    with io.folder_lock(cfg.output, "write_records"):
        return _write_locked(cfg, planned, overwrite, progress, executor, start)


def _write_locked(
    cfg: WriterConfig,
    planned: Plan,
    overwrite: bool,
    progress: bool | None,
    executor: Executor | None,
    start: float,
) -> WriteResult:
    """:func:`write_records` once the output folder's lock is held."""
    content_hash = config.config_hash(cfg.content_dict())
    prepare_output(cfg, content_hash, overwrite)
    units = make_units(planned.tracks, cfg.shards)
    pending = pending_units(cfg.output, units)
    logger.info(
        "%d tracks in %d units (%d to write, %d done before)",
        len(planned.tracks),
        len(units),
        len(pending),
        len(units) - len(pending),
    )
    if pending:
        executor = executor or LocalExecutor(cfg.workers, progress=progress)
        executor.execute(pending, cfg, planned.labels)
    states = read_states(cfg.output, units)
    info = assemble_manifest(
        cfg,
        units,
        states,
        planned.labels,
        planned.policy,
        planned.skipped,
        content_hash,
        protocol=planned.protocol,
        excluded=planned.excluded,
    )
    if "features" in cfg.views:
        write_features_csv(cfg, units, states, list(info.views["features"].feature_names or ()))
    info.write(cfg.output)
    seconds = time.perf_counter() - start
    check_skips(info, cfg.max_skip_fraction)
    return WriteResult(cfg.output, info, len(units), len(pending), seconds)


def check_skips(info: RecordsInfo, max_skip_fraction: float) -> None:
    """Fails when the records' skip fraction passes ``max_skip_fraction``.

    Args:
        info: The records as written (``counts`` and ``skipped``).
        max_skip_fraction: The most skips allowed, as a fraction of the inputs.

    Raises:
        RecordsError: naming the fraction, the limit and the reasons, most common first.
    """
    c = info.counts
    if c is None or c.skip_fraction <= max_skip_fraction:
        return
    reasons = Counter(s.reason.split(":")[0] for s in info.skipped)
    summary = ", ".join(f"{k}: {v}" for k, v in reasons.most_common())
    raise RecordsError(
        f"{c.skipped} of {c.inputs} inputs skipped "
        f"({c.skip_fraction:.1%} > max_skip_fraction={max_skip_fraction:g}); "
        f"reasons: {summary}. The records that were written and the manifest, which "
        "lists every skip, are kept."
    )
