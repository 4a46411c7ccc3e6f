"""A probe's regularisation chosen without the scored split.

For the models with a strength parameter (:data:`TUNABLE`: ``C`` of logistic regression
and of the SVM), :func:`tune_in_fold` picks it from a small grid (:data:`DEFAULT_GRID`,
0.01 .. 100 log-spaced) on the training rows of one fold only, then sets it on the
model, which the sweep then fits on those training rows and scores once on the fold's
test rows:

* with a validation split that is neither trained on nor scored (the fit split mode,
  e.g. ``train -> test`` with a ``validation`` split in the records), every value is
  fitted on the training rows and scored on the validation rows (scikit-learn's
  ``PredefinedSplit``);
* otherwise by cross-validation inside the training rows, grouped by artist when the
  data knows it, else by track, so that the segments of one track are never on both
  sides: stratified group k-fold (k = min(5, fewest groups of a class)), or
  leave-one-group-out when a class has fewer than three groups (two clips per genre).
  When no class has two groups (one clip per genre) nothing can be scored honestly:
  the parameter keeps scikit-learn's default (C=1) and a warning says so.

Scores are segment (row) accuracy. Ties (common on a few tracks) go to the value
closest to scikit-learn's default C=1 on the log scale, then to the smaller one. The test
rows of the fold are never passed to the search: the choice is a function of the training
(and validation) rows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

#: Tunable models and the scikit-learn parameter tuned (on the pipeline's ``model`` step).
TUNABLE: dict[str, str] = {"logistic_regression": "C", "svm": "C"}

#: The default grid: 0.01 .. 100, five log-spaced values.
DEFAULT_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)

#: The values of ``tune``: auto (on for the embeddings view only), on, off.
TUNE_MODES: tuple[str, ...] = ("auto", "on", "off")

#: The largest number of inner folds.
MAX_INNER_FOLDS = 5


@dataclasses.dataclass(frozen=True)
class Tuning:
    """The choice of one model's parameter in one fold.

    Attributes:
        param: The parameter tuned (``C``).
        grid: The values tried, ascending.
        scores: Mean inner accuracy of each value (NaN: not tried).
        chosen: The value chosen (the best; ties closest to 1, then smaller).
        method: How the values were scored, in words.
    """

    param: str
    grid: tuple[float, ...]
    scores: tuple[float, ...]
    chosen: float
    method: str

    def fold_columns(self) -> dict[str, Any]:
        """The columns of a per-fold row: the choice, the grid scores and the method."""
        return {
            "tuned": f"{self.param}={self.chosen:g}",
            "tuning_scores": " ".join(f"{v:g}:{s:.4f}" for v, s in zip(self.grid, self.scores)),
            "tuning_method": self.method,
        }


#: Per-fold columns of a model that is not tuned (the same keys, empty).
EMPTY_COLUMNS: dict[str, Any] = {"tuned": None, "tuning_scores": None, "tuning_method": None}


def tuning_enabled(tune: str, view: str) -> bool:
    """Whether ``tune`` (auto, on, off) tunes a run on ``view`` (auto: embeddings only)."""
    if tune not in TUNE_MODES:
        raise ConfigError(f"tune={tune!r} must be one of {', '.join(TUNE_MODES)}")
    return tune == "on" or (tune == "auto" and view == "embeddings")


def tuned_param(cfg: Any, name: str) -> str | None:
    """The parameter of model ``name`` that ``cfg`` tunes (None: the model is not tuned).

    A parameter fixed in ``model_options`` (``--set model_options.svm.C=10``) is not tuned.
    """
    param = TUNABLE.get(name)
    if param is None or not tuning_enabled(cfg.tune, cfg.view):
        return None
    if param in (cfg.model_options.get(name) or {}):
        return None
    return param


def _groups(cfg: Any, track_ids: np.ndarray) -> tuple[np.ndarray, str]:
    """Each row's group (artist when the data knows it, else track) and the grouping."""
    from tfgenre.classical.splitting import _source_groups

    ids = [str(t) for t in track_ids.tolist()]
    known = _source_groups(cfg)
    if known:
        return np.asarray([known.get(t, f"track:{t}") for t in ids], dtype=object), "artist"
    return np.asarray(ids, dtype=object), "track"


def inner_splitter(y: np.ndarray, groups: np.ndarray, seed: int) -> tuple[Any, str] | None:
    """The cross-validation inside a fold's training rows, and its name (None: impossible).

    Stratified group k-fold with k = min(5, fewest groups of a class) when every class
    has at least three groups, else leave-one-group-out; None when no class has two
    groups (every held-out group's class would be missing from its training rows).
    """
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    groups_of_class = Counter(c for c, _ in set(zip(y.tolist(), groups.tolist())))
    fewest = min(groups_of_class.values())
    if max(groups_of_class.values()) < 2:
        return None
    if fewest >= 3:
        k = min(MAX_INNER_FOLDS, fewest)
        return StratifiedGroupKFold(k, shuffle=True, random_state=seed), f"{k}-fold CV"
    return LeaveOneGroupOut(), "leave-one-group-out CV"


def choose(
    model: Any,
    param: str,
    x: np.ndarray,
    y: np.ndarray,
    cv: Any,
    groups: np.ndarray | None,
    grid: Sequence[float],
    method: str,
) -> Tuning:
    """Scores every value of ``grid`` with ``cv`` on ``(x, y)``; returns the choice.

    Args:
        model: The unfitted pipeline (``scaler`` then ``model``); it is cloned.
        param: The parameter of the ``model`` step.
        x: Rows the search sees (training, and validation with a ``PredefinedSplit``).
        y: Their classes.
        cv: A scikit-learn splitter.
        groups: Each row's group for a group splitter.
        grid: The values, ascending.
        method: How, in words (for the report).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    grid = tuple(float(v) for v in sorted(grid))
    search = GridSearchCV(
        model, {f"model__{param}": list(grid)}, scoring="accuracy", cv=cv, refit=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        search.fit(x, y, groups=groups)
    scores = tuple(float(s) for s in search.cv_results_["mean_test_score"])
    finite = np.asarray([s if np.isfinite(s) else -np.inf for s in scores])
    best = np.flatnonzero(finite == finite.max())
    # ties: closest to the default C=1 on the log scale, then the smaller value
    chosen = grid[min(best, key=lambda i: (abs(np.log10(grid[i])), grid[i]))]
    return Tuning(param, grid, scores, chosen, method)


def tune_in_fold(
    name: str,
    model: Any,
    cfg: Any,
    rows: Any,
    train: np.ndarray,
) -> dict[str, Any]:
    """Chooses ``name``'s parameter on the fold's training rows; sets it on ``model``.

    Args:
        name: The model's name.
        model: Its unfitted pipeline; gets the chosen value.
        cfg: The baselines settings (``tune``, ``tune_grid``, split names, folds, seed).
        rows: All rows (:class:`~tfgenre.classical.rows.FeatureRows`).
        train: The fold's training rows. Only these, and in the fit split mode the
            validation split's rows, are read.

    Returns:
        The per-fold columns (:data:`EMPTY_COLUMNS` when the model is not tuned).
    """
    param = tuned_param(cfg, name)
    if param is None:
        return dict(EMPTY_COLUMNS)
    from sklearn.model_selection import PredefinedSplit

    validation = np.empty(0, dtype=np.int64)
    split = "validation"
    if not cfg.folds and split not in (cfg.train_split, cfg.eval_split):
        validation = np.flatnonzero(rows.splits == split)
    if len(validation) and len(set(rows.y[train].tolist())) > 1:
        index = np.concatenate([train, validation])
        fold = np.concatenate([np.full(len(train), -1), np.zeros(len(validation), dtype=int)])
        tuning = choose(
            model, param, rows.x[index], rows.y[index], PredefinedSplit(fold), None,
            cfg.tune_grid, f"fitted on {cfg.train_split}, scored on the {split} split",
        )  # fmt: skip
    else:
        groups, grouping = _groups(cfg, rows.track_ids[train])
        inner = inner_splitter(rows.y[train], groups, cfg.seed)
        if inner is None:
            why = (
                f"not tuned ({param}={model.get_params()[f'model__{param}']:g} kept): no "
                f"class has two {grouping}s in the training rows to cross-validate on"
            )
            logger.warning("%s: %s", name, why)
            return {**EMPTY_COLUMNS, "tuning_method": why}
        cv, how = inner
        tuning = choose(
            model, param, rows.x[train], rows.y[train], cv, groups, cfg.tune_grid,
            f"{how} inside {'the fold' if cfg.folds else cfg.train_split}, grouped by {grouping}",
        )  # fmt: skip
    model.set_params(**{f"model__{param}": tuning.chosen})
    logger.info(
        "%s: %s=%g chosen (%s; %s)", name, param, tuning.chosen, tuning.method,
        tuning.fold_columns()["tuning_scores"],
    )  # fmt: skip
    return tuning.fold_columns()


def summary_text(fold_rows: Sequence[Mapping[str, Any]]) -> str | None:
    """One cell for the summary row: the value(s) chosen over a model's folds."""
    chosen = [r["tuned"] for r in fold_rows if r.get("tuned")]
    if not chosen:
        return None
    counts = Counter(chosen)
    return ", ".join(f"{v} x{n}" if len(fold_rows) > 1 else v for v, n in sorted(counts.items()))


def tuning_markdown(per_fold: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown section with each tuned fold's grid, scores and choice ('' : none tuned)."""
    tuned = [r for r in per_fold if r.get("tuned") or r.get("tuning_method")]
    if not tuned:
        return ""
    lines = [
        "",
        "Regularisation chosen without the scored split (grid value: inner accuracy):",
        "",
        "| model | fold | chosen | grid scores | how |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in tuned:
        lines.append(
            f"| {r['model']} | {r['fold']} | {r['tuned'] or '-'} | {r['tuning_scores'] or '-'} | "
            f"{r['tuning_method']} |"
        )
    return "\n".join(lines) + "\n"
