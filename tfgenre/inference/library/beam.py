r"""``predict LIBRARY/ --output X --runner beam``: the same rows, written by Apache Beam.

The driver lists the library (as the local runner does) and hands the paths to a
pipeline: ``Create -> Reshuffle -> predict each file -> WriteToText``. Each worker
loads the model once (``DoFn.setup``) and predicts whole files with the code of the
local runner, so the rows are the same; only their order differs. Output:

- ``--output predictions.jsonl``: sharded, ``predictions-00000-of-000NN.jsonl`` (the
  runner picks NN);
- ``--output predictions.csv``: one file with the header (``num_shards=1``).

Files that cannot be decoded go to ``<output>.failed.jsonl`` (read back by the driver,
named on stderr, counted, listed in ``<output>.state.json``; exit 1). There is no
resume: a rerun predicts everything again and replaces the files its earlier run wrote
(those listed in its state file); a file of the output's name that tfgenre did not
write is refused, as are other settings. Options go through ``--beam-options``
(:func:`tfgenre.records.beam.parse_beam_options`), as for ``write_records``::

    python -m tfgenre.predict music/ --model runs/demo --output preds.jsonl --runner beam \
        --beam-options="--runner=DataflowRunner --project=P --region=R \
        --temp_location=gs://B/tmp --setup_file=./setup.py"

On a cluster the library, the run folder and the output must be on storage every worker
reads (``gs://``...), and every worker needs tfgenre installed (see
:mod:`tfgenre.records.beam` for Flink and Spark).
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from typing import Any

from tfgenre.core import io
from tfgenre.errors import ConfigError
from tfgenre.inference.library.listing import Entry
from tfgenre.inference.library.sink import WRITTEN_BY, Settings, csv_text
from tfgenre.inference.prediction_formats import csv_header, csv_rows

logger = logging.getLogger(__name__)


def _glob(pattern: str) -> list[str]:
    if io.is_remote(pattern):
        import tensorflow as tf

        return sorted(tf.io.gfile.glob(pattern))
    return sorted(glob.glob(pattern))


def output_pattern(output: str, fmt: str) -> tuple[str, str, int, str]:
    """``(prefix, suffix, num_shards, shard template)`` for WriteToText."""
    root, ext = os.path.splitext(output)
    if fmt == "csv":
        return output, "", 1, ""
    return root, ext, 0, "-SSSSS-of-NNNNN"


def _existing_outputs(output: str, fmt: str) -> list[str]:
    prefix, suffix, _, template = output_pattern(output, fmt)
    found = _glob(f"{prefix}-*-of-*{suffix}") if template else []
    return sorted({*found, *[p for p in (output,) if io.exists(p)]})


def _check(output: str, settings: Settings) -> dict[str, Any] | None:
    """The earlier state of this output, after refusing foreign files or other settings."""
    state_path = output + ".state.json"
    existing = _existing_outputs(output, settings.format)
    if not io.exists(state_path):
        if existing:
            raise ConfigError(
                f"--output {output!r}: {existing[0]!r} exists and was not written by "
                f"tfgenre.predict (no {os.path.basename(state_path)}); refusing to replace it"
            )
        return None
    try:
        state = json.loads(io.read_text(state_path))
    except ValueError as err:
        raise ConfigError(f"{state_path!r} is not a tfgenre state file ({err})") from err
    if not isinstance(state, dict) or state.get("written_by") != WRITTEN_BY:
        raise ConfigError(f"{state_path!r} was not written by {WRITTEN_BY}; refusing")
    diffs = settings.differences(state.get("settings") or {})
    if diffs:
        raise ConfigError(
            f"--output {output!r} was written with other settings; refusing to mix rows: "
            f"{'; '.join(diffs)} (give another --output, or the same settings)"
        )
    ours = set(state.get("files") or [])
    foreign = [p for p in existing if os.path.basename(p) not in ours]
    if foreign:
        raise ConfigError(
            f"--output {output!r}: {foreign[0]!r} was not written by the earlier run "
            "(not in its state file); refusing to replace it"
        )
    return state


def _predict_dofn(beam: Any, model_args: dict[str, Any], settings: Settings) -> Any:
    """A DoFn: path -> its rows' text (main output) or a failure line (``failed``)."""

    class PredictFile(beam.DoFn):
        def setup(self) -> None:
            from tfgenre.inference.model_loader import load_predictor

            self.predictor = load_predictor(**model_args)

        def process(self, path: str) -> Any:
            from tfgenre.errors import AudioDecodeError

            try:
                r = self.predictor.predict_file(path)
            except AudioDecodeError as err:
                yield beam.pvalue.TaggedOutput("failed", json.dumps([path, str(err)]))
                return
            if settings.format == "jsonl":
                yield json.dumps(r.to_json(settings.top_k, settings.segments))
            else:
                yield csv_text(csv_rows(r, settings.k, settings.segments)).rstrip("\n")

    return PredictFile()


def predict_on_beam(args: argparse.Namespace, settings: Settings, entries: Iterable[Entry]) -> int:
    """Runs the Beam pipeline for ``predict --runner beam``; returns the exit code."""
    from tfgenre.records.beam import _require_beam, parse_beam_options

    options = parse_beam_options(args.beam_options)
    beam = _require_beam()
    output = args.output
    state = _check(output, settings)
    paths, failed = _split_entries(entries)
    if state is not None:  # this output's earlier files: ours (checked above), replaced
        _remove_files(output, state)
    model_args = {
        "model": args.model,
        "hop_seconds": args.hop_seconds,
        "batch_size": args.batch_size,
        "precision": args.precision,
    }
    started = time.monotonic()
    logger.info("beam: %d files, options %s", len(paths), options or "(defaults)")
    _run_pipeline(beam, options, paths, output, settings, model_args)
    seconds = time.monotonic() - started
    skipped = len(failed)
    failed += _read_failed(output + ".failed.jsonl")
    files = [os.path.basename(p) for p in _existing_outputs(output, settings.format)]
    done = len(paths) - (len(failed) - skipped)
    _write_state(output, settings, files, done, failed)
    sys.stderr.write(
        f"predicted {done} file(s) on Beam in {seconds:.1f} s into {', '.join(files)}, "
        f"{len(failed)} failed\n"
    )
    if failed:
        sys.stderr.write(
            f"error: {len(failed)} of {len(paths) + skipped} file(s) "
            "could not be decoded and were skipped\n"
        )
        return 1
    return 0


def _split_entries(entries: Iterable[Entry]) -> tuple[list[str], list[tuple[str, str]]]:
    """The paths to predict, and the skipped entries as ``(path, reason)`` (reported)."""
    failed: list[tuple[str, str]] = []
    paths: list[str] = []
    for entry in entries:
        if entry.skip is not None:
            sys.stderr.write(f"skipped: {entry.path}: {entry.skip}\n")
            failed.append((entry.path, entry.skip))
        else:
            paths.append(entry.path)
    return paths, failed


def _remove_files(output: str, state: dict[str, Any]) -> None:
    """Removes the files an earlier run into ``output`` listed in its state."""
    folder = os.path.dirname(output)
    for name in state.get("files") or []:
        if io.exists(io.join(folder, name) if folder else name):
            io.remove(io.join(folder, name) if folder else name)


def _run_pipeline(
    beam: Any,
    options: list[str],
    paths: list[str],
    output: str,
    settings: Settings,
    model_args: dict[str, Any],
) -> None:
    """Predicts ``paths`` on Beam.

    Rows go into ``output``'s shards, failures into ``<output>.failed.jsonl``.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    prefix, suffix, shards, template = output_pattern(output, settings.format)
    header = ",".join(csv_header(settings.kind, settings.k)) if settings.format == "csv" else None
    with beam.Pipeline(options=PipelineOptions(options)) as pipeline:
        results = (
            pipeline
            | "Files" >> beam.Create(paths)
            | "Spread" >> beam.Reshuffle()
            | "Predict"
            >> beam.ParDo(_predict_dofn(beam, model_args, settings)).with_outputs(
                "failed", main="rows"
            )
        )
        _ = results.rows | "WriteRows" >> beam.io.WriteToText(
            prefix,
            file_name_suffix=suffix,
            num_shards=shards,
            shard_name_template=template,
            header=header,
        )
        _ = results.failed | "WriteFailed" >> beam.io.WriteToText(
            output + ".failed", file_name_suffix=".jsonl", num_shards=1, shard_name_template=""
        )


def _read_failed(failed_file: str) -> list[tuple[str, str]]:
    """The files the pipeline could not predict, reported, and their file removed."""
    failed: list[tuple[str, str]] = []
    if io.exists(failed_file):
        for line in io.read_text(failed_file).splitlines():
            if line.strip():
                path, reason = json.loads(line)
                sys.stderr.write(f"skipped: {reason}\n")
                failed.append((path, reason))
        io.remove(failed_file)
    return failed


def _write_state(
    output: str,
    settings: Settings,
    files: list[str],
    done: int,
    failed: list[tuple[str, str]],
) -> None:
    """``<output>.state.json``: the finished run's files, settings, counts and failures."""
    state_out = {
        "written_by": WRITTEN_BY,
        "state_version": 1,
        "output": os.path.basename(output),
        "files": files,
        "settings": settings.to_json(),
        "finished": True,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": {"predicted": done, "failed": len(failed)},
        "failed": [{"path": p, "reason": r} for p, r in failed],
    }
    io.write_text_atomic(output + ".state.json", json.dumps(state_out, indent=2) + "\n")
