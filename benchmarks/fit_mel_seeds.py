"""tests/test_cli.py::test_fit_mel's run over several seeds: how its test accuracy spreads.

Usage: ``python -m benchmarks.fit_mel_seeds WORK_DIR [SEED ...]`` (default seeds 0-4).

Writes the test's tiny synthetic mel records into ``WORK_DIR`` (a rerun reuses them),
then runs test_fit_mel's ``fit`` command once per seed (``--seed N``), each as its own
process, and prints one JSON line per seed with its segment accuracy, then the mean.
Run it with another checkout first on ``PYTHONPATH`` to compare two versions on the
same records. The bar test_fit_mel holds is 2 x chance = 0.5.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_cli import WRITE_ARGS


def fit_args(records: Path, run: Path, seed: int) -> list[str]:
    """test_fit_mel's command line, with ``seed``."""
    return [
        "--records", str(records), "--view", "mel", "--model", "genre_resnet",
        "--run-dir", str(run), "--epochs", "8", "--batch-size", "16", "--strategy", "auto",
        "--learning-rate", "0.003", "--seed", str(seed), "--verify", "--skip-corrupt",
        "--set", "schedule.name=one_cycle", "--set", "model_options.width=16",
        "--set", "early_stopping_patience=0", "--overwrite",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    work = Path(args[0]).resolve()
    seeds = [int(s) for s in args[1:]] or list(range(5))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-m", "tfgenre.write_records", *WRITE_ARGS],
        cwd=work, env=env, check=True, capture_output=True,
    )  # fmt: skip
    scores = []
    for seed in seeds:
        run = work / "runs" / f"mel{seed}"
        proc = subprocess.run(
            [sys.executable, "-m", "tfgenre.fit", *fit_args(work / "records", run, seed)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode:
            print(json.dumps({"seed": seed, "error": proc.stderr[-1500:]}), flush=True)
            continue
        metrics = json.loads((run / "report" / "metrics.json").read_text())
        scores.append(metrics["segment"]["accuracy"])
        print(json.dumps({"seed": seed, "accuracy": scores[-1]}), flush=True)
    if scores:
        print(json.dumps({"mean": statistics.mean(scores), "min": min(scores)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
