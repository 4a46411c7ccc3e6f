"""A run folder: the names of what a fit writes into it, and reading and checking it.

A run folder (``fit --run-dir``) holds::

    config.yaml        the resolved config (layout.CONFIG_YAML)
    run.json           what evaluate, predict and export need: labels, view, input
                       spec, audio settings (layout.RUN_JSON; :func:`run_info` builds it)
    tb/                TensorBoard logs (scalars, learning rate, confusion matrix, hparams)
    checkpoints/       best.keras: the best validation model (layout.BEST_CHECKPOINT)
    backup/            BackupAndRestore state (a killed run resumes from here)
    history.csv        one row per epoch (layout.HISTORY_CSV)
    model.keras        the final model (layout.MODEL), the best validation model when there is one
    report/            metrics.json, report.md, tracks.csv, confusion matrices, training
                       curves (``report_<split>/`` for splits other than test,
                       :func:`report_dir`)
    probe_tuning.json  a linear probe's L2 grid and choice (layout.PROBE_TUNING_JSON;
                       :mod:`tfgenre.trainer.probe_tuning`), when it was tuned

A cross-validation's folder holds ``folds/<k>/`` (one run folder per fold) and the
``folds_summary.json``/``.md``. A folder holding a finished run, or a run of another
config, is refused unless ``overwrite`` (:func:`check_run_dir`); an unfinished run of
the same config resumes.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import yaml

from tfgenre import config, io, layout
from tfgenre.errors import ConfigError

if TYPE_CHECKING:  # the fit config pulls in the data pipeline; compare needs none of it
    from tfgenre.trainer.config import FitConfig

logger = logging.getLogger(__name__)

_IGNORED_KEYS = ("run_dir", "verify")  # a moved folder or an extra check is the same run


def is_run_output(name: str) -> bool:
    """Whether ``name`` (an entry of a run folder) is something a fit writes."""
    base = name.removesuffix(layout.INCOMPLETE_SUFFIX)
    return (
        base in layout.RUN_OUTPUTS
        or base.startswith(f"{layout.REPORT}_")
        or base.startswith(f"{layout.BACKUP}-worker-")
    )


@dataclasses.dataclass(frozen=True)
class RunDirPlan:
    """What :func:`check_run_dir` found in a run folder.

    Attributes:
        resume: An unfinished run of the same config is there (its backup is used).
        remove: Names that ``--overwrite`` removes before the run writes anything.
    """

    resume: bool = False
    remove: tuple[str, ...] = ()


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out or {prefix: {}}
    return {prefix: data}


def config_differences(saved: dict[str, Any], cfg: FitConfig) -> list[str]:
    """Dotted keys in which a run folder's saved fit config and ``cfg`` differ.

    ``run_dir`` and ``verify`` do not count. A saved config that no longer resolves
    (another tfgenre version) is compared as written.
    """
    from tfgenre.trainer.config import FitConfig

    try:
        saved = config.to_dict(config.from_dict(FitConfig, saved))
    except ConfigError:
        pass
    old, new = _flatten(saved), _flatten(config.to_dict(cfg))
    keys = sorted(set(old) | set(new))
    return [
        k
        for k in keys
        if k.split(".")[0] not in _IGNORED_KEYS and old.get(k, "<unset>") != new.get(k, "<unset>")
    ]


def saved_fit_config(run_dir: str) -> dict[str, Any] | None:
    """The ``fit`` section of the folder's ``config.yaml``; None when there is none."""
    path = io.join(run_dir, layout.CONFIG_YAML)
    if not io.exists(path) or io.isdir(path):
        return None
    try:
        data = yaml.safe_load(io.read_text(path))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None
    if isinstance(data, dict) and isinstance(data.get("fit"), dict):
        return data["fit"]
    return None


def check_run_dir(cfg: FitConfig, *, overwrite: bool = False) -> RunDirPlan:
    """Decides what a run may do with ``cfg.run_dir``, before anything is written.

    * no folder, or one holding nothing of a run: a new run;
    * an unfinished run (no ``model.keras``) of the same config: it resumes;
    * a finished run, or a run of another config: refused unless ``overwrite``, which
      removes only what a fit writes (:func:`is_run_output`);
    * run outputs without a ``config.yaml`` of a fit (not written by tfgenre), or
      ``overwrite`` with other files in the folder: refused, listing them.

    Raises:
        ConfigError: with the folder, what is in it and what to do.
    """
    path = cfg.run_dir
    io.check_output_folder(path, "run_dir")
    if not io.exists(path):
        return RunDirPlan()
    names = io.listdir(path)
    ours = [n for n in names if is_run_output(n)]
    foreign = [n for n in names if not is_run_output(n)]
    if not ours:
        return RunDirPlan()
    saved = saved_fit_config(path)
    if saved is None:
        raise ConfigError(
            f"run_dir={path!r} holds {', '.join(ours)} but no config.yaml of a tfgenre fit, "
            "so tfgenre did not write them and will not replace them: choose another --run-dir"
        )
    finished = layout.MODEL in names or layout.FOLDS_SUMMARY_JSON in names
    what = "a finished run" if finished else "an unfinished run"
    if overwrite:
        if foreign:
            raise ConfigError(
                f"run_dir={path!r} holds files that fit did not write: {', '.join(foreign)}. "
                "--overwrite removes only a run's own files; move those away or choose "
                "another --run-dir"
            )
        return RunDirPlan(remove=tuple(ours))
    differences = config_differences(saved, cfg)
    if differences:
        raise ConfigError(
            f"run_dir={path!r} holds {what} of another config (differs in: "
            f"{', '.join(differences)}); pass --overwrite to replace it, or choose another "
            "--run-dir"
        )
    if finished:
        raise ConfigError(
            f"run_dir={path!r} already holds a finished run ({', '.join(ours)}); pass "
            "--overwrite to train it again from scratch, or choose another --run-dir"
        )
    return RunDirPlan(resume=True)


def clear_run_outputs(run_dir: str, names: tuple[str, ...]) -> None:
    """Removes the run outputs ``names`` (from :func:`check_run_dir`) of ``run_dir``."""
    for name in names:
        target = io.join(run_dir, name)
        if io.isdir(target):
            io.rmtree(target)
        else:
            io.remove(target)
    if names:
        logger.info("--overwrite: removed the previous run in %s (%s)", run_dir, ", ".join(names))


def report_dir(run_dir: str, split: str) -> str:
    """``report`` for the test split, ``report_<split>`` for the others."""
    return io.join(run_dir, layout.REPORT if split == "test" else f"{layout.REPORT}_{split}")


def write_run_config(cfg: FitConfig) -> None:
    """Writes ``config.yaml``: ``cfg`` as the ``fit`` section."""
    io.write_text_atomic(
        io.join(cfg.run_dir, layout.CONFIG_YAML),
        yaml.safe_dump({"fit": config.to_dict(cfg)}, sort_keys=False),
    )


def load_run_config(run_dir: str) -> FitConfig:
    """The resolved FitConfig saved in ``config.yaml``."""
    from tfgenre.trainer.config import FitConfig

    data = config.load_section(io.join(run_dir, layout.CONFIG_YAML), "fit")
    return config.from_dict(FitConfig, data)
