"""When a monitored figure becomes an alert: the metrics that can alert and their thresholds.

Light on purpose (no pandas): the monitor DAG builds its form from :class:`Thresholds` when the
dag-processor parses it (:mod:`sluice.specs`)."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.errors import SluiceError
from sluice.specs import knob


class MonitoringError(SluiceError, ValueError):
    """A monitoring setting or input is unusable; the message names it."""


DRIFT_SCORE = "drift_score"
DRIFT_SHARE = "drift_share"
PREDICTION_DRIFT = "prediction_drift"
ACCURACY_DROP = "accuracy_drop"
QUARANTINE_RATE = "quarantine_rate"

RETRAINING_METRICS = (DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP)
"""Metrics whose alert asks for retraining; a quarantine-rate alert is about the data source."""


@dataclass(frozen=True)
class Thresholds:
    """When a figure becomes an alert. Each is compared with ``>`` (over the threshold alerts)."""

    drift_share: float = knob(
        0.1,
        "Drift share threshold",
        "Alert when more than this share of the features drifted from the champion's training "
        "days (each feature's test: Evidently's choice for its type and size).",
        minimum=0,
        maximum=1,
    )
    prediction_drift: float = knob(
        0.1,
        "Prediction drift threshold",
        "Alert when the normed Wasserstein distance between the day's scores and the champion's "
        "scores on its hold-out is over this.",
        minimum=0,
        maximum=1,
    )
    accuracy_drop: float = knob(
        0.05,
        "Accuracy drop tolerance",
        "Alert when a labelled day's accuracy is this much below the served version's hold-out accuracy.",
        minimum=0,
        maximum=1,
    )
    quarantine_rate: float = knob(
        0.05,
        "Quarantine rate threshold",
        "Alert when validation holds back more than this share of a day.",
        minimum=0,
        maximum=1,
    )
    cooldown_days: int = knob(
        7,
        "Retraining cooldown (days)",
        "After a retraining request, alerts do not request again for this many days.",
        minimum=0,
        maximum=90,
    )

    def __post_init__(self) -> None:
        for name in (DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP, QUARANTINE_RATE):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise MonitoringError(f"threshold {name}={value} must be between 0 and 1")
        if self.cooldown_days < 0:
            raise MonitoringError(f"cooldown_days={self.cooldown_days} must be 0 or more")
