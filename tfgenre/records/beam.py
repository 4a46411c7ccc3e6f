r"""The records writer as an Apache Beam pipeline (optional extra ``tfgenre[beam]``).

:class:`BeamExecutor` writes the same (split, shard) units with the same function as
the local executor (:func:`tfgenre.records.shards.write_unit`), so the shards it writes
are byte-identical to the local executor's; :func:`tfgenre.records.writer.write_records`
plans the units before and assembles the manifest after, as for the local executor.

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

A rerun skips the units whose state file exists, as with the local executor.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from typing import Any

from tfgenre.core import io
from tfgenre.errors import ConfigError
from tfgenre.records.executors import init_worker, warm_compiled_code
from tfgenre.records.plan import Unit, read_state, state_path
from tfgenre.records.shards import write_unit
from tfgenre.records.unit_state import UnitState
from tfgenre.records.writer_config import WriterConfig

logger = logging.getLogger(__name__)


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


def _write_unit_dofn(beam: Any, cfg: WriterConfig, labels: list[str]) -> Any:
    """A DoFn that writes one unit and yields its key (the state file is the real output)."""

    class WriteUnit(beam.DoFn):
        def setup(self) -> None:
            init_worker()

        def process(self, unit: Unit) -> Any:
            write_unit(unit, cfg, labels)
            yield unit.key

    return WriteUnit()


class BeamExecutor:
    """An executor for :func:`tfgenre.records.writer.write_records` that uses Beam.

    Args:
        beam_options: Beam pipeline flags, e.g.
            ``"--direct_num_workers=2 --direct_running_mode=multi_processing"``.

    Raises:
        ConfigError: when apache_beam is not installed or an option is not a flag.
    """

    def __init__(self, beam_options: str | Sequence[str] | None = None) -> None:
        self.args = parse_beam_options(beam_options)
        self.beam = _require_beam()

    def execute(
        self, units: list[Unit], cfg: WriterConfig, labels: list[str]
    ) -> dict[str, UnitState]:
        """Writes ``units`` in one Beam pipeline; returns the state of each, by unit key."""
        from apache_beam.options.pipeline_options import PipelineOptions

        beam = self.beam
        warm_compiled_code(cfg)  # the workers must find the numba cache warm
        logger.info("beam: %d units, options %s", len(units), self.args or "(defaults)")
        with beam.Pipeline(options=PipelineOptions(self.args)) as pipeline:
            _ = (
                pipeline
                | "Units" >> beam.Create(list(units))
                | "Spread" >> beam.Reshuffle()
                | "WriteUnits" >> beam.ParDo(_write_unit_dofn(beam, cfg, list(labels)))
            )
        states = {}
        for unit in units:
            path = state_path(cfg.output, unit)
            if io.exists(path):
                states[unit.key] = read_state(path, unit)
        return states
