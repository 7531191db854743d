"""Drive the whole loop of the domain ``SLUICE_DOMAIN`` names through the real DAGs with ``dag.test()``:
ingest and features for each day, a training, an evaluation, scoring and monitoring of the last
day, then the view's API. Prints one JSON line of what it found (the test asserts on it).

Run as ``python -m tests.integration.domain_loop FIRST_DAY DAYS`` in a process whose environment
names the domain, the warehouse, Airflow's home and MLflow's store: the domain is chosen once per
process, as in a deployment, so a test of another domain runs this in a subprocess.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def run_loop(
    domain: str, first: dt.date, days: int, home: Path, warehouse_url: str, pythonpath: Sequence[Path] = ()
) -> dict:
    """Run this module for ``domain`` in a process of its own (the domain on ``PYTHONPATH``); what it
    found. For the tests: the environment names only what the run needs."""
    import subprocess

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SLUICE_", "MLFLOW"))}
    env |= {
        "PYTHONPATH": os.pathsep.join([*map(str, pythonpath), str(REPO), str(REPO / "dags")]),
        "SLUICE_DOMAIN": domain,
        "SLUICE_HOME": str(home),
        "SLUICE_ROWS_PER_DAY": "300",
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_SLUICE_WAREHOUSE": warehouse_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "SLUICE_MLFLOW_ARTIFACTS": str(home / "artifacts"),
        "GX_ANALYTICS_ENABLED": "False",
    }
    (home / "airflow").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.domain_loop", first.isoformat(), str(days)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"the loop failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def separate_warehouse(request, tmp_path: Path, pg_database: str) -> str:
    """A warehouse URL of its own for a domain's loop: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    from sqlalchemy.engine import make_url

    from sluice.connections import create_database_if_missing

    url = make_url(request.getfixturevalue("pg_url")).set(database=pg_database)
    rendered = url.render_as_string(hide_password=False)
    create_database_if_missing(rendered)
    return rendered


def run(dag, day: dt.date, conf: dict | None = None) -> dict[str, str]:
    """The DAG for ``day`` as the other integration tests run it; a run that ran no task, or any
    that did not succeed, stops the loop."""
    from tests.integration.test_ingest_dag import run as run_dag

    states = run_dag(dag, day, conf)
    if not states or not set(states.values()) <= {"success", "skipped"}:
        raise SystemExit(f"{dag.dag_id} for {day}: {states}")
    return states


def view_overview(warehouse, settings) -> tuple[dict, str]:
    from fastapi.testclient import TestClient

    from sluice.view_config import ViewConfig, Words
    from sluice.web import create_app

    async def authenticate(request):
        return "tester"

    config = ViewConfig(
        warehouse=lambda: warehouse,
        model_name=settings.model_name,
        today=lambda: dt.date(2030, 1, 1),
        words=Words.of(settings.domain),
        metrics_token="t",
    )
    client = TestClient(create_app(config, authenticate))
    overview = client.get("/api/overview")
    metrics = client.get("/metrics", headers={"Authorization": "Bearer t"})
    return overview.json(), metrics.text


def main(first: dt.date, days: int) -> dict:
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.utils import db
    from sqlalchemy import func, select

    from sluice import cli
    from sluice.settings import Settings
    from sluice.tables import monitoring_metrics
    from sluice.warehouse import Warehouse

    db.resetdb(skip_init=False)
    url = os.environ["AIRFLOW_CONN_SLUICE_WAREHOUSE"]
    Warehouse(url).drop_tables()
    assert cli.main(["init"]) == 0
    settings = Settings.from_env()
    warehouse = Warehouse(url)
    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0
    dags = bag.dags
    all_days = [first + dt.timedelta(days=i) for i in range(days)]
    last = all_days[-1]
    for day in all_days:
        run(dags["sluice_ingest"], day)
        run(dags["sluice_features"], day, {"day": day.isoformat()})
    train = {
        "as_of": last.isoformat(),
        "window_days": days - 2,
        "holdout_days": 2,
        "label_cutoff_days": 1,
        "budget": 2,
        "cv_folds": 2,
        "importance_rows": 200,
    }
    run(dags["sluice_train"], last, train)
    run(dags["sluice_evaluate"], last, {"as_of": last.isoformat(), "label_cutoff_days": 1})
    run(dags["sluice_score"], last, {"day": last.isoformat()})
    run(
        dags["sluice_monitor"], last, {"day": last.isoformat(), "label_delay_days": 1, "min_labelled_days": 0}
    )

    client = settings.model_store().client()
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    registered = client.get_registered_model(settings.model_name)
    metric_rows = warehouse.scalar(
        select(func.count()).select_from(monitoring_metrics).where(monitoring_metrics.c.metric_date == last)
    )
    columns = sorted(
        {
            r["column_name"]
            for r in warehouse.fetch(select(monitoring_metrics.c.column_name))
            if r["column_name"]
        }
    )
    overview, metrics = view_overview(warehouse, settings)
    features = warehouse.read_partition("features", last)
    return {
        "domain": settings.domain.name,
        "model_name": settings.model_name,
        "champion_version": int(champion.version),
        "champion_family": champion.tags.get("sluice.family"),
        "model_description": registered.description,
        "observations": warehouse.count("observations", last),
        "features": len(features),
        "feature_columns": list(features.columns),
        "categorical_values": sorted(set(features[settings.domain.categorical[0]].dropna())),
        "predictions": warehouse.count("predictions", last),
        "labels": warehouse.count("labels"),
        "monitoring_rows": int(metric_rows),
        "monitored_columns": columns,
        "overview": overview,
        "metrics": metrics,
        "quarantined_rows": warehouse.count("quarantine_rows"),
    }


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    found = main(dt.date.fromisoformat(sys.argv[1]), int(sys.argv[2]))
    print("RESULT " + json.dumps(found, default=str))
