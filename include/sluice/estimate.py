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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sluice.alerting import MonitoringError


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
