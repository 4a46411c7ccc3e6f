"""The fit config: what one training run is asked to do, checked when it is built.

:class:`FitConfig` is the ``fit:`` section of a config file (with the flags and
``--set`` overrides of ``python -m tfgenre.fit`` on top, see :func:`resolve_fit_config`);
its parts are :class:`OptimizerConfig`, :class:`ScheduleConfig` and
:class:`FineTuneConfig`. :func:`check_names` checks the names that need the model and
schedule registries.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.tfdata.augment import AugmentConfig

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
        options: Schedule options (see :func:`tfgenre.models.schedules.make_schedule`), e.g.
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
        records: Records folder (or use ``features_csv``); a local path is made
            absolute, so that config.yaml and run.json name it from any folder.
        features_csv: A features CSV instead of records (features view only); made
            absolute like ``records``.
        splits: Split fractions for a features CSV without a split column.
        named_split: A split shipped with tfgenre for a features CSV
            (``fault_filtered``: the GTZAN fault-filtered lists; rows in no list are
            excluded); overrides ``splits`` and the CSV's split column. Records carry
            the split they were written with.
        view: raw, mel, features or embeddings.
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
            data (0: off; see :mod:`tfgenre.training.crossval`).
        fold: In one fold's run: its test fold (set by the cross-validation; the data's
            tracks are split by :func:`tfgenre.evaluation.folds.fold_splits`; run.json keeps
            them).
        probe_tune: For ``model: linear``: choose ``optimizer.l2`` from
            ``probe_l2_grid`` on the validation split before the run (see
            :mod:`tfgenre.training.probe_tuning`): ``auto`` (the embeddings view), ``on``
            (any vector view) or ``off``.
        probe_l2_grid: The L2 values tried, ascending.
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
    probe_tune: str = "auto"
    probe_l2_grid: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)

    def __post_init__(self) -> None:
        for key in ("records", "features_csv"):
            path = getattr(self, key)
            if isinstance(path, str) and path and "://" not in path:
                # evaluate, predict and export read these back from another folder.
                object.__setattr__(self, key, os.path.abspath(path))
        config.require(self.epochs > 0, f"epochs={self.epochs} must be > 0")
        config.require(
            self.probe_tune in ("auto", "on", "off"),
            f"probe_tune={self.probe_tune!r} must be auto, on or off",
        )
        config.require(
            bool(self.probe_l2_grid) and all(v >= 0 for v in self.probe_l2_grid),
            f"probe_l2_grid={list(self.probe_l2_grid)} must name at least one value, each >= 0",
        )
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
        from tfgenre.views.registry import VIEW_NAMES

        config.require(
            self.view in VIEW_NAMES,
            f"view={self.view!r} must be one of {', '.join(VIEW_NAMES)}"
            + config.did_you_mean(str(self.view), VIEW_NAMES),
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
            from tfgenre.splitting.protocols import get_named_split

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


def check_names(cfg: FitConfig) -> None:
    """Checks the model and schedule names and the model's view before any work.

    Raises:
        ConfigError: naming the value and the known choices.
    """
    from tfgenre.models.registry import get_entry
    from tfgenre.models.schedules import SCHEDULES

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
