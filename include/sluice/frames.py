"""How frames meet the warehouse's tables: read frames typed the same on every backend, frame
columns as the Python values a write sends, and quoted column lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Column, Date, DateTime, Float, Integer, SmallInteger, Table

from sluice.tables import WarehouseError


def quoted(names: Iterable[str]) -> str:
    """Column names as a quoted SQL list."""
    return ", ".join('"' + name.replace('"', '""') + '"' for name in names)


def typed_frame(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
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


def empty_frame(table: Table, columns: Sequence[str] | None) -> pd.DataFrame:
    return typed_frame(pd.DataFrame(columns=list(columns or [c.name for c in table.c])), table)


def column_values(series: pd.Series, column: Column) -> list[Any]:
    """A frame column as Python values with None for missing, typed for the table's column. A
    value the column cannot hold is refused by name (:class:`WarehouseError`): PostgreSQL's
    binary ``COPY`` would wrap a whole number too wide for its column, not refuse it."""
    mask = series.isna().to_numpy()
    if isinstance(column.type, DateTime):
        values = pd.to_datetime(series, utc=True).array.to_pydatetime()  # .dt.to_pydatetime is deprecated
    elif isinstance(column.type, Date):
        values = np.asarray([v.date() if isinstance(v, dt.datetime) else v for v in series], dtype=object)
        _refuse(
            series, column, ~mask & ~np.fromiter((isinstance(v, dt.date) for v in values), bool, len(values))
        )
    elif isinstance(column.type, Float):
        values = series.to_numpy(dtype="float64", na_value=np.nan).astype(object)
    elif isinstance(column.type, Integer):  # SmallInteger is an Integer
        values = np.where(mask, 0, series.to_numpy(dtype="float64", na_value=np.nan)).astype("int64")
        width = np.iinfo(_WIDTHS.get(type(column.type), np.int32))
        _refuse(series, column, (values < width.min) | (values > width.max))
        values = values.astype(object)
    else:
        values = series.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            _refuse(
                series, column, ~mask & ~np.fromiter((isinstance(v, str) for v in values), bool, len(values))
            )
    values = np.asarray(values, dtype=object)
    if mask.any():
        values[mask] = None
    return values.tolist()


_WIDTHS = {SmallInteger: np.int16, BigInteger: np.int64}
"""Whole-number columns by width (any other ``Integer``: 32 bits, PostgreSQL's ``integer``)."""


def _refuse(series: pd.Series, column: Column, bad: np.ndarray) -> None:
    """Raise, naming the column, the first value the column cannot hold and its row, if any."""
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise WarehouseError(
            f"{column.table.name}.{column.name}: {series.iloc[at]!r} (row {series.index[at]}) "
            f"does not fit the column's type ({column.type})"
        )
