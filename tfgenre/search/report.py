"""What a study leaves behind: trials CSV, best config, Pareto front, HParams, summary.

Layout of a study folder::

    trials.csv            one row per trial: number, state, objectives, params, seconds
    best_config.yaml      the best trial as a ``fit:`` section (python -m tfgenre.fit --config)
    pareto_front.csv      several objectives: the Pareto-optimal trials
    pareto/NNNNN.yaml     several objectives: a fit config per Pareto-optimal trial
    hparams/              TensorBoard HParams: one run per trial (params, state, objectives)
    plots/                see :mod:`tfgenre.search.plots`
    summary.json          counts by state, best values and params, where things are
    trials/NNNNN/         each trial's fit run folder

Everything here reads an Optuna study, which the keras-tuner backend also produces.
"""

from __future__ import annotations

import csv
import io as _io
import json
import logging
import math
from collections.abc import Sequence
from typing import Any

import yaml

from tfgenre.core import io
from tfgenre.evaluation.metrics_file import MetricsFile
from tfgenre.search.objectives import Objective
from tfgenre.search.space import SearchSpace
from tfgenre.search.trials import TrialRunner

logger = logging.getLogger(__name__)

STATES: tuple[str, ...] = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


def best_trials(study: Any) -> list[Any]:
    """The best trial (one objective) or the Pareto front (several); [] when none."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    if len(study.directions) > 1:
        return sorted(study.best_trials, key=lambda t: t.number)
    return [study.best_trial]


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else ""
    return "" if value is None else value


def trial_rows(
    study: Any, objectives: Sequence[Objective], space: SearchSpace
) -> list[dict[str, Any]]:
    """One plain row per trial (what ``trials.csv`` holds)."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        values = t.values or []
        for i, o in enumerate(objectives):
            value = values[i] if i < len(values) else None
            if value is None and t.state.name == "PRUNED" and i == 0 and t.intermediate_values:
                value = t.intermediate_values[max(t.intermediate_values)]
            row[o.name] = _fmt(value)
        for name in space.names:
            row[name] = _fmt(t.params.get(name))
        attrs = t.user_attrs
        row["epochs"] = attrs.get("fit_epochs", attrs.get("epochs", ""))
        if t.state.name == "PRUNED" and t.intermediate_values:
            row["epochs"] = max(t.intermediate_values) + 1
        seconds = attrs.get("seconds")
        if seconds is None and t.datetime_start and t.datetime_complete:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        row["seconds"] = _fmt(float(seconds)) if seconds is not None else ""
        row["run_dir"] = attrs.get("run_dir", "")
        row["error"] = attrs.get("error", "")
        rows.append(row)
    return rows


def write_csv(path: str, rows: Sequence[dict[str, Any]]) -> None:
    """Writes rows (dicts with the same keys) as a CSV file."""
    buffer = _io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    io.write_text_atomic(path, buffer.getvalue())


def fit_section(runner: TrialRunner, trial: Any, run_dir: str) -> dict[str, Any]:
    """The validated plain fit config of a trial, with ``run_dir`` for a fresh fit."""
    from tfgenre.core import config

    epochs = trial.user_attrs.get("fit_epochs")
    cfg = runner.fit_config(trial.params, run_dir, epochs)
    return config.to_dict(cfg)


def write_config_yaml(path: str, fit: dict[str, Any], header: str) -> None:
    """Writes ``{fit: ...}`` with a comment header (``tfgenre.fit --config`` reads it)."""
    lines = "".join(f"# {line}\n" for line in header.splitlines())
    io.write_text_atomic(path, lines + yaml.safe_dump({"fit": fit}, sort_keys=False))


def _values_text(trial: Any, objectives: Sequence[Objective]) -> str:
    return ", ".join(f"{o.name}={v:.6g}" for o, v in zip(objectives, trial.values or []))


def write_best(
    out_dir: str,
    study: Any,
    runner: TrialRunner,
    study_name: str,
) -> dict[str, Any]:
    """Writes ``best_config.yaml`` (and the Pareto front for several objectives).

    Returns:
        ``{"best": {...} | None, "pareto": [...]}`` with numbers, values and params.
    """
    objectives = runner.objectives
    best = best_trials(study)
    out: dict[str, Any] = {"best": None, "pareto": []}
    if not best:
        return out
    multi = len(objectives) > 1
    # With several objectives the "best config" is the front's best first objective.
    top = max(best, key=lambda t: t.values[0] if objectives[0].maximize else -t.values[0])
    fit = fit_section(runner, top, io.join(runner.run_dir, "best"))
    path = io.join(runner.run_dir, "best_config.yaml")
    write_config_yaml(
        path,
        fit,
        f"Best trial {top.number} of study {study_name!r}: {_values_text(top, objectives)}"
        + (" (Pareto front: best first objective)" if multi else "")
        + f"\nParams: {json.dumps(top.params)}\nTrain it: python -m tfgenre.fit --config {path}",
    )
    out["best"] = {
        "number": top.number,
        "values": dict(zip([o.name for o in objectives], top.values)),
        "params": dict(top.params),
        "run_dir": top.user_attrs.get("run_dir", ""),
        "config": path,
    }
    if multi:
        rows = []
        io.makedirs(io.join(runner.run_dir, "pareto"))
        for t in best:
            target = io.join(runner.run_dir, "pareto", f"{t.number:05d}.yaml")
            write_config_yaml(
                target,
                fit_section(runner, t, io.join(runner.run_dir, "pareto", f"{t.number:05d}")),
                f"Pareto-optimal trial {t.number} of study {study_name!r}: "
                f"{_values_text(t, objectives)}",
            )
            row = {"number": t.number}
            row.update({o.name: _fmt(v) for o, v in zip(objectives, t.values)})
            row.update({k: _fmt(v) for k, v in t.params.items()})
            row["config"] = target
            rows.append(row)
            out["pareto"].append(
                {"number": t.number, "values": dict(zip([o.name for o in objectives], t.values))}
            )
        write_csv(io.join(runner.run_dir, "pareto_front.csv"), _same_keys(rows))
    return out


def _same_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return [{k: row.get(k, "") for k in keys} for row in rows]


def evaluation_summary(metrics: MetricsFile, split: str) -> dict[str, Any]:
    """The best trial's evaluation as kept in ``summary.json``: track level, with intervals.

    Args:
        metrics: The trial's ``metrics.json`` (what ``evaluate_run`` returned, typed).
        split: The split it was scored on.

    Returns:
        ``{"split", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "ci",
        "segment_accuracy", "segment_accuracy_ci", "tracks"}`` (the ``_ci`` entries are
        ``[lo, hi]`` of a bootstrap over tracks, absent from older metrics).

    Raises:
        DamagedFileError: when the metrics lack the track or the segment level.
    """
    track, segment = metrics.level("track"), metrics.level("segment")

    def interval(value: tuple[float, float] | None) -> list[float] | None:
        return None if value is None else list(value)

    out = {
        "split": split,
        "accuracy": track.accuracy,
        "accuracy_ci": interval(track.accuracy_ci),
        "macro_f1": track.macro_f1,
        "macro_f1_ci": interval(track.macro_f1_ci),
        "ci": None if track.ci is None else track.ci.to_json(),
        "segment_accuracy": segment.accuracy,
        "segment_accuracy_ci": interval(segment.accuracy_ci),
        "tracks": track.num_examples,
    }
    return {k: v for k, v in out.items() if v is not None}


def evaluation_text(evaluation: dict[str, Any]) -> str:
    """One line: ``test (40 tracks): accuracy 0.62 [0.55, 0.69], macro-F1 ... (95 % ...)``."""
    from tfgenre.core.stats import format_interval

    tracks = f" ({evaluation['tracks']} tracks)" if evaluation.get("tracks") else ""
    text = (
        f"{evaluation['split']}{tracks}: track accuracy "
        f"{format_interval(evaluation['accuracy'], evaluation.get('accuracy_ci'))}, macro-F1 "
        f"{format_interval(evaluation['macro_f1'], evaluation.get('macro_f1_ci'))}"
    )
    ci = evaluation.get("ci")
    if ci:
        text += (
            f" ({100 * ci['level']:.0f} % {ci['method']}, {ci['resamples']} resamples, "
            f"seed {ci['seed']})"
        )
    return text


# ----------------------------------------------------------------------------- HParams


def _hparams_domain(space: SearchSpace) -> list[Any]:
    from tensorboard.plugins.hparams import api as hp

    out = []
    for p in space.params:
        if p.kind == "categorical":
            out.append(hp.HParam(p.name, hp.Discrete(list(p.choices))))
        elif p.kind == "int":
            out.append(hp.HParam(p.name, hp.IntInterval(int(p.low), int(p.high))))
        else:
            out.append(hp.HParam(p.name, hp.RealInterval(float(p.low), float(p.high))))
    out.append(hp.HParam("state", hp.Discrete(["COMPLETE", "PRUNED", "FAIL"])))
    return out


def write_hparams(
    log_dir: str, study: Any, space: SearchSpace, objectives: Sequence[Objective]
) -> int:
    """Writes TensorBoard HParams for every finished trial not yet written.

    ``tensorboard --logdir <log_dir>`` then shows one row per trial with its params,
    state and objective values (a pruned trial's last reported value).

    Returns:
        How many trials were written.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    io.makedirs(log_dir)
    if not any(name.startswith("events.out") for name in io.listdir(log_dir)):
        with tf.summary.create_file_writer(log_dir).as_default():
            hp.hparams_config(
                hparams=_hparams_domain(space),
                metrics=[hp.Metric(o.name, display_name=o.name) for o in objectives],
            )
    written = 0
    for t in study.get_trials(deepcopy=False):
        if t.state.name not in ("COMPLETE", "PRUNED", "FAIL"):
            continue
        run = io.join(log_dir, f"trial-{t.number:05d}")
        if io.exists(run):
            continue
        values = list(t.values or [])
        if not values and t.state.name == "PRUNED" and t.intermediate_values:
            values = [t.intermediate_values[max(t.intermediate_values)]]
        with tf.summary.create_file_writer(run).as_default():
            hp.hparams({**t.params, "state": t.state.name}, trial_id=f"trial-{t.number:05d}")
            for o, v in zip(objectives, values):
                tf.summary.scalar(o.name, float(v), step=0)
        written += 1
    return written


# ----------------------------------------------------------------------------- summary


def summarize(
    study: Any,
    objectives: Sequence[Objective],
    *,
    study_name: str,
    backend: str,
    storage: str,
    best: dict[str, Any],
    grid_size: int | None,
) -> dict[str, Any]:
    """The plain summary written to ``summary.json``."""
    counts = {s: 0 for s in ("COMPLETE", "PRUNED", "FAIL")}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return {
        "study_name": study_name,
        "backend": backend,
        "storage": storage,
        "objectives": [{"name": o.name, "direction": o.direction} for o in objectives],
        "trials": counts,
        "grid_size": grid_size,
        **best,
    }


def summary_text(summary: dict[str, Any]) -> str:
    """What ``python -m tfgenre.tune`` prints: counts, the best trial, the outputs."""
    counts = ", ".join(f"{k.lower()} {v}" for k, v in summary["trials"].items())
    lines = [f"study {summary['study_name']} ({summary['backend']}): {counts}"]
    best = summary.get("best")
    if best:
        values = ", ".join(f"{k}={v:.4f}" for k, v in best["values"].items())
        lines.append(f"best trial {best['number']}: {values}\n  params: {best['params']}")
        if best.get("evaluation"):
            lines.append(f"  {evaluation_text(best['evaluation'])}")
        lines.append(f"best config: {best['config']}")
    if summary.get("pareto"):
        lines.append(f"Pareto front: {len(summary['pareto'])} trial(s), see pareto_front.csv")
    lines += [f"{key}: {path}" for key, path in summary["outputs"].items() if path]
    return "".join(line + "\n" for line in lines)
