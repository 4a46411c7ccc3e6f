"""A trained run's data read back as fit read it, from its ``run.json`` alone.

Evaluate and export read a run's splits through here: the features CSV split as the run
split it (a named split, fractions and seed, or its fold), or a records fold's tracks as
:class:`~tfgenre.tfdata.selection.TrackSelection` s. A fold's tracks are the ones
``run.json`` lists (:class:`~tfgenre.splitting.fold_spec.FoldSpec`); only a run written
before run.json kept them has its fold assigned again from ``(k, fold, seed)``.
"""

from __future__ import annotations

import logging
from typing import Any

from tfgenre.errors import ConfigError
from tfgenre.evaluation import folds
from tfgenre.records.info import RecordsInfo
from tfgenre.runs.run_info import RunInfo
from tfgenre.splitting.fold_spec import FoldSpec

logger = logging.getLogger(__name__)


def _table_as_read(run: RunInfo) -> Any:
    """The run's features CSV split as the run's selection says (before any fold)."""
    from tfgenre.views.feature_table import load_feature_table

    sel = run.selection
    return load_feature_table(
        run.data_path, dict(sel.fractions) or None, seed=sel.seed, named_split=sel.named_split
    )


def _assigned_again(run: RunInfo, fold: FoldSpec, data: Any) -> FoldSpec:
    """The fold of a run whose run.json did not keep its tracks, assigned again."""
    logger.info(
        "%s lists no tracks for fold %d of %d (an older run.json): assigning the folds "
        "again from the seed",
        run.data_path,
        fold.fold,
        fold.k,
    )
    if isinstance(data, RecordsInfo):
        return folds.records_fold(
            data, fold.k, fold.fold, fold.seed, skip_corrupt=run.selection.skip_corrupt
        )
    return folds.table_fold(data, run.data_path, fold.k, fold.fold, fold.seed)


def run_feature_table(run: RunInfo) -> Any:
    """The run's features table, split as the run was (its fold's tracks in a fold run).

    Raises:
        ConfigError: when the run did not train on a features CSV, or the CSV cannot
            be read or split as the run split it.
    """
    if run.source != "features_csv":
        raise ConfigError(f"the run trained on {run.source}, not on a features CSV")
    table = _table_as_read(run)
    fold = run.selection.fold
    if fold is None:
        return table
    if not fold.has_tracks:
        fold = _assigned_again(run, fold, table)
    return folds.apply_table_fold(table, fold)


def run_record_selections(run: RunInfo, records: RecordsInfo) -> dict[str, Any]:
    """``{split: TrackSelection}`` of a records run's fold; empty for a run without one."""
    fold = run.selection.fold
    if fold is None:
        return {}
    if not fold.has_tracks:
        fold = _assigned_again(run, fold, records)
    return folds.fold_selections(fold)
