"""Training candidate models: data, time split, per-family search, hold-out metrics, selection.

Everything here takes its inputs as arguments (the day the training is "as of", the window, the
seed, the budget) and never reads the clock, so the same day, seed and data give the same models
and the same hold-out metrics. MLflow logging is in :mod:`sluice.tracking`.

* **Data**: features of the sample days in the window joined with the labels that had *arrived*
  by ``as_of`` (``labels.label_date <= as_of``). The newest ``label_cutoff_days`` sample days are
  left out: their lab results may not all be in, and a window of half-labelled days would teach
  the model the label delay's bias.
* **Split by time**: the newest ``holdout_days`` labelled days are the hold-out; nothing of them
  is used to fit, tune or impute. Cross-validation inside the training days is an expanding
  window over whole days (:func:`day_folds`): every validation day comes after its training days.
* **Search**: each family (:mod:`sluice.families`) tuned by a randomised search of ``budget``
  candidates over those folds, refit on the training days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, select

from sluice.families import family
from sluice.specs import (
    LOWER_IS_BETTER,
    METRICS,
    TrainingError,
    TrainingSpec,
)
from sluice.tables import labels
from sluice.warehouse import Warehouse

SCORERS = {
    "roc_auc": "roc_auc",
    "f1": "f1",
    "accuracy": "accuracy",
    "log_loss": "neg_log_loss",
    "brier": "neg_brier_score",
}
THRESHOLD = 0.5
"""Score at or above which a sample is predicted class 1 (for F1 and accuracy)."""


# --- data ------------------------------------------------------------------------------------


def load_labelled(warehouse: Warehouse, spec: TrainingSpec) -> pd.DataFrame:
    """Features of the window's sample days with the labels that had arrived by ``spec.as_of``."""
    first, last = spec.window
    return labelled_between(
        warehouse, first, last, spec.as_of, spec.feature_version, spec.features, spec.categorical
    )


def labelled_between(
    warehouse: Warehouse,
    first: dt.date,
    last: dt.date,
    labels_as_of: dt.date,
    feature_version: str,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Features of sample days ``first``..``last`` joined with the labels that arrived by ``labels_as_of``.

    One row per labelled sample, ordered by time; a sample labelled twice keeps its newest label.
    ``columns`` default to the warehouse domain's features (``categorical`` to its categorical ones).
    """
    domain = warehouse.domain
    columns = domain.feature_names if columns is None else tuple(columns)
    categorical = set(domain.categorical_features if categorical is None else categorical)
    f, lab = warehouse.features.c, labels.c
    query = (
        select(
            f.sample_date,
            f.sample_id,
            f.entity,
            f.sampled_at,
            *(f[c] for c in columns),
            lab.label,
            lab.label_date,
        )
        .join(labels, lab.sample_id == f.sample_id)
        .where(
            and_(
                f.sample_date >= first,
                f.sample_date <= last,
                f.feature_version == feature_version,
                lab.label_date <= labels_as_of,
            )
        )
    )
    rows = warehouse.fetch(query)
    names = ["sample_date", "sample_id", "entity", "sampled_at", *columns, "label", "label_date"]
    frame = pd.DataFrame(rows, columns=names)
    if frame.empty:
        raise TrainingError(
            f"no labelled samples with feature version {feature_version} between {first} and {last} "
            f"(labels up to {labels_as_of}): ingest and build features for those days first"
        )
    return _newest_labels(_typed(frame, columns, categorical))


def _typed(frame: pd.DataFrame, columns: Sequence[str], categorical: set[str]) -> pd.DataFrame:
    """Dates as dates, times in UTC, numeric inputs as floats, categories as text or None."""
    frame["sample_date"] = pd.to_datetime(frame["sample_date"]).dt.date
    frame["sampled_at"] = pd.to_datetime(frame["sampled_at"], utc=True)
    numeric = [c for c in columns if c not in categorical]
    frame[numeric] = frame[numeric].astype("float64")
    for column in columns:
        if column in categorical:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["label"] = frame["label"].astype("int64")
    return frame


def _newest_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per sample with its newest label, ordered by time."""
    frame = frame.sort_values(["sample_id", "label_date"]).drop_duplicates("sample_id", keep="last")
    return frame.drop(columns="label_date").sort_values(["sampled_at", "sample_id"]).reset_index(drop=True)


def dataset_digest(frame: pd.DataFrame) -> str:
    """A checksum of a training frame's content, independent of row order."""
    rows = pd.util.hash_pandas_object(frame.sort_values("sample_id").astype(str), index=False)
    return hashlib.sha256(rows.to_numpy().tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame

    @property
    def train_days(self) -> list[dt.date]:
        return sorted(set(self.train["sample_date"]))

    @property
    def holdout_days(self) -> list[dt.date]:
        return sorted(set(self.holdout["sample_date"]))

    @cached_property
    def digests(self) -> dict[str, str]:
        """``dataset_digest`` of each part, computed once: ``{"train": …, "holdout": …}``."""
        return {"train": dataset_digest(self.train), "holdout": dataset_digest(self.holdout)}


def time_split(frame: pd.DataFrame, holdout_days: int, min_train_days: int = 1) -> Split:
    """The newest ``holdout_days`` labelled days are the hold-out; the days before them train."""
    days = sorted(set(frame["sample_date"]))
    if len(days) < holdout_days + min_train_days:
        raise TrainingError(
            f"only {len(days)} labelled day(s) ({days[0]} … {days[-1]}): need {holdout_days} for the "
            f"hold-out and at least {min_train_days} to train on"
        )
    cut = days[-holdout_days]
    in_holdout = frame["sample_date"] >= cut
    split = Split(frame[~in_holdout].reset_index(drop=True), frame[in_holdout].reset_index(drop=True))
    for part, name in ((split.train, "training"), (split.holdout, "hold-out")):
        if part["label"].nunique() < 2:
            raise TrainingError(f"the {name} days hold only one class: cannot train or score a classifier")
    return split


def day_folds(days: Sequence[dt.date] | pd.Series, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds over whole days: each validation block of days follows its training days.

    Returns (train row indices, validation row indices) per fold, for ``cv=`` of a search. One
    fold validates on the last day and trains on the days before it.
    """
    from sklearn.model_selection import TimeSeriesSplit

    values = np.asarray(pd.Series(days).to_numpy())
    unique = np.array(sorted(set(values)))
    if len(unique) < n_splits + 1:
        raise TrainingError(
            f"{len(unique)} training day(s) cannot make {n_splits} time-ordered folds (need {n_splits + 1})"
        )
    folds = []
    splits = (
        [(np.arange(len(unique) - 1), np.array([len(unique) - 1]))]
        if n_splits == 1
        else TimeSeriesSplit(n_splits=n_splits).split(unique)
    )
    for train_days, valid_days in splits:
        folds.append(
            (
                np.flatnonzero(np.isin(values, unique[train_days])),
                np.flatnonzero(np.isin(values, unique[valid_days])),
            )
        )
    return folds


# --- search and metrics ----------------------------------------------------------------------


@dataclass
class SearchResult:
    family: str
    model: Any
    best_params: dict[str, Any]
    cv_scores: dict[str, float]
    candidates: int
    cv_results: pd.DataFrame


def search(spec: TrainingSpec, family_name: str, train: pd.DataFrame) -> SearchResult:
    """Randomised search of ``spec.budget`` candidates over time-ordered folds; the best is refit
    on all training days."""
    import warnings

    from sklearn.model_selection import RandomizedSearchCV

    fam = family(family_name)
    X, y = train[list(spec.features)], train["label"].to_numpy()
    searcher = RandomizedSearchCV(
        fam.build(spec.seed, spec.categorical),
        fam.space(),
        n_iter=spec.budget,
        scoring=SCORERS[spec.selection_metric],
        cv=day_folds(train["sample_date"], spec.cv_folds),
        refit=True,
        random_state=spec.seed,
        n_jobs=spec.n_jobs,
        error_score="raise",
    )
    with warnings.catch_warnings():
        # a column missing in every row of a fold (a dead sensor) is dropped by the imputer: fine
        warnings.filterwarnings("ignore", message="Skipping features without any observed values")
        searcher.fit(X, y)
    results = pd.DataFrame(searcher.cv_results_)
    best = results.loc[searcher.best_index_]
    sign = -1.0 if spec.selection_metric in LOWER_IS_BETTER else 1.0
    return SearchResult(
        family=family_name,
        model=searcher.best_estimator_,
        best_params={k.removeprefix("model__"): _plain(v) for k, v in searcher.best_params_.items()},
        cv_scores={
            f"cv_{spec.selection_metric}_mean": sign * float(best["mean_test_score"]),
            f"cv_{spec.selection_metric}_std": float(best["std_test_score"]),
        },
        candidates=len(results),
        cv_results=results,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def metric_value(metric: str, y_true: np.ndarray, score: np.ndarray, threshold: float = THRESHOLD) -> float:
    """One metric of class-1 scores against labels (F1 and accuracy at ``threshold``)."""
    from sklearn import metrics as m

    if metric == "roc_auc":
        return float(m.roc_auc_score(y_true, score))
    if metric == "log_loss":
        return float(m.log_loss(y_true, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1]))
    if metric == "brier":
        return float(m.brier_score_loss(y_true, score))
    predicted = (score >= threshold).astype(int)
    if metric == "f1":
        return float(m.f1_score(y_true, predicted, zero_division=0))
    if metric == "accuracy":
        return float(m.accuracy_score(y_true, predicted))
    raise TrainingError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def holdout_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """ROC AUC, F1, accuracy, log loss and Brier score of class-1 scores against labels."""
    return {metric: metric_value(metric, y_true, score, threshold) for metric in METRICS}


def better(metric: str, a: float, b: float) -> bool:
    """Whether ``a`` is a better value of ``metric`` than ``b``."""
    return a < b if metric in LOWER_IS_BETTER else a > b


def select_best(results: Mapping[str, Mapping[str, float]], metric: str) -> str:
    """The family with the best hold-out ``metric``; ties go to the family listed first."""
    if metric not in METRICS:
        raise TrainingError(f"selection metric {metric!r} is not one of {', '.join(METRICS)}")
    if not results:
        raise TrainingError("no family finished training: nothing to select")
    missing = [name for name, m in results.items() if metric not in m or m[metric] is None]
    if missing:
        raise TrainingError(f"families without a hold-out {metric}: {', '.join(missing)}")
    best = None
    for name, scores in results.items():
        if best is None or better(metric, scores[metric], results[best][metric]):
            best = name
    assert best is not None
    return best
