"""The model families training offers: each a full scikit-learn Pipeline (encoding of categorical
inputs, imputation and scaling where the estimator needs them, fitted inside each fold), the space
its randomised search draws from, and the types skops must trust to load it.

Categorical inputs are one-hot encoded for the linear model and the forest (rare values pooled)
and ordinal-encoded as native categories for gradient boosting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluice.specs import MODEL_FAMILIES, TrainingError


@dataclass(frozen=True)
class Family:
    """A model family: how to build its pipeline, what to search, and what skops must trust.

    ``build(seed, categorical)`` gets the names of the categorical inputs (the first columns the
    pipeline's encoder is given); with none, the pipeline has no encoder at all.
    """

    name: str
    title: str
    build: Callable[[int, Sequence[str]], Any]
    space: Callable[[], dict[str, Any]]
    trusted_types: tuple[str, ...]
    """Types outside skops' default trust list that the fitted pipeline holds (loading needs them)."""
    categorical_trusted_types: tuple[str, ...] = ()
    """More such types its pipeline holds when it encodes categorical inputs."""

    def trusted(self, categorical: Sequence[str] = ()) -> tuple[str, ...]:
        """What skops must trust to load this family's pipeline fitted with those categorical inputs."""
        return self.trusted_types + (self.categorical_trusted_types if categorical else ())


MIN_CATEGORY_ROWS = 20
"""A categorical value seen on fewer training rows is pooled with the other rare ones."""


def _one_hot(categorical: Sequence[str]) -> list[tuple[str, Any]]:
    """A one-hot step for the categorical inputs (unknown and rare values pooled), or none."""
    if not categorical:
        return []
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_ROWS, sparse_output=False
    )
    return [
        (
            "encode",
            ColumnTransformer(
                [("categorical", encoder, list(categorical))],
                remainder="passthrough",
                verbose_feature_names_out=False,
            ),
        )
    ]


def _logistic_regression(seed: int, categorical: Sequence[str] = ()) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            *_one_hot(categorical),
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=2000, random_state=seed)),
        ]
    )


def _logistic_regression_space() -> dict[str, Any]:
    from scipy.stats import loguniform

    return {"model__C": loguniform(1e-3, 1e2), "impute__strategy": ["median", "mean"]}


def _random_forest(seed: int, categorical: Sequence[str] = ()) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            *_one_hot(categorical),
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("model", RandomForestClassifier(n_estimators=100, max_samples=0.5, n_jobs=1, random_state=seed)),
        ]
    )


def _random_forest_space() -> dict[str, Any]:
    from scipy.stats import randint

    # Bootstrap samples of at most half the rows and bounded depth keep a candidate to seconds on
    # a 28-day window (60k rows); deeper, fuller forests cost minutes and scored no better here.
    return {
        "model__n_estimators": [100, 200],
        "model__max_depth": [8, 12, 16],
        "model__min_samples_leaf": randint(5, 60),
        "model__max_features": ["sqrt", 0.5],
        "model__max_samples": [0.25, 0.5],
    }


def _hist_gradient_boosting(seed: int, categorical: Sequence[str] = ()) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    # Missing values are handled natively (learned split directions): no imputer. No early
    # stopping either: its validation split would be a random sample across days. Categorical
    # inputs become ordinal codes that the trees split on as categories (rare and unknown values,
    # like missing ones, become NaN).
    steps: list[tuple[str, Any]] = []
    native = "from_dtype"
    if categorical:
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OrdinalEncoder

        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            min_frequency=MIN_CATEGORY_ROWS,
            max_categories=250,
        )
        steps.append(
            (
                "encode",
                ColumnTransformer(
                    [("categorical", encoder, list(categorical))],
                    remainder="passthrough",
                    verbose_feature_names_out=False,
                ),
            )
        )
        native = list(range(len(categorical)))  # the encoder's columns come first
    steps.append(
        (
            "model",
            HistGradientBoostingClassifier(
                early_stopping=False, max_iter=200, random_state=seed, categorical_features=native
            ),
        )
    )
    return Pipeline(steps)


def _hist_gradient_boosting_space() -> dict[str, Any]:
    from scipy.stats import loguniform, randint

    return {
        "model__learning_rate": loguniform(0.02, 0.3),
        "model__max_iter": [100, 200, 300],
        "model__max_leaf_nodes": randint(8, 64),
        "model__min_samples_leaf": randint(10, 120),
        "model__l2_regularization": loguniform(1e-3, 10.0),
    }


FAMILIES: Mapping[str, Family] = {
    f.name: f
    for f in (
        Family(
            "logistic_regression",
            MODEL_FAMILIES["logistic_regression"],
            _logistic_regression,
            _logistic_regression_space,
            trusted_types=("numpy.dtype",),
        ),
        Family(
            "random_forest",
            MODEL_FAMILIES["random_forest"],
            _random_forest,
            _random_forest_space,
            trusted_types=("numpy.dtype", "sklearn.tree._tree.Tree"),
        ),
        Family(
            "hist_gradient_boosting",
            MODEL_FAMILIES["hist_gradient_boosting"],
            _hist_gradient_boosting,
            _hist_gradient_boosting_space,
            trusted_types=("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",),
            # the encoder's output is checked by a partial of check_array (set_output plumbing)
            categorical_trusted_types=("functools.partial", "sklearn.utils.validation.check_array"),
        ),
    )
}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise TrainingError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}") from None
