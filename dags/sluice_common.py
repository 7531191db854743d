"""What every Sluice DAG shares: assets, default arguments, and the Airflow side of the library.

This module is the only bridge between Airflow and the ``sluice`` library: it turns the run's
context (Params, asset events, data interval, connections) into the plain arguments the library
takes. It imports nothing heavy at module level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Connection, Param
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

if TYPE_CHECKING:
    from sluice.settings import Settings
    from sluice.warehouse import Warehouse

WAREHOUSE_CONN_ID = "sluice_warehouse"

OBSERVATIONS = Asset(name="sluice.observations", uri="sluice://warehouse/observations", group="sluice")
LABELS = Asset(name="sluice.labels", uri="sluice://warehouse/labels", group="sluice")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "sluice",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
}

START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def day_param() -> Param:
    return Param(
        None,
        type=["null", "string"],
        format="date",
        title="Day",
        description="The day to process (YYYY-MM-DD). Empty: the day of the triggering asset event, "
        "else the run's data interval.",
    )


def settings() -> Settings:
    from sluice.settings import Settings

    return Settings.from_env()


def warehouse() -> Warehouse:
    """The warehouse behind the ``sluice_warehouse`` connection."""
    from sluice.warehouse import Warehouse, connection_url

    try:
        conn = Connection.get(WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        raise AirflowFailException(
            f"the Airflow connection {WAREHOUSE_CONN_ID!r} is not defined: set "
            "AIRFLOW_CONN_SLUICE_WAREHOUSE to a SQLAlchemy URL (make up does) "
            "or add it in Admin → Connections"
        ) from None
    url = connection_url(
        conn.conn_type,
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        extra=conn.extra_dejson,
    )
    return Warehouse(url)


def run_day(context: Any) -> dt.date:
    """The run's day: the ``day`` Param, else the triggering asset event's day, else the logical date.

    A scheduled run's logical date is the start of its data interval, the day it covers; a manual
    run with a logical date X (``airflow dags test DAG X``) processes X, although the timetable
    gives it the interval that ends at X.
    """
    from sluice.dates import resolve_day

    events = context.get("triggering_asset_events") or {}
    extras = [event.extra or {} for asset_events in events.values() for event in asset_events]
    logical = context.get("logical_date") or context.get("data_interval_start")
    return resolve_day(context["params"].get("day"), extras, logical)


def run_time(context: Any) -> dt.datetime:
    """The run's own timestamp: written as ``*_at`` so a retried run writes what the first one did."""
    return context["dag_run"].run_after


def now() -> dt.datetime:
    """The wall clock, for questions about the present only (is the delivery there yet?)."""
    return dt.datetime.now(dt.UTC)


@contextmanager
def bad_input_fails_fast() -> Iterator[None]:
    """Bad input will not get better by retrying: fail the task at once, with the library's message."""
    from sluice.dates import DayError
    from sluice.ingest import IngestError
    from sluice.settings import ConfigError
    from sluice.simulator import ScenarioError
    from sluice.warehouse import WarehouseError

    try:
        yield
    except (DayError, ConfigError, ScenarioError, IngestError, WarehouseError) as exc:
        raise AirflowFailException(str(exc)) from exc
