"""Schema migrations of Sluice's own (lifecycle) tables, with Alembic.

The lifecycle tables (``ingest_batches``, ``quarantine``, ``labels``, ``predictions``, …) change
with Sluice: every change is a revision under ``versions/``, applied by ``sluice init`` (``make
up`` runs it) with :func:`upgrade`. The domain's tables (``raw_observations``, ``observations``,
``features``) are built from the domain's declaration instead, and guarded by its fingerprint
(:meth:`sluice.warehouse.Warehouse.check_domain`).

* an empty warehouse gets the current tables at once and is stamped at the newest revision;
* a warehouse from before migrations existed (tables, no version row) is stamped at the
  baseline, then upgraded;
* any other warehouse is upgraded from the revision it records.

Alembic's version table is ``sluice_schema_version``, so a database shared with another Alembic
user (Airflow's metadata database, say) keeps both apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

    from sluice.warehouse import Warehouse

VERSION_TABLE = "sluice_schema_version"
BASELINE = "0001"
"""The lifecycle tables as they were before migrations (and domains) existed."""
HERE = Path(__file__).resolve().parent


def config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def upgrade(warehouse: Warehouse) -> str:
    """Bring the lifecycle tables to the newest revision; the revision it ends at."""
    from alembic import command
    from sqlalchemy import inspect

    from sluice.tables import domain_record, metadata

    lifecycle = set(metadata.tables) - {domain_record.name}
    with warehouse.engine.begin() as conn:
        tables = set(inspect(conn).get_table_names())
        cfg = config(conn)
        if VERSION_TABLE not in tables:
            if not tables & lifecycle:
                metadata.create_all(conn)  # an empty warehouse: the current schema is the newest
                command.stamp(cfg, "head")
                return head()
            command.stamp(cfg, BASELINE)  # built by a Sluice from before migrations
        command.upgrade(cfg, "head")
        return current(conn) or ""


def pending(warehouse: Warehouse) -> str | None:
    """Why the lifecycle tables are not at the newest revision (None when they are)."""
    with warehouse.engine.connect() as conn:
        at = current(conn)
    newest = head()
    if at == newest:
        return None
    return f"the warehouse's tables are at revision {at or 'none'}, this Sluice needs {newest}"
