"""``python -m tfgenre.baselines``: classical models on the engineered features.

Logistic regression, k-nearest neighbours, Gaussian naive Bayes, an RBF SVM, a random
forest and gradient boosting (scikit-learn's histogram-based
``HistGradientBoostingClassifier``), each in a pipeline after a ``StandardScaler``
fitted on the training rows only.

Evaluation is either the same split as ``tfgenre.fit`` (train on ``train_split``,
score ``eval_split``; with ``--config`` the data settings come from its ``fit:``
section, so the split is literally the same), or stratified k-fold over all rows with
``--folds K``, grouped by track when rows are segments so that no track is in two
folds. When rows are segments, a track is decided by the mean class probability (for
the SVM, the mean decision value) of its segments and the scores are at track level.
The table reports accuracy and macro-F1 as mean ± std (population std) over the
folds with a 95 % t-interval of the mean, or on one split with a 95 % percentile
bootstrap interval over its scored tracks (1000 resamples, seed 0), in Markdown and CSV.

With ``--split fault_filtered`` the GTZAN table is split by the fault-filtered lists
shipped with tfgenre (train -> test; rows in no list are excluded and counted). A GTZAN
table split any other way gets a one-line warning: random splits leak artists.

Examples:
    python -m tfgenre.baselines --features-csv features_30_sec.csv \
        --split fault_filtered --out runs/baselines_ff
    python -m tfgenre.baselines --features-csv features_30_sec.csv \
        --splits train=0.7,test=0.3 --seed 0 --out runs/baselines
    python -m tfgenre.baselines --records records/gtzan --folds 10 --out runs/baselines
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io as std_io
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfgenre import cli, config, io
from tfgenre.errors import ConfigError
from tfgenre.protocols import UNKNOWN_PROTOCOL, Protocol, get_named_split, warn_if_leaky
from tfgenre.run import data_source, stage
from tfgenre.stats import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    BootstrapSettings,
    bootstrap_metrics,
    t_interval,
)

logger = logging.getLogger(__name__)

MODELS: tuple[str, ...] = (
    "logistic_regression",
    "knn",
    "naive_bayes",
    "svm",
    "random_forest",
    "gradient_boosting",
)
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
    """Settings of a baselines run (the ``baselines:`` section of a pipeline YAML).

    Attributes:
        records: Records folder with a ``features`` view (or use ``features_csv``).
        features_csv: A features CSV (the GTZAN table or tfgenre's ``features.csv``).
        splits: Split fractions for a CSV without a split column (as in ``fit``).
        named_split: A named split for a features CSV (``fault_filtered``), as in fit.
        seed: Split, fold and model seed.
        folds: Stratified k-fold over all rows (0: the fit split).
        train_split: Split trained on (fit split mode).
        eval_split: Split scored (fit split mode).
        models: Models to run, from :data:`MODELS`.
        model_options: Per-model scikit-learn options, e.g. ``{svm: {C: 10}}``.
        out: Output folder of ``baselines.md``/``baselines.csv`` ('' : print only).
        jobs: Parallel jobs for the models that take them.
    """

    records: str = ""
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

    def __post_init__(self) -> None:
        config.require(
            bool(self.records) != bool(self.features_csv),
            "give exactly one of records (a records folder) and features_csv",
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
        config.require(bool(self.models), "models=[] must name at least one model")
        for name in (*self.models, *self.model_options):
            config.require(name in MODELS, f"unknown model {name!r} (known: {', '.join(MODELS)})")


@dataclasses.dataclass(frozen=True)
class FeatureRows:
    """Engineered-feature rows with their labels, tracks and splits.

    Attributes:
        x: Features, float64 ``(n, d)``.
        y: Class indices, int64 ``(n,)``.
        track_ids: Track of each row, ``(n,)`` object.
        splits: Split of each row, ``(n,)`` object.
        feature_names: The ``d`` feature names.
        labels: Class names in index order.
        protocol: How the rows were split (see :mod:`tfgenre.protocols`).
        excluded: Tracks left out on purpose (in no list of the named split).
    """

    x: np.ndarray
    y: np.ndarray
    track_ids: np.ndarray
    splits: np.ndarray
    feature_names: tuple[str, ...]
    labels: tuple[str, ...]
    protocol: Protocol = UNKNOWN_PROTOCOL
    excluded: tuple[str, ...] = ()

    @property
    def segments(self) -> bool:
        """Whether rows are segments (some track has several rows)."""
        return len(set(self.track_ids.tolist())) < len(self.track_ids)


def load_feature_rows(
    *,
    records: str = "",
    features_csv: str = "",
    splits: Mapping[str, float] | None = None,
    seed: int = 0,
    named_split: str = "",
) -> FeatureRows:
    """Reads the features of every split from a features CSV or a records folder.

    Args:
        records: Records folder with a ``features`` view.
        features_csv: A features CSV (used when ``records`` is empty).
        splits: Fractions for a CSV without a split column.
        seed: Split seed for such a CSV.
        named_split: A named split for the CSV (``fault_filtered``).

    Raises:
        ConfigError: when neither source is given, or the CSV is malformed.
        RecordsError: when the records lack the ``features`` view.
    """
    xs, ys, ids, names_of_split = [], [], [], []
    protocol, excluded = UNKNOWN_PROTOCOL, ()
    if records:
        from tfgenre.records.manifest import Manifest
        from tfgenre.records.reader import to_numpy_arrays

        m = Manifest.load(records)
        entry = m.view("features")
        feature_names = tuple(entry.get("feature_names") or [])
        labels = tuple(m.labels)
        protocol, excluded = m.protocol, tuple(m.excluded)
        for split in m.splits:
            arrays = to_numpy_arrays(m, "features", split)
            xs.append(arrays["data"].astype(np.float64))
            ys.append(arrays["label"])
            ids.append(np.asarray([str(t) for t in arrays["track_id"]], dtype=object))
            names_of_split.append(np.full(len(arrays["label"]), split, dtype=object))
        if not feature_names and xs:
            feature_names = tuple(f"f{i}" for i in range(xs[0].shape[1]))
    elif features_csv:
        from tfgenre.feature_table import load_feature_table

        table = load_feature_table(
            features_csv, dict(splits) if splits else None, seed=seed, named_split=named_split
        )
        feature_names, labels = table.feature_names, table.labels
        protocol, excluded = table.protocol, table.excluded
        for split, (x, y, t) in table.splits.items():
            xs.append(x.astype(np.float64))
            ys.append(y)
            ids.append(np.asarray(t, dtype=object))
            names_of_split.append(np.full(len(y), split, dtype=object))
    else:
        raise ConfigError("give records (a records folder) or features_csv")
    if not xs:
        raise ConfigError(f"no rows in {records or features_csv}")
    return FeatureRows(
        np.concatenate(xs),
        np.concatenate(ys).astype(np.int64),
        np.concatenate(ids),
        np.concatenate(names_of_split),
        tuple(feature_names),
        tuple(labels),
        protocol,
        excluded,
    )


def make_model(
    name: str,
    *,
    seed: int = 0,
    jobs: int = 1,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """A scikit-learn pipeline: ``StandardScaler`` then the model called ``name``.

    Args:
        name: One of :data:`MODELS`.
        seed: Random state of the models that take one.
        jobs: ``n_jobs`` of the models that take it.
        options: The model's scikit-learn parameters.

    Raises:
        ConfigError: for an unknown name or option.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    factories = {
        "logistic_regression": lambda: LogisticRegression(max_iter=5000, random_state=seed),
        "knn": lambda: KNeighborsClassifier(n_neighbors=5, n_jobs=jobs),
        "naive_bayes": GaussianNB,
        "svm": lambda: SVC(kernel="rbf", random_state=seed),
        "random_forest": lambda: RandomForestClassifier(
            n_estimators=500, random_state=seed, n_jobs=jobs
        ),
        "gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
    }
    if name not in factories:
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    pipeline = Pipeline([("scaler", StandardScaler()), ("model", factories[name]())])
    if options:
        try:
            pipeline.set_params(**{f"model__{k}": v for k, v in options.items()})
        except ValueError as err:
            raise ConfigError(f"model_options.{name}={dict(options)}: {err}") from err
    return pipeline


def score(
    model: Any,
    x_test: np.ndarray,
    y_test: np.ndarray,
    track_ids: np.ndarray,
    num_classes: int,
    *,
    segments: bool,
    bootstrap: BootstrapSettings | None = None,
) -> dict[str, float]:
    """Accuracy and macro-F1 of a fitted pipeline, at track level for segment rows.

    A track is decided by the mean of its segments' class probabilities, or of their
    decision values for a model without probabilities (the SVM).

    Args:
        model: A fitted pipeline.
        x_test: Features, shape (n, d).
        y_test: Class indices, shape (n,).
        track_ids: Track of each row, shape (n,).
        num_classes: Number of classes.
        segments: Whether rows are segments (scored per track).
        bootstrap: Resamples, seed and level of the intervals (default 1000, 0, 0.95).

    Returns:
        ``{"accuracy", "accuracy_lo", "accuracy_hi", "macro_f1", "macro_f1_lo",
        "macro_f1_hi"}``, the bounds a percentile bootstrap over the scored tracks
        (plus ``segment_accuracy`` for segment rows).
    """
    from sklearn.metrics import accuracy_score, f1_score

    labels = list(range(num_classes))
    if not segments:
        pred = model.predict(x_test)
        truth = y_test
        extra: dict[str, float] = {}
    else:
        scores = (
            model.predict_proba(x_test)
            if hasattr(model, "predict_proba")
            else model.decision_function(x_test)
        )
        if scores.ndim == 1:  # binary decision values
            scores = np.stack([-scores, scores], axis=1)
        probs = np.full((len(x_test), num_classes), -np.inf)
        probs[:, model.classes_] = scores
        order: dict[str, int] = {}
        index = np.asarray([order.setdefault(t, len(order)) for t in track_ids.tolist()])
        sums = np.zeros((len(order), num_classes))
        np.add.at(sums, index, probs)
        pred = sums.argmax(axis=1)
        truth = np.zeros(len(order), dtype=np.int64)
        truth[index] = y_test
        extra = {"segment_accuracy": float(accuracy_score(y_test, probs.argmax(axis=1)))}
    ci = bootstrap_metrics(truth, pred, num_classes, settings=bootstrap)
    return {
        "accuracy": float(accuracy_score(truth, pred)),
        "accuracy_lo": ci["accuracy_ci"][0],
        "accuracy_hi": ci["accuracy_ci"][1],
        "macro_f1": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
        "macro_f1_lo": ci["macro_f1_ci"][0],
        "macro_f1_hi": ci["macro_f1_ci"][1],
        **extra,
    }


def _source_groups(cfg: BaselinesConfig) -> dict[str, str]:
    """``{track_id: group}`` of the data (records' manifest or a CSV group column)."""
    from tfgenre.feature_table import csv_track_groups
    from tfgenre.folds import records_groups

    if cfg.records:
        from tfgenre.records.manifest import Manifest

        return records_groups(Manifest.load(cfg.records).data)
    return csv_track_groups(cfg.features_csv)


def fold_grouping(cfg: BaselinesConfig) -> str:
    """``artist`` when the data knows the tracks' groups, else ``track``."""
    return "artist" if _source_groups(cfg) else "track"


def folds_of(rows: FeatureRows, cfg: BaselinesConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_index, test_index)`` pairs: the fit split, or stratified, grouped k-fold.

    The k folds are :func:`tfgenre.folds.assign_folds` of the rows' tracks (grouped by
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
    from tfgenre.folds import assign_folds

    groups = _source_groups(cfg)
    ids = [str(t) for t in rows.track_ids.tolist()]
    assignment = assign_folds(
        ((t, y, groups.get(t)) for t, y in zip(ids, rows.y.tolist())), cfg.folds, cfg.seed
    )
    fold_of_row = np.asarray([assignment.fold_of[t] for t in ids])
    return [
        (np.flatnonzero(fold_of_row != k), np.flatnonzero(fold_of_row == k))
        for k in range(cfg.folds)
    ]


def load_rows(cfg: BaselinesConfig) -> FeatureRows:
    """The rows of ``cfg``'s data; warns when GTZAN is split at random (one line)."""
    rows = load_feature_rows(
        records=cfg.records,
        features_csv=cfg.features_csv,
        splits=cfg.splits,
        seed=cfg.seed,
        named_split=cfg.named_split,
    )
    fix = "--split fault_filtered" if cfg.features_csv else "records written with " + (
        "--set source_options.split=fault_filtered"
    )
    warn_if_leaky(protocol_of(cfg, rows), f"GTZAN ({cfg.records or cfg.features_csv})", fix)
    if rows.excluded:
        logger.info(
            "%d track(s) in no list of the %s split are excluded",
            len(rows.excluded),
            rows.protocol.name,
        )
    return rows


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


def run_baselines(
    cfg: BaselinesConfig, rows: FeatureRows | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fits and scores every model on every fold.

    Args:
        cfg: The settings.
        rows: The data (read from ``cfg`` when None).

    Returns:
        ``(summary rows, fold rows)``: per model the mean and std of accuracy and
        macro-F1 over the folds; per model and fold the scores.
    """
    if rows is None:
        rows = load_rows(cfg)
    folds = folds_of(rows, cfg)
    logger.info(
        "%d rows (%s), %d features, %d classes, %s",
        len(rows.y),
        "segments, scored per track" if rows.segments else "one per track",
        rows.x.shape[1],
        len(rows.labels),
        f"{cfg.folds}-fold" if cfg.folds else f"{cfg.train_split} -> {cfg.eval_split}",
    )
    from threadpoolctl import threadpool_limits

    summary, per_fold = [], []
    for name in cfg.models:  # imports the models' modules, so that the limits reach them
        make_model(name, options=cfg.model_options.get(name))
    # jobs also caps the BLAS/OpenMP threads (gradient boosting): oversubscribed threads
    # on a shared machine are many times slower than one.
    limits = threadpool_limits(limits=cfg.jobs if cfg.jobs > 0 else None)
    try:
        for name in cfg.models:
            _run_model(name, cfg, rows, folds, summary, per_fold)
    finally:
        limits.restore_original_limits()
    return summary, per_fold


def _run_model(
    name: str,
    cfg: BaselinesConfig,
    rows: FeatureRows,
    folds: list[tuple[np.ndarray, np.ndarray]],
    summary: list[dict[str, Any]],
    per_fold: list[dict[str, Any]],
) -> None:
    level = "track" if rows.segments else "clip"
    scores = []
    start = time.perf_counter()
    for k, (train, test) in enumerate(folds):
        model = make_model(
            name,
            seed=cfg.seed,
            jobs=cfg.jobs,
            options=cfg.model_options.get(name),
        )
        _fit_neighbours_to(model, len(train))
        model.fit(rows.x[train], rows.y[train])
        s = score(
            model,
            rows.x[test],
            rows.y[test],
            rows.track_ids[test],
            len(rows.labels),
            segments=rows.segments,
        )
        scores.append(s)
        per_fold.append({"model": name, "fold": k, **s})
    seconds = time.perf_counter() - start
    acc = np.array([s["accuracy"] for s in scores])
    f1 = np.array([s["macro_f1"] for s in scores])
    if cfg.folds:  # spread over folds: a t-interval of the mean
        acc_ci, f1_ci = t_interval(acc)["ci"], t_interval(f1)["ci"]
        method = f"{100 * DEFAULT_LEVEL:.0f} % t-interval of the mean over {len(folds)} folds"
    else:  # one split: a bootstrap over its scored tracks
        acc_ci = [scores[0]["accuracy_lo"], scores[0]["accuracy_hi"]]
        f1_ci = [scores[0]["macro_f1_lo"], scores[0]["macro_f1_hi"]]
        method = (
            f"{100 * DEFAULT_LEVEL:.0f} % bootstrap over tracks ({DEFAULT_RESAMPLES} resamples, "
            f"seed {DEFAULT_SEED})"
        )
    summary.append(
        {
            "model": name,
            "level": level,
            "folds": len(folds) if cfg.folds else 0,
            "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std()) if cfg.folds else None,
            "accuracy_lo": float(acc_ci[0]),
            "accuracy_hi": float(acc_ci[1]),
            "macro_f1_mean": float(f1.mean()),
            "macro_f1_std": float(f1.std()) if cfg.folds else None,
            "macro_f1_lo": float(f1_ci[0]),
            "macro_f1_hi": float(f1_ci[1]),
            "interval": method,
            "seconds": round(seconds, 2),
        }
    )
    logger.info("%s: accuracy %.4f, macro-F1 %.4f (%.1f s)", name, acc.mean(), f1.mean(), seconds)


def _fit_neighbours_to(model: Any, num_train: int) -> None:
    """Caps kNN's ``n_neighbors`` at the number of training rows (tiny tables, many folds)."""
    params = model.get_params()
    wanted = params.get("model__n_neighbors")
    if wanted is not None and wanted > num_train:
        logger.warning(
            "knn: n_neighbors=%d is more than the %d training rows of a fold; using %d",
            wanted,
            num_train,
            num_train,
        )
        model.set_params(model__n_neighbors=num_train)


def _pm(row: Mapping[str, Any], key: str) -> str:
    """``mean ± std [lo, hi]`` over folds, ``value [lo, hi]`` on one split."""
    mean, std = row[f"{key}_mean"], row.get(f"{key}_std")
    text = f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"
    if row.get(f"{key}_lo") is not None:
        text += f" [{row[f'{key}_lo']:.4f}, {row[f'{key}_hi']:.4f}]"
    return text


def markdown_table(summary: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """The summary as a Markdown table (best accuracy first), intervals stated below."""
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| model | accuracy [95 % CI] | macro-F1 [95 % CI] | level | seconds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in sorted(summary, key=lambda r: -r["accuracy_mean"]):
        lines.append(
            f"| {row['model']} | {_pm(row, 'accuracy')} | {_pm(row, 'macro_f1')} | "
            f"{row['level']} | {row['seconds']:.1f} |"
        )
    methods = sorted({row["interval"] for row in summary if row.get("interval")})
    if methods:
        folds = any(row.get("accuracy_std") is not None for row in summary)
        lines += [
            "",
            ("Mean ± std (population) over folds; " if folds else "")
            + f"interval: {', '.join(methods)}.",
        ]
    return "\n".join(lines) + "\n"


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = std_io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def describe(cfg: BaselinesConfig, rows: FeatureRows | None = None) -> str:
    """One line saying what was evaluated how (with ``rows``: the protocol, exclusions)."""
    source = cfg.records or cfg.features_csv
    if cfg.folds:
        text = (
            f"{source}: stratified {cfg.folds}-fold grouped by {fold_grouping(cfg)} "
            f"(seed {cfg.seed}; the folds of fit --folds {cfg.folds})"
        )
    elif cfg.named_split:
        text = f"{source}: {cfg.train_split} -> {cfg.eval_split} (split {cfg.named_split})"
    else:
        text = (
            f"{source}: {cfg.train_split} -> {cfg.eval_split} "
            f"(splits {cfg.splits}, seed {cfg.seed})"
        )
    if rows is not None:
        protocol = protocol_of(cfg, rows)
        text += f"; protocol {protocol.name} ({protocol.describe()})"
        if rows.excluded:
            text += f"; {len(rows.excluded)} track(s) in no list excluded"
    return text


def write_tables(
    cfg: BaselinesConfig,
    summary: Sequence[Mapping[str, Any]],
    per_fold: Sequence[Mapping],
    rows: FeatureRows | None = None,
) -> list[str]:
    """Writes ``baselines.md``, ``baselines.csv`` and ``baselines_folds.csv`` into ``out``.

    With ``rows``, ``protocol.json`` too: the protocol and the excluded tracks.
    """
    io.makedirs(cfg.out)
    paths = [io.join(cfg.out, n) for n in ("baselines.md", "baselines.csv", "baselines_folds.csv")]
    io.write_text_atomic(paths[0], markdown_table(summary, describe(cfg, rows)))
    io.write_text_atomic(paths[1], _csv_text(summary))
    io.write_text_atomic(paths[2], _csv_text(per_fold))
    if rows is not None:
        paths.append(io.join(cfg.out, "protocol.json"))
        record = {
            "protocol": protocol_of(cfg, rows).to_json(),
            "excluded": {"count": len(rows.excluded), "tracks": list(rows.excluded)},
        }
        io.write_text_atomic(paths[-1], json.dumps(record, indent=2) + "\n")
    return paths


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.baselines",
        description="Classical baselines (scikit-learn) on the engineered features.",
    )
    p.add_argument("--records", help="records folder with a features view")
    p.add_argument("--features-csv", help="a features CSV")
    p.add_argument("--splits", help="fractions for a CSV without a split column")
    p.add_argument(
        "--split",
        help="a named split for a features CSV: fault_filtered (the GTZAN fault-filtered "
        "lists shipped with tfgenre; rows in no list are excluded)",
    )
    p.add_argument("--folds", type=int, help="stratified k-fold over all rows (default: fit split)")
    p.add_argument("--seed", type=int)
    p.add_argument("--models", help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--out", help="output folder of the tables")
    p.add_argument("--jobs", type=int, help="parallel jobs (random forest, kNN)")
    cli.add_config_flags(
        p,
        config_help="pipeline YAML: data from fit:, options from baselines:",
        set_help="override a baselines key, e.g. --set model_options.svm.C=10",
    )
    return p


def layer_config(
    fit: Mapping[str, Any], section: Mapping[str, Any], flags: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The data keys of a ``fit:`` section, then ``baselines:``, then flags.

    A later layer that names a data source (records or features_csv) replaces the
    earlier one's source.
    """
    data: dict[str, Any] = {k: fit[k] for k in FIT_DATA_KEYS if k in fit}
    for layer in (section, {k: v for k, v in (flags or {}).items() if v is not None}):
        if layer.get("records") or layer.get("features_csv"):
            data.pop("records", None)
            data.pop("features_csv", None)
        data = config.merge(data, layer)
    return data


def resolve_config(
    config_path: str | None, overrides: Sequence[str], flags: Mapping[str, Any]
) -> BaselinesConfig:
    """Defaults, the data keys of ``fit:``, ``baselines:``, flags, then ``--set``."""
    fit = config.load_section(config_path, "fit") if config_path else {}
    section = config.load_section(config_path, "baselines") if config_path else {}
    data = config.apply_overrides(layer_config(fit, section, flags), overrides)
    return config.from_dict(BaselinesConfig, data, prefix="baselines.")


def _main(args: argparse.Namespace) -> int:
    from tfgenre.splits import parse_fractions

    flags = {
        "records": args.records,
        "features_csv": args.features_csv,
        "splits": parse_fractions(args.splits) if args.splits else None,
        "named_split": args.split,
        "folds": args.folds,
        "seed": args.seed,
        "models": args.models,
        "out": args.out,
        "jobs": args.jobs,
    }
    cfg = resolve_config(args.config, args.overrides, flags)
    if args.dry_run:
        cli.print_config(config.to_dict(cfg))
        return 0
    _run_and_print(cfg)
    return 0


def _run_and_print(cfg: BaselinesConfig) -> None:
    io.check_output_folder(cfg.out, "out")
    rows = load_rows(cfg)
    summary, per_fold = run_baselines(cfg, rows)
    sys.stdout.write(markdown_table(summary, describe(cfg, rows)))
    if cfg.out:
        for path in write_tables(cfg, summary, per_fold, rows):
            sys.stdout.write(f"wrote {path}\n")


def stage_config(section: dict[str, Any], pipeline: dict[str, Any]) -> BaselinesConfig:
    """The ``baselines:`` section's config, data and split from ``fit:`` (or the records)."""
    fit = data_source(dict(pipeline.get("fit") or {}), pipeline)
    return config.from_dict(BaselinesConfig, layer_config(fit, section), prefix="baselines.")


@stage("baselines", check=stage_config)
def _baselines_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """Pipeline stage: the ``baselines:`` section, data and split from ``fit:``."""
    _run_and_print(stage_config(section, pipeline))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
