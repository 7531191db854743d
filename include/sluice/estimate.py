"""Performance estimated before labels arrive: confidence-based performance estimation (CBPE).

A calibrated score is the probability that the sample is positive, so the confusion matrix a day
of scores *should* have can be computed from the scores alone: a sample predicted positive is a
true positive with probability p and a false positive with 1 − p. Summed over the day these give
the expected accuracy, and at every threshold of the ranking the expected true- and false-positive
rates, whose curve gives the expected ROC AUC (Ramírez et al.; NannyML's CBPE).

The model's own scores are made probabilities first: an isotonic calibrator is fitted on the
champion's hold-out, where the labels are known (:func:`fit_calibrator`).

The estimate is right while the relation between inputs and label holds (covariate shift: the
inputs move, P(label | inputs) does not). Under concept drift (the same inputs now mean another
label) the scores still look confident and the estimate stays high: it sits beside the labelled
figures, never in place of them.

The monitor estimates the champion's day with :func:`record_estimate`. A fall of the estimate
alerts and asks for retraining days before the labels could, but only while the estimate is
trusted: :func:`estimate_error` compares what it estimated with what the labels later showed, over
the champion's labelled days of the rolling window, and over ``estimate_error`` the fall is
recorded without an alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sluice.alerting import (
    ESTIMATE_ERROR,
    ESTIMATED_ACCURACY,
    ESTIMATED_ACCURACY_DROP,
    ESTIMATED_ROC_AUC,
    SPAN_DAY,
    Figures,
    MonitoringError,
    Windows,
)

if TYPE_CHECKING:
    from sluice.champion import Champion


@dataclass(frozen=True)
class Estimate:
    """The expected accuracy and ROC AUC of a set of scores, and how many scores they rest on."""

    accuracy: float
    roc_auc: float | None
    rows: int


def fit_calibrator(scores: np.ndarray, labels: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A monotone map from the model's score to the probability of the positive class, fitted on
    scores whose labels are known (isotonic regression, clipped to [0, 1] outside the fitted range)."""
    from sklearn.isotonic import IsotonicRegression

    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
    if len(scores) != len(labels) or not len(scores):
        raise MonitoringError(
            f"calibration needs scores with their labels (got {len(scores)}, {len(labels)})"
        )
    if len(set(labels.tolist())) < 2:
        raise MonitoringError("calibration needs both classes among the labelled scores")
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    return lambda s: iso.predict(np.asarray(s, dtype=float))


def estimate(scores: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> Estimate:
    """CBPE of ``scores`` (the model's, thresholded at ``threshold`` to predict) whose calibrated
    probabilities of being positive are ``probability``."""
    scores, p = np.asarray(scores, dtype=float), np.asarray(probability, dtype=float)
    if len(scores) != len(p):
        raise MonitoringError(f"{len(scores)} scores but {len(p)} probabilities")
    if not len(scores):
        raise MonitoringError("no scores to estimate from")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise MonitoringError("probabilities must lie in [0, 1]")
    predicted = scores >= threshold
    accuracy = float(np.where(predicted, p, 1 - p).mean())
    return Estimate(accuracy, _expected_roc_auc(scores, p), len(scores))


def _expected_roc_auc(scores: np.ndarray, p: np.ndarray) -> float | None:
    """The area under the expected ROC curve: at each distinct score, the expected true positives
    (the sum of p above it) over the expected positives, against the expected false positives
    (the sum of 1 − p) over the expected negatives; tied scores make one step (a diagonal)."""
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return None  # every sample surely one class: no ranking to judge
    order = np.argsort(-scores, kind="stable")
    s, q = scores[order], p[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tpr = np.r_[0.0, np.cumsum(q)[last_of_tie] / positives]
    fpr = np.r_[0.0, np.cumsum(1 - q)[last_of_tie] / negatives]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


# --- the monitor's estimate of the champion's day, and its trust ---------------------------------


def estimate_error(
    figures: Figures, warehouse, day: dt.date, labelled_day: dt.date, model: Champion, windows: Windows
) -> float | None:
    """How far the champion's estimated accuracy was from the labelled one: the mean absolute
    difference over the labelled days of the window ending at ``labelled_day`` (this run's labelled
    figures included), recorded on ``day`` beside its threshold ``estimate_error`` (it does not alert
    itself). None before any labelled day of the champion's. The guard on the estimate's blind
    spot: under concept drift the estimate stays high while the labels fall, and this error grows."""
    from sqlalchemy import select

    from sluice.tables import monitoring_metrics

    m = monitoring_metrics.c
    first = labelled_day - dt.timedelta(days=windows.window_days - 1)
    rows = warehouse.fetch(
        select(m.metric_date, m.metric, m.value).where(
            m.metric.in_([ESTIMATED_ACCURACY, "accuracy"]),
            m.span == SPAN_DAY,
            m.column_name == "",
            m.model_version == model.version,
            m.metric_date.between(first, labelled_day),
        )
    )
    fresh = [r for r in figures.rows if r["metric_date"] == labelled_day and r["span"] == SPAN_DAY]
    found = {(r["metric_date"], r["metric"]): r["value"] for r in rows}
    found |= {(r["metric_date"], r["metric"]): r["value"] for r in fresh if r["metric"] == "accuracy"}
    errors = [
        abs(value - found[(d, "accuracy")])
        for (d, metric), value in found.items()
        if metric == ESTIMATED_ACCURACY and None not in (value, found.get((d, "accuracy")))
    ]
    if not errors:
        return None
    error = sum(errors) / len(errors)
    threshold = figures.thresholds.estimate_error
    figures.add(
        day, ESTIMATE_ERROR, error, threshold=threshold, sample_size=len(errors), model_version=model.version
    )
    return error


def record_estimate(
    figures: Figures,
    warehouse,
    day: dt.date,
    model: Champion,
    windows: Windows,
    predict,
    *,
    trusted: bool,
) -> None:
    """Accuracy and ROC AUC of the day's served scores estimated before any label (CBPE,
    :func:`estimate`), calibrated on the champion's labelled hold-out; an alert (which asks
    for retraining) when the estimated accuracy is ``estimated_accuracy_drop`` below the
    hold-out's and the estimate is ``trusted``: otherwise the fall is recorded, not alerted."""
    from sluice.sampling import served_scores
    from sluice.specs import TrainingError
    from sluice.training import THRESHOLD, labelled_between

    columns = list(warehouse.domain.feature_names)
    scores = served_scores(warehouse, day, model.model_name, model.version, windows.sample_rows, windows.seed)
    first, last = model.holdout_days
    try:
        holdout = labelled_between(warehouse, first, last, day, model.feature_version or "")
    except TrainingError:  # the hold-out's labels are gone (a warehouse rebuilt): no estimate
        return
    if not len(scores) or holdout["label"].nunique() < 2:
        return
    holdout = holdout.sample(n=min(len(holdout), windows.sample_rows), random_state=windows.seed)
    held_scores = predict(holdout[columns])
    calibrate = fit_calibrator(held_scores, holdout["label"].to_numpy())
    found = estimate(scores.to_numpy(), calibrate(scores.to_numpy()), THRESHOLD)
    kept = {"sample_size": found.rows, "model_version": model.version}
    figures.add(day, ESTIMATED_ACCURACY, found.accuracy, **kept)
    figures.add(day, ESTIMATED_ROC_AUC, found.roc_auc, **kept)
    baseline = model.holdout_accuracy
    if baseline is None:
        baseline = estimate(held_scores, calibrate(held_scores), THRESHOLD).accuracy
    if trusted:
        figures.judge(day, ESTIMATED_ACCURACY_DROP, baseline - found.accuracy, **kept)
    else:
        threshold = figures.thresholds.estimated_accuracy_drop
        figures.add(day, ESTIMATED_ACCURACY_DROP, baseline - found.accuracy, threshold=threshold, **kept)
