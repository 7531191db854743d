"""The default domain's columns: drinking-water samples from monitoring stations.

The nine measurements are the columns of the public Water Potability data set.
"""

from __future__ import annotations

MEASUREMENTS: tuple[str, ...] = (
    "ph",
    "hardness",
    "solids",
    "chloramines",
    "sulfate",
    "conductivity",
    "organic_carbon",
    "trihalomethanes",
    "turbidity",
)
IDENTIFIERS: tuple[str, ...] = ("sample_id", "station_id", "sampled_at")
SOURCE_COLUMNS: tuple[str, ...] = IDENTIFIERS + MEASUREMENTS
"""What a source must deliver for one day, in this order."""

LABEL_COLUMNS: tuple[str, ...] = ("sample_id", "label", "labelled_at")
"""What a source delivers as labels (lab results) on one day."""

STATION_MEANS: tuple[str, ...] = tuple(f"{m}_station_mean" for m in MEASUREMENTS)
"""Each station's mean reading over the days before the sample's day (history window)."""

FEATURES: tuple[str, ...] = (
    *MEASUREMENTS,
    "ph_from_neutral",
    "missing_measurements",
    "station_history_samples",
    *STATION_MEANS,
)
"""The model's inputs, in order: what ``features`` holds besides identifiers (see sluice.features)."""

MODEL_FAMILIES: dict[str, str] = {
    "logistic_regression": "Logistic regression",
    "random_forest": "Random forest",
    "hist_gradient_boosting": "Histogram gradient boosting",
}
"""The model families training offers (see sluice.training.FAMILIES), with their display names."""

METRICS: tuple[str, ...] = ("roc_auc", "f1", "accuracy", "log_loss", "brier")
"""Hold-out metrics of a binary classifier's scores; log loss and Brier are better when lower."""
