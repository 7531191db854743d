"""Slices of a day: ``raw_observations.slice_key``, a stable hash of the row's identifier.

A day is validated in slices (``sluice.slicing``): slice ``k`` of ``n`` holds the rows whose key is
``k`` mod ``n``, so rows that share an identifier share a slice. Rows landed before this revision
have no key and are read as key 0 (one slice holds them all: still correct, only unbalanced).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMN = sa.Column(
    "slice_key", sa.SmallInteger(), comment="stable hash of the identifier: the row's validation slice"
)


def _columns() -> set[str] | None:
    inspector = sa.inspect(op.get_bind())
    if "raw_observations" not in inspector.get_table_names():
        return None
    return {c["name"] for c in inspector.get_columns("raw_observations")}


def upgrade() -> None:
    have = _columns()
    if have is not None and "slice_key" not in have:  # a domain table: create_all builds it when absent
        op.add_column("raw_observations", COLUMN.copy())


def downgrade() -> None:
    if "slice_key" in (_columns() or set()):
        op.drop_column("raw_observations", "slice_key")
