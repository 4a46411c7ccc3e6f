"""Shared pieces of the command-line entry points: common flags, logging, exit codes.

Exit codes: 0 success, 1 a job failed (``TfgenreError``), 2 a usage error
(``ConfigError`` or a bad flag), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
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


def setup_logging(level: str = "INFO") -> None:
    """Configures root logging once, with a compact format, and quiets TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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


def run(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Runs ``fn(args)``, turning tfgenre errors into messages and exit codes."""
    setup_logging(getattr(args, "log_level", "INFO"))
    try:
        return fn(args)
    except ConfigError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    except TfgenreError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args`` that returns exit code 2 through SystemExit on bad flags."""
    return parser.parse_args(list(argv) if argv is not None else None)
