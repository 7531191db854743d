"""A day validated in slices: which slice a row is in, and the day judged on its slices' findings.

A day too large for one worker (or one process's memory) is validated as ``n`` slices, each by a
task of its own (Airflow maps the task over the slices, and the Celery workers run them side by
side); one more task judges the day on what the slices found and records the verdict in one
transaction. The day's result is the one a single pass would give, because:

* a row's slice is a stable hash of its identifier (``slice_key``, written at landing), so rows
  that share an identifier share a slice, and the uniqueness check of one slice is the day's;
* a row-level check's failing rows are the union of the slices' (each row is in one slice), and a
  check with a ``mostly`` share, or a share of missing values, is judged again on the summed counts
  (:func:`combine`);
* a check that cannot be combined from its slices (a mean, a distinct count…) is refused before
  anything runs (:func:`check_sliceable`): such a domain validates its days in one slice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sluice.errors import SluiceError
from sluice.validation import EXAMPLES, Finding

if TYPE_CHECKING:
    import great_expectations as gx

KEYS = 1 << 15
"""``slice_key`` is in ``[0, KEYS)``; slice ``k`` of ``n`` holds the rows whose key is ``k`` mod ``n``."""

COMBINED_AGGREGATES = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_column_proportion_of_non_null_values_to_be_between",
    }
)
"""The table and aggregate expectations whose day result :func:`combine` derives from slices."""


class SlicingError(SluiceError, ValueError):
    """A suite has a check whose day result cannot be derived from slices of the day."""


def slice_keys(ids: pd.Series) -> np.ndarray:
    """Each identifier's ``slice_key``: a stable hash (pandas' fixed-key SipHash of the text), so
    the same identifier lands in the same slice whichever day or file delivers it."""
    text = ids.astype(object).where(ids.notna(), "")
    hashed = pd.util.hash_pandas_object(text.astype(str), index=False).to_numpy()
    return (hashed % KEYS).astype("int16")


def slices_for(rows: int, slice_rows: int) -> int:
    """How many slices of at most ``slice_rows`` a day of ``rows`` is validated in (at least one;
    ``Settings.slice_rows``, ``SLUICE_SLICE_ROWS``, is the size the DAG uses)."""
    if slice_rows < 1:
        raise ValueError(f"slice_rows={slice_rows} must be at least 1")
    return max(1, math.ceil(rows / slice_rows))


def check_sliceable(suite: gx.ExpectationSuite, *, first: bool) -> None:
    """Refuse a suite whose day result cannot be derived from slices.

    ``first``: the suite whose failing rows decide which rows the later checks see (the delivered
    suite). A ``mostly`` share there would hold rows back in one slice that the day lets through,
    so it is refused in that suite too."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    refused = []
    for expectation in suite.expectations:
        kind = expectation.expectation_type
        maps = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
        is_map = isinstance(expectation, maps)
        if not is_map and kind not in COMBINED_AGGREGATES:
            refused.append(f"{kind} (an aggregate over the whole day)")
        elif first and is_map and float(expectation.mostly) < 1.0:
            refused.append(
                f"{kind}(mostly={expectation.mostly}), whose failing rows the later checks do not see"
            )
    if refused:
        raise SlicingError(
            f"suite {suite.name} cannot be judged from slices of a day: {'; '.join(refused)}. "
            "Validate this domain's days in one slice (SLUICE_SLICE_ROWS above its largest day)"
        )


def combine(findings: Iterable[Finding], totals: Mapping[int, int]) -> list[Finding]:
    """The day's failed checks from its slices' findings, in the order a single pass reports them.

    ``totals``: for the stages of Sluice's own row checks (which report failures only), the rows
    of the day each stage checked, the share of failing rows is taken of."""
    groups: dict[tuple[int, int], list[Finding]] = {}
    for finding in findings:
        groups.setdefault(tuple(finding.key), []).append(finding)
    failed = []
    for key in sorted(groups):
        parts = groups[key]
        own = key[0] in totals  # Sluice's own row check: its failing rows, of the rows it checked
        merged = _merge_rows(parts, success=False, of=totals[key[0]]) if own else _merge(parts)
        if not merged.success:
            failed.append(merged)
    return failed


def _merge(parts: Sequence[Finding]) -> Finding:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    kind = first.failure.expectation
    if all(p.element_count is not None for p in parts):
        return _merge_map(parts)
    if kind == "expect_column_proportion_of_non_null_values_to_be_between":
        rows = sum(p.rows for p in parts)
        present = sum(round(float(p.failure.observed) * p.rows) for p in parts)
        return _judged(first, present / rows if rows else None, rows)
    if kind == "expect_table_row_count_to_be_between":
        return _judged(first, sum(int(p.failure.observed) for p in parts), sum(p.rows for p in parts))
    if kind == "expect_table_columns_to_match_set":
        return next((p for p in parts if not p.success), first)
    raise SlicingError(f"{kind} on {first.failure.column or 'the table'} cannot be combined from slices")


def _judged(first: Finding, observed: Any, rows: int) -> Finding:
    low, high = first.kwargs.get("min_value"), first.kwargs.get("max_value")
    success = observed is not None and (low is None or observed >= low) and (high is None or observed <= high)
    return replace(first, success=success, rows=rows, failure=replace(first.failure, observed=observed))


def _merge_map(parts: Sequence[Finding]) -> Finding:
    """A map expectation over the whole day, as GX judges one batch: the share of the non-missing
    values that are unexpected, against ``mostly``."""
    elements = sum(p.element_count for p in parts)
    missing = sum(p.missing_count for p in parts) if all(p.missing_count is not None for p in parts) else None
    considered = elements - (missing or 0)
    unexpected = sum(p.failure.unexpected_count or 0 for p in parts)
    mostly = float(parts[0].kwargs.get("mostly", 1.0))
    success = elements == 0 or considered == 0 or (considered - unexpected) / considered >= mostly
    percent = unexpected / considered * 100 if elements and considered else None
    merged = _merge_rows(parts, success=success, percent=percent)
    return replace(merged, element_count=elements, missing_count=missing)


def _merge_rows(
    parts: Sequence[Finding], *, success: bool, of: int | None = None, percent: float | None = None
) -> Finding:
    """The parts' failing rows as one, with the examples (and where they are) of the first rows."""
    first = parts[0]
    rows = tuple(sorted(chain.from_iterable(p.failure.row_numbers for p in parts)))
    count = sum(p.failure.unexpected_count or 0 for p in parts)
    leading = sorted((row, i, p) for p in parts for i, row in enumerate(p.failure.row_numbers[:EXAMPLES]))[
        :EXAMPLES
    ]
    examples = tuple(p.failure.examples[i] for _, i, p in leading if i < len(p.failure.examples))
    where = tuple(p.failure.where[i] for _, i, p in leading if i < len(p.failure.where))
    if of is not None:
        percent = 100.0 * count / max(of, 1)
    details = next((p.failure.details for p in parts if p.failure.details is not None), None)
    failure = replace(
        first.failure,
        unexpected_count=count,
        unexpected_percent=percent,
        examples=examples,
        where=where,
        row_numbers=rows,
        details=details,
    )
    return replace(first, failure=failure, success=success, rows=sum(p.rows for p in parts))


@dataclass(frozen=True)
class SliceResult:
    """What the checks found on one slice of a day (:func:`sluice.checking.validate_slice`), for
    :func:`sluice.checking.judge`."""

    part: int
    parts: int
    rows: int
    malformed: int
    findings: tuple[Finding, ...] = ()
    urls: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "parts": self.parts,
            "rows": self.rows,
            "malformed": self.malformed,
            "findings": [f.to_dict() for f in self.findings],
            "urls": list(self.urls),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SliceResult:
        return cls(
            part=int(data["part"]),
            parts=int(data["parts"]),
            rows=int(data["rows"]),
            malformed=int(data["malformed"]),
            findings=tuple(Finding.from_dict(f) for f in data["findings"]),
            urls=tuple(data["urls"]),
        )
