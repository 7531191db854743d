"""Writes inside one database transaction (:meth:`sluice.warehouse.Warehouse.transaction`):
replace, delete or update a day's partition, insert a frame. On PostgreSQL an insert is a binary
``COPY`` on the transaction's own connection (psycopg encodes each row in C); on SQLite
``executemany``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Column, Date, DateTime, Float, Integer, SmallInteger, Table, Text, delete, update
from sqlalchemy.engine import Connection

from sluice.frames import column_values
from sluice.tables import Schema, WarehouseError, partition_column

_PG_COPY_TYPES = {
    Date: "date",
    DateTime: "timestamptz",
    Float: "float8",
    SmallInteger: "int2",
    Integer: "int4",
    Text: "text",
}


def pg_type(column: Column) -> str:
    for sa_type, pg in _PG_COPY_TYPES.items():
        if isinstance(column.type, sa_type):
            return pg
    raise WarehouseError(f"no COPY type for {column.table.name}.{column.name} ({column.type})")


INSERT_CHUNK_ROWS = 50_000
"""Rows an insert turns into Python values at a time. The values of a whole 1M-row frame of 20
columns are 20M Python objects (about 0.7 GB beside the frame); a chunk's are a few MB, and the
rows still go in one ``COPY``."""


class Transaction:
    """Writes inside one database transaction (see :meth:`sluice.warehouse.Warehouse.transaction`)."""

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
        query = delete(table).where(partition_column(table) == day)
        for name, value in equals.items():
            query = query.where(table.c[name] == value)
        return self.conn.execute(query).rowcount

    def replace_partition(self, table: str | Table, day: dt.date, frame: pd.DataFrame, **equals: Any) -> int:
        """Delete the day's rows (optionally only those matching ``equals``), insert ``frame``."""
        table = self.schema.table(table)
        partition = partition_column(table).name
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
        query = update(table).where(partition_column(table) == day)
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
        chunks = (
            [column_values(frame[c.name].iloc[start : start + INSERT_CHUNK_ROWS], c) for c in columns]
            for start in range(0, len(frame), INSERT_CHUNK_ROWS)
        )
        if self.conn.dialect.name == "postgresql":
            self._copy(table, columns, chunks)
        else:
            for values in chunks:
                self._executemany(table, columns, values)
        return len(frame)

    def _copy(self, table: Table, columns: list[Column], chunks: Iterable[list[list[Any]]]) -> None:
        """One binary ``COPY`` of every chunk's rows (each chunk: a list of values per column)."""
        raw = self.conn.connection.driver_connection
        names = ", ".join(f'"{c.name}"' for c in columns)
        with (
            raw.cursor() as cur,
            cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)') as copy,
        ):
            copy.set_types([pg_type(c) for c in columns])
            for values in chunks:
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
