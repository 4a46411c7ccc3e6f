"""``python -m tfgenre.predict PATH... --model RUN``: the genres of audio files.

Takes files or folders (searched recursively) of wav/au/flac/ogg/mp3 of any length,
sample rate or channel count. Each file is decoded to mono at the model's rate, cut
into the model's windows, and the top-k genres are given with their probabilities
averaged over the windows; ``--segments`` adds the per-window timeline.

Files that cannot be decoded are reported on stderr and skipped; the exit code is then
1 (0 when every file was predicted, 2 for a usage error). Every path, ``--model`` and
the folder of ``--output`` are checked before TensorFlow starts: a missing one gives
``error: file not found: PATH`` at once.

Output formats:
    table  one line per file (and per segment with ``--segments``), for people;
    json   a list of ``{"path", "genres": [[label, probability], ...], "duration_seconds",
           "num_segments", "padded", "silent"}`` (+ ``"segments": [{"start_seconds",
           "end_seconds", "genres"}]``);
    csv    one row per file (``level=track``) and per segment (``level=segment``):
           path, level, segment, start_seconds, end_seconds, padded, silent, genre_1,
           probability_1, ...

A silent file (peak amplitude below 1e-5, which the records writer skips) is still
predicted, flagged ``silent`` and named in a warning on stderr.

Tags without training: when ``--model`` names a published weight set (``musicnn_mtt``,
``musicnn_msd``, ``vgg_mtt``, ``vgg_msd``; see ``--list-models``) rather than a path,
each file is decoded to mono 16 kHz, cut into the backbone's 3-s patches and tagged
(:mod:`tfgenre.inference.tagging`): the layouts above, with the 50 tags as labels (JSON key
``tags``, CSV columns ``tag_1``...) and, with ``--segments``, the taggram over time.

A whole library: an ``--output`` ending ``.csv``, ``.jsonl`` or ``.parquet`` writes
rows as files finish (CSV: the columns above; JSONL: one JSON object per line, as in
the JSON list), resumes on a rerun (files already in it, by path + size + mtime, are
skipped), decodes with ``--workers N`` processes (0 = one per core) feeding batched
inference, or runs on Apache Beam with ``--runner beam --beam-options=...``
(:mod:`tfgenre.inference.library`).

Examples:
    python -m tfgenre.predict song.mp3 music/ --model runs/demo --top-k 3 --segments
    python -m tfgenre.predict music/ --model runs/demo --output preds.jsonl --workers 0
    python -m tfgenre.predict song.mp3 --model musicnn_msd --top-k 5 --segments
    python -m tfgenre.predict --list-models
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from tfgenre.backbones.precision import PRECISIONS
from tfgenre.core import cli
from tfgenre.errors import ConfigError
from tfgenre.inference.prediction_formats import FORMATS, FORMATTERS


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.predict",
        description="Predict the genres of audio files (or their tags, with a pretrained model).",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="audio files or folders")
    p.add_argument(
        "--model",
        help="run folder (or a .keras file inside one), or a published weight set for "
        "tags (musicnn_msd, ...; see --list-models)",
    )
    p.add_argument(
        "--list-models",
        action="store_true",
        help="list the published weight sets (licences, training data) and exit",
    )
    p.add_argument("--top-k", type=int, default=3, help="labels to list per file (default 3)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default table; an --output ending .csv/.jsonl/.parquet sets it)",
    )
    p.add_argument("--segments", action="store_true", help="also give the per-segment timeline")
    p.add_argument(
        "--hop-seconds",
        type=float,
        default=None,
        help="distance between window starts (default: the run's hop; for tags: 2.992 s)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="windows per model call")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="with a published weight set: bfloat16 runs the network in mixed bfloat16 "
        "(faster on CPUs with AVX-512 BF16 or AMX, refused elsewhere; tags drift slightly "
        "from float32's, the default)",
    )
    p.add_argument(
        "--output",
        help="write the results to this file instead of stdout; a name ending .csv, .jsonl "
        "or .parquet writes rows as files finish and resumes on a rerun (library mode)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="library mode: decoding processes (0 = one per core; default 1)",
    )
    cli.add_runner_flags(p, "library mode: this machine (default) or an Apache Beam pipeline")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """PATH and ``--model`` are required unless ``--list-models`` (exits 2 with the usage)."""
    if args.list_models:
        return
    missing = [what for what, given in (("PATH", args.paths), ("--model", args.model)) if not given]
    if missing:
        parser.error(
            f"the following arguments are required: {', '.join(missing)} "
            "(or give --list-models alone)"
        )


def check_arguments(args: argparse.Namespace) -> None:
    """Checks the inputs and the output path before anything is loaded.

    Every input path and ``--model`` must exist, and ``--output`` must name a file in
    an existing folder, so that a typo is reported at once rather than after
    TensorFlow has started and the model has been loaded.

    Raises:
        ConfigError: naming the first path that breaks a rule.
    """
    from tfgenre.backbones.weights import find_weights
    from tfgenre.core import io
    from tfgenre.inference import tagging
    from tfgenre.inference.predictor import resolve_model_path

    if args.top_k < 1:
        raise ConfigError(f"--top-k={args.top_k} must be >= 1")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size={args.batch_size} must be >= 1")
    if args.hop_seconds is not None and not args.hop_seconds > 0:
        raise ConfigError(f"--hop-seconds={args.hop_seconds} must be > 0")
    check_library_flags(args)
    missing = [p for p in args.paths if not io.exists(p)]
    if missing:
        raise ConfigError(f"file not found: {', '.join(missing)}")
    if io.exists(args.model):
        resolve_model_path(args.model)
        if args.precision != "float32":
            raise ConfigError(
                f"--precision={args.precision} applies to a published weight set (--model "
                f"musicnn_msd, ...); the run folder {args.model!r} predicts in float32"
            )
    elif tagging.is_weight_set(args.model):
        from tfgenre.backbones.precision import check_precision

        check_precision(args.precision, "--precision")
        find_weights(args.model)  # the musicnn package is installed
    else:
        raise tagging.unknown_model_error(args.model)
    if args.output and not io.is_remote(args.output):
        folder = os.path.dirname(os.path.abspath(args.output))
        if os.path.isdir(args.output):
            raise ConfigError(f"--output {args.output!r} is a folder; give a file name")
        io.check_output_folder(folder, "the folder of --output")
        if not os.path.isdir(folder):
            raise ConfigError(f"--output {args.output!r}: the folder {folder!r} does not exist")


def check_library_flags(args: argparse.Namespace) -> None:
    """Sets ``args.format`` and ``args.library`` and checks the library-mode flags.

    Raises:
        ConfigError: a flag that needs library mode without it, a --format that
            contradicts the extension, a bad --workers, or beam options without beam.
    """
    from tfgenre.core import io
    from tfgenre.inference.library.parallel import check_workers
    from tfgenre.inference.library.sink import EXTENSIONS, output_format, require_parquet

    fmt = output_format(args.output)
    args.library = fmt
    if args.workers is not None:
        check_workers(args.workers)
    if args.beam_options and args.runner != "beam":
        raise ConfigError(
            f"--beam-options needs --runner beam. Received: beam_options={args.beam_options!r}"
        )
    if fmt is None:
        for flag, given in (
            ("--workers", args.workers not in (None, 1)),
            ("--runner beam", args.runner == "beam"),
        ):
            if given:
                raise ConfigError(
                    f"{flag} needs --output ending in {', '.join(EXTENSIONS)} (library mode). "
                    f"Received: output={args.output!r}"
                )
        args.format = args.format or "table"
        return
    if args.format is not None and not (args.format == "csv" == fmt):
        raise ConfigError(
            f"--output {args.output!r} writes {fmt} rows (the extension sets the format); "
            f"drop --format. Received: format={args.format!r}"
        )
    args.format = fmt
    if fmt == "parquet":
        require_parquet()
        if args.runner == "beam":
            raise ConfigError(
                "--runner beam writes .csv or .jsonl (sharded); convert them to Parquet "
                f"afterwards. Received: output={args.output!r}"
            )
    if args.runner == "local" and io.is_remote(args.output):
        raise ConfigError(
            f"--output {args.output!r}: the local runner writes local files; use --runner "
            "beam for remote storage"
        )


def _load(args: argparse.Namespace) -> Any:
    """The predictor of ``--model``: a genre Predictor, or a Tagger for a weight set."""
    from tfgenre.inference.model_loader import load_predictor

    return load_predictor(
        args.model,
        hop_seconds=args.hop_seconds,
        batch_size=args.batch_size,
        precision=args.precision,
    )


def _main(args: argparse.Namespace) -> int:
    from tfgenre.inference.audio_files import list_audio_files

    if args.list_models:
        from tfgenre.inference.tagging import format_weight_sets, list_weight_sets

        sys.stdout.write(format_weight_sets(list_weight_sets()))
        return 0
    check_arguments(args)
    if args.library:
        from tfgenre.inference.library.driver import predict_library_cli

        return predict_library_cli(args, _load)
    files, unsupported = list_audio_files(args.paths)
    for path, reason in unsupported:
        sys.stderr.write(f"skipped: {path}: {reason}\n")
    predictor = _load(args)
    bar = None
    if sys.stderr.isatty() and len(files) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), unit="file", desc="predict")
    last = [time.monotonic()]

    def step(n: int) -> None:
        if bar is not None:
            bar.update(1)
        elif time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            cli.logger.warning("predict: %d/%d files", n, len(files))

    results, failed = predictor.predict_files(
        files, on_skip=lambda err: sys.stderr.write(f"skipped: {err}\n"), on_step=step
    )
    if bar is not None:
        bar.close()
    for r in results:
        if r.silent:
            sys.stderr.write(
                f"warning: {r.path}: silent (peak amplitude below 1e-05): its "
                f"{r.kind}s say nothing about it (the records writer skips such files)\n"
            )
    text = FORMATTERS[args.format](results, args.top_k, args.segments)
    if args.output:
        from tfgenre.core import io

        io.write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if failed or unsupported:
        total = len(files) + len(unsupported)
        sys.stderr.write(
            f"error: {len(failed) + len(unsupported)} of {total} file(s) could not be decoded "
            "and were skipped\n"
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (1 when some files failed)."""
    parser = build_parser()
    args = cli.parse(parser, argv)
    check_usage(parser, args)
    return cli.run(_main, args)


if __name__ == "__main__":
    sys.exit(main())
