"""What a baseline is scored on: the fit split, or stratified, grouped k folds."""

from __future__ import annotations

import numpy as np

from tfgenre.classical.baselines_config import BaselinesConfig
from tfgenre.classical.rows import FeatureRows
from tfgenre.errors import ConfigError
from tfgenre.splitting.protocols import Protocol


def _source_groups(cfg: BaselinesConfig) -> dict[str, str]:
    """``{track_id: group}`` of the data (records' manifest or a CSV group column)."""
    from tfgenre.evaluation.folds import records_groups
    from tfgenre.views.feature_table import csv_track_groups

    if cfg.records:
        from tfgenre.records.info import RecordsInfo

        return records_groups(RecordsInfo.load(cfg.records))
    return csv_track_groups(cfg.features_csv)


def fold_grouping(cfg: BaselinesConfig) -> str:
    """``artist`` when the data knows the tracks' groups, else ``track``."""
    return "artist" if _source_groups(cfg) else "track"


def folds_of(rows: FeatureRows, cfg: BaselinesConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_index, test_index)`` pairs: the fit split, or stratified, grouped k-fold.

    The k folds are :func:`tfgenre.evaluation.folds.assign_folds` of the rows' tracks (grouped by
    artist when the data knows it, else by track): the same folds as ``fit --folds K``
    with the same seed. Row order and the model do not change them.

    Raises:
        ConfigError: when a split is missing or a class has fewer tracks than folds.
    """
    if not cfg.folds:
        train = np.flatnonzero(rows.splits == cfg.train_split)
        test = np.flatnonzero(rows.splits == cfg.eval_split)
        have = ", ".join(sorted(set(rows.splits.tolist())))
        for split, index in ((cfg.train_split, train), (cfg.eval_split, test)):
            if not len(index):
                raise ConfigError(f"split {split!r} has no rows (splits: {have}); check splits")
        return [(train, test)]
    from tfgenre.evaluation.folds import assign_folds

    groups = _source_groups(cfg)
    ids = [str(t) for t in rows.track_ids.tolist()]
    assignment = assign_folds(
        ((t, y, groups.get(t)) for t, y in zip(ids, rows.y.tolist())),
        cfg.folds,
        cfg.seed,
        label_names=rows.labels,
    )
    fold_of_row = np.asarray([assignment.fold_of[t] for t in ids])
    return [
        (np.flatnonzero(fold_of_row != k), np.flatnonzero(fold_of_row == k))
        for k in range(cfg.folds)
    ]


def protocol_of(cfg: BaselinesConfig, rows: FeatureRows) -> Protocol:
    """The protocol of the evaluation: the rows' split, or random k-fold with folds."""
    if not cfg.folds:
        return rows.protocol
    gtzan = rows.protocol.dataset == "gtzan"
    return Protocol(
        "random",
        grouping="track",
        dataset=rows.protocol.dataset,
        leaks_artists=True if gtzan else None,
    )
