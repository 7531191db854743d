"""sluice_monitor run for real with dag.test(), on SQLite and on PostgreSQL: a stable day, a drifted
day, and a drifted day inside the cooldown; the alerts reach a webhook (a local HTTP server).

The champion is registered the way sluice_train leaves it (tags naming its training and hold-out
days); feature days are published and scored with the library.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from sluice.families import FAMILIES
from sluice.tables import monitoring_metrics
from tests.factories import FEATURES, day, register_model, serve_day, synthetic
from tests.integration.test_ingest_dag import asset_events, run

pytestmark = pytest.mark.integration

MODEL = "water_potability"
CONF = {"drift_share": 0.2, "window_days": 3, "min_labelled_days": 0, "sample_rows": 5000}


@pytest.fixture
def webhook():
    """A local receiver for the alerts: the bodies it was sent."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], received
    server.shutdown()


@pytest.fixture
def monitor_dag(dagbag, warehouse, warehouse_url, tmp_path, monkeypatch, webhook):
    port, _ = webhook
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_ALERTS_WEBHOOK", f"http://127.0.0.1:{port}/hooks/sluice")
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("SLUICE_MLFLOW_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SLUICE_LABEL_DELAY_DAYS", "3")
    dag = dagbag.dags["sluice_monitor"]
    for task in dag.tasks:
        task.retries = 0
    return dag


def champion_with_history(warehouse):
    """A champion trained on days 0..9 with hold-out days 10..12, all of them served."""
    frame = synthetic(6)
    X = frame[list(FEATURES)]
    model = FAMILIES["logistic_regression"].build(0).fit(X, frame["label"])
    tags = {
        "sluice.train_first_day": day(0).isoformat(),
        "sluice.train_last_day": day(9).isoformat(),
        "sluice.holdout_first_day": day(10).isoformat(),
        "sluice.holdout_last_day": day(12).isoformat(),
        "sluice.holdout_accuracy": "0.85",
        "sluice.feature_version": "v1",
    }
    version = register_model(MODEL, model, X, tags=tags, alias="champion")
    for i in range(13):
        serve_day(warehouse, model, day(i), version=version, name=MODEL)
    return model, version


def printed(capfd, caplog) -> str:
    """What the in-process task runs logged and printed since the last call."""
    out, err = capfd.readouterr()
    text = out + err + caplog.text
    caplog.clear()
    return text


def rows_of(warehouse, d):
    query = select(monitoring_metrics).where(monitoring_metrics.c.metric_date == d)
    return {(r["metric"], r["column_name"], r["span"]): r for r in warehouse.fetch(query)}


def test_stable_day_drifted_day_and_the_cooldown(monitor_dag, warehouse, webhook, tmp_path, capfd, caplog):
    _, received = webhook
    earlier = len(asset_events("sluice.retrain_requested"))  # the metadata DB is the session's
    model, version = champion_with_history(warehouse)
    serve_day(warehouse, model, day(13), version=version, name=MODEL)
    for d in (day(14), day(15)):
        serve_day(warehouse, model, d, version=version, name=MODEL, shift=1.5)

    # a stable day: figures written, no alert, no request
    states = run(monitor_dag, day(13), CONF)
    assert states == {
        "champion": "success",
        "measure": "success",
        "notify": "success",
        "request_retraining": "skipped",
        "data_docs": "success",
    }
    stable = rows_of(warehouse, day(13))
    assert stable[("drift_share", "", "day")]["alert"] == 0
    assert stable[("drift_share", "", "rolling_3d")]["sample_size"] == 1200
    assert stable[("prediction_drift", "score", "day")]["model_version"] == version
    assert ("missing_share", "ph", "day") in stable and ("out_of_range", "solids", "day") in stable
    assert not [r for r in stable.values() if r["alert"] and r["metric"] != "drift_score"]
    assert len(asset_events("sluice.retrain_requested")) == earlier
    assert received == []
    assert (tmp_path / "reports" / "monitoring" / f"{day(13)}.html").exists()

    # a drifted day: alerts, through the webhook too, and a retraining request naming the change
    printed(capfd, caplog)
    assert run(monitor_dag, day(14), CONF)["request_retraining"] == "success"
    drifted = rows_of(warehouse, day(14))
    assert drifted[("drift_share", "", "day")]["alert"] == 1
    assert drifted[("retrain_requested", "", "day")]["value"] == 1
    [request] = asset_events("sluice.retrain_requested")[earlier:]
    # no labelled day since the change yet: training will use its whole window
    assert (request["day"], request["since"]) == (day(14).isoformat(), None)
    assert request["champion_version"] == version
    [posted] = received
    assert f"{day(14)}: drift_share is" in posted["text"]
    assert {a["metric"] for a in posted["alerts"]} >= {"drift_share", "prediction_drift"}
    assert "ALERT 2026-01-15: drift_share is" in printed(capfd, caplog)

    # the next day drifts too: it alerts again, but inside the cooldown asks for nothing
    assert run(monitor_dag, day(15), CONF)["request_retraining"] == "skipped"
    assert rows_of(warehouse, day(15))[("drift_share", "", "day")]["alert"] == 1
    assert len(asset_events("sluice.retrain_requested")) == earlier + 1
    assert len(received) == 2
    assert "in the cooldown: retraining was requested on 2026-01-15" in printed(capfd, caplog)

    # re-running a day gives the same figures
    before = {k: (r["value"], r["alert"], r["sample_size"]) for k, r in rows_of(warehouse, day(14)).items()}
    run(monitor_dag, day(14), CONF)
    again = {k: (r["value"], r["alert"], r["sample_size"]) for k, r in rows_of(warehouse, day(14)).items()}
    assert again == before


def test_without_a_champion_the_run_is_skipped(monitor_dag, warehouse):
    states = run(monitor_dag, day(3), CONF)
    assert states["champion"] == "skipped"
    assert states["data_docs"] == "success", "the Data Docs index is rebuilt with or without a champion"
    assert warehouse.fetch(select(monitoring_metrics)) == []
