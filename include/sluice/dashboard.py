"""What the Sluice view shows, read from the warehouse: plain, JSON-ready values.

Every function takes the warehouse and what it needs (the model name, the day range, "today") as
arguments; the web layer (``sluice.web``) turns the results into pages, JSON and Prometheus
metrics. Reads are few and indexed by day, so a year of monitoring answers in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select

from sluice.alerting import (
    ALERTING_METRICS,
    DRIFT_SCORE,
    DRIFT_SHARE,
    ESTIMATED_ACCURACY,
    ESTIMATED_ROC_AUC,
    PREDICTION_DRIFT,
    QUARANTINE_RATE,
)
from sluice.drift import SCORE
from sluice.quarantine import urls as quarantine_urls
from sluice.tables import ingest_batches, model_decisions, monitoring_metrics, prediction_batches, quarantine
from sluice.warehouse import Warehouse

PROMOTING = ("promote", "forced", "rollback")
"""Decisions that move the champion alias when applied."""
SERIES = (
    DRIFT_SHARE,
    PREDICTION_DRIFT,
    "accuracy",
    "roc_auc",
    ESTIMATED_ACCURACY,
    ESTIMATED_ROC_AUC,
    QUARANTINE_RATE,
)
"""The whole-day figures the drift and performance page charts, one series each."""
SERIES_COLUMN = {PREDICTION_DRIFT: SCORE}
"""The ``column_name`` a series' rows are recorded under, where it is not the whole-day ``""``."""


JSON_COLUMNS = ("champion_metrics", "challenger_metrics")


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def decisions(warehouse: Warehouse, model_name: str) -> list[dict[str, Any]]:
    """Every champion/challenger decision, oldest first, with both versions' hold-out metrics."""
    d = model_decisions.c
    rows = warehouse.fetch(
        select(model_decisions).where(d.model_name == model_name).order_by(d.decided_at, d.decision_id)
    )
    return [
        {
            column: _json(value)
            if column in JSON_COLUMNS
            else _iso(value)
            if isinstance(value, dt.date)
            else value
            for column, value in r.items()
            if column not in ("model_name", "slices")
        }
        for r in rows
    ]


def champion_changes(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The applied decisions that changed the champion: day, version, kind."""
    return [
        {"day": h["decision_date"], "version": h["champion_after"], "decision": h["decision"]}
        for h in history
        if h["status"] == "applied"
        and h["decision"] in PROMOTING
        and h["champion_after"] != h["champion_before"]
    ]


def champion(history: Sequence[Mapping[str, Any]], today: dt.date) -> dict[str, Any] | None:
    """The serving champion by the decision log: version, when and how it got there, its metrics."""
    changes = [h for h in history if h["status"] == "applied" and h["champion_after"] is not None]
    if not changes:
        return None
    last = changes[-1]
    version = last["champion_after"]
    promoted = next(
        (h for h in reversed(changes) if h["champion_after"] == version and h["champion_before"] != version),
        last,
    )
    metrics = promoted["challenger_metrics"] if promoted["challenger_version"] == version else None
    day = dt.date.fromisoformat(promoted["decision_date"])
    return {
        "version": version,
        "decision": promoted["decision"],
        "promoted_on": promoted["decision_date"],
        "decided_at": promoted["decided_at"],
        "days_since_promotion": (today - day).days,
        "holdout_metrics": metrics or {},
        "reason": promoted["reason"],
    }


def daily_counts(
    warehouse: Warehouse, model_name: str, first: dt.date, last: dt.date
) -> list[dict[str, Any]]:
    """Per delivered day: rows delivered, published, quarantined, and scored by the serving version."""
    b, p = ingest_batches.c, prediction_batches.c
    newest = (
        select(p.sample_date, func.max(p.scored_at).label("scored_at"))
        .where(p.model_name == model_name, p.sample_date.between(first, last))
        .group_by(p.sample_date)
        .subquery()
    )
    scored = {
        r["sample_date"]: r
        for r in warehouse.fetch(
            select(p.sample_date, p.model_version, p.row_count).join(
                newest, and_(newest.c.sample_date == p.sample_date, newest.c.scored_at == p.scored_at)
            )
        )
    }
    rows = warehouse.fetch(
        select(ingest_batches).where(b.sample_date.between(first, last)).order_by(b.sample_date)
    )
    out = []
    for r in rows:
        score = scored.get(r["sample_date"])
        out.append(
            {
                "day": _iso(r["sample_date"]),
                "status": r["status"],
                "delivered": r["row_count"],
                "published": r["published_rows"] or 0,
                "quarantined": r["quarantined_rows"] or 0,
                "scored": score["row_count"] if score else 0,
                "scored_by_version": score["model_version"] if score else None,
            }
        )
    return out


def newest_day(warehouse: Warehouse) -> dt.date | None:
    """The newest day delivered or monitored."""
    b, m = ingest_batches.c, monitoring_metrics.c
    days = [
        warehouse.fetch(select(func.max(b.sample_date).label("day")))[0]["day"],
        warehouse.fetch(select(func.max(m.metric_date).label("day")))[0]["day"],
    ]
    days = [d for d in days if d is not None]
    return max(days) if days else None


def last_day_counts(warehouse: Warehouse, model_name: str) -> dict[str, Any] | None:
    """``daily_counts`` of the newest delivered day."""
    b = ingest_batches.c
    newest = warehouse.fetch(select(func.max(b.sample_date).label("day")))[0]["day"]
    return daily_counts(warehouse, model_name, newest, newest)[0] if newest else None


def metric_days(warehouse: Warehouse) -> tuple[dt.date, dt.date] | None:
    """The first and last day with monitoring figures."""
    m = monitoring_metrics.c
    row = warehouse.fetch(select(func.min(m.metric_date).label("lo"), func.max(m.metric_date).label("hi")))[0]
    return (row["lo"], row["hi"]) if row["lo"] is not None else None


def series(warehouse: Warehouse, first: dt.date, last: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Whole-day figures per day (``SERIES``): value, threshold, alert and the model version."""
    m = monitoring_metrics.c
    rows = warehouse.fetch(
        select(m.metric_date, m.metric, m.value, m.threshold, m.alert, m.model_version, m.sample_size)
        .where(
            m.metric_date.between(first, last),
            or_(*(and_(m.metric == name, m.column_name == SERIES_COLUMN.get(name, "")) for name in SERIES)),
            m.span == "day",
        )
        .order_by(m.metric_date)
    )
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SERIES}
    for r in rows:
        out[r["metric"]].append(
            {
                "day": _iso(r["metric_date"]),
                "value": r["value"],
                "threshold": r["threshold"],
                "alert": bool(r["alert"]),
                "model_version": r["model_version"],
                "sample_size": r["sample_size"],
            }
        )
    return out


def top_drifted(warehouse: Warehouse, first: dt.date, last: dt.date, top: int = 5) -> dict[str, Any]:
    """Per-day drift scores of the features that drifted most over the range: the most days
    flagged as drifted, then the highest score."""
    m = monitoring_metrics.c
    rows = warehouse.fetch(
        select(m.metric_date, m.column_name, m.value, m.threshold, m.alert)
        .where(m.metric_date.between(first, last), m.metric == DRIFT_SCORE, m.span == "day")
        .order_by(m.metric_date)
    )
    by_column: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_column[r["column_name"]].append(
            {"day": _iso(r["metric_date"]), "value": r["value"], "alert": bool(r["alert"])}
        )

    def rank(column: str) -> tuple[int, float]:
        points = by_column[column]
        return sum(p["alert"] for p in points), max((p["value"] or 0.0) for p in points)

    ranked = sorted(by_column, key=rank, reverse=True)[:top]
    return {"features": ranked, "scores": {c: by_column[c] for c in ranked}}


def recent_alerts(warehouse: Warehouse, last: dt.date, days: int = 7) -> list[dict[str, Any]]:
    """Figures over their threshold in the ``days`` monitored days up to ``last``, newest first."""
    m = monitoring_metrics.c
    rows = warehouse.fetch(
        select(m.metric_date, m.metric, m.column_name, m.span, m.value, m.threshold, m.model_version)
        .where(
            m.metric_date.between(last - dt.timedelta(days=days - 1), last),
            m.alert == 1,
            m.metric.in_(ALERTING_METRICS),
        )
        .order_by(m.metric_date.desc(), m.metric)
    )
    return [
        {
            "day": _iso(r["metric_date"]),
            "metric": r["metric"],
            "span": r["span"],
            "value": r["value"],
            "threshold": r["threshold"],
            "model_version": r["model_version"],
        }
        for r in rows
    ]


def quarantined(warehouse: Warehouse, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """Quarantined batches, newest first, with the expectations they failed and their Data Docs page."""
    q = quarantine.c
    rows = warehouse.fetch(
        select(quarantine)
        .where(q.sample_date.between(first, last))
        .order_by(q.sample_date.desc(), q.table_name)
    )
    out = []
    for r in rows:
        failed = _json(r["failed_expectations"]) or []
        out.append(
            {
                "day": _iso(r["sample_date"]),
                "batch_id": r["batch_id"],
                "table": r["table_name"],
                "scope": r["scope"],
                "reason": r["reason"],
                "rows": r["row_count"],
                "quarantined_rows": r["quarantined_rows"],
                "failed_expectations": [
                    {
                        "expectation": f.get("expectation"),
                        "column": f.get("column"),
                        "unexpected_count": f.get("unexpected_count"),
                        "why": f.get("why"),
                        "file": f.get("file"),
                        "where": f.get("where") or [],
                    }
                    for f in failed
                ],
                "validation_urls": quarantine_urls(r["validation_url"]),
                "quarantined_at": _iso(r["quarantined_at"]),
            }
        )
    return out


def reports(folder: Path, first: dt.date, last: dt.date) -> list[str]:
    """The days from ``first`` to ``last`` whose Evidently report exists (``<day>.html``), newest first."""
    if not folder.is_dir():
        return []
    days = []
    for path in folder.glob("*.html"):
        try:
            day = dt.date.fromisoformat(path.stem)
        except ValueError:
            continue
        if first <= day <= last:
            days.append(day.isoformat())
    return sorted(days, reverse=True)
