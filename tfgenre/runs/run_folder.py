"""A run folder: the names of what a fit writes into it, and reading and checking it.

A run folder (``fit --run-dir``) holds::

    config.yaml        the resolved config (layout.CONFIG_YAML), for people and
                       ``fit --config``; fit compares it to resume or refuse a run
    run.json           all that evaluate, predict, export and tune read: labels, view,
                       input spec, framing, the data and splits used, the config
                       (layout.RUN_JSON; :class:`tfgenre.runs.run_info.RunInfo`)
    tb/                TensorBoard logs (scalars, learning rate, confusion matrix, hparams)
    checkpoints/       best.keras: the best validation model (layout.BEST_CHECKPOINT)
    backup/            BackupAndRestore state (a killed run resumes from here)
    history.csv        one row per epoch (layout.HISTORY_CSV)
    model.keras        the final model (layout.MODEL), the best validation model when there is one
    report/            metrics.json, report.md, tracks.csv, confusion matrices, training
                       curves (``report_<split>/`` for splits other than test,
                       :func:`report_dir`)
    probe_tuning.json  a linear probe's L2 grid and choice (layout.PROBE_TUNING_JSON;
                       :mod:`tfgenre.training.probe_tuning`), when it was tuned

A cross-validation's folder holds ``folds/<k>/`` (one run folder per fold) and the
``folds_summary.json``/``.md``. A folder holding a finished run, or a run of another
config, is refused unless ``overwrite`` (:func:`check_run_dir`); an unfinished run of
the same config resumes.

``overwrite`` deletes only files a fit wrote (:func:`survey_run`): the run's own file
names, TensorBoard's event files under ``tb/``, Keras' backup files, ``best.keras``,
and every file listed in the run's ledger ``.tfgenre-written`` (:func:`record_written`:
the report writer lists every file it writes there). Anything else anywhere in the
tree refuses the overwrite, listing it. The hidden ``.tfgenre.lock``
(:func:`tfgenre.core.io.folder_lock`, held while a fit writes) is neither a run's output
nor a foreign file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import yaml

from tfgenre.core import config, io, layout
from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

_IGNORED_KEYS = ("run_dir", "verify")  # a moved folder or an extra check is the same run


#: Hidden files of tfgenre's own in a run folder: neither a run's output nor foreign.
_BOOKKEEPING = (layout.LOCK_FILE, layout.WRITTEN)
#: The files a report folder holds (any others that the report writer writes are
#: listed in the ledger, :func:`record_written`).
_REPORT_FILES = (
    layout.METRICS_JSON,
    layout.REPORT_MD,
    layout.TRACKS_CSV,
    "confusion_matrix_segment.png",
    "confusion_matrix_track.png",
    "training_curves.png",
)
#: Keras' BackupAndRestore files (``latest.weights.h5``, ``training_metadata.json``
#: and their ``.bkp`` copies).
_BACKUP_PREFIXES = ("latest.", "training_metadata")
_TB_EVENTS_PREFIX = "events.out.tfevents."


def is_run_output(name: str) -> bool:
    """Whether ``name`` (an entry of a run folder) is something a fit writes."""
    base = name.removesuffix(layout.INCOMPLETE_SUFFIX)
    return (
        base in layout.RUN_OUTPUTS
        or base.startswith(f"{layout.REPORT}_")
        or base.startswith(f"{layout.BACKUP}-worker-")
    )


def _is_backup(top: str) -> bool:
    return top == layout.BACKUP or top.startswith(f"{layout.BACKUP}-worker-")


def _is_report(top: str) -> bool:
    return top == layout.REPORT or top.startswith(f"{layout.REPORT}_")


def _owned(rel: str, ledger: set[str]) -> bool:
    """Whether ``rel`` (a file's path in a run folder, ``/``-separated) is a fit's."""
    base = rel.removesuffix(layout.INCOMPLETE_SUFFIX)
    if base in ledger or rel in ledger:
        return True
    parts = base.split("/")
    top, name = parts[0], parts[-1]
    if len(parts) == 1:
        return is_run_output(name) and name not in (layout.TENSORBOARD, layout.CHECKPOINTS)
    if top == layout.TENSORBOARD:
        return name.startswith(_TB_EVENTS_PREFIX)
    if top == layout.CHECKPOINTS:
        return len(parts) == 2 and name.startswith(layout.BEST_CHECKPOINT)
    if _is_backup(top):
        return name.startswith(_BACKUP_PREFIXES)
    if _is_report(top):
        return len(parts) == 2 and name in _REPORT_FILES
    return False


def read_ledger(run_dir: str) -> set[str]:
    """The paths (relative to ``run_dir``) that the run's ledger lists as written."""
    path = io.join(run_dir, layout.WRITTEN)
    if not io.exists(path) or io.isdir(path):
        return set()
    try:
        return {line.strip() for line in io.read_text(path).splitlines() if line.strip()}
    except (OSError, UnicodeDecodeError):
        return set()


def record_written(run_dir: str, paths: Iterable[str]) -> None:
    """Adds files a fit (or evaluate) wrote into ``run_dir`` to the run's ledger.

    ``--overwrite`` deletes only the files it can prove a fit wrote; the ledger is
    that proof for files whose names are not fixed (a report's figures, say). Paths
    outside ``run_dir`` are ignored.

    Args:
        run_dir: The run folder.
        paths: The files, full paths (under ``run_dir``) or relative to it.
    """
    root = str(run_dir).rstrip("/")
    new = set()
    for p in paths:
        p = str(p)
        if p.startswith(root + "/") or (not io.is_remote(root) and os.path.isabs(p)):
            if not io.is_remote(root):
                rel = os.path.relpath(p, root)
            else:
                rel = p[len(root) + 1 :]
        else:
            rel = p
        rel = rel.replace(os.sep, "/")
        if rel and not rel.startswith("../") and rel != "..":
            new.add(rel)
    if not new:
        return
    ledger = read_ledger(run_dir)
    if new <= ledger:
        return
    io.write_text_atomic(
        io.join(run_dir, layout.WRITTEN), "".join(f"{p}\n" for p in sorted(ledger | new))
    )


def _walk_files(root: str) -> Iterator[str]:
    """Every file (and symlink) in ``root``'s tree, ``/``-separated and relative to it."""
    if io.is_remote(root):
        import tensorflow as tf

        base = root.rstrip("/")
        for folder, _, files in tf.io.gfile.walk(root):
            sub = folder.rstrip("/")[len(base) :].strip("/")
            for f in files:
                yield f"{sub}/{f}" if sub else f
        return
    for folder, dirs, files in os.walk(root, followlinks=False):
        sub = os.path.relpath(folder, root)
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        dirs[:] = [d for d in dirs if d not in links]
        for f in sorted([*files, *links]):
            rel = f if sub == "." else os.path.join(sub, f)
            yield rel.replace(os.sep, "/")


def survey_run(run_dir: str) -> tuple[list[str], list[str]]:
    """Sorts every file in a run folder's tree into a fit's and everything else.

    A fit's (:func:`_owned`): its top-level files, TensorBoard's event files under
    ``tb/``, ``checkpoints/best.keras``, Keras' backup files, a report's files, any
    file the run's ledger lists (:func:`record_written`), and the same inside each
    cross-validation fold ``folds/<k>/`` (a run folder of its own). The lock and the
    ledger are neither (the ledger goes with what it lists: it is in the first list).

    Returns:
        (a fit's files, other files), as ``/``-separated paths relative to ``run_dir``,
        sorted.
    """
    ledgers: dict[str, set[str]] = {}

    def ledger(prefix: str) -> set[str]:
        if prefix not in ledgers:
            ledgers[prefix] = read_ledger(io.join(run_dir, prefix) if prefix else run_dir)
        return ledgers[prefix]

    owned: list[str] = []
    foreign: list[str] = []
    for rel in _walk_files(run_dir):
        prefix, inner = "", rel
        parts = rel.split("/")
        if parts[0] == layout.FOLDS and len(parts) > 2 and parts[1].isdigit():
            prefix, inner = "/".join(parts[:2]), "/".join(parts[2:])
        if inner == layout.LOCK_FILE:
            continue
        if inner == layout.WRITTEN or _owned(inner, ledger(prefix)):
            owned.append(rel)
        else:
            foreign.append(rel)
    return sorted(owned), sorted(foreign)


def _listing(names: Sequence[str], limit: int = 12) -> str:
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@dataclasses.dataclass(frozen=True)
class RunDirPlan:
    """What :func:`check_run_dir` found in a run folder.

    Attributes:
        resume: An unfinished run of the same config is there (its backup is used).
        remove: Files (relative paths) that ``--overwrite`` removes before the run
            writes anything: only a fit's (:func:`survey_run`).
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


def config_differences(saved: dict[str, Any], cfg: Any) -> list[str]:
    """Dotted keys in which a run folder's saved fit config and ``cfg`` differ.

    ``cfg`` is a fit config (:class:`tfgenre.training.fit_config.FitConfig`); the saved
    one is resolved as one of its type. ``run_dir`` and ``verify`` do not count. A
    saved config that no longer resolves (another tfgenre version) is compared as
    written.
    """
    try:
        saved = config.to_dict(config.from_dict(type(cfg), saved))
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


def check_run_dir(cfg: Any, *, overwrite: bool = False) -> RunDirPlan:
    """Decides what a run may do with ``cfg.run_dir``, before anything is written.

    ``cfg`` is the fit config (:class:`tfgenre.training.fit_config.FitConfig`).

    * no folder, or one holding nothing of a run: a new run;
    * an unfinished run (no ``model.keras``) of the same config: it resumes;
    * a finished run, or a run of another config: refused unless ``overwrite``, which
      removes only the files a fit wrote (:func:`survey_run`);
    * run outputs without a ``config.yaml`` of a fit (not written by tfgenre), or
      ``overwrite`` with other files anywhere in the folder's tree: refused, listing
      them.

    Raises:
        ConfigError: with the folder, what is in it and what to do.
    """
    path = cfg.run_dir
    io.check_output_folder(path, "run_dir")
    if not io.exists(path):
        return RunDirPlan()
    names = [n for n in io.listdir(path) if n not in _BOOKKEEPING]
    ours = [n for n in names if is_run_output(n)]
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
        owned, foreign = survey_run(path)
        if foreign:
            raise ConfigError(
                f"run_dir={path!r} holds {len(foreign)} file(s) that fit did not write: "
                f"{_listing(foreign)}. --overwrite removes only a run's own files; move "
                "those away or choose another --run-dir"
            )
        return RunDirPlan(remove=tuple(owned))
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


def clear_run_outputs(run_dir: str, files: tuple[str, ...]) -> None:
    """Removes a fit's ``files`` (from :func:`check_run_dir`) of ``run_dir``.

    Only those files go, then the folders they leave empty (local folders; a folder
    that still holds something stays).
    """
    folders: set[str] = set()
    for rel in files:
        target = io.join(run_dir, *rel.split("/"))
        if not io.is_remote(run_dir) and os.path.islink(target):
            os.unlink(target)
        else:
            io.remove(target)
        parts = rel.split("/")[:-1]
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    if not io.is_remote(run_dir):
        for rel in sorted(folders, key=lambda f: -f.count("/")):
            folder = os.path.join(run_dir, *rel.split("/"))
            if os.path.isdir(folder) and not os.path.islink(folder) and not os.listdir(folder):
                os.rmdir(folder)
    if files:
        logger.info(
            "--overwrite: removed the %d files of the previous run in %s", len(files), run_dir
        )


def undo_new_run(run_dir: str) -> None:
    """Removes what a new run wrote before it was refused (only a fit's files)."""
    owned, _ = survey_run(run_dir)
    clear_run_outputs(run_dir, tuple(owned))


@contextlib.contextmanager
def locked(run_dir: str) -> Iterator[None]:
    """Holds the run folder's lock (creating the folder) while a fit writes into it.

    A second fit (or cross-validation) into the same folder is refused, naming the
    holder's pid (:func:`tfgenre.core.io.folder_lock`).
    """
    with io.folder_lock(run_dir, "fit"):
        yield


def report_dir(run_dir: str, split: str) -> str:
    """``report`` for the test split, ``report_<split>`` for the others."""
    return io.join(run_dir, layout.REPORT if split == "test" else f"{layout.REPORT}_{split}")


def write_run_config(cfg: Any) -> None:
    """Writes ``config.yaml``: ``cfg`` (a fit config) as the ``fit`` section."""
    io.write_text_atomic(
        io.join(cfg.run_dir, layout.CONFIG_YAML),
        yaml.safe_dump({"fit": config.to_dict(cfg)}, sort_keys=False),
    )
