"""Delivered text into the declared types: the one parse both the check (a value that does not
parse holds its row back) and the publish (what is written) use, so they cannot disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sluice.domain import FLOAT, INTEGER, TIMESTAMP, Domain


def to_typed(delivered: pd.DataFrame, domain: Domain) -> pd.DataFrame:
    """Parse text into the declared types (same index); what does not parse becomes missing, and
    :func:`sluice.checking.parse_failures` holds its row back. Text columns stay as delivered."""
    typed = pd.DataFrame(index=delivered.index)
    for column in domain.delivered:
        values = delivered[column.name]
        if column.dtype == TIMESTAMP:
            typed[column.name] = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
        elif column.dtype in (FLOAT, INTEGER):
            typed[column.name] = _numbers(values)
        else:
            typed[column.name] = values
    return typed


def _numbers(values: pd.Series) -> pd.Series:
    """Text as float64, surrounding whitespace (any Unicode space) allowed; missing where it does
    not parse. pandas' parser takes ASCII spaces itself, so only the values it refuses are
    stripped and tried again (stripping every value first gives the same numbers, slower)."""
    parsed = pd.to_numeric(values, errors="coerce").astype("float64")
    retry = parsed.isna().to_numpy() & values.notna().to_numpy()
    if retry.any():
        parsed[retry] = pd.to_numeric(values[retry].str.strip(), errors="coerce").astype("float64")
    return parsed


LARGEST_WHOLE = 2**53
"""Integers are stored as float8: beyond this they would not come back as delivered."""


def unparsed(delivered: pd.Series, typed: pd.Series, dtype: str) -> pd.Series:
    """Rows where a delivered value did not become a value of ``dtype`` (it would be stored as
    missing, or as a number the delivery did not hold)."""
    given = delivered.notna()
    if dtype == TIMESTAMP:
        return given & typed.isna()
    number = typed.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(number)
    if dtype == INTEGER:
        with np.errstate(invalid="ignore"):
            bad |= (np.abs(number) > LARGEST_WHOLE) | (np.floor(number) != number)
    return given & pd.Series(bad, index=typed.index)
