"""The Sluice view inside the Airflow UI: "Sluice" in the navigation, served by the API server.

An Airflow 3 plugin: the FastAPI app of ``sluice.web`` mounted under ``/sluice`` (pages, the JSON
API under ``/sluice/api`` documented at ``/sluice/docs``, Prometheus metrics at
``/sluice/metrics``) and an external view that shows its pages in the UI. Every route checks the
Airflow user with the API server's own JWT validation (the UI's session cookie or a bearer
token); ``/sluice/metrics`` also takes ``SLUICE_METRICS_TOKEN`` as a bearer token when it is set.

The app is built on its first request, so processes that load plugins but serve no HTTP (the
scheduler, workers) import nothing heavy from here.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

PREFIX = "/sluice"


async def authenticate(request: Any) -> Any:
    """Airflow's own check of the request's user (session cookie, bearer token)."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
    return await get_user(request, None, bearer)


def login_url(next_url: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_url)


def public_url() -> str | None:
    """Airflow's ``[api] base_url``: where users reach the API server (None: not configured)."""
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback=None) or None


def last_dag_runs() -> list[dict[str, Any]]:
    """The newest run of each Sluice DAG, from Airflow's metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        newest = (
            select(DagRun.dag_id, func.max(DagRun.run_after).label("run_after"))
            .where(DagRun.dag_id.like("sluice_%"))
            .group_by(DagRun.dag_id)
            .subquery()
        )
        runs = session.scalars(
            select(DagRun).join(
                newest, (newest.c.dag_id == DagRun.dag_id) & (newest.c.run_after == DagRun.run_after)
            )
        )
        return [
            {
                "dag_id": r.dag_id,
                "run_id": r.run_id,
                "state": str(r.state.value if hasattr(r.state, "value") else r.state),
                "run_after": r.run_after.isoformat(timespec="minutes") if r.run_after else None,
                "end_date": r.end_date.isoformat(timespec="minutes") if r.end_date else None,
            }
            for r in runs
        ]


def warehouse_url() -> str:
    """The ``sluice_warehouse`` connection's SQLAlchemy URL (the API server reads connections itself)."""
    from airflow.models.connection import Connection

    from sluice.connections import url_of

    return url_of(Connection.get_connection_from_secrets("sluice_warehouse"))


@cache
def build() -> Any:
    import datetime as dt
    import os

    from sluice.settings import Settings
    from sluice.view_config import ViewConfig, Words
    from sluice.warehouse import Warehouse
    from sluice.web import create_app

    settings = Settings.from_env()
    store = Warehouse(warehouse_url(), domain=settings.domain)
    mlflow = settings.mlflow_tracking_uri
    config = ViewConfig(
        warehouse=lambda: store,
        model_name=settings.model_name,
        words=Words.of(settings.domain),
        reports_dir=settings.reports_dir / "monitoring",
        data_docs_dir=settings.gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site",
        rebuild_data_docs_index=rebuild_data_docs_index,
        mlflow_url=mlflow if mlflow and mlflow.startswith("http") else None,
        login_url=login_url,
        public_url=public_url(),
        metrics_token=os.environ.get("SLUICE_METRICS_TOKEN") or None,
        dag_runs=last_dag_runs,
        today=lambda: dt.datetime.now(dt.UTC).date(),
    )
    return create_app(config, authenticate)


def rebuild_data_docs_index() -> None:
    """``sluice data-docs`` in a child process: GX stays out of the API server. A failure is
    logged and the index on disk is served as it is."""
    import logging
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "data-docs"],
        check=False,
        timeout=300,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        logging.getLogger(__name__).error("rebuilding the Data Docs index failed: %s", done.stderr[-2000:])


class LazyApp:
    """An ASGI app that builds the Sluice app on its first request."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await build()(scope, receive, send)


class SluicePlugin(AirflowPlugin):
    name = "sluice"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": LazyApp(), "url_prefix": PREFIX, "name": "Sluice"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Sluice",
            "href": f"{PREFIX}/",
            "destination": "nav",
            "url_route": "sluice",
            "icon": f"{PREFIX}/icon.svg",
            "nav_top_level": True,
        }
    ]
