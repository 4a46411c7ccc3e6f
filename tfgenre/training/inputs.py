"""The data of one training run: datasets, class counts and the run's RunInfo.

:func:`load_run_data` builds a :class:`RunData` from records (their splits, or one fold
of a cross-validation) or from a features CSV. Its ``run`` (a
:class:`~tfgenre.runs.run_info.RunInfo`: labels, the view spec and audio framing the records
were written with, split sizes, protocol, records lost to corruption, which splits it
used and its fold's tracks, the resolved config) becomes ``run.json`` once the strategy
is known.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from tfgenre.core import config
from tfgenre.errors import RecordsError
from tfgenre.records.info import AudioSpec, RecordsInfo
from tfgenre.runs.data_selection import DataSelection
from tfgenre.runs.run_info import RunInfo
from tfgenre.splitting.fold_spec import FoldSpec
from tfgenre.splitting.protocols import Protocol, warn_if_leaky
from tfgenre.tfdata.corrupt_shards import report_corrupt
from tfgenre.tfdata.epochs import EpochCounter
from tfgenre.tfdata.records_dataset import records_dataset
from tfgenre.training.fit_config import FitConfig
from tfgenre.views.base import ViewSpec
from tfgenre.views.registry import VECTOR_VIEWS

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunData:
    """The datasets and facts of one run.

    Attributes:
        run: What ``run.json`` will say (its ``strategy`` is filled in by the loop).
        train: Training ``tf.data.Dataset`` of ``(x (batch, *shape), y (batch, classes))``.
        val: Validation dataset like ``train``, or None when there is no validation split.
        steps_per_epoch: Training batches per epoch.
        train_counts: Training examples per class, shape (classes,).
        epochs: The :class:`tfgenre.tfdata.epochs.EpochCounter` that ``train`` reads at each
            pass (set by :class:`tfgenre.training.epoch_seeds.EpochSeeds`).
    """

    run: RunInfo
    train: Any
    val: Any | None
    steps_per_epoch: int
    train_counts: np.ndarray
    epochs: Any = None

    @property
    def labels(self) -> list[str]:
        """Class names in index order."""
        return list(self.run.labels)

    @property
    def input_spec(self) -> Any:
        """The model's :class:`tfgenre.models.registry.InputSpec`."""
        return self.run.input_spec()


def load_run_data(cfg: FitConfig, drop_remainder: bool) -> RunData:
    """The run's data: from ``cfg.features_csv`` when set, else from ``cfg.records``.

    Args:
        cfg: The fit config.
        drop_remainder: Drop the last partial training batch (TPUs need static shapes).

    Raises:
        RecordsError: on missing or corrupt records, or a split the data lacks.
        ConfigError: on a features CSV that cannot be used.
    """
    if cfg.features_csv:
        return _from_features_csv(cfg, drop_remainder)
    return _from_records(cfg, drop_remainder)


def _steps(n: int, batch_size: int, drop_remainder: bool) -> int:
    steps = n // batch_size if drop_remainder else math.ceil(n / batch_size)
    return max(steps, 1)


def _selection(cfg: FitConfig, fold: FoldSpec | None) -> DataSelection:
    """Which splits of its data the run uses (run.json's ``selection``)."""
    return DataSelection(
        train_split=cfg.train_split,
        val_split=cfg.val_split,
        eval_split=cfg.eval_split,
        named_split=cfg.named_split,
        fractions=dict(cfg.splits) if cfg.features_csv else {},
        seed=cfg.seed,
        skip_corrupt=cfg.skip_corrupt,
        fold=fold,
    )


def _from_features_csv(cfg: FitConfig, drop_remainder: bool) -> RunData:
    """The run's data from a features CSV (split by ``cfg``, its fold when one is set)."""
    from tfgenre.tfdata.array_dataset import array_dataset
    from tfgenre.views.feature_table import fit_feature_table

    table = fit_feature_table(cfg)
    fold = csv_fold(cfg, table)
    if fold is not None:
        from tfgenre.evaluation.folds import apply_table_fold

        table = apply_table_fold(table, fold)
    table.warn_if_leaky(cfg.features_csv)
    mean, std = table.stats()
    x, y, _ = table.splits[cfg.train_split]
    n = len(table.labels)
    epochs = EpochCounter()
    train = array_dataset(
        x,
        y,
        n,
        batch_size=cfg.batch_size,
        training=True,
        seed=cfg.seed,
        augment=cfg.augment,
        feature_std=std.astype(np.float32),
        drop_remainder=drop_remainder,
        epochs=epochs,
    )
    val = None
    if cfg.val_split in table.splits:
        vx, vy, _ = table.splits[cfg.val_split]
        val = array_dataset(vx, vy, n, batch_size=cfg.batch_size, training=False)
    width = len(table.feature_names)
    run = RunInfo(
        labels=tuple(table.labels),
        model=cfg.model,
        view_spec=ViewSpec("features", "float32", (width,), tuple(table.feature_names)).with_stats(
            mean, std, "train"
        ),
        input_shape=(width,),
        audio=AudioSpec.from_framing(table.framing),
        source="features_csv",
        data_path=cfg.features_csv,
        num_examples={k: len(v[0]) for k, v in table.splits.items()},
        split_policy=table.policy,
        protocol=table.protocol,
        excluded=tuple(table.excluded),
        selection=_selection(cfg, fold),
        config=config.to_dict(cfg),
    )
    steps = _steps(len(x), cfg.batch_size, drop_remainder)
    return RunData(run, train, val, steps, np.bincount(y, minlength=n), epochs)


def csv_fold(cfg: FitConfig, table: Any) -> FoldSpec | None:
    """The fold of a features CSV run (``table`` as read), or None without a fold."""
    if cfg.fold is None:
        return None
    from tfgenre.evaluation.folds import table_fold

    return table_fold(table, cfg.features_csv, cfg.folds, cfg.fold, cfg.seed)


def feature_table(cfg: FitConfig) -> Any:
    """The run's features table: the CSV as split by ``cfg`` (its fold when one is set)."""
    from tfgenre.views.feature_table import fit_feature_table

    table = fit_feature_table(cfg)
    fold = csv_fold(cfg, table)
    if fold is None:
        return table
    from tfgenre.evaluation.folds import apply_table_fold

    return apply_table_fold(table, fold)


def records_fold(cfg: FitConfig, manifest: RecordsInfo) -> FoldSpec | None:
    """The fold of a records run with its tracks (None without a fold)."""
    if cfg.fold is None:
        return None
    from tfgenre.evaluation.folds import records_fold as assign

    return assign(manifest, cfg.folds, cfg.fold, cfg.seed, skip_corrupt=cfg.skip_corrupt)


def _from_records(cfg: FitConfig, drop_remainder: bool) -> RunData:
    """The run's data from records: its splits, or one fold of a cross-validation.

    Without a fold, train/validation are the records' splits and a features view is
    normalised with the writer's train mean/std (an embeddings view, which the writer
    gives none, with the train split's, computed here). With a fold (``cfg.fold``), every
    split's shards are read and filtered by the fold's tracks
    (:func:`tfgenre.evaluation.folds.records_fold`), and a vector view is normalised with the
    mean and std of the fold's training examples.
    """
    from tfgenre.evaluation.folds import fold_selections

    m = RecordsInfo.load(cfg.records)
    spec = m.view(cfg.view)
    corrupt = _check_records(cfg, m)
    fold = records_fold(cfg, m)
    folded = fold is not None
    selections = fold_selections(fold) if fold is not None else {}
    if folded and cfg.train_split not in selections:
        raise RecordsError(f"fold {cfg.fold} of {cfg.records!r} has no {cfg.train_split!r} tracks")
    if cfg.view in VECTOR_VIEWS and (folded or spec.mean is None):
        mean, std = _train_row_stats(cfg, m, selections.get(cfg.train_split))
        spec = spec.with_stats(mean, std, f"fold {cfg.fold} train" if folded else cfg.train_split)
    epochs = EpochCounter()
    train, val = _records_datasets(cfg, m, selections, drop_remainder, epochs)
    if fold is not None:
        n_train = selections[cfg.train_split].num_examples
        train_counts = np.asarray(fold.label_counts[cfg.train_split], dtype=np.int64)
        num_examples = {s: sel.num_examples for s, sel in selections.items()}
    else:
        n_train = m.split(cfg.train_split).num_examples
        train_counts = np.asarray(m.label_counts(cfg.train_split), dtype=np.int64)
        num_examples = {s: m.split(s).num_examples for s in m.split_names}
    run = _records_run(cfg, m, spec, num_examples, corrupt, fold)
    steps = _steps(n_train, cfg.batch_size, drop_remainder)
    return RunData(run, train, val, steps, train_counts, epochs)


def _check_records(cfg: FitConfig, m: RecordsInfo) -> dict[str, int]:
    """Checks the splits and shards the run reads; returns the records lost per shard."""
    have = m.split_names
    if cfg.fold is not None:
        splits_used = list(have)
    else:
        splits_used = [s for s in (cfg.train_split, cfg.val_split, cfg.eval_split) if s in have]
        if cfg.train_split not in have:
            raise RecordsError(
                f"records {cfg.records!r} have no {cfg.train_split!r} split (have: {have})"
            )
    m.check_files(cfg.view, splits_used, verify=cfg.verify)
    return report_corrupt(m, cfg.view, splits_used) if cfg.skip_corrupt else {}


def _train_row_stats(
    cfg: FitConfig, m: RecordsInfo, select: Any
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std (1 where 0) of the training rows, each ``(columns,)``.

    The rows of the fold's training tracks, or of the train split when ``select`` is None.
    """
    plain = records_dataset(
        m,
        cfg.view,
        cfg.train_split,
        batch_size=cfg.batch_size,
        training=False,
        skip_corrupt=cfg.skip_corrupt,
        select=select,
    )
    rows = np.concatenate([x for x, _ in plain.as_numpy_iterator()]).astype(np.float64)
    sd = rows.std(axis=0)
    return tuple(rows.mean(axis=0)), tuple(np.where(sd > 0, sd, 1.0))


def _records_datasets(
    cfg: FitConfig,
    m: RecordsInfo,
    selections: dict[str, Any],
    drop_remainder: bool,
    epochs: EpochCounter,
) -> tuple[Any, Any | None]:
    """The training dataset (reading ``epochs``) and the validation one (or None)."""
    common = dict(batch_size=cfg.batch_size, skip_corrupt=cfg.skip_corrupt)
    train = records_dataset(
        m,
        cfg.view,
        cfg.train_split,
        training=True,
        seed=cfg.seed,
        cache=cfg.cache,
        shuffle_buffer=cfg.shuffle_buffer,
        augment=cfg.augment,
        drop_remainder=drop_remainder,
        select=selections.get(cfg.train_split),
        epochs=epochs,
        **common,
    )
    val = None
    if cfg.val_split in (selections if cfg.fold is not None else m.split_names):
        val = records_dataset(
            m,
            cfg.view,
            cfg.val_split,
            training=False,
            cache=cfg.cache,
            select=selections.get(cfg.val_split),
            **common,
        )
    return train, val


def _records_run(
    cfg: FitConfig,
    m: RecordsInfo,
    spec: ViewSpec,
    num_examples: dict[str, int],
    corrupt: dict[str, int],
    fold: FoldSpec | None,
) -> RunInfo:
    """The RunInfo of a run on records (warns when the split leaks artists)."""
    if cfg.fold is None:
        warn_if_leaky(
            m.protocol,
            f"GTZAN records {cfg.records}",
            "write_records --set source_options.split=fault_filtered",
        )
    return RunInfo(
        labels=m.labels,
        model=cfg.model,
        view_spec=spec,
        input_shape=spec.shape,
        audio=m.audio,
        source="records",
        data_path=cfg.records,
        num_examples=num_examples,
        split_policy=fold.policy() if fold is not None else m.split_policy,
        # a fold's split is k-fold over every split: its protocol is in split_policy
        protocol=m.protocol if fold is None else Protocol.from_json(None),
        excluded=m.excluded,
        skipped_corrupt=corrupt,
        selection=_selection(cfg, fold),
        config=config.to_dict(cfg),
    )
