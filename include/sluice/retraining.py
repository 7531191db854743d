"""When monitoring asks for retraining: an alert about the model or its inputs, outside the
cooldown since the last request, once enough labelled days of the new regime are in; the request
names the day the change began so training can learn from it on. Requests are rows of
``monitoring_metrics`` (the cooldown reads them back)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from sluice.alerting import (
    RETRAIN_REQUESTED,
    RETRAINING_METRICS,
    SPAN_DAY,
    Alert,
    Thresholds,
    Windows,
    metric_row,
    retraining_due,
)


def last_request(warehouse, before: dt.date) -> dt.date | None:
    """The newest day before ``before`` on which retraining was requested."""
    from sqlalchemy import func, select

    from sluice.tables import monitoring_metrics

    m = monitoring_metrics.c
    return warehouse.scalar(
        select(func.max(m.metric_date)).where(m.metric == RETRAIN_REQUESTED, m.metric_date < before)
    )


def change_onset(warehouse, day: dt.date, lookback_days: int = 90) -> dt.date | None:
    """The first day of the run of consecutive days, ending at ``day``, that raised an alert asking
    for retraining (drift, prediction drift, accuracy drop); None when ``day`` raised none."""
    from sqlalchemy import select

    from sluice.tables import monitoring_metrics

    m = monitoring_metrics.c
    alerted = {
        row["metric_date"]
        for row in warehouse.fetch(
            select(m.metric_date).where(
                m.metric.in_(RETRAINING_METRICS),
                m.span == SPAN_DAY,
                m.alert == 1,
                m.metric_date.between(day - dt.timedelta(days=lookback_days), day),
            )
        )
    }
    if day not in alerted:
        return None
    onset = day
    while onset - dt.timedelta(days=1) in alerted:
        onset -= dt.timedelta(days=1)
    return onset


def rejected_since(warehouse, last: dt.date, day: dt.date) -> bool:
    """Whether the newest decision on a challenger trained since the request of ``last`` (before
    ``day``) rejected it: that request's training did not mend what the alerts saw."""
    from sqlalchemy import select

    from sluice.tables import model_decisions

    d = model_decisions.c
    newest = warehouse.fetch(
        select(d.decision)
        .where(d.decision_date >= last, d.decision_date < day, d.status == "applied")
        .order_by(d.decided_at.desc(), d.decision_id.desc())
        .limit(1)
    )
    return bool(newest) and newest[0]["decision"] == "reject"


@dataclass(frozen=True)
class Request:
    """Whether ``day`` requests retraining, and why (or why not)."""

    due: bool
    reason: str
    since: dt.date | None = None

    def event_extra(self, day: dt.date, model_name: str, champion_version: int) -> dict:
        """The ``sluice.retrain_requested`` event's extra: ``day`` is the training's as-of day,
        ``since`` the day the change began (when training should learn from it on)."""
        return {
            "day": day.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "reason": self.reason,
            "model_name": model_name,
            "champion_version": champion_version,
        }


def retraining_request(
    warehouse, day: dt.date, found: Iterable[Alert], thresholds: Thresholds, windows: Windows
) -> Request:
    """Retraining is requested when one of the day's alerts is about the model or its inputs, the
    last request is at least ``cooldown_days`` old, and the labels of ``min_labelled_days`` sample
    days since the change began are in: a model retrained before any labelled day of the new
    regime would learn the old one again. The request names the change's first day (``since``)."""
    found = list(found)
    if not any(a.asks_for_retraining for a in found):
        return Request(False, "no alert asks for retraining")
    last = last_request(warehouse, day)
    cooldown, why = thresholds.cooldown_days, "cooldown"
    if last is not None and rejected_since(warehouse, last, day):
        cooldown, why = min(cooldown, thresholds.retry_days), "its challenger was rejected: retry"
    if not retraining_due(found, day, last, cooldown):
        return Request(
            False,
            f"in the cooldown: retraining was requested on {last} ({why} {cooldown} days)",
        )
    from sluice.specs import MIN_DAYS_SINCE_CHANGE

    onset = change_onset(warehouse, day) or day
    labelled = max((day - dt.timedelta(days=windows.label_delay_days) - onset).days + 1, 0)
    if labelled < windows.min_labelled_days:
        return Request(
            False,
            f"waiting for labels: {labelled} of {windows.min_labelled_days} sample days since the "
            f"change began on {onset} are labelled",
            onset,
        )
    # too few labelled days to learn the new regime alone: training uses its whole window
    since = onset if labelled >= MIN_DAYS_SINCE_CHANGE else None
    reasons = "; ".join(a.message() for a in found if a.asks_for_retraining)
    return Request(True, f"retraining requested: {reasons}", since)


def record_request(warehouse, day: dt.date, request: Request, computed_at: dt.datetime) -> None:
    """The day's request row: written when it requests, removed when it does not (a re-run)."""
    from sqlalchemy import delete

    from sluice.tables import monitoring_metrics

    m = monitoring_metrics.c
    with warehouse.transaction() as tx:
        tx.conn.execute(delete(monitoring_metrics).where(m.metric_date == day, m.metric == RETRAIN_REQUESTED))
        if request.due:
            row = metric_row(day, RETRAIN_REQUESTED, 1.0, alert=True) | {"computed_at": computed_at}
            tx.insert(monitoring_metrics, pd.DataFrame([row]))


def request_retraining(
    warehouse,
    day: dt.date,
    found: Iterable[Alert],
    thresholds: Thresholds,
    windows: Windows,
    *,
    computed_at: dt.datetime,
) -> Request:
    """Decide whether ``day``'s alerts request retraining and record the answer (what the monitor
    DAG's ``request_retraining`` task does)."""
    request = retraining_request(warehouse, day, found, thresholds, windows)
    record_request(warehouse, day, request, computed_at)
    return request
