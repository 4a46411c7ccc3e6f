"""The settings of a baselines evaluation (the ``baselines:`` section of a pipeline)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tfgenre.classical.models import MODELS
from tfgenre.classical.tuning import DEFAULT_GRID, TUNE_MODES
from tfgenre.core import config
from tfgenre.splitting.protocols import get_named_split
from tfgenre.views.registry import VECTOR_VIEWS

#: The keys of a ``fit:`` section that say which data and split a fit used.
FIT_DATA_KEYS: tuple[str, ...] = (
    "records",
    "features_csv",
    "splits",
    "named_split",
    "seed",
    "train_split",
    "eval_split",
)


@dataclasses.dataclass(frozen=True)
class BaselinesConfig:
    """Settings of a baselines evaluation (the ``baselines:`` section of a pipeline YAML).

    Attributes:
        records: Records folder with a ``features`` view (or use ``features_csv``).
        view: The records' vector view to use: ``features`` or ``embeddings``.
        features_csv: A features CSV (the GTZAN table or tfgenre's ``features.csv``).
        splits: Split fractions for a CSV without a split column (as in ``fit``).
        named_split: A named split for a features CSV (``fault_filtered``), as in fit.
        seed: Split, fold and model seed.
        folds: Stratified k-fold over all rows (0: the fit split).
        train_split: Split trained on (fit split mode).
        eval_split: Split scored (fit split mode).
        models: Models to fit, from :data:`MODELS`.
        model_options: Per-model scikit-learn options, e.g. ``{svm: {C: 10}}``.
        out: Output folder of ``baselines.md``/``baselines.csv`` ('' : print only).
        jobs: Parallel jobs for the models that take them.
        tune: Choose ``C`` of logistic regression and the SVM from ``tune_grid`` without
            the scored split (see :mod:`tfgenre.classical.tuning`): ``auto`` (on for the
            embeddings view, off for features, whose published tables use C=1), ``on``
            or ``off`` (scikit-learn's C=1). A C set in ``model_options`` is never tuned.
        tune_grid: The values of C tried, ascending.
    """

    records: str = ""
    view: str = "features"
    features_csv: str = ""
    splits: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1}
    )
    named_split: str = ""
    seed: int = 0
    folds: int = 0
    train_split: str = "train"
    eval_split: str = "test"
    models: tuple[str, ...] = MODELS
    model_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    out: str = ""
    jobs: int = 1
    tune: str = "auto"
    tune_grid: tuple[float, ...] = DEFAULT_GRID

    def __post_init__(self) -> None:
        config.require(
            bool(self.records) != bool(self.features_csv),
            "give exactly one of records (a records folder) and features_csv",
        )
        config.require(
            self.view in VECTOR_VIEWS,
            f"view={self.view!r} must be one of {', '.join(VECTOR_VIEWS)} (a vector per segment)",
        )
        config.require(
            self.view == "features" or not self.features_csv,
            f"view={self.view!r} needs records; a features CSV holds the features view",
        )
        config.require(self.folds == 0 or self.folds >= 2, f"folds={self.folds} must be 0 or >= 2")
        if self.named_split:
            get_named_split(self.named_split)
            config.require(
                bool(self.features_csv),
                f"named_split={self.named_split!r} splits a features CSV; records keep the "
                "split they were written with",
            )
            config.require(
                not self.folds,
                f"named_split={self.named_split!r} fixes train/validation/test; it does not "
                f"go with folds={self.folds}",
            )
        config.require(self.jobs != 0, f"jobs={self.jobs} must be >= 1 (or -1: all cores)")
        config.require(
            self.tune in TUNE_MODES, f"tune={self.tune!r} must be one of {', '.join(TUNE_MODES)}"
        )
        config.require(
            bool(self.tune_grid) and all(v > 0 for v in self.tune_grid),
            f"tune_grid={list(self.tune_grid)} must name at least one value, each > 0",
        )
        config.require(bool(self.models), "models=[] must name at least one model")
        for name in (*self.models, *self.model_options):
            config.require(name in MODELS, f"unknown model {name!r} (known: {', '.join(MODELS)})")
