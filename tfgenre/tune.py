"""``python -m tfgenre.tune``: search hyperparameters around tfgenre's fit.

Every trial is a ``tfgenre.fit`` run in ``<run-dir>/trials/<number>``. The fit config
of a trial is layered: defaults, the ``fit:`` section of ``--config``, the space's
``fixed:`` values, the fit flags below, ``--set fit.key=value``, then the trial's
params. Tune settings: defaults, the space's ``tune:`` defaults, the ``tune:`` section
of ``--config``, the flags below, then ``--set tune.key=value``.

Outputs (see :mod:`tfgenre.search.report`): ``trials.csv``, ``best_config.yaml``
(``python -m tfgenre.fit --config`` takes it), ``plots/index.html``, ``hparams/`` for
TensorBoard, ``summary.json``; several objectives add ``pareto_front.csv``.

Examples:
    python -m tfgenre.tune --space pipelines/search/gtzan_features_grid.yaml \
        --features-csv features_30_sec.csv --sampler grid --run-dir runs/gtzan_grid

    python -m tfgenre.tune --config pipelines/x.yaml --space pipelines/search/x.yaml \
        --backend optuna --trials 50 --objectives val_accuracy,params --sampler nsga2

    # several workers on one study: start the same command on each machine
    python -m tfgenre.tune ... --storage postgresql://user@host/db --study-name mel_cnn
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from tfgenre.core import cli, config
from tfgenre.errors import ConfigError
from tfgenre.fit import data_flags
from tfgenre.pipelines.stages import stage, with_default_records


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.tune",
        description="Search hyperparameters with Optuna or keras-tuner around tfgenre.fit.",
    )
    p.add_argument("--space", metavar="YAML", help="search-space YAML (pipelines/search/...)")
    p.add_argument("--backend", help="optuna (default) | keras-tuner")
    p.add_argument("--trials", type=int, help="finished trials the study should hold")
    p.add_argument("--timeout", type=float, metavar="S", help="start no trial after S seconds")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL or journal:/path.log")
    p.add_argument("--study-name", help="study name (default: the run folder's name)")
    p.add_argument(
        "--sampler",
        help="optuna: auto | tpe | random | grid | nsga2 | cmaes; "
        "keras-tuner: auto | random | bayesian | hyperband",
    )
    p.add_argument("--pruner", help="median (default) | hyperband | none")
    p.add_argument(
        "--objectives",
        help="comma-separated: a metric first (val_accuracy), then params and/or latency_ms",
    )
    p.add_argument("--run-dir", help="the study folder")
    p.add_argument("--keep-models", help="all | best (default) | none")
    p.add_argument("--seed", type=int, help="sampler seed")
    group = p.add_argument_group("fit (the base config of every trial)")
    group.add_argument("--records", help="records folder written by tfgenre.write_records")
    group.add_argument("--features-csv", help="a features CSV instead of records")
    group.add_argument("--splits", help="fractions for a features CSV, e.g. train=0.7,test=0.3")
    group.add_argument(
        "--split", help="a named split for a features CSV: fault_filtered (GTZAN's lists)"
    )
    group.add_argument("--view", help="raw | mel | features")
    group.add_argument("--model", help="registered model name")
    group.add_argument("--epochs", type=int)
    group.add_argument("--batch-size", type=int)
    cli.add_config_flags(
        p,
        config_help="pipeline YAML with fit: and tune: sections",
        set_help="override: fit.<key>=... or tune.<key>=... (repeatable)",
    )
    return p


def _split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    fit, tune = [], []
    for text in overrides:
        key = text.split("=", 1)[0].strip()
        if key.startswith("fit."):
            fit.append(text[text.index("fit.") + 4 :])
        elif key.startswith("tune."):
            tune.append(text[text.index("tune.") + 5 :])
        else:
            raise ConfigError(
                f"--set {text!r} must start with fit. or tune. (e.g. --set fit.epochs=5)"
            )
    return fit, tune


def resolve(
    config_path: str | None,
    space_path: str | None,
    fit_flags: dict[str, Any],
    tune_flags: dict[str, Any],
    overrides: Sequence[str],
) -> tuple[dict[str, Any], Any, Any]:
    """Layers the fit base config, the space and the tune settings (see the module doc).

    Returns:
        ``(fit base mapping, SearchSpace, TuneConfig)``.

    Raises:
        ConfigError: on any bad value, key or file.
    """
    from tfgenre.search.study import load_settings

    fit_overrides, tune_overrides = _split_overrides(overrides)
    tune_section = config.load_section(config_path, "tune") if config_path else {}
    tune_data = config.apply_overrides(
        config.set_flags(dict(tune_section), {"space": space_path, **tune_flags}), tune_overrides
    )
    space, settings = load_settings(tune_data)
    fit_data = config.load_section(config_path, "fit") if config_path else {}
    fit_data = config.set_flags(config.merge(fit_data, space.fixed), fit_flags)
    fit_data = config.apply_overrides(fit_data, fit_overrides)
    return fit_data, space, settings


def _tune_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "backend": args.backend,
        "trials": args.trials,
        "timeout_seconds": args.timeout,
        "storage": args.storage,
        "study_name": args.study_name,
        "sampler": args.sampler,
        "pruner": args.pruner,
        "objectives": args.objectives,
        "run_dir": args.run_dir,
        "keep_models": args.keep_models,
        "seed": args.seed,
    }


def _main(args: argparse.Namespace) -> int:
    from tfgenre.search.report import summary_text
    from tfgenre.search.study import plan, run_study

    fit_data, space, settings = resolve(
        args.config, args.space, data_flags(args), _tune_flags(args), args.overrides
    )
    if args.dry_run:
        cli.print_config(plan(fit_data, space, settings))
        return 0
    sys.stdout.write(summary_text(run_study(fit_data, space, settings).summary))
    return 0


def stage_config(section: dict[str, Any], pipeline: dict[str, Any]) -> tuple[dict, Any, Any]:
    """The ``tune:`` section as ``(fit_data, space, settings)``, like :func:`resolve`.

    ``fit_data`` is the pipeline's ``fit:`` section with the space's ``fixed:`` values,
    its records taken from ``write_records:``'s output when it names no data.
    """
    from tfgenre.search.study import load_settings

    space, settings = load_settings(section)
    fit = config.merge(dict(pipeline.get("fit") or {}), space.fixed)
    return with_default_records(fit, pipeline), space, settings


def _check_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> Any:
    """The up-front check: the tune settings and the fit config of the space's default point."""
    from tfgenre.training.fit_config import FitConfig

    fit_data, space, settings = stage_config(section, pipeline)
    fit = space.apply(fit_data, space.default_labels())
    fit["run_dir"] = settings.run_dir or "tune"
    config.from_dict(FitConfig, fit, prefix="tune: fit.")
    return settings


@stage("tune", check=_check_stage)
def _tune_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """Pipeline stage: the ``tune:`` section, trials based on the ``fit:`` section."""
    from tfgenre.search.report import summary_text
    from tfgenre.search.study import run_study

    sys.stdout.write(summary_text(run_study(*stage_config(section, pipeline)).summary))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
