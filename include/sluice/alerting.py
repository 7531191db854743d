"""When a monitored figure becomes an alert: the metrics that can alert, their thresholds, the
:class:`Alert` that names a figure over its threshold, the retraining cooldown rule, and the shape
of a ``monitoring_metrics`` row.

Light on purpose (no pandas): the monitor DAG builds its form from :class:`Thresholds` and
:class:`Windows` when the dag-processor parses it (:mod:`sluice.specs`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from sluice.errors import SluiceError
from sluice.specs import knob


class MonitoringError(SluiceError, ValueError):
    """A monitoring setting or input is unusable; the message names it."""


DRIFT_SCORE = "drift_score"
DRIFT_SHARE = "drift_share"
PREDICTION_DRIFT = "prediction_drift"
ACCURACY_DROP = "accuracy_drop"
ESTIMATED_ACCURACY = "estimated_accuracy"
ESTIMATED_ROC_AUC = "estimated_roc_auc"
"""Performance estimated from a day's scores before its labels arrive (:mod:`sluice.estimate`)."""
ESTIMATED_ACCURACY_DROP = "estimated_accuracy_drop"
ESTIMATE_ERROR = "estimate_error"
"""How far the estimated accuracy has been from the labelled one lately (the estimate's trust)."""
QUARANTINE_RATE = "quarantine_rate"

ALERTING_METRICS = (
    DRIFT_SHARE,
    PREDICTION_DRIFT,
    ACCURACY_DROP,
    ESTIMATED_ACCURACY_DROP,
    QUARANTINE_RATE,
)
"""The whole-day figures that alert over their threshold (a :class:`Thresholds` field each). The
estimate's error has a threshold too, but it only decides whether the estimate may alert: on real
data (New York's flights) it is over it most days, and an alert every day is no alert."""
RETRAINING_METRICS = (DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP, ESTIMATED_ACCURACY_DROP)
"""Metrics whose alert asks for retraining; a quarantine-rate alert is about the data source. The
estimated accuracy alerts only while the estimate is trusted (:attr:`Thresholds.estimate_error`)."""


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
    estimated_accuracy_drop: float = knob(
        0.05,
        "Estimated accuracy drop tolerance",
        "Alert when the accuracy estimated from the day's scores alone (before any label) is this "
        "much below the champion's hold-out accuracy, and request retraining before the labels "
        "confirm it. Blind to concept drift: labels stay the judge (see the estimate's error).",
        minimum=0,
        maximum=1,
    )
    estimate_error: float = knob(
        0.03,
        "Estimate error tolerance",
        "The estimate is trusted while its mean absolute error against the labelled accuracy, over "
        "the champion's labelled days of the rolling window, is at most this. Over it (concept "
        "drift, which the estimate cannot see, or days it cannot follow) a fall of the estimate is "
        "recorded without alerting: only the labelled figures request retraining.",
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
    retry_days: int = knob(
        1,
        "Retry after a rejected challenger (days)",
        "When the challenger a request trained was rejected, alerts may request again after this "
        "many days (with more labels of the change) instead of waiting out the cooldown.",
        minimum=1,
        maximum=90,
    )

    def __post_init__(self) -> None:
        for name in (*ALERTING_METRICS, ESTIMATE_ERROR):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise MonitoringError(f"threshold {name}={value} must be between 0 and 1")
        if self.cooldown_days < 0:
            raise MonitoringError(f"cooldown_days={self.cooldown_days} must be 0 or more")
        if self.retry_days < 1:
            raise MonitoringError(f"retry_days={self.retry_days} must be at least 1")


RETRAIN_REQUESTED = "retrain_requested"
"""The ``monitoring_metrics`` row that records a retraining request (the cooldown reads it)."""

SPAN_DAY = "day"


@dataclass(frozen=True)
class Windows:
    """How much data each figure uses."""

    sample_rows: int = knob(
        20_000,
        "Sample size (rows)",
        "Larger days (and the reference) are sampled to this many rows, reproducibly; time and "
        "memory stay bounded however large the day.",
        minimum=1_000,
        maximum=1_000_000,
    )
    window_days: int = knob(
        7,
        "Rolling window (days)",
        "Recent days pooled for the rolling drift and performance figures.",
        minimum=1,
        maximum=90,
    )
    label_delay_days: int = 3
    """Performance is computed for the sample day this many days back, whose labels are in (not a
    knob: the form's default is the label delay setting)."""
    min_labelled_rows: int = 50
    """Fewer labelled predictions than this on a day: no performance figures for it."""
    min_labelled_days: int = knob(
        2,
        "Labelled days since the change",
        "Request retraining only once this many sample days since the change began have lab "
        "results (what training learns the new regime from; with fewer than 3 it trains on its "
        "whole window, those days included). 0: request at once.",
        minimum=0,
        maximum=60,
    )
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sample_rows", "window_days", "min_labelled_rows"):
            if getattr(self, name) < 1:
                raise MonitoringError(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("label_delay_days", "min_labelled_days"):
            if getattr(self, name) < 0:
                raise MonitoringError(f"{name}={getattr(self, name)} must be 0 or more")


def rolling_span(days: int) -> str:
    return f"rolling_{days}d"


@dataclass(frozen=True)
class Alert:
    day: dt.date
    metric: str
    value: float
    threshold: float
    column: str = ""

    @property
    def asks_for_retraining(self) -> bool:
        return self.metric in RETRAINING_METRICS

    def message(self) -> str:
        what = f"{self.metric} of {self.column}" if self.column else self.metric
        return f"{self.day}: {what} is {self.value:.4g}, over the threshold {self.threshold:.4g}"

    def to_dict(self) -> dict:
        return asdict(self) | {"day": self.day.isoformat()}

    @classmethod
    def from_dict(cls, data: dict) -> Alert:
        return cls(
            dt.date.fromisoformat(data["day"]),
            data["metric"],
            data["value"],
            data["threshold"],
            data["column"],
        )


def alerts(day: dt.date, figures: dict[str, float | None], thresholds: Thresholds) -> list[Alert]:
    """The figures of ``day`` over their thresholds. A figure that could not be computed (None:
    no labels yet, no predictions) raises no alert."""
    unknown = set(figures) - set(ALERTING_METRICS)
    if unknown:
        raise MonitoringError(f"no threshold for {sorted(unknown)}")
    found = (over(day, metric, value, getattr(thresholds, metric)) for metric, value in figures.items())
    return [alert for alert in found if alert]


def over(day: dt.date, metric: str, value: float | None, threshold: float, column: str = "") -> Alert | None:
    """An alert when ``value`` is over ``threshold``; None for no figure."""
    return (
        None if value is None or value <= threshold else Alert(day, metric, float(value), threshold, column)
    )


def retraining_due(
    found: Iterable[Alert], day: dt.date, last_request: dt.date | None, cooldown_days: int
) -> bool:
    """Whether ``day``'s alerts should request retraining: one of them is about the model or its
    inputs, and the last request (if any, and not later than ``day``) is at least
    ``cooldown_days`` old. A persistent drift alerts every day but requests once per cooldown."""
    if not any(alert.asks_for_retraining for alert in found):
        return False
    if last_request is None or last_request > day:  # a request "in the future" is a backfill's
        return True
    return (day - last_request).days >= cooldown_days


def metric_row(
    day,
    metric,
    value,
    *,
    column="",
    span=SPAN_DAY,
    threshold=None,
    alert=False,
    sample_size=None,
    model_version=None,
) -> dict:
    """A ``monitoring_metrics`` row (without ``computed_at``, which the writer adds)."""
    return {
        "metric_date": day,
        "metric": metric,
        "column_name": column,
        "span": span,
        "value": None if value is None else float(value),
        "threshold": threshold,
        "alert": int(bool(alert)),
        "sample_size": sample_size,
        "model_version": model_version,
    }


class Figures:
    """Collects a run's ``monitoring_metrics`` rows and the alerts among them."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.rows: list[dict] = []
        self.alerts: list[Alert] = []

    def add(self, day: dt.date, metric: str, value, **kw) -> None:
        self.rows.append(metric_row(day, metric, value, **kw))

    def judge(
        self, day: dt.date, metric: str, value, column: str = "", threshold: float | None = None, **kw
    ) -> None:
        """A figure with a threshold (the setting's, or ``threshold`` measured for this model):
        recorded, and an alert when over it."""
        threshold = getattr(self.thresholds, metric) if threshold is None else threshold
        found = over(day, metric, value, threshold, column)
        self.alerts += [found] if found else []
        self.add(day, metric, value, column=column, threshold=threshold, alert=bool(found), **kw)
