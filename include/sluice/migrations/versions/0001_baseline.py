"""Baseline: the lifecycle tables as they were before migrations and domains existed.

A warehouse created by that Sluice is stamped at this revision (its tables are already there), then
upgraded.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_batches",
        sa.Column("sample_date", sa.Date(), nullable=False),
        sa.Column("feature_version", sa.Text(), nullable=False),
        sa.Column("history_days", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, comment="published | quarantined"),
        sa.Column("validation_url", sa.Text(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sample_date"),
        comment="One row per day whose features were built: version, size, and the GX verdict",
        info={"partition": "sample_date"},
    )
    op.create_table(
        "ingest_batches",
        sa.Column("sample_date", sa.Date(), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False, comment="JSON list of the columns as delivered"),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, comment="landed | published | partial | quarantined"),
        sa.Column("published_rows", sa.Integer(), nullable=True),
        sa.Column("quarantined_rows", sa.Integer(), nullable=True),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validation_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("sample_date"),
        comment="One row per delivered day: what arrived and what validation decided",
        info={"partition": "sample_date"},
    )
    op.create_table(
        "labels",
        sa.Column("label_date", sa.Date(), nullable=False, comment="the day the lab results arrived"),
        sa.Column("sample_id", sa.Text(), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=False, comment="1 = potable"),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("label_date", "sample_id", name="uq_labels_day_sample"),
        comment="Ground truth that arrives days after sampling",
        info={"partition": "label_date"},
    )
    op.create_index("ix_labels_sample_id", "labels", ["sample_id"], unique=False)
    op.create_table(
        "model_decisions",
        sa.Column("decision_date", sa.Date(), nullable=False, comment="the as-of day of the evaluation"),
        sa.Column(
            "decision_id", sa.Text(), nullable=False, comment="the deciding run (dag_id/run_id): one row each"
        ),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False, comment="promote | reject | forced | rollback"),
        sa.Column(
            "status",
            sa.Text(),
            nullable=False,
            comment="pending (decided) | applied (aliases moved) | aborted",
        ),
        sa.Column("champion_before", sa.Integer(), nullable=True),
        sa.Column(
            "challenger_version",
            sa.Integer(),
            nullable=True,
            comment="the version judged (the target, for a rollback)",
        ),
        sa.Column("champion_after", sa.Integer(), nullable=True),
        sa.Column("primary_metric", sa.Text(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("gain", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column(
            "champion_metrics",
            sa.Text(),
            nullable=True,
            comment="JSON: metrics of the champion on the hold-out",
        ),
        sa.Column(
            "challenger_metrics",
            sa.Text(),
            nullable=True,
            comment="JSON: metrics of the challenger on the same rows",
        ),
        sa.Column("slices", sa.Text(), nullable=True, comment="JSON: per-station primary metric of both"),
        sa.Column("holdout_first_day", sa.Date(), nullable=True),
        sa.Column("holdout_last_day", sa.Date(), nullable=True),
        sa.Column("holdout_rows", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("triggered_by", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("decision_id", name="uq_model_decisions_id"),
        comment="Every champion/challenger decision, with the evidence (MLflow keeps no alias history)",
        info={"partition": "decision_date"},
    )
    op.create_index("ix_model_decisions_day", "model_decisions", ["decision_date"], unique=False)
    op.create_table(
        "monitoring_metrics",
        sa.Column("metric_date", sa.Date(), nullable=False, comment="the day monitored"),
        sa.Column(
            "metric",
            sa.Text(),
            nullable=False,
            comment="e.g. drift_score, drift_share, missing_share, accuracy",
        ),
        sa.Column("column_name", sa.Text(), nullable=False, comment="the feature, or '' for the whole day"),
        sa.Column("span", sa.Text(), nullable=False, comment="day | rolling_<N>d: what the figure covers"),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("alert", sa.SmallInteger(), nullable=False, comment="1 = over the threshold"),
        sa.Column(
            "sample_size",
            sa.Integer(),
            nullable=True,
            comment="rows the figure was computed on (days are sampled)",
        ),
        sa.Column(
            "model_version",
            sa.Integer(),
            nullable=True,
            comment="the version whose predictions or metrics these are",
        ),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        comment="One row per (day, metric, column, span): drift, data quality, performance",
        info={"partition": "metric_date"},
    )
    op.create_index(
        "ix_monitoring_metrics_day", "monitoring_metrics", ["metric_date", "metric"], unique=False
    )
    op.create_table(
        "prediction_batches",
        sa.Column("sample_date", sa.Date(), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("feature_version", sa.Text(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("scored_by", sa.Text(), nullable=False, comment="the scoring run (dag_id/run_id)"),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sample_date", "model_name", "model_version"),
        comment="One row per day and model version scored: which version served the day, and how many rows",
        info={"partition": "sample_date"},
    )
    op.create_table(
        "predictions",
        sa.Column("sample_date", sa.Date(), nullable=False),
        sa.Column("sample_id", sa.Text(), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False, comment="P(potable) from the model"),
        sa.Column(
            "predicted", sa.SmallInteger(), nullable=False, comment="1 = potable (score >= the threshold)"
        ),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        comment="Batch predictions: one row per sample and model version that scored it",
        info={"partition": "sample_date"},
    )
    op.create_index(
        "ix_predictions_day", "predictions", ["sample_date"], unique=False, postgresql_using="brin"
    )
    op.create_table(
        "quarantine",
        sa.Column("sample_date", sa.Date(), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False, comment="the table the batch was bound for"),
        sa.Column(
            "scope", sa.Text(), nullable=False, comment="batch (all rows held back) | rows (only bad rows)"
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "failed_expectations",
            sa.Text(),
            nullable=False,
            comment="JSON: expectation, column, counts, examples",
        ),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("quarantined_rows", sa.Integer(), nullable=False),
        sa.Column("validation_url", sa.Text(), nullable=True),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        comment="Batches that failed validation, wholly or in part, and why",
        info={"partition": "sample_date"},
    )
    op.create_index("ix_quarantine_day", "quarantine", ["sample_date"], unique=False)
    op.create_table(
        "quarantine_rows",
        sa.Column("sample_date", sa.Date(), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Text(), nullable=True),
        sa.Column("failed_rules", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False, comment="JSON of the row as delivered"),
        comment="Every row held back, as delivered, with the rules it broke: recoverable",
        info={"partition": "sample_date"},
    )
    op.create_index(
        "ix_quarantine_rows_day", "quarantine_rows", ["sample_date", "table_name", "row_number"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_quarantine_rows_day", table_name="quarantine_rows")
    op.drop_table("quarantine_rows")
    op.drop_index("ix_quarantine_day", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index("ix_predictions_day", table_name="predictions", postgresql_using="brin")
    op.drop_table("predictions")
    op.drop_table("prediction_batches")
    op.drop_index("ix_monitoring_metrics_day", table_name="monitoring_metrics")
    op.drop_table("monitoring_metrics")
    op.drop_index("ix_model_decisions_day", table_name="model_decisions")
    op.drop_table("model_decisions")
    op.drop_index("ix_labels_sample_id", table_name="labels")
    op.drop_table("labels")
    op.drop_table("ingest_batches")
    op.drop_table("feature_batches")
