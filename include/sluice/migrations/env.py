"""Alembic's environment for Sluice: the connection comes from :func:`sluice.migrations.config`."""

from __future__ import annotations

from alembic import context

from sluice.migrations import VERSION_TABLE
from sluice.tables import DOMAIN_TABLES, metadata


def _lifecycle_only(obj, name, type_, reflected, compare_to) -> bool:
    # the domain's tables are built from its declaration, not migrated here
    return not (type_ == "table" and name in DOMAIN_TABLES)


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_object=_lifecycle_only,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
