"""The warehouse's tables (SQLAlchemy Core): the lifecycle's own, and the three a domain's
declaration builds (:func:`schema_for`). Every table a DAG writes is partitioned by the day it
belongs to (``info["partition"]``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
)

from sluice.domain import TIMESTAMP, Domain
from sluice.errors import SluiceError


class WarehouseError(SluiceError, RuntimeError):
    """A warehouse operation was asked for something that cannot be done; the message says what."""


metadata = MetaData()


def _timestamp(name: str, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("sample_date", Date, primary_key=True),
    Column("batch_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("columns", Text, nullable=False, comment="JSON list of the columns as delivered"),
    Column("row_count", Integer, nullable=False),
    _timestamp("landed_at"),
    Column("status", Text, nullable=False, comment="landed | published | partial | quarantined"),
    Column("published_rows", Integer),
    Column("quarantined_rows", Integer),
    _timestamp("validated_at", nullable=True),
    Column("validation_url", Text, comment="JSON list of the validations' GX Data Docs pages"),
    Column("files", Text, comment="JSON list of the delivered files: name, size, sha256, rows, problem"),
    comment="One row per delivered day: what arrived and what validation decided",
    info={"partition": "sample_date"},
)


quarantine = Table(
    "quarantine",
    metadata,
    Column("sample_date", Date, nullable=False),
    Column("batch_id", Text, nullable=False),
    Column("table_name", Text, nullable=False, comment="the table the batch was bound for"),
    Column("scope", Text, nullable=False, comment="batch (all rows held back) | rows (only bad rows)"),
    Column("reason", Text, nullable=False),
    Column(
        "failed_expectations", Text, nullable=False, comment="JSON: expectation, column, counts, examples"
    ),
    Column("row_count", Integer, nullable=False),
    Column("quarantined_rows", Integer, nullable=False),
    Column("validation_url", Text),
    _timestamp("quarantined_at"),
    Index("ix_quarantine_day", "sample_date"),
    comment="Batches that failed validation, wholly or in part, and why",
    info={"partition": "sample_date"},
)


quarantine_rows = Table(
    "quarantine_rows",
    metadata,
    Column("sample_date", Date, nullable=False),
    Column("batch_id", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("sample_id", Text),
    Column("source_file", Text, comment="the delivered file the row came from"),
    Column("source_row", Integer, comment="the row's 1-based position among its file's records"),
    Column("failed_rules", Text, nullable=False),
    Column("payload", Text, nullable=False, comment="JSON of the row as delivered"),
    Index("ix_quarantine_rows_day", "sample_date", "table_name", "row_number"),
    comment="Every row held back, as delivered, with the rules it broke: recoverable",
    info={"partition": "sample_date"},
)


labels = Table(
    "labels",
    metadata,
    Column("label_date", Date, nullable=False, comment="the day the lab results arrived"),
    Column("sample_id", Text, nullable=False),
    Column("label", SmallInteger, nullable=False, comment="1 = the domain's class 1 (its label words)"),
    _timestamp("labelled_at"),
    UniqueConstraint("label_date", "sample_id", name="uq_labels_day_sample"),
    Index("ix_labels_sample_id", "sample_id"),
    comment="Ground truth that arrives days after sampling",
    info={"partition": "label_date"},
)


feature_batches = Table(
    "feature_batches",
    metadata,
    Column("sample_date", Date, primary_key=True),
    Column("feature_version", Text, nullable=False),
    Column("history_days", Integer, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("status", Text, nullable=False, comment="published | quarantined"),
    Column("validation_url", Text),
    _timestamp("built_at"),
    comment="One row per day whose features were built: version, size, and the GX verdict",
    info={"partition": "sample_date"},
)


predictions = Table(
    "predictions",
    metadata,
    Column("sample_date", Date, nullable=False),
    Column("sample_id", Text, nullable=False),
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("score", Float, nullable=False, comment="P(class 1) from the model"),
    Column("predicted", SmallInteger, nullable=False, comment="1 = class 1 (score >= the threshold)"),
    _timestamp("scored_at"),
    # The biggest table, written in bulk: on PostgreSQL a BRIN index (rows arrive day by day) finds
    # a day's blocks at a fraction of a B-tree's cost per inserted row; per-day counts are in
    # prediction_batches. Other databases get a B-tree.
    Index("ix_predictions_day", "sample_date", postgresql_using="brin"),
    comment="Batch predictions: one row per sample and model version that scored it",
    info={"partition": "sample_date"},
)


prediction_batches = Table(
    "prediction_batches",
    metadata,
    Column("sample_date", Date, primary_key=True),
    Column("model_name", Text, primary_key=True),
    Column("model_version", Integer, primary_key=True),
    Column("feature_version", Text, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("scored_by", Text, nullable=False, comment="the scoring run (dag_id/run_id)"),
    _timestamp("scored_at"),
    comment="One row per day and model version scored: which version served the day, and how many rows",
    info={"partition": "sample_date"},
)


monitoring_metrics = Table(
    "monitoring_metrics",
    metadata,
    Column("metric_date", Date, nullable=False, comment="the day monitored"),
    Column("metric", Text, nullable=False, comment="e.g. drift_score, drift_share, missing_share, accuracy"),
    Column("column_name", Text, nullable=False, comment="the feature, or '' for the whole day"),
    Column("span", Text, nullable=False, comment="day | rolling_<N>d: what the figure covers"),
    Column("value", Float),
    Column("threshold", Float),
    Column("alert", SmallInteger, nullable=False, comment="1 = over the threshold"),
    Column("sample_size", Integer, comment="rows the figure was computed on (days are sampled)"),
    Column("model_version", Integer, comment="the version whose predictions or metrics these are"),
    _timestamp("computed_at"),
    Index("ix_monitoring_metrics_day", "metric_date", "metric"),
    comment="One row per (day, metric, column, span): drift, data quality, performance",
    info={"partition": "metric_date"},
)


model_decisions = Table(
    "model_decisions",
    metadata,
    Column("decision_date", Date, nullable=False, comment="the as-of day of the evaluation"),
    Column("decision_id", Text, nullable=False, comment="the deciding run (dag_id/run_id): one row each"),
    Column("model_name", Text, nullable=False),
    Column("decision", Text, nullable=False, comment="promote | reject | forced | rollback"),
    Column(
        "status",
        Text,
        nullable=False,
        comment="pending (decided) | applied (aliases moved) | aborted | declined (approval refused)",
    ),
    Column("champion_before", Integer),
    Column("challenger_version", Integer, comment="the version judged (the target, for a rollback)"),
    Column("champion_after", Integer),
    Column("primary_metric", Text),
    Column("margin", Float),
    Column("gain", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("champion_metrics", Text, comment="JSON: metrics of the champion on the hold-out"),
    Column("challenger_metrics", Text, comment="JSON: metrics of the challenger on the same rows"),
    Column("slices", Text, comment="JSON: per-entity primary metric of both"),
    Column("holdout_first_day", Date),
    Column("holdout_last_day", Date),
    Column("holdout_rows", Integer),
    Column("reason", Text, nullable=False),
    Column("triggered_by", Text, nullable=False),
    _timestamp("decided_at"),
    Column("approval", Text, comment="auto | approved | rejected | timed_out"),
    Column("approved_by", Text, comment="who answered the approval (none: auto, or timed out)"),
    Column("approval_reason", Text, comment="why, in the approver's words"),
    Column("approved_at", DateTime(timezone=True), comment="when the approval was answered"),
    UniqueConstraint("decision_id", name="uq_model_decisions_id"),
    Index("ix_model_decisions_day", "decision_date"),
    comment="Every champion/challenger decision, with the evidence (MLflow keeps no alias history)",
    info={"partition": "decision_date"},
)


domain_record = Table(
    "sluice_domain",
    metadata,
    Column("table_name", Text, primary_key=True),
    Column("domain", Text, nullable=False),
    Column("module", Text, nullable=False),
    Column("fingerprint", Text, nullable=False, comment="of the declaration the table was built from"),
    Column("feature_version", Text, nullable=False),
    Column("declaration", Text, nullable=False, comment="JSON: columns, roles, types, features"),
    _timestamp("recorded_at"),
    comment="Which domain (and declaration) each domain-shaped table was built for: never a silent mix",
)


DOMAIN_TABLES = ("raw_observations", "observations", "features")
"""The tables whose columns come from the domain's declaration; every other table is the lifecycle's."""


def _typed_column(column: Any, *, nullable: bool = True) -> Column:
    """The warehouse column for one declared column, typed: text, float (numbers of either
    declared type: integers are checked by validation) or timestamp."""
    if column.dtype == TIMESTAMP:
        return _timestamp(column.name, nullable=nullable)
    sql_type = Text if column.dtype == "text" else Float
    return Column(column.name, sql_type, nullable=nullable)


@dataclass(frozen=True)
class Schema:
    """The warehouse's tables for one domain: the lifecycle's and the three built from the declaration."""

    domain: Domain
    metadata: MetaData

    @property
    def raw_observations(self) -> Table:
        return self.metadata.tables["raw_observations"]

    @property
    def observations(self) -> Table:
        return self.metadata.tables["observations"]

    @property
    def features(self) -> Table:
        return self.metadata.tables["features"]

    def table(self, name_or_table: str | Table) -> Table:
        name = name_or_table.name if isinstance(name_or_table, Table) else name_or_table
        try:
            return self.metadata.tables[name]
        except KeyError:
            raise WarehouseError(
                f"unknown table {name!r}; known: {', '.join(sorted(self.metadata.tables))}"
            ) from None


@cache
def schema_for(domain: Domain) -> Schema:
    """The tables of a warehouse that holds ``domain``'s data (built once per domain)."""
    md = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(md)
    id_, event = domain.id, domain.event_time
    Table(
        "raw_observations",
        md,
        Column("sample_date", Date, nullable=False),
        Column("batch_id", Text, nullable=False),
        Column("row_number", Integer, nullable=False),
        *(Column(c.name, Text) for c in domain.delivered),
        Column("extra", Text, comment="JSON object of delivered columns outside the schema"),
        Column("source_file", Text, comment="the delivered file the row came from"),
        Column("source_row", Integer, comment="the row's 1-based position among its file's records"),
        Column("defect", Text, comment="why the row is malformed as delivered (wrong field count, NUL)"),
        Column("slice_key", SmallInteger, comment="stable hash of the identifier: its validation slice"),
        _timestamp("ingested_at"),
        Index("ix_raw_observations_day", "sample_date", "row_number", unique=True),
        comment=f"{domain.title}: what the source delivered, as delivered (text), one partition per day",
        info={"partition": "sample_date"},
    )
    Table(
        "observations",
        md,
        Column("sample_date", Date, nullable=False),
        Column("batch_id", Text, nullable=False),
        *(_typed_column(c, nullable=c.name not in (id_, event, domain.entity)) for c in domain.delivered),
        _timestamp("published_at"),
        UniqueConstraint(id_, name="uq_observations_id"),
        Index("ix_observations_day", "sample_date"),
        comment=f"{domain.title}: validated rows only, typed",
        info={"partition": "sample_date"},
    )
    categorical = set(domain.categorical_features)
    Table(
        "features",
        md,
        Column("sample_date", Date, nullable=False),
        Column("sample_id", Text, nullable=False, comment=f"the delivered {id_}"),
        Column("entity", Text, nullable=False, comment=f"the delivered {domain.entity}"),
        Column("sampled_at", DateTime(timezone=True), nullable=False, comment=f"the delivered {event}"),
        Column("feature_version", Text, nullable=False),
        *(Column(name, Text if name in categorical else Float) for name in domain.feature_names),
        _timestamp("built_at"),
        UniqueConstraint("sample_id", name="uq_features_sample_id"),
        Index("ix_features_day", "sample_date"),
        comment="Model inputs per published sample; missing values stay missing (the model imputes)",
        info={"partition": "sample_date"},
    )
    return Schema(domain, md)


def partition_column(table: Table) -> Column:
    """The column a table is partitioned by (the day a row belongs to)."""
    return table.c[table.info["partition"]]


def mismatch(table: str, row: Any, domain: Domain) -> str:
    """How the ``domain_record`` row of ``table`` differs from ``domain``'s declaration."""
    if row.domain != domain.name:
        return f"table {table} holds domain {row.domain!r} ({row.module}), not {domain.name!r}"
    before = json.loads(row.declaration)
    now_cols = {c.name: (c.role, c.dtype) for c in domain.columns}
    then_cols = {c["name"]: (c["role"], c["type"]) for c in before.get("columns", [])}
    changes = [f"+{n}" for n in now_cols if n not in then_cols] + [
        f"-{n}" for n in then_cols if n not in now_cols
    ]
    changes += [
        f"{n}: {then_cols[n]} -> {now_cols[n]}"
        for n in now_cols
        if n in then_cols and then_cols[n] != now_cols[n]
    ]
    if before.get("timezone", "UTC") != domain.timezone:
        changes.append(f"timezone {before.get('timezone', 'UTC')} -> {domain.timezone}")
    if before.get("feature_version") != domain.features.version:
        changes.append(f"feature version {before.get('feature_version')} -> {domain.features.version}")
    if list(before.get("features", [])) != list(domain.feature_names):
        changes.append("the feature list changed")
    return (
        f"table {table} was built for another declaration of domain {domain.name!r} "
        f"(recorded {row.recorded_at:%Y-%m-%d}, fingerprint {row.fingerprint}, now {domain.fingerprint}; "
        f"changes: {', '.join(changes) or 'the kinds of its columns or features'})"
    )
