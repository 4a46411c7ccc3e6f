"""``python -m tfgenre.serve --model RUN|musicnn_msd``: a local web page and HTTP API.

Loads each ``--model`` once (a run folder written by ``tfgenre.fit``, a ``.keras`` file
in one, or a published tag weight set such as ``musicnn_msd``), runs one warm-up
inference on each so the first request is as fast as the next, prints
``serving on http://HOST:PORT/`` and serves until Ctrl-C or SIGTERM (a clean shutdown,
exit 0). Binds 127.0.0.1 unless ``--host`` says otherwise; ``--port 0`` takes a free
port (the printed URL gives it).

The page is at ``/``; the API (``/api/predict``, ``/api/models``, ``/healthz``) is
described by ``/openapi.json`` and ``/docs`` (see :mod:`tfgenre.webapp.app`).
``/api/predict`` answers the object ``predict --format json`` gives for the file.

Limits: ``--max-upload-mb`` (413 beyond, refused while the upload streams in),
``--max-seconds`` of audio (422), ``--workers`` inferences at once and ``--queue``
more waiting (503 with Retry-After beyond). Every flag and ``--model`` is checked
before TensorFlow starts (exit 2, naming the value and the rule).

Examples:
    python -m tfgenre.serve --model musicnn_msd
    python -m tfgenre.serve --model runs/demo --model musicnn_msd --port 8080
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import Any

from tfgenre.core import cli
from tfgenre.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    from tfgenre.webapp.limits import default_workers

    p = argparse.ArgumentParser(
        prog="python -m tfgenre.serve",
        description="Serve a web page and an HTTP API that predict genres (a trained run) "
        "or tags (a published weight set) of uploaded audio files.",
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="RUN_DIR|WEIGHT_SET",
        help="run folder (or a .keras file in one), or a published weight set (musicnn_msd, "
        "...; see `python -m tfgenre.predict --list-models`); repeatable",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free port)")
    p.add_argument(
        "--max-upload-mb", type=float, default=50.0, help="largest upload in MB (default 50)"
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=900.0,
        help="longest audio accepted, in seconds (default 900 = 15 min)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"inferences at once (default: the cores, here {default_workers()})",
    )
    p.add_argument(
        "--queue",
        type=int,
        default=None,
        help="requests that may wait beyond --workers before 503 (default 2 x --workers)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def limits_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~tfgenre.webapp.limits.ServeLimits` of the flags.

    Raises:
        ConfigError: naming the first flag that breaks a rule.
    """
    import math

    from tfgenre.webapp.limits import ServeLimits, default_workers

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port={args.port} must be in 0..65535")
    if not (math.isfinite(args.max_upload_mb) and args.max_upload_mb > 0):
        raise ConfigError(f"--max-upload-mb={args.max_upload_mb} must be > 0")
    if not (math.isfinite(args.max_seconds) and args.max_seconds > 0):
        raise ConfigError(f"--max-seconds={args.max_seconds} must be > 0")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers={args.workers} must be >= 1")
    if args.queue is not None and args.queue < 0:
        raise ConfigError(f"--queue={args.queue} must be >= 0")
    if not args.host.strip():
        raise ConfigError(f"--host={args.host!r} must name an address")
    workers = args.workers if args.workers is not None else default_workers()
    return ServeLimits(
        max_upload_bytes=max(1, int(args.max_upload_mb * 1024 * 1024)),
        max_seconds=float(args.max_seconds),
        workers=workers,
        queue=args.queue if args.queue is not None else 2 * workers,
    )


def _stop_on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _main(args: argparse.Namespace) -> int:
    from tfgenre.webapp.served import check_model_argument

    limits = limits_from_args(args)
    for model in args.model:
        check_model_argument(model)
    from tfgenre.webapp.app import bind_socket, create_app, run_server, socket_url

    sock = bind_socket(args.host, args.port)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)  # also while loading
    try:
        from tfgenre.webapp.served import load_models

        models = load_models(args.model)
        app = create_app(models, limits)
        url = socket_url(sock, args.host)

        def started() -> None:
            sys.stdout.write(f"serving on {url}\n")
            sys.stdout.flush()

        run_server(app, sock, on_started=started, log_level=args.log_level)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    sys.stderr.write("stopped\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 after Ctrl-C or SIGTERM)."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
