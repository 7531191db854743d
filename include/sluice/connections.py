"""Warehouse URLs: an Airflow connection's URL as SQLAlchemy's, the URL of a connection given by
parts, and creating a PostgreSQL database that does not exist yet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from sluice.tables import WarehouseError


def url_of(conn: Any) -> str:
    """:func:`connection_url` of an Airflow ``Connection`` (anything with its fields)."""
    return connection_url(
        conn.conn_type,
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        extra=conn.extra_dejson,
    )


def connection_url(
    conn_type: str,
    *,
    host: str | None = None,
    schema: str | None = None,
    login: str | None = None,
    password: str | None = None,
    port: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The SQLAlchemy URL for a connection's fields (an explicit ``extra.sqlalchemy_url`` wins).

    Airflow's own ``Connection.get_uri()`` does not round-trip SQLAlchemy URLs (it percent-encodes
    SQLite paths and renames ``postgresql`` to ``postgres``), so the URL is rebuilt here.
    """
    from sqlalchemy.engine import URL

    if extra and extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    kind = (conn_type or "").lower()
    if kind == "sqlite":
        database = schema or host
        if not database:
            raise WarehouseError("the sqlite warehouse connection names no database file")
        return URL.create("sqlite", database=database).render_as_string(hide_password=False)
    if kind in ("postgres", "postgresql", "postgresql+psycopg"):
        url = URL.create(
            "postgresql+psycopg", username=login, password=password, host=host, port=port, database=schema
        )
        return url.render_as_string(hide_password=False)
    raise WarehouseError(
        f"warehouse connection type {conn_type!r} is not supported: use sqlite or postgresql "
        "(or put a SQLAlchemy URL in the connection's extra as 'sqlalchemy_url')"
    )


def create_database_if_missing(url: str, admin_database: str = "postgres") -> None:
    """Create the PostgreSQL database ``url`` names, if it does not exist (SQLite creates files itself)."""
    from sqlalchemy import text

    target = make_url(url)
    if target.get_backend_name() != "postgresql":
        return
    admin = create_engine(target.set(database=admin_database), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}
            )
            if not exists.scalar():
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()
