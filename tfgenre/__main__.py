"""``tfgenre <command> ...``: one console script for every entry point.

Example:
    tfgenre write-records --source synthetic --input data/synth --output records/synth
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "write-records": "tfgenre.write_records",
    "fit": "tfgenre.fit",
    "evaluate": "tfgenre.evaluate",
    "compare": "tfgenre.compare",
    "predict": "tfgenre.predict",
    "export": "tfgenre.export",
    "tune": "tfgenre.tune",
    "baselines": "tfgenre.baselines",
    "explore": "tfgenre.explore",
    "run": "tfgenre.run",
    "serve": "tfgenre.serve",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatches to ``python -m tfgenre.<command>``; returns its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    available = {k: v for k, v in COMMANDS.items() if importlib.util.find_spec(v) is not None}
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write("usage: tfgenre {" + ",".join(available) + "} ...\n")
        return 0 if args else 2
    name = args[0].replace("_", "-")
    if name not in available:
        sys.stderr.write(f"error: unknown command {args[0]!r} (known: {', '.join(available)})\n")
        return 2
    module = importlib.import_module(available[name])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
