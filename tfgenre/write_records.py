"""``python -m tfgenre.write_records``: labelled audio -> sharded TFRecords + manifest.

Example:
    python -m tfgenre.write_records --source gtzan --input data/genres \
        --output records/gtzan --views raw,mel,features --window-seconds 3 \
        --splits train=0.8,validation=0.1,test=0.1 --shards 8 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tfgenre.core import cli, config
from tfgenre.core.framing import DEFAULT_SAMPLE_RATE
from tfgenre.pipelines.sections import writer_section
from tfgenre.pipelines.stages import stage
from tfgenre.splitting import split_checks

if TYPE_CHECKING:  # imported where used, so that --help starts fast (numpy, sources, views)
    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.writer_config import WriterConfig


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.write_records",
        description="Write labelled audio as sharded TFRecords (raw, mel, features views).",
    )
    p.add_argument("--source", help="gtzan | fma | folder | csv | synthetic")
    p.add_argument("--input", help="the source's root folder (or CSV file for --source csv)")
    p.add_argument("--output", help="records folder (local or gs://)")
    p.add_argument("--views", help="comma-separated: raw,mel,features,embeddings")
    p.add_argument(
        "--window-seconds", type=float, help="segment length; 0 = one segment per whole track"
    )
    p.add_argument("--hop-seconds", type=float, help="hop between segments (default = window)")
    p.add_argument(
        "--sample-rate", type=int, help=f"target sample rate in Hz (default {DEFAULT_SAMPLE_RATE})"
    )
    p.add_argument("--splits", help="e.g. train=0.8,validation=0.1,test=0.1 (zeros allowed)")
    p.add_argument("--shards", type=int, help="shards per split")
    p.add_argument("--workers", type=int, help="processes (default: all cores)")
    cli.add_runner_flags(
        p, "local processes (default) or an Apache Beam pipeline (pip install tfgenre[beam])"
    )
    p.add_argument("--seed", type=int, help="split seed")
    p.add_argument("--limit-per-split", type=int, help="at most N tracks per split")
    p.add_argument("--max-skip-fraction", type=float, help="fail past this skip fraction")
    p.add_argument("--overwrite", action="store_true", help="replace records of another config")
    p.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    cli.add_config_flags(p)
    return p


def resolve_config(args: argparse.Namespace) -> WriterConfig:
    """Defaults, then --config, then the dedicated flags, then --set."""
    from tfgenre.records.writer_config import WriterConfig
    from tfgenre.splitting.splits import parse_fractions

    flags = {
        "source": args.source,
        "input": args.input,
        "output": args.output,
        "views": args.views,
        "audio.window_seconds": args.window_seconds,
        "audio.hop_seconds": args.hop_seconds,
        "audio.sample_rate": args.sample_rate,
        "splits": parse_fractions(args.splits) if args.splits else None,
        "shards": args.shards,
        "workers": args.workers,
        "seed": args.seed,
        "limit_per_split": args.limit_per_split,
        "max_skip_fraction": args.max_skip_fraction,
    }
    return config.resolve(
        WriterConfig,
        config_path=args.config,
        stage="write_records",
        overrides=args.overrides,
        flags=flags,
    )


def summarize(info: RecordsInfo) -> str:
    """A short human summary of a records folder's manifest."""
    views = ", ".join(f"{name} {v.dtype}{tuple(v.shape)}" for name, v in info.views.items())
    lines = [f"labels ({len(info.labels)}): {', '.join(info.labels)}", f"views: {views}"]
    for split, s in info.splits.items():
        lines.append(
            f"{split:>10}: {s.num_tracks} tracks, {s.num_examples} examples, "
            f"{s.num_bytes / 1e6:.1f} MB in {len(s.shards)} shard files"
        )
    c = info.counts
    if c is not None:
        lines.append(
            f"inputs {c.inputs}, written {c.written}, skipped {c.skipped}, padded {c.padded}"
        )
    lines += [f"WARNING: {line}" for line in split_warnings(info)]
    for skip in info.skipped[:10]:
        lines.append(f"  skipped {skip.path}: {skip.reason}")
    if len(info.skipped) > 10:
        lines.append(f"  ... and {len(info.skipped) - 10} more (see manifest.json)")
    return "\n".join(lines)


def split_warnings(info: RecordsInfo) -> list[str]:
    """Asked-for splits that came out empty, and the labels each split lacks."""
    present = split_checks.records_label_sets(info)
    lines = split_checks.empty_split_lines(info)
    missing = split_checks.missing_labels(info.labels, present)
    lines += split_checks.missing_label_lines(info.labels, missing)
    hint = split_checks.small_labels_line(info) if missing else None
    if hint:
        lines.append(hint)
    others = [name for name in present if name != "train"]
    if split_checks.train_gaps(present, "train", others):
        lines.append(
            "fit refuses to train on these records while 'train' lacks a label another "
            f"split has (pass {split_checks.ALLOW_FLAG} to train anyway)"
        )
    return lines


def _main(args: argparse.Namespace) -> int:
    from tfgenre.records.executors import resolve_workers
    from tfgenre.records.writer import write_records

    cfg = resolve_config(args)
    if args.dry_run:
        cli.print_config(config.to_dict(cfg))
        return 0
    if not cfg.input or not cfg.output:
        raise config.ConfigError("--input and --output are required (or set them in --config)")
    executor = None
    if args.runner == "beam":
        from tfgenre.records.beam import BeamExecutor

        executor = BeamExecutor(args.beam_options)
    elif args.beam_options:
        raise config.ConfigError("--beam-options needs --runner beam")
    result = write_records(
        cfg,
        overwrite=args.overwrite,
        progress=False if args.no_progress else None,
        executor=executor,
    )
    sys.stdout.write(
        f"wrote {cfg.output} in {result.seconds:.1f} s "
        f"({result.units_written} of {result.units_total} shards written this run, "
        f"{resolve_workers(cfg.workers)} workers)\n"
    )
    sys.stdout.write(summarize(result.info) + "\n")
    return 0


@stage("write_records", check=writer_section)
def _write_records_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """The pipeline's ``write_records:`` step."""
    from tfgenre.records.writer import write_records

    cfg, overwrite = writer_section(section, pipeline)
    result = write_records(cfg, overwrite=overwrite)
    sys.stdout.write(f"[write_records] {cfg.output}\n{summarize(result.info)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = cli.parse(build_parser(), argv)
    return cli.run(_main, args)


if __name__ == "__main__":
    sys.exit(main())
