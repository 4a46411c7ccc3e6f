r"""The records writer as an Apache Beam pipeline (optional extra ``tfgenre[beam]``).

The pipeline runs the same (split, shard) units and the same per-track function as the
local runner (:func:`tfgenre.records.writer.run_unit`), so the shards it writes are
byte-identical to the local runner's; :func:`tfgenre.records.writer.write_records`
plans the units before and assembles the manifest after, as for the local runner.

Locally, Beam's DirectRunner in multi-process mode::

    python -m tfgenre.write_records ... --runner beam \
        --beam-options="--direct_num_workers=2 --direct_running_mode=multi_processing"

On a cluster, the output (and the input) must be on storage every worker can reach
(``gs://`` paths go through ``tf.io.gfile``), and every worker needs tfgenre installed:

(write ``--beam-options=...`` with ``=``: a value that starts with ``--`` needs it)

- Dataflow: ``--beam-options="--runner=DataflowRunner --project=P --region=R
  --temp_location=gs://B/tmp --setup_file=./setup.py"`` (or ``--sdk_container_image``).
- Flink: ``--beam-options="--runner=FlinkRunner --flink_master=host:8081
  --environment_type=DOCKER --environment_config=<image with tfgenre>"``.
- Spark: ``--beam-options="--runner=SparkRunner --spark_master_url=spark://host:7077
  --environment_type=DOCKER --environment_config=<image with tfgenre>"``.

A rerun skips the units whose state file exists, as with the local runner.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable, Sequence
from typing import Any

from tfgenre import io
from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

Runner = Callable[[list[Any], Any, list[str]], dict[str, dict[str, Any]]]


def parse_beam_options(options: str | Sequence[str] | None) -> list[str]:
    """Beam pipeline flags from a shell-style string or a list (``--key=value`` each)."""
    if not options:
        return []
    args = shlex.split(options) if isinstance(options, str) else [str(o) for o in options]
    for arg in args:
        if not arg.startswith("--"):
            raise ConfigError(
                f"beam option {arg!r} must be a flag like --runner=DirectRunner "
                f"(Received: beam_options={options!r})"
            )
    return args


def _require_beam() -> Any:
    try:
        import apache_beam as beam
    except ImportError as err:
        raise ConfigError(
            f"runner='beam' needs Apache Beam: pip install 'tfgenre[beam]' (import failed: {err})"
        ) from err
    return beam


def _write_unit_dofn(beam: Any, cfg: Any, labels: list[str]) -> Any:
    """A DoFn that writes one unit and yields its key (the state file is the real output)."""

    class WriteUnit(beam.DoFn):
        def setup(self) -> None:
            from tfgenre.records import writer

            writer._worker_init()

        def process(self, unit: Any) -> Any:
            from tfgenre.records import writer

            writer.run_unit(unit, cfg, labels)
            yield unit.key

    return WriteUnit()


def make_runner(beam_options: str | Sequence[str] | None = None) -> Runner:
    """A ``runner`` for :func:`tfgenre.records.writer.write_records` that uses Beam.

    Args:
        beam_options: Beam pipeline flags, e.g.
            ``"--direct_num_workers=2 --direct_running_mode=multi_processing"``.

    Returns:
        ``runner(units, cfg, labels) -> {unit key: state}``.

    Raises:
        ConfigError: when apache_beam is not installed or an option is not a flag.
    """
    args = parse_beam_options(beam_options)
    beam = _require_beam()

    def runner(units: list[Any], cfg: Any, labels: list[str]) -> dict[str, dict[str, Any]]:
        from apache_beam.options.pipeline_options import PipelineOptions

        from tfgenre.records import writer

        logger.info("beam: %d units, options %s", len(units), args or "(defaults)")
        with beam.Pipeline(options=PipelineOptions(args)) as pipeline:
            _ = (
                pipeline
                | "Units" >> beam.Create(list(units))
                | "Spread" >> beam.Reshuffle()
                | "WriteUnits" >> beam.ParDo(_write_unit_dofn(beam, cfg, list(labels)))
            )
        states = {}
        for unit in units:
            path = writer._state_path(cfg.output, unit)
            if io.exists(path):
                states[unit.key] = json.loads(io.read_text(path))
        return states

    return runner
