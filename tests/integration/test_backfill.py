"""The first hour, as a user runs it: ``make up`` (scripts/up.sh) in a fresh folder — Airflow on its
PostgreSQL metadata database from the venv, the scheduler, the MLflow server — then the README's
backfill command over 6 days, with the asset chain ingest → features → score behind it.

Reproduces the lost asset event: ``sluice_features`` stays paused while the backfill publishes its
days (Airflow queues no run for a paused DAG, so those events never start one), and later
``sluice_score`` is paused while a day is featurised. The next run of each catches the days up:
every published day ends with features and predictions. Also checks that no more than four tasks
ran at once (the limit the README states) and that task logs carry no GX import noise.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.conftest import free_port
from tests.deployment import Deployment, days, most_at_once

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TODAY = dt.datetime.now(dt.UTC).date()
BACKFILL = days(TODAY - dt.timedelta(days=25), 6)  # more runs than the 4 at once; in the stable days
LATER = [TODAY - dt.timedelta(days=n) for n in (15, 14, 13)]
CHAIN = ("sluice_ingest", "sluice_features", "sluice_score")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployment = Deployment(tmp_path_factory.mktemp("up"), free_port(), free_port())
    try:
        deployment.up()
        yield deployment
    finally:
        deployment.down()
        assert not list((deployment.home / "run").glob("*.pid")), "make down leaves no process behind"
        assert not (deployment.home / "pg" / "postmaster.pid").exists(), "the metadata database stopped"


def _days(warehouse, table, **where) -> set[dt.date]:
    query = select(table.c.sample_date)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    return {row["sample_date"] for row in warehouse.fetch(query)}


def _ingest(deployment: Deployment, day: dt.date) -> None:
    deployment.api(
        "/api/v2/dags/sluice_ingest/dagRuns", {"logical_date": None, "conf": {"day": day.isoformat()}}
    )


def test_a_backfill_with_lost_events_ends_with_every_day_featurised_and_scored(deployment, monkeypatch):
    from sluice.tables import feature_batches, ingest_batches, prediction_batches
    from sluice.warehouse import Warehouse

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{deployment.mlflow_port}")
    version = deployment.register_champion()
    warehouse = Warehouse(deployment.warehouse_url)
    deployment.unpause("sluice_ingest", "sluice_score")  # features stays paused: its events are lost

    command = (
        f"airflow backfill create --dag-id sluice_ingest --from-date {BACKFILL[0]} "
        f"--to-date {BACKFILL[-1]} --max-active-runs 4"
    )
    created = deployment.shell(command)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    assert "database is locked" not in created.stdout + created.stderr

    def backfill_done() -> bool:
        runs = deployment.api("/api/v2/dags/sluice_ingest/dagRuns?run_type=backfill&limit=100")["dag_runs"]
        return len(runs) == len(BACKFILL) and all(r["state"] in ("success", "failed") for r in runs)

    assert deployment.wait(backfill_done, timeout=1200), "the backfill did not finish"
    runs = deployment.api("/api/v2/dags/sluice_ingest/dagRuns?run_type=backfill&limit=100")["dag_runs"]
    assert {r["state"] for r in runs} == {"success"}, runs
    assert set(BACKFILL) <= _days(warehouse, ingest_batches, status="published")
    assert not _days(warehouse, feature_batches), "features was paused: the backfill's events started no run"

    # the next published day starts one features run, which builds every day left without features
    deployment.unpause("sluice_features")
    _ingest(deployment, LATER[0])
    published = lambda: _days(warehouse, ingest_batches, status="published")  # noqa: E731
    scored = lambda: _days(warehouse, prediction_batches, model_version=version)  # noqa: E731
    assert deployment.wait(lambda: published() <= scored() and LATER[0] in scored(), timeout=900), (
        f"published {sorted(published())}, featurised {sorted(_days(warehouse, feature_batches))}, "
        f"scored {sorted(scored())}; logs in {deployment.home / 'airflow' / 'logs'}"
    )

    # a featurised day whose scoring event is lost is scored by the next scoring run
    deployment.api("/api/v2/dags/sluice_score", {"is_paused": True}, method="PATCH")
    _ingest(deployment, LATER[1])
    assert deployment.wait(lambda: LATER[1] in _days(warehouse, feature_batches), timeout=600)
    deployment.unpause("sluice_score")
    _ingest(deployment, LATER[2])
    assert deployment.wait(lambda: {LATER[1], LATER[2]} <= scored(), timeout=600), sorted(scored())
    assert published() == _days(warehouse, feature_batches) == scored(), "every published day, no more"

    instances = deployment.task_instances(CHAIN)
    assert all(t["state"] in ("success", "skipped") for t in instances), [
        (t["dag_id"], t["task_id"], t["state"]) for t in instances if t["state"] not in ("success", "skipped")
    ]
    assert most_at_once(instances) <= 4, "AIRFLOW__CORE__PARALLELISM=4, as the README says"
    logs = list(
        (deployment.home / "airflow" / "logs").glob("dag_id=sluice_ingest/*/task_id=validate/**/*.log")
    )
    assert logs and not any("Skipping registering function" in log.read_text() for log in logs)
    warehouse.dispose()
