"""What the view's pages, API and ``/metrics`` show: the figures read from the warehouse
(:mod:`sluice.dashboard`) for a range of days, and the SVG charts drawn from them (:mod:`sluice.charts`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sluice import charts, dashboard
from sluice.alerting import (
    ALERTING_METRICS,
    DRIFT_SHARE,
    ESTIMATED_ACCURACY,
    ESTIMATED_ROC_AUC,
    PREDICTION_DRIFT,
    QUARANTINE_RATE,
)
from sluice.approval import changes_champion
from sluice.view_config import DAG_IDS, ViewConfig
from sluice.warehouse import Warehouse


def page_range(config: ViewConfig, store: Warehouse, days: int) -> tuple[dt.date, dt.date]:
    """The ``days`` days up to the newest delivered or monitored day (today when there is none)."""
    last = dashboard.newest_day(store) or config.today()
    return last - dt.timedelta(days=days - 1), last


def docs_link(url: str | None, config: ViewConfig, base: str) -> str | None:
    """A GX Data Docs ``file://`` URL as a link served by the view (browsers block file:// links).
    A URL outside the Data Docs folder gets no link: the view never shows a path of the machine."""
    if not url or config.data_docs_dir is None:
        return None
    root = config.data_docs_dir.resolve().as_uri().rstrip("/") + "/"
    return f"{base}/data-docs/{url[len(root) :]}" if url.startswith(root) else None


def overview_data(config: ViewConfig, store: Warehouse) -> dict[str, Any]:
    history = dashboard.decisions(store, config.model_name)
    bounds = dashboard.metric_days(store)
    runs = {r["dag_id"]: r for r in config.dag_runs()}
    return {
        "model_name": config.model_name,
        "domain": asdict(config.words),
        "champion": dashboard.champion(history, config.today()),
        "dag_runs": [runs.get(d, {"dag_id": d}) for d in DAG_IDS],
        "alerts": dashboard.recent_alerts(store, bounds[1]) if bounds else [],
        "last_day": dashboard.last_day_counts(store, config.model_name),
        "awaiting": [d for d in history if d["status"] == "pending" and changes_champion(d)],
    }


def drift_data(config: ViewConfig, store: Warehouse, first: dt.date, last: dt.date) -> dict[str, Any]:
    top = dashboard.top_drifted(store, first, last)
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "series": dashboard.series(store, first, last),
        "top_features": top["features"],
        "feature_scores": top["scores"],
        "champion_changes": dashboard.champion_changes(dashboard.decisions(store, config.model_name)),
    }


def quality_data(
    config: ViewConfig, store: Warehouse, first: dt.date, last: dt.date, base: str
) -> dict[str, Any]:
    batches = dashboard.quarantined(store, first, last)
    for b in batches:
        links = (docs_link(url, config, base) for url in b["validation_urls"])
        b["validation_urls"] = [link for link in links if link]
        b["validation_url"] = next(iter(b["validation_urls"]), None)
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "days": dashboard.daily_counts(store, config.model_name, first, last),
        "quarantine_rate": dashboard.series(store, first, last)[QUARANTINE_RATE],
        "quarantined": batches,
        "reports": dashboard.reports(config.reports_dir, first, last) if config.reports_dir else [],
    }


def _points(rows: Sequence[dict[str, Any]]) -> list[tuple[dt.date, float | None]]:
    return [(dt.date.fromisoformat(r["day"]), r["value"]) for r in rows]


def _threshold(rows: Sequence[dict[str, Any]], label: str) -> list[charts.Threshold]:
    values = [r["threshold"] for r in rows if r.get("threshold") is not None]
    return [charts.Threshold(values[-1], label)] if values else []


def drift_charts(data: dict[str, Any]) -> list[str]:
    """The drift and performance page's charts, champion changes marked on each."""
    s = data["series"]
    markers = [
        charts.Marker(dt.date.fromisoformat(c["day"]), f"v{c['version']}", "#444")
        for c in data["champion_changes"]
        if c["version"] is not None
    ]
    return [
        charts.line_chart(
            "Data drift: share of features that drifted from the champion's training days",
            [charts.Series("drift share", _points(s[DRIFT_SHARE]))],
            y_label="features drifted",
            unit="%",
            y_range=(0, 1),
            thresholds=_threshold(s[DRIFT_SHARE], "alert above"),
            markers=markers,
        ),
        charts.line_chart(
            "Most drifted features: drift score per day",
            [charts.Series(c, _points(data["feature_scores"][c])) for c in data["top_features"]],
            y_label="drift score",
            markers=markers,
        ),
        charts.line_chart(
            "Prediction drift: the day's scores vs the champion's hold-out scores",
            [charts.Series("prediction drift", _points(s[PREDICTION_DRIFT]))],
            y_label="normed Wasserstein distance",
            thresholds=_threshold(s[PREDICTION_DRIFT], "alert above"),
            markers=markers,
        ),
        charts.line_chart(
            "Performance of the served predictions, by sample day: measured once lab results are "
            "in, and estimated from the scores alone before (blind to concept drift)",
            [
                charts.Series("accuracy", _points(s["accuracy"])),
                charts.Series("ROC AUC", _points(s["roc_auc"])),
                charts.Series("estimated accuracy", _points(s[ESTIMATED_ACCURACY])),
                charts.Series("estimated ROC AUC", _points(s[ESTIMATED_ROC_AUC])),
            ],
            y_label="score",
            unit="%",
            y_range=(0.5, 1),
            markers=markers,
            empty="no labelled days yet",
        ),
    ]


def quality_chart(data: dict[str, Any]) -> str:
    """The share of each delivered day that validation held back, against the alert threshold."""
    days = data["days"]
    rates = data.get("quarantine_rate") or []
    return charts.line_chart(
        "Quarantined: share of each delivered day's rows held back by validation",
        [
            charts.Series(
                "quarantined share",
                [
                    (
                        dt.date.fromisoformat(d["day"]),
                        d["quarantined"] / d["delivered"] if d["delivered"] else None,
                    )
                    for d in days
                ],
                charts.ALERT,
            )
        ],
        y_label="rows quarantined",
        unit="%",
        thresholds=_threshold(rates, "alert above"),
        empty="nothing delivered yet",
    )


def history_chart(decisions: Sequence[dict[str, Any]], today: dt.date) -> str:
    """The champion's version over time (a step at each change, held to ``today``), and the
    challengers that were rejected."""
    applied = [d for d in decisions if d["status"] == "applied" and d["champion_after"] is not None]
    rejected = [d for d in decisions if d["decision"] == "reject" and d["challenger_version"] is not None]
    held = [(dt.date.fromisoformat(d["decision_date"]), d["champion_after"]) for d in applied]
    return charts.line_chart(
        "Champion version over time (points: decisions)",
        [
            charts.Series("champion", held, step=True, hold_until=today),
            charts.Series(
                "rejected challenger",
                [(dt.date.fromisoformat(d["decision_date"]), d["challenger_version"]) for d in rejected],
                charts.ALERT,
            ),
        ],
        y_label="model version",
        height=220,
        empty="no decision yet",
    )


def metrics_text(config: ViewConfig, store: Warehouse) -> bytes:
    """Prometheus exposition of the figures an on-call dashboard watches."""
    from prometheus_client import CollectorRegistry, generate_latest

    class Collector:
        def collect(self):
            yield from _domain_metrics(config)
            yield from _champion_metrics(config, store)
            yield from _monitoring_metrics(config, store)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry)


def _domain_metrics(config: ViewConfig):
    from prometheus_client.core import InfoMetricFamily

    words = config.words
    info = InfoMetricFamily("sluice_domain", "The domain the deployment serves, in its words")
    labels = {"domain": words.domain, "title": words.title, "positive": words.positive}
    info.add_metric([], labels | {"entity": words.entity, "model": config.model_name})
    yield info


def _champion_metrics(config: ViewConfig, store: Warehouse):
    from prometheus_client.core import GaugeMetricFamily

    model = config.model_name
    champ = dashboard.champion(dashboard.decisions(store, model), config.today())
    version = GaugeMetricFamily("sluice_champion_version", "Champion model version", labels=["model"])
    since = GaugeMetricFamily(
        "sluice_days_since_promotion", "Days since the champion was promoted", labels=["model"]
    )
    if champ:
        version.add_metric([model], champ["version"])
        since.add_metric([model], champ["days_since_promotion"])
    yield version
    yield since


def _monitoring_metrics(config: ViewConfig, store: Warehouse):
    """The last monitored day's figures, the newest day's rows by stage, the open alerts."""
    from prometheus_client.core import GaugeMetricFamily

    bounds = dashboard.metric_days(store)
    figures = dashboard.series(store, bounds[0], bounds[1]) if bounds else {}
    for name, help_text in (
        (DRIFT_SHARE, "Share of features drifted on the last monitored day"),
        (PREDICTION_DRIFT, "Prediction drift on the last monitored day"),
        ("accuracy", "Accuracy of the served predictions on the last labelled day"),
        (ESTIMATED_ACCURACY, "Accuracy estimated from the last monitored day's scores, before its labels"),
        (QUARANTINE_RATE, "Share of the last monitored day's rows quarantined"),
    ):
        gauge = GaugeMetricFamily(f"sluice_last_{name}", help_text, labels=["day"])
        points = [p for p in figures.get(name, []) if p["value"] is not None]
        if points:
            gauge.add_metric([points[-1]["day"]], points[-1]["value"])
        yield gauge
    last = dashboard.last_day_counts(store, config.model_name)
    rows = GaugeMetricFamily(
        "sluice_rows", "Rows of the newest delivered day, by stage", labels=["day", "stage"]
    )
    for stage in ("delivered", "published", "quarantined", "scored") if last else ():
        rows.add_metric([last["day"], stage], last[stage])
    yield rows
    alerts = GaugeMetricFamily("sluice_open_alerts", "Alerts of the last 7 monitored days", labels=["metric"])
    found = dashboard.recent_alerts(store, bounds[1]) if bounds else []
    for metric in ALERTING_METRICS:
        alerts.add_metric([metric], sum(1 for a in found if a["metric"] == metric))
    yield alerts
