"""The warehouse: one SQLAlchemy engine on SQLite (embedded default) or PostgreSQL, and what reads
and writes it. The tables are :mod:`sluice.tables`; writes go through :mod:`sluice.transaction`.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import (
    Table,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine, make_url

from sluice.domain import Domain
from sluice.frames import empty_frame, quoted, typed_frame
from sluice.tables import DOMAIN_TABLES, WarehouseError, domain_record, mismatch, partition_column, schema_for
from sluice.transaction import Transaction

if TYPE_CHECKING:
    import pyarrow as pa


class WarehouseSetupError(WarehouseError):
    """The warehouse is not set up for this process (no tables, an older schema): retrying will not
    help; the message says which command to run."""


class DomainMismatch(WarehouseSetupError):
    """The warehouse's tables were built for another domain, or another declaration of this one."""


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
                    problems.append(mismatch(name, row, domain))
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
            frames = [typed_frame(chunk.to_pandas(date_as_object=True), table) for chunk in arrow]
            if not frames:
                return empty_frame(table, names)
            return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        chunks = list(self.iter_partition(table, day, columns=columns, order_by=order_by, part=part))
        if not chunks:
            return empty_frame(self.table(table), columns)
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
        query = select(*cols).where(partition_column(table) == day)
        if part is not None:
            k, n = _slice(table, part)
            query = query.where(func.coalesce(table.c.slice_key, 0) % n == k)
        if order_by:
            query = query.order_by(*(table.c[c] for c in order_by))
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunksize).execute(query)
            keys = [str(k) for k in result.keys()]  # noqa: SIM118 (plain str: sklearn ignores subclasses)
            for rows in result.partitions(chunksize):
                frame = typed_frame(pd.DataFrame.from_records(rows, columns=keys), table)
                del rows  # the rows as Python objects are several times the frame: not kept while
                yield frame  # the consumer works and the next chunk is fetched

    def iter_pieces(
        self, table: str | Table, day: dt.date, rows: int | None, order_by: Sequence[str] = (), columns=None
    ) -> Iterator[pd.DataFrame]:
        """The ``day`` partition of ``table`` streamed in frames of ``rows`` rows (None: one frame,
        empty when the day is); on PostgreSQL through binary ``COPY`` into Arrow."""
        if rows is None:
            yield self.read_partition(table, day, columns=columns, order_by=order_by)
            return
        if self.dialect != "postgresql":
            yield from self.iter_partition(table, day, columns=columns, order_by=order_by, chunksize=rows)
            return
        table = self.table(table)
        names = list(columns) if columns else [c.name for c in table.c]
        for chunk in self._arrow_query(table, day, names, order_by, chunk_size=rows):
            yield typed_frame(chunk.to_pandas(date_as_object=True), table)

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
                    partition_column(table) == day, table.c[column].in_(wanted[start : start + batch])
                )
                result = conn.execute(query)
                keys = [str(k) for k in result.keys()]  # noqa: SIM118
                frames.append(typed_frame(pd.DataFrame.from_records(result.fetchall(), columns=keys), table))
        if not frames:
            return empty_frame(table, columns)
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
        partition = partition_column(table).name
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
            query = query.where(partition_column(table) == day)
        return int(self.scalar(query))

    def digest(self, table: str | Table, day: dt.date | None = None, exclude: Iterable[str] = ()) -> str:
        """A checksum of a table (or one partition), independent of physical row order."""
        table = self.table(table)
        skip = set(exclude)
        cols = [c for c in table.c if c.name not in skip]
        query = select(*cols)
        if day is not None:
            query = query.where(partition_column(table) == day)
        with self.engine.connect() as conn:
            rows = sorted(json.dumps(list(r), default=str) for r in conn.execute(query))
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the UI and tasks read while one task writes; the busy timeout makes concurrent
    # writers (parallel task processes) wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
