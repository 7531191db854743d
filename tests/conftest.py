"""Shared fixtures. Every test session gets its own state folder: tests never touch .sluice/."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SESSION_HOME = Path(tempfile.mkdtemp(prefix="sluice-test-"))

# Set before anything imports Airflow (DAG and integration tests do, lazily).
os.environ.update(
    {
        "SLUICE_HOME": str(SESSION_HOME),
        "SLUICE_ROWS_PER_DAY": "400",
        "AIRFLOW_HOME": str(SESSION_HOME / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{SESSION_HOME / 'airflow' / 'airflow.db'}",
        "GX_ANALYTICS_ENABLED": "False",
    }
)
for leaked in (
    "AIRFLOW_CONN_SLUICE_WAREHOUSE",
    "SLUICE_SCENARIO",
    "SLUICE_SOURCE",
    "SLUICE_LANDING_DIR",
    "MLFLOW_TRACKING_URI",
    "SLUICE_MLFLOW_ARTIFACTS",
    "SLUICE_MLFLOW_EXPERIMENT",
    "SLUICE_MODEL_NAME",
    "SLUICE_DOMAIN",
    "SLUICE_STATIONS",
    "SLUICE_LABEL_DELAY_DAYS",
):
    os.environ.pop(leaked, None)

PG_ADMIN_URL = os.environ.get(
    "SLUICE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
"""The pytest-xdist worker running this session (``gw0``, ``gw1``…; empty without xdist)."""
PG_TEST_DB = os.environ.get("SLUICE_TEST_PG_DB", "sluice_test") + (f"_{WORKER}" if WORKER else "")
"""Each worker's own PostgreSQL database: tests drop and create the warehouse tables in it."""


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL database for tests. Unreachable server = failure, never a skip."""
    from sqlalchemy.engine import make_url

    from sluice.connections import create_database_if_missing

    url = make_url(PG_ADMIN_URL).set(database=PG_TEST_DB).render_as_string(hide_password=False)
    try:
        create_database_if_missing(url, admin_database=make_url(PG_ADMIN_URL).database)
    except Exception as exc:  # the message says what to do; the test fails
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); start it (.ci/run does)")
    return url


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fresh(url: str, domain=None):
    from sluice.warehouse import Warehouse

    warehouse = Warehouse(url, domain=domain)
    warehouse.drop_tables()
    warehouse.create_tables()
    return warehouse


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path) -> str:
    """A URL to an empty warehouse, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def warehouse(warehouse_url) -> Iterator:
    wh = _fresh(warehouse_url)
    yield wh
    wh.dispose()


@pytest.fixture(scope="session", autouse=True)
def _the_repository_stays_clean():
    """MLflow's default experiment keeps artifacts in ./mlruns: a test that logs outside the
    experiment it configured would write into the repository."""
    stray = REPO / "mlruns"
    existed = stray.exists()
    yield
    assert existed or not stray.exists(), f"a test wrote MLflow artifacts into {stray}"


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's state folder unless asked to keep it for a post-mortem."""
    import shutil

    if not os.environ.get("SLUICE_KEEP_TEST_STATE"):
        shutil.rmtree(SESSION_HOME, ignore_errors=True)


# The longest files, longest first (seconds per file, both backends, `make test` on 2 cores,
# 2026-12-07). `make test` hands whole files to its workers (--dist loadfile) in collection order,
# each to the first idle worker: starting with the longest keeps one of them from starting last,
# with the other worker idle meanwhile.
LONGEST_FIRST = (
    "test_backfill.py",  # ~335 s: make up and a backfill through the scheduler
    "test_stack_local.py",  # ~335 s: the production topology as processes
    "test_evaluate_dag.py",  # ~190 s
    "test_flights_loop.py",  # ~185 s
    "test_monitoring.py",  # ~150 s
    "test_third_domain.py",  # ~115 s
    "test_train_dag.py",  # ~105 s
    "test_monitor_dag.py",  # ~100 s
    "test_score_dag.py",  # ~75 s
    "test_ingest_dag.py",  # ~75 s
    "test_slicing.py",
    "test_features.py",
    "test_hostile_inputs.py",
    "test_kill_safety.py",
    "test_ingest.py",
    "test_tracking.py",
    "test_view_browser.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
