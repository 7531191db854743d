"""Promotion approval: who approved (or refused) a promotion, why, and when.

With ``approval: human`` an accepted challenger waits for a person in the Airflow UI
(human-in-the-loop); the decision row records the answer. ``approval`` is ``auto`` (no one was
asked), ``approved``, ``rejected`` or ``timed_out`` (no answer in time: refused).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column("approval", sa.Text(), comment="auto | approved | rejected | timed_out"),
    sa.Column("approved_by", sa.Text(), comment="who answered the approval (none: auto, or timed out)"),
    sa.Column("approval_reason", sa.Text(), comment="why, in the approver's words"),
    sa.Column("approved_at", sa.DateTime(timezone=True), comment="when the approval was answered"),
)


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns("model_decisions")}


STATUS = "pending (decided) | applied (aliases moved) | aborted | declined (approval refused)"
STATUS_BEFORE = "pending (decided) | applied (aliases moved) | aborted"


def _status_comment(comment: str) -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps no column comments
        op.alter_column(
            "model_decisions", "status", comment=comment, existing_type=sa.Text(), existing_nullable=False
        )


def upgrade() -> None:
    have = _columns()
    for column in COLUMNS:
        if column.name not in have:
            op.add_column("model_decisions", column.copy())
    _status_comment(STATUS)


def downgrade() -> None:
    have = _columns()
    for column in COLUMNS:
        if column.name in have:
            op.drop_column("model_decisions", column.name)
    _status_comment(STATUS_BEFORE)
