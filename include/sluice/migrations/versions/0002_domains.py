"""Domains: the warehouse records which domain its tables were built for.

* ``sluice_domain``: one row per domain-shaped table (raw_observations, observations, features)
  with the domain, its module, the declaration's fingerprint and the declaration itself.
* ``features.station_id`` becomes ``features.entity``: the lifecycle's name for the entity key
  (a warehouse built before domains held water, whose entity is the station).
* Column comments lose the water words ("potable"): the lifecycle tables serve every domain.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COMMENTS = {
    ("labels", "label", "SmallInteger"): ("1 = potable", "1 = the domain's class 1 (its label words)"),
    ("predictions", "score", "Float"): ("P(potable) from the model", "P(class 1) from the model"),
    ("predictions", "predicted", "SmallInteger"): (
        "1 = potable (score >= the threshold)",
        "1 = class 1 (score >= the threshold)",
    ),
    ("model_decisions", "slices", "Text"): (
        "JSON: per-station primary metric of both",
        "JSON: per-entity primary metric of both",
    ),
}


def _comments(new: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps no comments: altering one would rebuild the table for nothing
    for (table, column, type_name), (old_text, new_text) in COMMENTS.items():
        op.alter_column(
            table,
            column,
            existing_type=getattr(sa, type_name)(),
            comment=new_text if new else old_text,
            existing_comment=old_text if new else new_text,
        )


def upgrade() -> None:
    op.create_table(
        "sluice_domain",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("module", sa.Text(), nullable=False),
        sa.Column(
            "fingerprint", sa.Text(), nullable=False, comment="of the declaration the table was built from"
        ),
        sa.Column("feature_version", sa.Text(), nullable=False),
        sa.Column("declaration", sa.Text(), nullable=False, comment="JSON: columns, roles, types, features"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("table_name"),
        comment="Which domain (and declaration) each domain-shaped table was built for: never a silent mix",
    )
    columns = (
        {c["name"] for c in sa.inspect(op.get_bind()).get_columns("features")} if _has("features") else set()
    )
    if "station_id" in columns:
        op.execute("ALTER TABLE features RENAME COLUMN station_id TO entity")
    _comments(new=True)


def downgrade() -> None:
    _comments(new=False)
    if _has("features"):
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("features")}
        if "entity" in columns:
            op.execute("ALTER TABLE features RENAME COLUMN entity TO station_id")
    op.drop_table("sluice_domain")


def _has(table: str) -> bool:
    return table in sa.inspect(op.get_bind()).get_table_names()
