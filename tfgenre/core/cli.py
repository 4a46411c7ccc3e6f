"""Shared pieces of the command-line entry points: common flags, logging, exit codes.

Exit codes: 0 success, 1 a job failed (``TfgenreError``, or a file-system error such
as a folder that is a file or a path that cannot be written), 2 a usage error
(``ConfigError`` or a bad flag), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from tfgenre.errors import ConfigError, TfgenreError

logger = logging.getLogger("tfgenre")


def add_config_flags(
    parser: argparse.ArgumentParser,
    *,
    config_help: str = "pipeline or config YAML file",
    set_help: str = "override a config key, e.g. --set mel.n_mels=64 (repeatable)",
) -> None:
    """Adds ``--config``, ``--set``, ``--dry-run`` and ``--log-level``."""
    parser.add_argument("--config", metavar="YAML", help=config_help)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=set_help
    )
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def add_runner_flags(p: argparse.ArgumentParser, local_help: str) -> None:
    """``--runner local|beam`` and ``--beam-options``, as write_records and predict take them.

    Args:
        p: The command's parser.
        local_help: The ``--runner`` help text (what runs where for this command).
    """
    p.add_argument("--runner", choices=("local", "beam"), default="local", help=local_help)
    p.add_argument(
        "--beam-options",
        default="",
        metavar="FLAGS",
        help='Beam pipeline flags, e.g. --beam-options="--runner=DataflowRunner --project=P" '
        "(default: DirectRunner)",
    )


def setup_logging(level: str = "INFO") -> None:
    """Configures root logging once, with a compact format, and quiets Python-side loggers.

    TensorFlow's native log is quieted when the package is imported (``tfgenre.core.tflog``).
    """
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("absl", "tensorflow", "h5py", "matplotlib", "numba", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def print_config(data: dict[str, Any]) -> None:
    """Prints a resolved config as YAML (the ``--dry-run`` output)."""
    sys.stdout.write(yaml.safe_dump(data, sort_keys=False))


#: What went wrong, by the kind of file-system error (the ``<what>`` of the message).
_OS_ERROR_WHAT: tuple[tuple[type[OSError], str], ...] = (
    (FileNotFoundError, "file not found:"),
    (NotADirectoryError, "not a folder (a part of the path is a file):"),
    (IsADirectoryError, "a folder where a file was expected:"),
    (PermissionError, "permission denied:"),
    (FileExistsError, "already exists:"),
)


def describe_os_error(err: OSError) -> str:
    """``<what> <path>: <reason>`` for a file-system error, e.g.

    ``permission denied: /data/out/manifest.json: Permission denied``.
    """
    what = next((text for cls, text in _OS_ERROR_WHAT if isinstance(err, cls)), "cannot use")
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    reason = err.strerror or str(err)
    if not paths:
        return f"{what.rstrip(':')}: {reason}"
    return f"{what} {' -> '.join(paths)}: {reason}"


def _tf_file_error(err: BaseException) -> str | None:
    """The message of a TensorFlow file error (``tf.io.gfile`` on gs:// paths), else None."""
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    kinds = tuple(
        getattr(errors, name)
        for name in ("NotFoundError", "PermissionDeniedError", "AlreadyExistsError")
        if hasattr(errors, name)
    )
    if kinds and isinstance(err, kinds):
        return str(getattr(err, "message", "") or err)
    return None


def run(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Runs ``fn(args)``, turning tfgenre and file-system errors into messages and exit codes.

    A ``ConfigError`` exits 2; any other ``TfgenreError`` and any ``OSError`` that
    reaches the top (an output path that is a file, a folder that cannot be written,
    ...) exit 1 with one line, ``error: <what> <path>: <reason>``, and no traceback
    (``--log-level DEBUG`` logs the traceback too).
    """
    setup_logging(getattr(args, "log_level", "INFO"))
    try:
        return fn(args)
    except ConfigError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    except TfgenreError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    except OSError as err:
        logger.debug("file-system error", exc_info=True)
        sys.stderr.write(f"error: {describe_os_error(err)}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as err:
        message = _tf_file_error(err)
        if message is None:
            raise
        logger.debug("file-system error", exc_info=True)
        sys.stderr.write(f"error: {message}\n")
        return 1


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args`` that returns exit code 2 through SystemExit on bad flags."""
    return parser.parse_args(list(argv) if argv is not None else None)
