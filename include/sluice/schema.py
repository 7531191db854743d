"""The lifecycle's fixed vocabulary: the model families training offers and the hold-out metrics.

What a data set's columns are is not here: that is its domain's declaration (:mod:`sluice.domain`).
"""

from __future__ import annotations

MODEL_FAMILIES: dict[str, str] = {
    "logistic_regression": "Logistic regression",
    "random_forest": "Random forest",
    "hist_gradient_boosting": "Histogram gradient boosting",
}
"""The model families training offers (see sluice.training.FAMILIES), with their display names."""

METRICS: tuple[str, ...] = ("roc_auc", "f1", "accuracy", "log_loss", "brier")
"""Hold-out metrics of a binary classifier's scores; log loss and Brier are better when lower."""
