"""What a validation's failures mean for a batch: :class:`Failure` (one expectation that did not
hold, in words a person can act on) and :func:`decide`, a pure function of the failures.

A failed ``batch``-scope expectation holds back the whole batch; a ``file``-scope failure (a
delivered file that could not be used) holds back that file, and the rest is judged on its own;
otherwise the rows that broke ``row``-scope expectations are held back, unless their share is over
the tolerance, in which case the whole batch is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PUBLISH, PARTIAL, QUARANTINE = "publish", "partial", "quarantine"
BATCH, FILE, ROW = "batch", "file", "row"


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold, in words a person can act on."""

    suite: str
    expectation: str
    column: str | None
    scope: str
    why: str
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: Any = None
    details: Any = None
    examples: tuple[Any, ...] = ()
    row_numbers: tuple[int, ...] = ()
    file: str | None = None
    """The delivered file a ``file``-scope failure holds back."""
    where: tuple[str, ...] = ()
    """Where the first failing rows are, as ``file:row`` (the row's record in its file)."""

    @property
    def rule(self) -> str:
        if self.file is not None:
            return f"{self.expectation}({self.file})"
        return f"{self.expectation}({self.column})" if self.column else self.expectation

    def describe(self) -> str:
        facts = []
        if self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            facts.append(f"{self.unexpected_count} unexpected{pct}")
        if self.details:
            facts.append(f"details {self.details}")
        elif self.observed is not None and self.unexpected_count is None:
            facts.append(f"observed {self.observed}")
        if self.examples:
            facts.append(f"e.g. {list(self.examples)}")
        if self.where:
            facts.append(f"at {', '.join(self.where)}")
        head = f"{self.rule} [{self.scope}: {self.why}]"
        return f"{head}: {', '.join(facts)}" if facts else head

    def record(self) -> dict[str, Any]:
        """JSON-ready summary (without the full list of rows)."""
        return {
            "suite": self.suite,
            "expectation": self.expectation,
            "column": self.column,
            "scope": self.scope,
            "why": self.why,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "observed": jsonable(self.observed),
            "details": jsonable(self.details),
            "examples": jsonable(list(self.examples)),
            "file": self.file,
            "where": list(self.where),
        }


@dataclass(frozen=True)
class Verdict:
    """What validation decided for one batch, and why."""

    decision: str
    reason: str
    rows: int
    failures: tuple[Failure, ...] = ()
    bad_rows: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    validation_urls: tuple[str, ...] = ()

    @property
    def held_files(self) -> tuple[Failure, ...]:
        """The delivered files held back as files (none of their rows was landed)."""
        return tuple(f for f in self.failures if f.scope == FILE)

    @property
    def quarantined_rows(self) -> int:
        return self.rows if self.decision == QUARANTINE else len(self.bad_rows)

    @property
    def published_rows(self) -> int:
        return self.rows - self.quarantined_rows

    def message(self, batch_id: str, day: dt.date, table: str = "raw_observations") -> str:
        head = {
            QUARANTINE: f"batch {batch_id} ({table}, {day}) quarantined: {self.reason}",
            PARTIAL: f"batch {batch_id} ({table}, {day}) published in part: {self.reason}",
            PUBLISH: f"batch {batch_id} ({table}, {day}) passed validation: {self.rows} rows",
        }[self.decision]
        lines = [head]
        if self.failures:
            lines.append("failed expectations:")
            lines += [f"  - {f.describe()}" for f in self.failures]
        if self.validation_urls:
            lines.append("Data Docs:")
            lines += [f"  - {url}" for url in self.validation_urls]
        return "\n".join(lines)


def decide(rows: int, failures: Sequence[Failure], tolerance: float) -> Verdict:
    """Publish, publish in part, or quarantine the whole batch (pure). ``rows`` counts the rows of
    the files that could be used; a file held back holds back its own rows only."""
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"tolerance={tolerance} must be a share between 0 and 1")
    failures = tuple(failures)
    structural = [f for f in failures if f.scope == BATCH]
    files = [f for f in failures if f.scope == FILE]
    held = f"; held back as files: {', '.join(f'{f.file} ({f.details})' for f in files)}" if files else ""
    if structural:
        rules = ", ".join(f.rule for f in structural)
        return Verdict(
            QUARANTINE, f"structural check failed: {rules}; every row is held back{held}", rows, failures
        )
    if rows == 0:
        reason = "no delivered file could be used" if files else "the batch is empty"
        return Verdict(QUARANTINE, f"{reason}{held}", rows, failures)
    bad: dict[int, list[str]] = {}
    for failure in failures:
        for row in failure.row_numbers:
            bad.setdefault(row, []).append(failure.rule)
    bad_rows = {row: tuple(rules) for row, rules in sorted(bad.items())}
    share = len(bad_rows) / rows
    if not bad_rows:
        if files:
            return Verdict(PARTIAL, f"{rows} rows passed and are published{held}", rows, failures)
        return Verdict(PUBLISH, "all rows passed", rows, failures)
    if share > tolerance:
        return Verdict(
            QUARANTINE,
            f"{len(bad_rows)} of {rows} rows ({share:.1%}) failed row-level checks, over the tolerance "
            f"of {tolerance:.1%}; every row is held back{held}",
            rows,
            failures,
            bad_rows,
        )
    return Verdict(
        PARTIAL,
        f"{len(bad_rows)} of {rows} rows ({share:.1%}) failed row-level checks and are quarantined; "
        f"{rows - len(bad_rows)} published{held}",
        rows,
        failures,
        bad_rows,
    )


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (what is not JSON becomes its text)."""
    return json.loads(json.dumps(value, default=str))
