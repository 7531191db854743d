"""Delivered files: where each row came from, and what could not be used.

* ``ingest_batches.files``: the day's files (name, size, sha256, rows, the problem of a file that
  could not be used and where it is kept).
* ``quarantine_rows.source_file`` / ``source_row``: the file and record a held-back row came from.
* ``raw_observations.source_file`` / ``source_row`` / ``defect`` (a domain table: altered when it
  exists): the same for every landed row, and why a row is malformed as delivered.
* ``validation_url`` now holds a JSON list (one page per suite); older rows hold URLs separated by
  spaces, which readers still accept.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ADDED = {
    "ingest_batches": [
        sa.Column(
            "files",
            sa.Text(),
            comment="JSON list of the delivered files: name, size, sha256, rows, problem",
        )
    ],
    "quarantine_rows": [
        sa.Column("source_file", sa.Text(), comment="the delivered file the row came from"),
        sa.Column("source_row", sa.Integer(), comment="the row's 1-based position among its file's records"),
    ],
    "raw_observations": [
        sa.Column("source_file", sa.Text(), comment="the delivered file the row came from"),
        sa.Column("source_row", sa.Integer(), comment="the row's 1-based position among its file's records"),
        sa.Column(
            "defect", sa.Text(), comment="why the row is malformed as delivered (wrong field count, NUL)"
        ),
    ],
}


def _columns(table: str) -> set[str] | None:
    inspector = sa.inspect(op.get_bind())
    if table not in inspector.get_table_names():
        return None
    return {c["name"] for c in inspector.get_columns(table)}


def upgrade() -> None:
    for table, columns in ADDED.items():
        have = _columns(table)
        if have is None:
            continue  # a domain table not built yet: create_all builds it with the columns
        for column in columns:
            if column.name not in have:
                op.add_column(table, column.copy())
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "ingest_batches",
            "validation_url",
            existing_type=sa.Text(),
            comment="JSON list of the validations' GX Data Docs pages",
        )


def downgrade() -> None:
    for table, columns in ADDED.items():
        have = _columns(table) or set()
        for column in columns:
            if column.name in have:
                op.drop_column(table, column.name)
