"""The warehouse: SQLAlchemy Core tables on SQLite (embedded default) or PostgreSQL.

Every table a DAG writes is partitioned by the day it belongs to. The one write operation is
"replace this day's partition of table T with these rows", done in a single transaction, so a
re-run of a day gives the same tables and a task killed halfway leaves the previous state.

On PostgreSQL bulk writes are a binary ``COPY`` on the transaction's own connection (psycopg encodes
each row in C) and reads come through the ADBC driver's binary ``COPY`` into Arrow; elsewhere
``executemany`` and SQLAlchemy rows (large partitions in chunks, through a server-side cursor).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
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
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url

from sluice.domain import TIMESTAMP, Domain
from sluice.errors import SluiceError

if TYPE_CHECKING:
    import pyarrow as pa

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
    Column("status", Text, nullable=False, comment="pending (decided) | applied (aliases moved) | aborted"),
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


_PG_COPY_TYPES = {
    Date: "date",
    DateTime: "timestamptz",
    Float: "float8",
    SmallInteger: "int2",
    Integer: "int4",
    Text: "text",
}


class WarehouseError(SluiceError, RuntimeError):
    """A warehouse operation was asked for something that cannot be done; the message says what."""


class WarehouseSetupError(WarehouseError):
    """The warehouse is not set up for this process (no tables, an older schema): retrying will not
    help; the message says which command to run."""


class DomainMismatch(WarehouseSetupError):
    """The warehouse's tables were built for another domain, or another declaration of this one."""


def _mismatch(table: str, row: Any, domain: Domain) -> str:
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


_MISSING = {"42P01": "a table does not exist", "42703": "a column does not exist"}
"""PostgreSQL's SQLSTATEs for a missing table and a missing column."""


def _missing_object(error: BaseException) -> str | None:
    """What is missing, when ``error`` is the database saying a table or column does not exist."""
    state = getattr(error, "sqlstate", None)
    text = str(error).splitlines()[0] if str(error) else ""
    if state in _MISSING:
        return f"{_MISSING[state]} ({text})"
    if type(error).__name__ == "OperationalError" and text.startswith(("no such table", "no such column")):
        return text
    if "has no column named" in text:
        return text
    return None


def _slice(table: Table, part: tuple[int, int]) -> tuple[int, int]:
    """``(k, n)`` checked: slice ``k`` of ``n`` of a table that has a ``slice_key``."""
    k, n = (int(v) for v in part)
    if "slice_key" not in table.c:
        raise WarehouseError(f"{table.name} has no slice_key: it cannot be read in slices")
    if not 0 <= k < n:
        raise WarehouseError(f"slice {k} of {n} does not exist (slices are 0 … {n - 1})")
    return k, n


def _partition_column(table: Table) -> Column:
    return table.c[table.info["partition"]]


def _pg_type(column: Column) -> str:
    for sa_type, pg in _PG_COPY_TYPES.items():
        if isinstance(column.type, sa_type):
            return pg
    raise WarehouseError(f"no COPY type for {column.table.name}.{column.name} ({column.type})")


def _column_values(series: pd.Series, column: Column) -> list[Any]:
    """A frame column as Python values with None for missing, typed for the table's column."""
    mask = series.isna().to_numpy()
    if isinstance(column.type, DateTime):
        values = pd.to_datetime(series, utc=True).array.to_pydatetime()  # .dt.to_pydatetime is deprecated
    elif isinstance(column.type, Date):
        values = np.asarray([v.date() if isinstance(v, dt.datetime) else v for v in series], dtype=object)
    elif isinstance(column.type, Float):
        values = series.to_numpy(dtype="float64", na_value=np.nan).astype(object)
    elif isinstance(column.type, Integer):  # SmallInteger is an Integer
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        values = np.where(mask, 0, values).astype("int64").astype(object)
    else:
        values = series.to_numpy(dtype=object)
    values = np.asarray(values, dtype=object)
    if mask.any():
        values[mask] = None
    return values.tolist()


class Warehouse:
    """The warehouse behind one SQLAlchemy URL (``sqlite:///…`` or ``postgresql+psycopg://…``)."""

    def __init__(self, url: str, *, domain: Domain | None = None, echo: bool = False) -> None:
        from sluice.domain import active

        self.schema = schema_for(domain or active())
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
            # psycopg 3 is the one driver installed, and the one that does binary COPY
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.url = parsed
        # The pool hands a connection to one thread at a time; scoring reads in a worker thread.
        connect_args = {"check_same_thread": False} if parsed.get_backend_name() == "sqlite" else {}
        self.engine: Engine = create_engine(parsed, echo=echo, future=True, connect_args=connect_args)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        event.listen(self.engine, "handle_error", self._setup_error)

    def _setup_error(self, context: Any) -> None:
        """A missing table or column means the warehouse is not set up for this Sluice (no
        ``sluice init`` yet, or not since an upgrade): a :class:`WarehouseSetupError` that says so,
        which tasks fail on at once instead of retrying."""
        missing = _missing_object(context.original_exception)
        if missing:
            raise WarehouseSetupError(
                f"{self}: {missing}: the warehouse is not set up for this version of Sluice; run "
                "`sluice init` (make up does) with the same SLUICE_DOMAIN as the tasks"
            ) from context.original_exception

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def domain(self) -> Domain:
        return self.schema.domain

    def table(self, name_or_table: str | Table) -> Table:
        """This warehouse's table of that name (the domain tables are the domain's)."""
        return self.schema.table(name_or_table)

    @property
    def observations(self) -> Table:
        return self.schema.observations

    @property
    def raw_observations(self) -> Table:
        return self.schema.raw_observations

    @property
    def features(self) -> Table:
        return self.schema.features

    def __repr__(self) -> str:
        return f"Warehouse({self.url.render_as_string(hide_password=True)})"

    def create_tables(self) -> None:
        """Bring the warehouse to this version of Sluice and this domain (idempotent): migrate the
        lifecycle tables (Alembic), create the domain's tables that do not exist yet, and record the
        domain they were built for. A warehouse built for another domain, or for another
        declaration of this one, is refused (:meth:`check_domain`) before anything is created."""
        from sluice import migrations

        migrations.upgrade(self)
        self.check_domain(missing_ok=True)
        self.schema.metadata.create_all(self.engine, checkfirst=True)
        self._record_domain()

    def drop_tables(self) -> None:
        """Drop every Sluice table, the domain's and the migrations' record included (tests, and a
        deliberate reset: this deletes the data)."""
        from sqlalchemy import text

        from sluice.migrations import VERSION_TABLE

        self.schema.metadata.drop_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{VERSION_TABLE}"'))

    def _record_domain(self) -> None:
        """Record the domain of each domain table that has no record yet; the time is the database's
        (the record is written once, when the table is built)."""
        from sluice.domain import describe

        domain = self.domain
        with self.transaction() as tx:
            known = {r.table_name for r in tx.conn.execute(select(domain_record.c.table_name))}
            rows = [
                {
                    "table_name": name,
                    "domain": domain.name,
                    "module": domain.module,
                    "fingerprint": domain.fingerprint,
                    "feature_version": domain.features.version,
                    "declaration": json.dumps(describe(domain)),
                }
                for name in DOMAIN_TABLES
                if name not in known
            ]
            if rows:
                tx.conn.execute(domain_record.insert().values(recorded_at=func.now()), rows)

    def check_domain(self, *, missing_ok: bool = False) -> None:
        """Refuse to work on tables built for another domain or another declaration of this one.

        The message says what the tables hold, what this process declares, and what to do. Tables
        with no record yet are checked column by column against the declaration (a warehouse built
        by hand, or by an older Sluice); with ``missing_ok`` a missing table is fine (``init``
        creates it), else the error says to run ``sluice init``.
        """
        from sqlalchemy import inspect

        domain = self.domain
        inspector = inspect(self.engine)
        existing = set(inspector.get_table_names())
        if domain_record.name not in existing:
            if missing_ok:
                return
            raise WarehouseSetupError(
                f"{self}: the warehouse has no Sluice tables (or predates domains): run `sluice init` "
                "(make up does) with the same SLUICE_DOMAIN as the tasks"
            )
        with self.engine.connect() as conn:
            recorded = {r.table_name: r for r in conn.execute(select(domain_record))}
        problems = []
        for name in DOMAIN_TABLES:
            row = recorded.get(name)
            if row is not None:
                if row.fingerprint != domain.fingerprint:
                    problems.append(_mismatch(name, row, domain))
                continue
            if name not in existing:
                if not missing_ok:
                    problems.append(f"table {name} does not exist: run `sluice init`")
                continue
            have = [c["name"] for c in inspector.get_columns(name)]
            want = [c.name for c in self.table(name).columns]
            if have != want:
                problems.append(
                    f"table {name} was built for other columns than domain {domain.name!r} declares "
                    f"(it has {have}; the domain needs {want})"
                )
        if problems:
            raise DomainMismatch(
                f"{self} holds data of another shape than SLUICE_DOMAIN={domain.module or domain.name} "
                f"declares: {'; '.join(problems)}. Point SLUICE_DOMAIN at the domain this warehouse was "
                "built for, or give this domain a warehouse of its own (the sluice_warehouse "
                "connection); when only the feature set changed, bump its version in a new warehouse."
            )

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Everything written through the yielded object commits together, or not at all."""
        with self.engine.begin() as conn:
            yield Transaction(conn, self.schema)

    def replace_partition(self, table: str | Table, day: dt.date, frame: pd.DataFrame) -> int:
        """Replace the ``day`` partition of ``table`` with ``frame``, in one transaction."""
        with self.transaction() as tx:
            return tx.replace_partition(table, day, frame)

    def read_partition(
        self,
        table: str | Table,
        day: dt.date,
        columns: Sequence[str] | None = None,
        order_by: Sequence[str] = (),
        part: tuple[int, int] | None = None,
    ) -> pd.DataFrame:
        """The ``day`` partition of ``table`` as one frame (for bounded partitions); with ``part``
        ``(k, n)``, only slice ``k`` of ``n``: the rows whose ``slice_key`` is ``k`` mod ``n``.

        On PostgreSQL the rows come as Arrow columns through binary ``COPY`` (no Python object per
        row); the frame has the same dtypes either way."""
        if self.dialect == "postgresql":
            table = self.table(table)
            names = list(columns) if columns else [c.name for c in table.c]
            arrow = self._arrow_query(table, day, names, order_by, chunk_size=1 << 20, part=part)
            frames = [_typed_frame(chunk.to_pandas(date_as_object=True), table) for chunk in arrow]
            if not frames:
                return _empty_frame(table, names)
            return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        chunks = list(self.iter_partition(table, day, columns=columns, order_by=order_by, part=part))
        if not chunks:
            return _empty_frame(self.table(table), columns)
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def iter_partition(
        self,
        table: str | Table,
        day: dt.date,
        columns: Sequence[str] | None = None,
        order_by: Sequence[str] = (),
        chunksize: int = 200_000,
        part: tuple[int, int] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Stream the ``day`` partition of ``table`` (slice ``part``, when given) in frames of at
        most ``chunksize`` rows."""
        table = self.table(table)
        cols = [table.c[c] for c in columns] if columns else list(table.c)
        query = select(*cols).where(_partition_column(table) == day)
        if part is not None:
            k, n = _slice(table, part)
            query = query.where(func.coalesce(table.c.slice_key, 0) % n == k)
        if order_by:
            query = query.order_by(*(table.c[c] for c in order_by))
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunksize).execute(query)
            keys = [str(k) for k in result.keys()]  # noqa: SIM118 (plain str: sklearn ignores subclasses)
            for rows in result.partitions(chunksize):
                frame = _typed_frame(pd.DataFrame.from_records(rows, columns=keys), table)
                del rows  # the rows as Python objects are several times the frame: not kept while
                yield frame  # the consumer works and the next chunk is fetched

    def read_rows(
        self,
        table: str | Table,
        day: dt.date,
        column: str,
        values: Sequence[Any],
        columns: Sequence[str] | None = None,
        batch: int = 10_000,
    ) -> pd.DataFrame:
        """The rows of the ``day`` partition of ``table`` whose ``column`` is one of ``values``,
        ordered by ``column`` (asked ``batch`` values at a time)."""
        table = self.table(table)
        cols = [table.c[c] for c in columns] if columns else list(table.c)
        wanted = sorted(set(values))
        frames = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), batch):
                query = select(*cols).where(
                    _partition_column(table) == day, table.c[column].in_(wanted[start : start + batch])
                )
                result = conn.execute(query)
                keys = [str(k) for k in result.keys()]  # noqa: SIM118
                frames.append(_typed_frame(pd.DataFrame.from_records(result.fetchall(), columns=keys), table))
        if not frames:
            return _empty_frame(table, columns)
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        return frame.sort_values(column, ignore_index=True)

    @property
    def libpq_uri(self) -> str:
        """The URL as libpq (and the ADBC driver) spells it: PostgreSQL only."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def arrow_chunks(
        self, table: str | Table, day: dt.date, columns: Sequence[str], chunk_size: int = 100_000
    ) -> Iterator[pa.Table]:
        """Stream the ``day`` partition of ``table`` (only ``columns``) as Arrow tables of
        ``chunk_size`` rows. On PostgreSQL the ADBC driver reads with ``COPY … (FORMAT BINARY)``
        straight into Arrow columns, with no Python object per value; elsewhere
        :meth:`iter_partition` frames are converted."""
        import pyarrow as pa

        table = self.table(table)
        unknown = [c for c in columns if c not in table.c]
        if unknown:
            raise WarehouseError(f"{table.name} has no columns {unknown}")
        if self.dialect != "postgresql":
            for frame in self.iter_partition(table, day, columns=columns, chunksize=chunk_size):
                chunk = pa.Table.from_pandas(frame, preserve_index=False)
                del frame
                yield chunk
            return
        yield from self._arrow_query(table, day, list(columns), (), chunk_size)

    def _arrow_query(
        self,
        table: Table,
        day: dt.date,
        columns: Sequence[str],
        order_by: Sequence[str],
        chunk_size: int,
        part: tuple[int, int] | None = None,
    ) -> Iterator[pa.Table]:
        import adbc_driver_postgresql.dbapi as adbc
        import pyarrow as pa

        # A bound parameter would make the driver fall back from COPY to a prepared SELECT, so the
        # day (a date, not user text) is a literal; names come from the table's metadata.
        partition = _partition_column(table).name
        unknown = [c for c in (*columns, *order_by) if c not in table.c]
        if unknown:
            raise WarehouseError(f"{table.name} has no columns {unknown}")
        query = (
            f'SELECT {quoted(columns)} FROM "{table.name}" WHERE "{partition}" = DATE \'{day.isoformat()}\''
        )
        if part is not None:
            k, n = _slice(table, part)
            query += f' AND COALESCE("slice_key", 0) % {n} = {k}'
        if order_by:
            query += f" ORDER BY {quoted(order_by)}"
        with adbc.connect(self.libpq_uri) as conn, conn.cursor() as cur:
            cur.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(max(1 << 20, min(chunk_size * 64, 1 << 26)))}
            )
            cur.execute(query)
            pending: list[pa.RecordBatch] = []
            size = 0
            for batch in cur.fetch_record_batch():
                pending.append(batch)
                size += batch.num_rows
                while size >= chunk_size:
                    whole = pa.Table.from_batches(pending)
                    yield whole.slice(0, chunk_size)
                    rest = whole.slice(chunk_size)
                    pending, size = rest.to_batches(), rest.num_rows
            if size:
                yield pa.Table.from_batches(pending)

    def scalar(self, query: Any, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(query, params).scalar()

    def fetch(self, query: Any, **params: Any) -> list[Mapping[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query, params)]

    def count(self, table: str | Table, day: dt.date | None = None) -> int:
        from sqlalchemy import func

        table = self.table(table)
        query = select(func.count()).select_from(table)
        if day is not None:
            query = query.where(_partition_column(table) == day)
        return int(self.scalar(query))

    def digest(self, table: str | Table, day: dt.date | None = None, exclude: Iterable[str] = ()) -> str:
        """A checksum of a table (or one partition), independent of physical row order."""
        table = self.table(table)
        skip = set(exclude)
        cols = [c for c in table.c if c.name not in skip]
        query = select(*cols)
        if day is not None:
            query = query.where(_partition_column(table) == day)
        with self.engine.connect() as conn:
            rows = sorted(json.dumps(list(r), default=str) for r in conn.execute(query))
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()


class Transaction:
    """Writes inside one database transaction (see :meth:`Warehouse.transaction`)."""

    def __init__(self, conn: Connection, schema: Schema) -> None:
        self.conn = conn
        self.schema = schema

    def lock(self, key: int) -> None:
        """Wait until no other transaction holds ``key``, then hold it until this one ends: what
        this transaction reads next includes everything the previous holder committed.
        PostgreSQL: a transaction-level advisory lock. SQLite: the database's write lock (one
        writer at a time), taken now by a write that changes nothing."""
        from sqlalchemy import text

        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        else:
            self.conn.execute(text("UPDATE ingest_batches SET status = status WHERE 1 = 0"))

    def delete_partition(self, table: str | Table, day: dt.date, **equals: Any) -> int:
        table = self.schema.table(table)
        query = delete(table).where(_partition_column(table) == day)
        for name, value in equals.items():
            query = query.where(table.c[name] == value)
        return self.conn.execute(query).rowcount

    def replace_partition(self, table: str | Table, day: dt.date, frame: pd.DataFrame, **equals: Any) -> int:
        """Delete the day's rows (optionally only those matching ``equals``), insert ``frame``."""
        table = self.schema.table(table)
        partition = _partition_column(table).name
        if len(frame):
            days = pd.to_datetime(frame[partition]).dt.date.unique() if partition in frame else []
            if list(days) != [day]:
                raise WarehouseError(
                    f"{table.name}: rows for partition {day} must all have {partition}={day}, "
                    f"got {sorted(map(str, days))[:5]}"
                )
        self.delete_partition(table, day, **equals)
        return self.insert(table, frame)

    def update_partition(
        self, table: str | Table, day: dt.date, *, where: Mapping[str, Any] | None = None, **values: Any
    ) -> int:
        """Set ``values`` on the day's rows (those whose columns equal ``where``, when given)."""
        table = self.schema.table(table)
        query = update(table).where(_partition_column(table) == day)
        for name, value in (where or {}).items():
            query = query.where(table.c[name] == value)
        return self.conn.execute(query.values(**values)).rowcount

    def insert(self, table: str | Table, frame: pd.DataFrame) -> int:
        table = self.schema.table(table)
        missing = [c.name for c in table.c if c.name not in frame.columns and not c.nullable]
        unknown = [c for c in frame.columns if c not in table.c]
        if missing or unknown:
            raise WarehouseError(
                f"{table.name}: frame does not match the table "
                f"(missing required columns {missing}, unknown columns {unknown})"
            )
        if frame.empty:
            return 0
        columns = [c for c in table.c if c.name in frame.columns]
        values = [_column_values(frame[c.name], c) for c in columns]
        if self.conn.dialect.name == "postgresql":
            self._copy(table, columns, values)
        else:
            self._executemany(table, columns, values)
        return len(frame)

    def _copy(self, table: Table, columns: list[Column], values: list[list[Any]]) -> None:
        raw = self.conn.connection.driver_connection
        names = ", ".join(f'"{c.name}"' for c in columns)
        with (
            raw.cursor() as cur,
            cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)') as copy,
        ):
            copy.set_types([_pg_type(c) for c in columns])
            for row in zip(*values, strict=True):
                copy.write_row(row)

    def _executemany(self, table: Table, columns: list[Column], values: list[list[Any]]) -> None:
        dialect = self.conn.dialect
        processed = []
        for column, vals in zip(columns, values, strict=True):
            proc = column.type.bind_processor(dialect)
            processed.append([proc(v) if v is not None else None for v in vals] if proc else vals)
        names = ", ".join(f'"{c.name}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(
                f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', zip(*processed, strict=True)
            )
        finally:
            cursor.close()


def quoted(names: Iterable[str]) -> str:
    """Column names as a quoted SQL list."""
    return ", ".join('"' + name.replace('"', '""') + '"' for name in names)


def _typed_frame(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Give read frames the same dtypes on every backend (SQLite returns naive timestamps)."""
    for name in frame.columns:
        column_type = table.c[name].type
        if isinstance(column_type, DateTime):  # nanoseconds, as pandas makes them from Python objects
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("ns")
        elif isinstance(column_type, Date):
            frame[name] = pd.to_datetime(frame[name]).dt.date
        elif isinstance(column_type, Float):
            frame[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
        elif isinstance(column_type, Integer) and frame[name].dtype.kind in "iu":
            frame[name] = frame[name].astype("int64")  # Arrow keeps int4 as int32
        elif isinstance(column_type, Integer) and frame[name].dtype == object:
            # missing values: as Arrow reads them (rows of only None would stay objects)
            frame[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    return frame


def _empty_frame(table: Table, columns: Sequence[str] | None) -> pd.DataFrame:
    return _typed_frame(pd.DataFrame(columns=list(columns or [c.name for c in table.c])), table)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the UI and tasks read while one task writes; the busy timeout makes concurrent
    # writers (parallel task processes) wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


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
