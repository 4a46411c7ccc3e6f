"""``fit --model linear``: the probe's L2 and epochs chosen on the validation split.

:func:`train_with_probe_tuning` is :func:`~tfgenre.training.loop.train` for every run;
for a linear probe whose config asks for tuning (``probe_tune``: ``auto`` tunes the
embeddings view, ``on`` any vector view, ``off`` never) it first trains one short run per
value of ``probe_l2_grid`` (L2 on the dense kernel, added to the loss) in a scratch
folder, each fitted on the train split and validated on the validation split, never
evaluated. The value whose best epoch has the highest validation accuracy wins (ties:
the lower validation loss, then the smaller L2); the run is then trained with it, and
its epochs are chosen the usual way, by the best checkpoint on the validation split.
The test split is evaluated once, by that run.

The grid, each value's best validation accuracy, loss and epoch, and the choice are
written to ``probe_tuning.json`` in the run folder and as a section of the report's
``report.md``; ``run.json``'s config holds the chosen ``optimizer.l2``.

Without a validation split, when the run would be evaluated on the validation split
(its eval split empty), or with ``optimizer.l2`` set to a value other than 0 (which fixes
it), nothing is tuned and the configured L2 is kept; ``probe_tuning.json`` says why.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from tfgenre.core import config, io, layout

logger = logging.getLogger(__name__)

PROBE_TUNING_JSON = layout.PROBE_TUNING_JSON


def wants_tuning(cfg: Any) -> bool:
    """Whether ``cfg`` is a linear probe that asks for its L2 to be chosen."""
    if cfg.model != "linear" or cfg.folds or cfg.probe_tune == "off":
        return False
    return cfg.probe_tune == "on" or cfg.view == "embeddings"


def _why_not(cfg: Any, evaluate: bool) -> str | None:
    """Why ``cfg``'s L2 cannot be chosen honestly on its validation split (None: it can)."""
    from tfgenre.training.inputs import load_run_data

    if cfg.optimizer.l2:
        return f"optimizer.l2={cfg.optimizer.l2:g} was given (fixed)"
    data = load_run_data(cfg, drop_remainder=False)
    sizes = dict(data.run.num_examples)
    if data.val is None or not sizes.get(cfg.val_split, 0):
        return f"no {cfg.val_split!r} split to choose on; optimizer.l2={cfg.optimizer.l2:g} kept"
    if evaluate and (cfg.eval_split == cfg.val_split or not sizes.get(cfg.eval_split, 0)):
        return (
            f"the run is evaluated on {cfg.val_split!r} (split {cfg.eval_split!r} is empty or "
            f"the same), so choosing on it would select on the scored split; "
            f"optimizer.l2={cfg.optimizer.l2:g} kept"
        )
    return None


def _best(history: dict[str, list[float]]) -> dict[str, Any]:
    acc = history.get("val_accuracy") or [float("nan")]
    loss = history.get("val_loss") or [float("nan")] * len(acc)
    epoch = max(range(len(acc)), key=lambda i: (acc[i], -loss[i]))
    return {"val_accuracy": float(acc[epoch]), "val_loss": float(loss[epoch]), "epoch": epoch + 1}


def choose_l2(cfg: Any, grid: Sequence[float]) -> dict[str, Any]:
    """Trains one run per L2 of ``grid`` (train split, validated, not evaluated).

    Returns:
        ``{grid: [{l2, val_accuracy, val_loss, epoch}], chosen: l2, method}``.
    """
    from tfgenre.training.loop import train

    scratch = tempfile.mkdtemp(prefix="tfgenre_probe_tuning_")
    trials = []
    try:
        for k, l2 in enumerate(sorted(float(v) for v in grid)):
            sub = config.replace(
                cfg,
                run_dir=io.join(scratch, f"l2_{k}"),
                optimizer=dataclasses.replace(cfg.optimizer, l2=l2),
                probe_tune="off",
            )
            result = train(sub, evaluate=False, confusion_images=False)
            trials.append({"l2": l2, **_best(result.history)})
            logger.info("probe tuning: l2=%g -> %s", l2, trials[-1])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    best = max(
        trials,
        key=lambda t: (
            t["val_accuracy"] if math.isfinite(t["val_accuracy"]) else -1.0,
            -t["val_loss"] if math.isfinite(t["val_loss"]) else -math.inf,
            -t["l2"],
        ),
    )
    return {
        "param": "optimizer.l2",
        "grid": trials,
        "chosen": best["l2"],
        "epochs": f"best checkpoint on {cfg.monitor} within {cfg.epochs} epochs",
        "method": (
            f"Each value fitted on {cfg.train_split} ({cfg.epochs} epochs), scored on "
            f"{cfg.val_split}; best validation accuracy, ties to the lower loss, then the "
            "smaller L2; the test split is not read"
        ),
    }


def _markdown(record: dict[str, Any]) -> str:
    lines = ["", "## Probe tuning (chosen without the test split)", ""]
    if not record.get("grid"):
        return "\n".join([*lines, f"Not tuned: {record['reason']}.", ""])
    lines += [
        f"{record['method']}. Epochs: {record['epochs']}.",
        "",
        "| optimizer.l2 | best val accuracy | val loss | epoch |",
        "| --- | --- | --- | --- |",
    ]
    for t in record["grid"]:
        mark = " (chosen)" if t["l2"] == record["chosen"] else ""
        lines.append(
            f"| {t['l2']:g}{mark} | {t['val_accuracy']:.4f} | {t['val_loss']:.4f} | {t['epoch']} |"
        )
    return "\n".join(lines) + "\n"


def train_with_probe_tuning(cfg: Any, **kwargs: Any) -> Any:
    """:func:`~tfgenre.training.loop.train`, after choosing a linear probe's L2.

    Args:
        cfg: The fit config.
        **kwargs: For ``train`` (``evaluate``, ``overwrite``...).

    Returns:
        The :class:`~tfgenre.training.loop.FitResult` of the run.
    """
    from tfgenre.training.loop import train

    if not wants_tuning(cfg):
        return train(cfg, **kwargs)
    if kwargs.get("overwrite") is not True:
        from tfgenre.runs.run_folder import check_run_dir

        check_run_dir(cfg, overwrite=False)  # refuse before the tuning runs, not after
    record: dict[str, Any]
    why = _why_not(cfg, kwargs.get("evaluate", True))
    if why:
        record = {"reason": why}
    else:
        record = choose_l2(cfg, cfg.probe_l2_grid)
        cfg = config.replace(cfg, optimizer=dataclasses.replace(cfg.optimizer, l2=record["chosen"]))
        logger.info("probe tuning: optimizer.l2=%g chosen", record["chosen"])
    if "reason" in record:
        logger.warning("probe tuning: not tuned: %s", record["reason"])
    result = train(cfg, **kwargs)
    io.write_text_atomic(
        io.join(cfg.run_dir, PROBE_TUNING_JSON), json.dumps(record, indent=2) + "\n"
    )
    if result.metrics:
        from tfgenre.evaluation.metrics_file import MetricsFile
        from tfgenre.runs.run_folder import report_dir

        split = MetricsFile.from_json(result.metrics).split or "test"
        report = io.join(report_dir(cfg.run_dir, split), layout.REPORT_MD)
        if io.exists(report):
            io.write_text_atomic(report, io.read_text(report) + _markdown(record))
    return result
