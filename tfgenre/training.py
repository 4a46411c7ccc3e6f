"""One training run: config -> data -> model under a strategy -> fit -> saved model + report.

This module reads the fit config (CLI modules and this module do; library code gets
plain arguments). A run directory holds::

    config.yaml        the resolved config
    run.json           what predict/export need: labels, view, input spec, audio settings
    tb/                TensorBoard logs (scalars, learning rate, confusion matrix, hparams)
    checkpoints/       best.keras: the best validation model
    backup/            BackupAndRestore state (a killed run resumes from here)
    history.csv        one row per epoch
    model.keras        the final model (the best validation model when there is one)
    report/            metrics.json, report.md, confusion matrices, training curves

A folder holding a finished run, or a run of another config, is refused unless
``overwrite`` (see :func:`check_run_dir`); an unfinished run of the same config resumes.
When the evaluation split is empty the run is evaluated on the validation split
(``report_<split>/``), decided before training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import yaml

from tfgenre import config, io
from tfgenre.augment import AugmentConfig
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.protocols import warn_if_leaky

logger = logging.getLogger(__name__)

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd", "rmsprop", "adamw")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and regularisation.

    Attributes:
        name: adam, adamw, sgd or rmsprop.
        learning_rate: Peak learning rate (the schedule's maximum).
        momentum: SGD/RMSprop momentum.
        nesterov: Nesterov momentum for SGD.
        weight_decay: Decoupled weight decay passed to the optimizer (0: off).
        l2: L2 penalty on every kernel, added to the loss (0: off).
        clipnorm: Gradient clipping by global norm (None: off).
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    l2: float = 0.0
    clipnorm: float | None = None

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer.name={self.name!r} is unknown (known: {', '.join(OPTIMIZERS)})"
                + config.did_you_mean(self.name, OPTIMIZERS)
            )
        config.require(
            self.learning_rate > 0, f"optimizer.learning_rate={self.learning_rate} must be > 0"
        )
        for key in ("momentum", "weight_decay", "l2"):
            config.require(getattr(self, key) >= 0, f"optimizer.{key}={getattr(self, key)} >= 0")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule: constant, cosine, triangular, triangular2, exp_range, one_cycle.

    Attributes:
        name: Schedule name.
        options: Schedule options (see :func:`tfgenre.schedules.make_schedule`), e.g.
            ``base_lr`` and ``step_size`` for the cyclical ones.
    """

    name: str = "constant"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FineTuneConfig:
    """Two-phase transfer learning.

    Attributes:
        warmup_epochs: Epochs with the backbone frozen (0: no two-phase fine-tune).
        unfreeze_top: Backbone layers unfrozen for the second phase.
        learning_rate_factor: Second-phase learning rate = learning_rate * factor.
    """

    warmup_epochs: int = 0
    unfreeze_top: int = 20
    learning_rate_factor: float = 0.1

    def __post_init__(self) -> None:
        config.require(
            self.warmup_epochs >= 0, f"fine_tune.warmup_epochs={self.warmup_epochs} >= 0"
        )
        config.require(self.unfreeze_top >= 0, f"fine_tune.unfreeze_top={self.unfreeze_top} >= 0")
        config.require(
            self.learning_rate_factor > 0,
            f"fine_tune.learning_rate_factor={self.learning_rate_factor} must be > 0",
        )


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Everything a training run needs.

    Attributes:
        records: Records folder (or use ``features_csv``).
        features_csv: A features CSV instead of records (features view only).
        splits: Split fractions for a features CSV without a split column.
        named_split: A split shipped with tfgenre for a features CSV
            (``fault_filtered``: the GTZAN fault-filtered lists; rows in no list are
            excluded); overrides ``splits`` and the CSV's split column. Records carry
            the split they were written with.
        view: raw, mel or features.
        model: Registered model name.
        model_options: The model's options.
        run_dir: Output folder.
        epochs: Training epochs.
        batch_size: Global batch size.
        optimizer: Optimizer settings.
        schedule: Learning-rate schedule.
        label_smoothing: Label smoothing of the cross-entropy.
        class_weights: ``none`` or ``balanced``.
        augment: Training-only augmentation.
        cache: Cache decoded training examples in memory.
        shuffle_buffer: Shuffle buffer in examples.
        strategy: auto, default, mirrored, multi_worker or tpu.
        mixed_precision: Mixed float16 (bfloat16 on TPU) compute.
        seed: Seed of weights, shuffling and augmentation.
        early_stopping_patience: Epochs without improvement (0: no early stopping).
        monitor: Quantity for the best checkpoint and early stopping.
        fine_tune: Two-phase fine-tune for transfer backbones.
        verify: Check shard sha256 before training.
        skip_corrupt: Skip corrupt records (counted and reported) instead of failing.
        eval_split: Split evaluated at the end.
        train_split: Split trained on.
        val_split: Split validated on (falls back to none when absent).
        folds: Grouped, stratified K-fold cross-validation over every track of the
            data (0: off; see :mod:`tfgenre.crossval`).
        fold: In one fold's run: its test fold (set by the cross-validation; the data's
            tracks are split by :func:`tfgenre.folds.fold_splits`).
    """

    records: str = ""
    features_csv: str = ""
    splits: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1}
    )
    named_split: str = ""
    view: str = "mel"
    model: str = "genre_resnet"
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_dir: str = ""
    epochs: int = 20
    batch_size: int = 32
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    label_smoothing: float = 0.0
    class_weights: str = "none"
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    cache: bool = True
    shuffle_buffer: int = 4096
    strategy: str = "auto"
    mixed_precision: bool = False
    seed: int = 0
    early_stopping_patience: int = 10
    monitor: str = "val_accuracy"
    fine_tune: FineTuneConfig = dataclasses.field(default_factory=FineTuneConfig)
    verify: bool = False
    skip_corrupt: bool = False
    eval_split: str = "test"
    train_split: str = "train"
    val_split: str = "validation"
    folds: int = 0
    fold: int | None = None

    def __post_init__(self) -> None:
        config.require(self.epochs > 0, f"epochs={self.epochs} must be > 0")
        config.require(
            self.folds == 0 or self.folds >= 2, f"folds={self.folds} must be 0 (off) or >= 2"
        )
        if self.folds:
            wrong = [
                f"{key}={getattr(self, key)!r}"
                for key, name in (
                    ("train_split", "train"),
                    ("val_split", "validation"),
                    ("eval_split", "test"),
                )
                if getattr(self, key) != name
            ]
            config.require(
                not wrong,
                f"folds={self.folds} makes the splits train/validation/test of each fold; "
                f"{', '.join(wrong)} must be left at their defaults (validating or training "
                "on the test fold would select on it)",
            )
        if self.fold is not None:
            config.require(
                self.folds >= 2 and 0 <= self.fold < self.folds,
                f"fold={self.fold} needs folds >= 2 and must be in [0, folds={self.folds})",
            )
        config.require(self.batch_size > 0, f"batch_size={self.batch_size} must be > 0")
        config.require(
            0.0 <= self.label_smoothing < 1.0,
            f"label_smoothing={self.label_smoothing} must be in [0, 1)",
        )
        config.require(
            self.class_weights in ("none", "balanced"),
            f"class_weights={self.class_weights!r} must be none or balanced",
        )
        config.require(
            self.view in ("raw", "mel", "features"),
            f"view={self.view!r} must be raw, mel or features",
        )
        config.require(
            self.early_stopping_patience >= 0,
            f"early_stopping_patience={self.early_stopping_patience} must be >= 0",
        )
        if self.features_csv:
            config.require(
                self.view == "features",
                f"features_csv needs view='features', got view={self.view!r}",
            )
        if self.named_split:
            from tfgenre.protocols import get_named_split

            get_named_split(self.named_split)
            config.require(
                not self.records,
                f"named_split={self.named_split!r} splits a features CSV; records keep the "
                "split they were written with (write_records --set "
                "source_options.split=fault_filtered)",
            )
            config.require(
                not self.folds,
                f"named_split={self.named_split!r} fixes train/validation/test; it does not "
                f"go with folds={self.folds} (k-fold would put one artist in two folds)",
            )


def resolve_fit_config(
    config_path: str | None, overrides: list[str], flags: dict[str, Any]
) -> FitConfig:
    """Defaults, then the YAML's ``fit`` section, then flags, then ``--set``."""
    return config.resolve(
        FitConfig, config_path=config_path, stage="fit", overrides=overrides, flags=flags
    )


# ----------------------------------------------------------------------------- pieces


@dataclasses.dataclass
class RunData:
    """The datasets and facts of one run."""

    labels: list[str]
    input_spec: Any
    train: Any
    val: Any | None
    steps_per_epoch: int
    train_counts: np.ndarray
    info: dict[str, Any]


def _features_from_csv(cfg: FitConfig, drop_remainder: bool) -> RunData:
    from tfgenre.data import array_dataset
    from tfgenre.models.registry import InputSpec

    table = feature_table(cfg)
    table.warn_if_leaky(cfg.features_csv)
    mean, std = table.stats()
    spec = InputSpec("features", (len(table.feature_names),), tuple(mean), tuple(std))
    x, y, _ = table.splits[cfg.train_split]
    n = len(table.labels)
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
    )
    val = None
    if cfg.val_split in table.splits:
        vx, vy, _ = table.splits[cfg.val_split]
        val = array_dataset(vx, vy, n, batch_size=cfg.batch_size, training=False)
    steps = len(x) // cfg.batch_size if drop_remainder else math.ceil(len(x) / cfg.batch_size)
    info = {
        "source": "features_csv",
        "features_csv": cfg.features_csv,
        "feature_names": list(table.feature_names),
        "feature_window": table.window,
        "split_policy": table.policy,
        "protocol": table.protocol.to_json(),
        "excluded": {"count": len(table.excluded), "tracks": list(table.excluded)},
        "num_examples": {k: len(v[0]) for k, v in table.splits.items()},
    }
    return RunData(
        list(table.labels), spec, train, val, max(steps, 1), np.bincount(y, minlength=n), info
    )


def feature_table(cfg: FitConfig) -> Any:
    """The run's features table: the CSV as split by ``cfg`` (its fold when one is set)."""
    from tfgenre.feature_table import fit_feature_table

    table = fit_feature_table(cfg)
    if cfg.fold is not None:
        from tfgenre.folds import table_fold

        table = table_fold(table, cfg.features_csv, cfg.folds, cfg.fold, cfg.seed)
    return table


def record_selections(cfg: FitConfig, manifest: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fold's ``{split: TrackSelection}`` and protocol info (empty without a fold)."""
    if cfg.fold is None:
        return {}, {}
    from tfgenre.folds import records_fold

    return records_fold(manifest, cfg.folds, cfg.fold, cfg.seed, skip_corrupt=cfg.skip_corrupt)


def _from_records(cfg: FitConfig, drop_remainder: bool) -> RunData:
    """The run's data from records: its splits, or one fold of a cross-validation.

    Without a fold, train/validation are the records' splits and a features view is
    normalised with the writer's train mean/std. With a fold (``cfg.fold``), every
    split's shards are read and filtered by the fold's tracks
    (:func:`tfgenre.folds.records_fold`), and a features view is normalised with the
    mean and std of the fold's training examples.
    """
    from tfgenre.data import records_dataset
    from tfgenre.models.registry import InputSpec
    from tfgenre.records.manifest import Manifest

    m = Manifest.load(cfg.records)
    entry = m.view(cfg.view)
    folded = cfg.fold is not None
    if folded:
        splits_used = list(m.splits)
    else:
        splits_used = [s for s in (cfg.train_split, cfg.val_split, cfg.eval_split) if s in m.splits]
        if cfg.train_split not in m.splits:
            raise RecordsError(
                f"records {cfg.records!r} have no {cfg.train_split!r} split (have: {m.splits})"
            )
    m.check_files(cfg.view, splits_used, verify=cfg.verify)
    corrupt = report_corrupt(m, cfg.view, splits_used) if cfg.skip_corrupt else {}
    selections, fold_info = record_selections(cfg, m)
    if folded and cfg.train_split not in selections:
        raise RecordsError(f"fold {cfg.fold} of {cfg.records!r} has no {cfg.train_split!r} tracks")
    common = dict(batch_size=cfg.batch_size, skip_corrupt=cfg.skip_corrupt)
    view_entry = dict(entry)
    mean = tuple(entry["mean"]) if cfg.view == "features" else None
    std = tuple(entry["std"]) if cfg.view == "features" else None
    if folded and cfg.view == "features":
        plain = records_dataset(
            m, cfg.view, cfg.train_split, training=False, select=selections[cfg.train_split],
            **common,
        )
        rows = np.concatenate([x for x, _ in plain.as_numpy_iterator()]).astype(np.float64)
        sd = rows.std(axis=0)
        mean, std = tuple(rows.mean(axis=0)), tuple(np.where(sd > 0, sd, 1.0))
        view_entry.update(mean=list(mean), std=list(std), stats_split=f"fold {cfg.fold} train")
    spec = InputSpec(cfg.view, tuple(int(s) for s in entry["shape"]), mean, std)
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
        **common,
    )
    val = None
    if cfg.val_split in (selections if folded else m.splits):
        val = records_dataset(
            m,
            cfg.view,
            cfg.val_split,
            training=False,
            cache=cfg.cache,
            select=selections.get(cfg.val_split),
            **common,
        )
    if folded:
        n_train = selections[cfg.train_split].num_examples
        train_counts = np.asarray(fold_info["label_counts"][cfg.train_split], dtype=np.int64)
        num_examples = {s: sel.num_examples for s, sel in selections.items()}
    else:
        n_train = int(m.split(cfg.train_split)["num_examples"])
        counts = m.split(cfg.train_split).get("label_counts") or {}
        train_counts = np.array([counts.get(lab, 0) for lab in m.labels], dtype=np.int64)
        num_examples = {s: int(m.split(s)["num_examples"]) for s in m.splits}
    steps = n_train // cfg.batch_size if drop_remainder else math.ceil(n_train / cfg.batch_size)
    info = {
        "source": "records",
        "records": cfg.records,
        "sample_rate": m.sample_rate,
        "window_samples": m.data.get("window_samples"),
        "hop_samples": m.data.get("hop_samples"),
        "view_entry": view_entry,
        "feature_window": "whole_track"
        if m.data.get("window_samples") is None
        else m.data.get("window_samples"),
        "num_examples": num_examples,
        "skipped_corrupt": corrupt,
    }
    if folded:
        info["split_policy"] = {k: v for k, v in fold_info.items() if k != "label_counts"}
    else:
        info["protocol"] = m.protocol.to_json()
        warn_if_leaky(
            m.protocol,
            f"GTZAN records {cfg.records}",
            "write_records --set source_options.split=fault_filtered",
        )
    return RunData(m.labels, spec, train, val, max(steps, 1), train_counts, info)


def report_corrupt(manifest: Any, view: str, splits: list[str]) -> dict[str, int]:
    """Counts, per shard, the records lost to corruption (only shards that lose some)."""
    from tfgenre.data import count_readable

    lost = {}
    for split in splits:
        for shard in manifest.shards(view, split):
            path = io.join(manifest.root, shard.file)
            missing = shard.examples - count_readable([path])
            if missing > 0:
                logger.warning(
                    "skip_corrupt: %s: %d of %d records unreadable", path, missing, shard.examples
                )
                lost[shard.file] = int(missing)
    return lost


def make_optimizer(cfg: FitConfig, learning_rate: Any) -> Any:
    """The Keras optimizer for ``cfg.optimizer`` with ``learning_rate`` (float or schedule)."""
    import keras

    o = cfg.optimizer
    common: dict[str, Any] = {"learning_rate": learning_rate}
    if o.weight_decay:
        common["weight_decay"] = o.weight_decay
    if o.clipnorm:
        common["clipnorm"] = o.clipnorm
    if o.name == "adam":
        return keras.optimizers.Adam(**common)
    if o.name == "adamw":
        return keras.optimizers.AdamW(**{"weight_decay": 1e-4, **common})
    if o.name == "sgd":
        return keras.optimizers.SGD(momentum=o.momentum, nesterov=o.nesterov, **common)
    return keras.optimizers.RMSprop(momentum=o.momentum, **common)


def apply_l2(model: Any, l2: float) -> int:
    """Puts an L2 regulariser on every kernel variable; returns how many."""
    import keras

    if not l2:
        return 0
    count = 0
    for v in model.trainable_weights:
        if v.path.rsplit("/", 1)[-1] in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            v.regularizer = keras.regularizers.L2(l2)
            count += 1
    return count


def class_weight_dict(counts: np.ndarray, mode: str) -> dict[int, float] | None:
    """``balanced`` weights n / (k * count_c), or None."""
    if mode != "balanced" or counts.sum() == 0:
        return None
    k = int((counts > 0).sum())
    return {i: float(counts.sum() / (k * c)) if c else 0.0 for i, c in enumerate(counts)}


def compile_model(model: Any, cfg: FitConfig, learning_rate: Any) -> None:
    """Compiles with one-hot cross-entropy (label smoothing) and accuracy."""
    import keras

    model.compile(
        optimizer=make_optimizer(cfg, learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def patch_multi_worker_build(
    model: Any, strategy: Any, input_shape: tuple[int, ...], num_classes: int
) -> None:
    """Works around a Keras 3 bug under MultiWorkerMirroredStrategy.

    ``Trainer._maybe_symbolic_build`` calls ``strategy.reduce`` on the whole ``(x, y)``
    tuple of per-replica batches, which CollectiveAllReduce cannot take ("Attempt to
    convert a value (PerReplica...)"). The build only needs shapes, so it is given a
    dummy batch instead. Remove once Keras reduces per tensor.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    _patch_multi_worker_reduce()
    batch = (
        np.zeros((1, *input_shape), np.float32),
        np.zeros((1, num_classes), np.float32),
    )

    def build(iterator: Any = None, data_batch: Any = None) -> None:
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    model._maybe_symbolic_build = build


def _patch_multi_worker_reduce() -> None:
    """Works around a second Keras 3 multi-worker bug in reducing step outputs.

    Step outputs are reduced with ``axis=0`` even when they are scalars (loss, metrics),
    which fails ("Invalid reduction dimension 0 for input with 0 dimensions"). Scalars
    are averaged over workers with ``axis=None``.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_tfgenre_patched", False):
        return
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            return original(values, strategy, reduction)

        def reduce(v: Any) -> Any:
            axis = None if len(getattr(v, "shape", ())) == 0 else 0
            return strategy.reduce("MEAN", v, axis=axis)

        return tree.map_structure(reduce, values)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._tfgenre_patched = True


def _schedule(cfg: FitConfig, total_steps: int, scale: float = 1.0) -> Any:
    from tfgenre.schedules import make_schedule

    options = dict(cfg.schedule.options)
    if scale != 1.0 and "base_lr" in options:
        options["base_lr"] = float(options["base_lr"]) * scale
    return make_schedule(
        cfg.schedule.name,
        learning_rate=cfg.optimizer.learning_rate * scale,
        total_steps=max(total_steps, 1),
        **options,
    )


def _strategy_scope(cfg: FitConfig) -> tuple[Any, Any, dict[str, Any]]:
    import keras

    if keras.backend.backend() != "tensorflow":
        return (
            None,
            contextlib.nullcontext(),
            {"name": f"{keras.backend.backend()} (no tf.distribute)", "num_replicas": 1},
        )
    from tfgenre.strategy import describe_strategy, resolve_strategy

    strategy = resolve_strategy(cfg.strategy)
    return strategy, strategy.scope(), describe_strategy(strategy)


# ----------------------------------------------------------------------------- run folder

RUN_OUTPUTS: tuple[str, ...] = (
    "config.yaml",
    "run.json",
    "tb",
    "checkpoints",
    "backup",
    "history.csv",
    "model.keras",
    "report",
    "folds",
    "folds_summary.json",
    "folds_summary.md",
)
"""What :func:`train` (and a cross-validation, :mod:`tfgenre.crossval`: ``folds/`` and
the summaries) writes into a run folder (plus ``report_<split>``, ``backup-worker-<i>``
and the ``.incomplete`` files of interrupted atomic writes)."""

_IGNORED_KEYS = ("run_dir", "verify")  # a moved folder or an extra check is the same run


def is_run_output(name: str) -> bool:
    """Whether ``name`` (an entry of a run folder) is something :func:`train` writes."""
    base = name.removesuffix(".incomplete")
    return base in RUN_OUTPUTS or base.startswith("report_") or base.startswith("backup-worker-")


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


def _saved_fit_config(run_dir: str) -> dict[str, Any] | None:
    path = io.join(run_dir, "config.yaml")
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
      removes only what :func:`train` writes (:func:`is_run_output`);
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
    saved = _saved_fit_config(path)
    if saved is None:
        raise ConfigError(
            f"run_dir={path!r} holds {', '.join(ours)} but no config.yaml of a tfgenre fit, "
            "so tfgenre did not write them and will not replace them: choose another --run-dir"
        )
    finished = "model.keras" in names or "folds_summary.json" in names
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


# ----------------------------------------------------------------------------- the run


@dataclasses.dataclass
class FitResult:
    """What a finished run produced."""

    run_dir: str
    metrics: dict[str, Any] | None
    history: dict[str, list[float]]
    seconds: float


def resolve_eval_split(cfg: FitConfig, sizes: dict[str, int], source: str) -> str:
    """The split the finished run is evaluated on, decided before training.

    ``cfg.eval_split`` when it holds examples, else ``cfg.val_split`` (with a warning).

    Args:
        cfg: The fit config.
        sizes: Examples per split of the data.
        source: The records folder or features CSV, for messages.

    Raises:
        ConfigError: when neither split holds examples.
    """
    if sizes.get(cfg.eval_split, 0) > 0:
        return cfg.eval_split
    have = ", ".join(f"{k} ({n})" for k, n in sizes.items() if n > 0) or "none"
    if sizes.get(cfg.val_split, 0) > 0:
        logger.warning(
            "split %r is empty in %s (have: %s): the run is evaluated on %r instead (report_%s/)",
            cfg.eval_split,
            source,
            have,
            cfg.val_split,
            cfg.val_split,
        )
        return cfg.val_split
    raise ConfigError(
        f"split {cfg.eval_split!r} is empty in {source} (have: {have}) and there is no "
        f"{cfg.val_split!r} split to evaluate on instead: give the data a test split "
        "(e.g. --splits train=0.8,test=0.2), or pass --no-evaluate"
    )


def check_names(cfg: FitConfig) -> None:
    """Checks the model and schedule names and the model's view before any work.

    Raises:
        ConfigError: naming the value and the known choices.
    """
    from tfgenre.models.registry import get_entry
    from tfgenre.schedules import SCHEDULES

    entry = get_entry(cfg.model)
    if cfg.view not in entry.views:
        raise ConfigError(
            f"model {cfg.model!r} takes view {' or '.join(map(repr, entry.views))}, "
            f"not view={cfg.view!r}"
        )
    if cfg.schedule.name not in SCHEDULES:
        raise ConfigError(
            f"schedule.name={cfg.schedule.name!r} is unknown (known: {', '.join(SCHEDULES)})"
        )


def train(
    cfg: FitConfig,
    *,
    evaluate: bool = True,
    extra_callbacks: list[Any] | None = None,
    confusion_images: bool = True,
    overwrite: bool = False,
) -> FitResult:
    """Runs one training job and (by default) evaluates it; see the module docstring.

    Everything that can be checked is checked before the run folder is touched: the
    names in the config, the run folder (:func:`check_run_dir`), the data and the split
    to evaluate (:func:`resolve_eval_split`).

    Args:
        cfg: The resolved fit config.
        evaluate: Evaluate ``cfg.eval_split`` (``cfg.val_split`` when that is empty) at
            the end and write ``report/`` (``report_<split>/``).
        extra_callbacks: More Keras callbacks (e.g. Optuna's pruning callback); they run
            after the standard ones.
        confusion_images: Log the validation confusion-matrix image every epoch (a
            search turns it off: it costs more than an epoch of a small model).
        overwrite: Replace a finished run, or a run of another config, in ``run_dir``.

    Raises:
        ConfigError: on a bad config (unknown model, option, view...).
        RecordsError: on missing/corrupt records (naming the shard).
    """
    import keras
    import tensorflow as tf

    from tfgenre.callbacks import standard_callbacks
    from tfgenre.models.registry import get_model
    from tfgenre.strategy import is_chief

    if not cfg.run_dir:
        raise ConfigError("run_dir='' must name the run folder")
    if not cfg.records and not cfg.features_csv:
        raise ConfigError("give records (a records folder) or features_csv")
    if cfg.folds and cfg.fold is None:
        raise ConfigError(
            f"folds={cfg.folds} asks for a cross-validation, which is one run per fold: "
            "run it with fit --folds (tfgenre.crossval.run_folds), or set folds=0"
        )
    check_names(cfg)
    start = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    with contextlib.suppress(Exception):
        tf.config.experimental.enable_op_determinism()
    strategy, scope, strategy_info = _strategy_scope(cfg)
    on_tpu = "TPU" in strategy_info.get("name", "")
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if on_tpu else "mixed_float16")
    try:
        chief = is_chief(strategy) if strategy is not None else True
        # Only the chief decides about the folder; the other workers keep their backups.
        plan = check_run_dir(cfg, overwrite=overwrite) if chief else RunDirPlan()
        data = _features_from_csv(cfg, on_tpu) if cfg.features_csv else _from_records(cfg, on_tpu)
        eval_split = None
        if evaluate:
            source = cfg.features_csv or cfg.records
            eval_split = resolve_eval_split(cfg, data.info["num_examples"], source)
        clear_run_outputs(cfg.run_dir, plan.remove)
        io.makedirs(cfg.run_dir)
        if chief:
            io.write_text_atomic(
                io.join(cfg.run_dir, "config.yaml"),
                yaml.safe_dump({"fit": config.to_dict(cfg)}, sort_keys=False),
            )
            io.write_text_atomic(
                io.join(cfg.run_dir, "run.json"),
                json.dumps(run_info(cfg, data, strategy_info), indent=2),
            )
        n_classes = len(data.labels)
        with scope:
            model = get_model(cfg.model, data.input_spec, n_classes, **dict(cfg.model_options))
            apply_l2(model, cfg.optimizer.l2)
            two_phase = cfg.fine_tune.warmup_epochs > 0 and _has_backbone(model)
            first_epochs = min(cfg.fine_tune.warmup_epochs, cfg.epochs) if two_phase else cfg.epochs
            if two_phase:
                from tfgenre.models.backbone import freeze_backbone

                freeze_backbone(model)
            compile_model(model, cfg, _schedule(cfg, first_epochs * data.steps_per_epoch))
            patch_multi_worker_build(model, strategy, data.input_spec.shape, n_classes)
        hparams = {**_flat_hparams(cfg), "num_classes": n_classes}
        callbacks = standard_callbacks(
            cfg.run_dir,
            class_names=data.labels,
            val_data=data.val,
            hparams=hparams,
            monitor=cfg.monitor if data.val is not None else "loss",
            patience=cfg.early_stopping_patience or 1,
            early_stopping=cfg.early_stopping_patience > 0,
            chief=chief,
            # The image's predict() would run collectives on the chief alone and stall
            # the other workers, so multi-worker runs go without it.
            confusion_matrix=confusion_images and strategy_info.get("num_workers", 1) <= 1,
        )
        callbacks = [*callbacks, *(extra_callbacks or [])]
        fit_kwargs = dict(
            validation_data=data.val,
            class_weight=class_weight_dict(data.train_counts, cfg.class_weights),
            verbose=2,
        )
        history = _fit_guarded(
            model, data, cfg, callbacks=callbacks, epochs=first_epochs, **fit_kwargs
        )
        if two_phase and cfg.epochs > first_epochs:
            from tfgenre.models.backbone import set_trainable_top

            with scope:
                unfrozen = set_trainable_top(model, cfg.fine_tune.unfreeze_top)
                logger.info("fine-tune phase 2: unfroze %d backbone layers", len(unfrozen))
                remaining = (cfg.epochs - first_epochs) * data.steps_per_epoch
                compile_model(
                    model, cfg, _schedule(cfg, remaining, cfg.fine_tune.learning_rate_factor)
                )
                patch_multi_worker_build(model, strategy, data.input_spec.shape, n_classes)
            more = _fit_guarded(
                model,
                data,
                cfg,
                callbacks=callbacks,
                epochs=cfg.epochs,
                initial_epoch=first_epochs,
                **fit_kwargs,
            )
            for k, v in more.items():
                history.setdefault(k, []).extend(v)
        final = model
        best = io.join(cfg.run_dir, "checkpoints", "best.keras")
        if data.val is not None and io.exists(best):
            from tfgenre.models.saving import load_model

            final = load_model(best)
        if chief:
            final.save(io.join(cfg.run_dir, "model.keras"))
        metrics = None
        if eval_split is not None and chief:
            from tfgenre.evaluate import evaluate_run

            note = None
            if eval_split != cfg.eval_split:
                note = f"split {cfg.eval_split!r} is empty: evaluated on {eval_split!r}"
            metrics = evaluate_run(cfg.run_dir, split=eval_split, model=final, note=note)
        return FitResult(cfg.run_dir, metrics, history, time.perf_counter() - start)
    finally:
        if cfg.mixed_precision:
            keras.mixed_precision.set_global_policy("float32")


@contextlib.contextmanager
def unknown_length_ok(skip_corrupt: bool) -> Iterator[None]:
    """Silences Keras' "Your input ran out of data" warning under ``skip_corrupt``.

    A dataset that skips unreadable records has no known length, so Keras learns an
    epoch's length by reaching its end and warns about it; nothing is lost, and the
    skipped records are counted and reported by the run.
    """
    if not skip_corrupt:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield


def _fit_guarded(model: Any, data: RunData, cfg: FitConfig, **kwargs: Any) -> dict[str, list]:
    """``model.fit`` that turns a corrupt record into an error naming the shard."""
    import tensorflow as tf

    try:
        with unknown_length_ok(cfg.skip_corrupt):
            return model.fit(data.train, shuffle=False, **kwargs).history
    except tf.errors.DataLossError as err:
        from tfgenre.data import find_corrupt_shards
        from tfgenre.records.manifest import Manifest

        if not cfg.records:
            raise
        m = Manifest.load(cfg.records)
        paths = [p for s in m.splits for p in m.shard_paths(cfg.view, s)]
        bad = find_corrupt_shards(paths)
        names = "; ".join(f"{p}: {msg}" for p, msg in bad.items()) or str(err).splitlines()[0]
        raise RecordsError(
            f"corrupt record(s) in {names}. Rewrite the records, or pass --skip-corrupt to "
            "skip what cannot be read (it is counted and reported)"
        ) from err


def _has_backbone(model: Any) -> bool:
    try:
        model.get_layer("backbone")
    except ValueError:
        return False
    return True


def _flat_hparams(cfg: FitConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (list, tuple)):
            out[prefix] = ",".join(map(str, value))
        elif value is not None:
            out[prefix] = value

    walk("", config.to_dict(cfg))
    return out


def run_info(cfg: FitConfig, data: RunData, strategy_info: dict[str, Any]) -> dict[str, Any]:
    """``run.json``: what evaluate, predict and export need to use the model."""
    spec = data.input_spec
    return {
        "labels": data.labels,
        "view": cfg.view,
        "model": cfg.model,
        "input_spec": {
            "view": spec.view,
            "shape": list(spec.shape),
            "mean": list(spec.mean) if spec.mean else None,
            "std": list(spec.std) if spec.std else None,
        },
        "strategy": strategy_info,
        **data.info,
    }


def load_run_info(run_dir: str) -> dict[str, Any]:
    """Reads ``run.json`` of a run folder.

    Raises:
        ConfigError: when the folder is not a tfgenre run.
    """
    path = io.join(run_dir, "run.json")
    if not io.exists(path):
        raise ConfigError(f"{run_dir!r} is not a tfgenre run folder (no run.json)")
    return json.loads(io.read_text(path))


def load_run_config(run_dir: str) -> FitConfig:
    """The resolved FitConfig saved in ``config.yaml``."""
    data = config.load_section(io.join(run_dir, "config.yaml"), "fit")
    return config.from_dict(FitConfig, data)
