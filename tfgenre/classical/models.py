"""The scikit-learn model zoo of the baselines: a ``StandardScaler``, then one model.

Logistic regression, k-nearest neighbours, Gaussian naive Bayes, an RBF SVM, a random
forest and gradient boosting (scikit-learn's histogram-based
``HistGradientBoostingClassifier``). The scaler is fitted on the training rows only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)

MODELS: tuple[str, ...] = (
    "logistic_regression",
    "knn",
    "naive_bayes",
    "svm",
    "random_forest",
    "gradient_boosting",
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


def fit_neighbours_to(model: Any, num_train: int) -> None:
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
