"""Checking a landed day: what landing found, the suites on one slice of the day, every value's
parse, and the day's verdict (``validate`` and ``judge`` in ``dags/sluice_ingest.py``).

A slice's checks write nothing but their GX results; :func:`judge` decides the day on what all
its slices found (:mod:`sluice.slicing`) and records the verdict — the quarantine, the batch's
status, and the removal of what an earlier delivery left — in one transaction. One slice is the
whole day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from sluice import quarantine, slicing
from sluice.dates import day_bounds
from sluice.domain import FLOAT, INTEGER, TIMESTAMP, Domain
from sluice.errors import SluiceError
from sluice.parsing import to_typed, unparsed
from sluice.slicing import SliceResult
from sluice.sources import DeliveredFile
from sluice.tables import ingest_batches, prediction_batches, predictions
from sluice.validation import EXAMPLES, Finding, GXRunner
from sluice.verdict import BATCH, FILE, QUARANTINE, ROW, Failure, Verdict, decide
from sluice.warehouse import Warehouse

RAW = "raw_observations"
ORIGIN = ["source_file", "source_row", "defect"]
"""Where a landed row came from, and why it is malformed (None: it is not)."""


class IngestError(SluiceError, RuntimeError):
    """A step cannot run on the warehouse's current state; the message says why and what to do."""


def landed_batch(warehouse: Warehouse, day: dt.date) -> dict[str, Any]:
    """The day's `ingest_batches` row; an error that says what to run when nothing landed."""
    rows = warehouse.fetch(select(ingest_batches).where(ingest_batches.c.sample_date == day))
    if not rows:
        raise IngestError(f"nothing landed for {day}: run the extract task for that day first")
    return rows[0]


def delivered_frame(
    warehouse: Warehouse,
    day: dt.date,
    *,
    part: tuple[int, int] | None = None,
    rows: Sequence[int] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """The landed batch exactly as delivered (its own columns, text values), indexed by the row's
    number in the batch, and beside it (same index) where each row came from and its defect.

    ``part`` ``(k, n)``: only slice ``k`` of ``n`` of the day; ``rows``: only those row numbers."""
    batch = landed_batch(warehouse, day)
    names = _raw_names(warehouse, batch)
    if rows is not None:
        raw = warehouse.read_rows(warehouse.raw_observations, day, "row_number", rows, columns=names)
    else:
        raw = warehouse.read_partition(
            warehouse.raw_observations, day, columns=names, order_by=["row_number"], part=part
        )
    return batch, *_as_delivered(warehouse, batch, raw)


def delivered_pieces(
    warehouse: Warehouse, day: dt.date, batch: dict[str, Any], rows: int | None
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """:func:`delivered_frame`'s frames of the day, streamed ``rows`` rows at a time in row order."""
    names = _raw_names(warehouse, batch)
    table = warehouse.raw_observations
    for raw in warehouse.iter_pieces(table, day, rows, order_by=["row_number"], columns=names):
        yield _as_delivered(warehouse, batch, raw)


def _raw_names(warehouse: Warehouse, batch: dict[str, Any]) -> list[str]:
    declared = warehouse.domain.delivered_names
    return ["row_number", *(c for c in json.loads(batch["columns"]) if c in declared), "extra", *ORIGIN]


def _as_delivered(
    warehouse: Warehouse, batch: dict[str, Any], raw: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    columns, declared = json.loads(batch["columns"]), warehouse.domain.delivered_names
    raw = raw.set_index("row_number")
    raw.index = raw.index.astype("int64")
    raw.index.name = None
    frame = raw[[c for c in columns if c in declared]].copy()
    unknown = [c for c in columns if c not in declared]
    if unknown:
        extra = pd.DataFrame([json.loads(e) if e else {} for e in raw["extra"]], index=raw.index)
        for column in unknown:
            frame[column] = extra.get(column)
    return frame, raw[ORIGIN]


def row_failure(
    suite: str,
    expectation: str,
    column: str | None,
    why: str,
    rows: tuple[int, ...],
    examples: pd.Series,
    origin: pd.DataFrame | None,
    total: int,
    details: str | None = None,
) -> Failure:
    """A row-level failure found by Sluice itself (not by a GX suite): ``rows`` are row numbers,
    ``examples`` the offending values (indexed by row number), ``total`` the batch's rows."""
    return Failure(
        suite=suite,
        expectation=expectation,
        column=column,
        scope=ROW,
        why=why,
        unexpected_count=len(rows),
        unexpected_percent=100.0 * len(rows) / max(total, 1),
        details=details,
        examples=tuple(examples.loc[list(rows[:EXAMPLES])]),
        row_numbers=rows,
        where=where(origin, rows),
    )


def parse_failures(
    delivered: pd.DataFrame, typed: pd.DataFrame, domain: Domain, origin: pd.DataFrame | None = None
) -> list[Failure]:
    """A row-level failure per column where a delivered value does not parse into its type: a
    delivered, non-empty value never becomes missing (or infinite) silently."""
    failures = []
    for column in domain.delivered:
        if column.dtype not in (TIMESTAMP, FLOAT, INTEGER) or column.name not in delivered:
            continue
        bad = unparsed(delivered[column.name], typed[column.name], column.dtype)
        if bad.any():
            failures.append(
                row_failure(
                    "sluice.parse",
                    "expect_column_values_to_parse",
                    column.name,
                    "parsable value",
                    tuple(int(i) for i in delivered.index[bad.to_numpy()]),
                    delivered[column.name],
                    origin,
                    len(delivered),
                    details=f"not a {column.dtype} the warehouse can hold",
                )
            )
    return failures


def where(origin: pd.DataFrame | None, rows: tuple[int, ...] | list[int]) -> tuple[str, ...]:
    """``file:row`` of the first failing rows (``row N`` when the source delivered no file)."""
    if origin is None or not len(rows):
        return ()
    first = origin.loc[list(rows[:EXAMPLES])]
    return tuple(
        f"{f}:{int(r)}" if isinstance(f, str) else f"row {int(r)}"
        for f, r in zip(first["source_file"], first["source_row"], strict=True)
    )


def landing_failures(files: list[DeliveredFile], origin: pd.DataFrame, rows: int) -> list[Failure]:
    """What landing found: a failure per delivered file that could not be used (scope ``file``)
    and one for the rows that are malformed as delivered (scope ``row``)."""
    malformed = malformed_failure(origin, rows)
    return [*file_failures(files), *([malformed] if malformed else [])]


def file_failures(files: list[DeliveredFile]) -> list[Failure]:
    """A ``file``-scope failure per delivered file that could not be used."""
    return [
        Failure(
            suite="sluice.landing",
            expectation="expect_file_to_be_usable",
            column=None,
            scope=FILE,
            why="readable delivery",
            unexpected_count=f.rows,
            details=f.problem,
            file=f.name,
        )
        for f in files
        if f.problem
    ]


def malformed_failure(origin: pd.DataFrame, rows: int) -> Failure | None:
    """The rows malformed as delivered (a record's field count, a NUL), as one row-level failure."""
    malformed = origin["defect"].notna()
    if not malformed.any():
        return None
    numbers = tuple(int(i) for i in origin.index[malformed.to_numpy()])
    return row_failure(
        "sluice.landing",
        "expect_row_to_be_well_formed",
        None,
        "well-formed row",
        numbers,
        origin["defect"],
        origin,
        rows,
    )


def published_elsewhere(conn: Any, warehouse: Warehouse, day: dt.date) -> list[str]:
    id_ = warehouse.domain.id
    r, o = warehouse.raw_observations.alias("r"), warehouse.observations.alias("o")
    query = (
        select(r.c[id_].label("id"))
        .join(o, o.c[id_] == r.c[id_])
        .where(r.c.sample_date == day, o.c.sample_date != day)
        .distinct()
    )
    return sorted(row.id for row in conn.execute(query))


def with_where(failures: list[Failure], origin: pd.DataFrame) -> list[Failure]:
    return [replace(f, where=f.where or where(origin, f.row_numbers)) for f in failures]


LANDING, DELIVERED, PARSED, VALUES = 0, 1, 2, 3
"""The stages of a day's checks, in the order they run and are reported (:class:`Finding` keys)."""


def _found(failures: list[Failure], stage: int, place: dict[str | None, int] | None = None) -> list[Finding]:
    """Sluice's own failures as findings of ``stage`` (placed by column, as they were found)."""
    return [Finding(f, success=False, key=(stage, place[f.column] if place else 1)) for f in failures]


def validate_slice(
    warehouse: Warehouse,
    day: dt.date,
    *,
    gx_root: Path,
    as_of: dt.datetime,
    now: dt.datetime | None = None,
    part: int = 0,
    parts: int = 1,
) -> SliceResult:
    """Run the day's checks on slice ``part`` of ``parts`` (all of it when ``parts`` is 1) and
    return what every check found, for :func:`judge`. Nothing is written but the GX results.

    ``now`` (default ``as_of``) is when the check runs: no event may lie after it. (``as_of`` is
    the run's own time; a domain's day can end after it, e.g. a day in New York that a run at
    midnight UTC asks for once it is over.)

    What landing found comes first: a malformed row is held back as a row; the suites then judge
    the well-formed rows, and every value that does not parse into its declared type is held back.
    """
    from expectations import raw_observations as raw_suites  # GX: only the tasks that validate import it

    domain = warehouse.domain
    delivered_suite, values_suite = raw_suites.delivered_suite(domain), raw_suites.values_suite(domain)
    if parts > 1:
        slicing.check_sliceable(delivered_suite, first=True)
        slicing.check_sliceable(values_suite, first=False)
    batch, delivered, origin = delivered_frame(warehouse, day, part=(part, parts) if parts > 1 else None)
    total = int(batch["row_count"] or 0)
    malformed = malformed_failure(origin, len(delivered))
    findings = _found([malformed] if malformed else [], LANDING)
    well_formed = delivered[origin["defect"].isna().to_numpy()]
    run_name = batch["batch_id"] if parts == 1 else f"{batch['batch_id']}-slice{part + 1}of{parts}"
    runner = GXRunner(gx_root)
    urls: list[str] = []
    # an empty delivery fails the volume check; a day over the domain's size is judged from its count
    if total <= domain.max_rows_per_day and (len(well_formed) or (total == 0 and part == 0)):
        with warehouse.engine.connect() as conn:
            elsewhere = published_elsewhere(conn, warehouse, day)
        found, url = runner.findings(
            delivered_suite,
            well_formed,
            run_name=run_name,
            run_time=as_of,
            parameters={"published_elsewhere": elsewhere},
            stage=DELIVERED,
        )
        findings += [replace(f, failure=with_where([f.failure], origin)[0]) for f in found]
        urls += [url] if url else []
        if not _holds_back_all(found, parts):
            typed = to_typed(well_formed, domain)
            place = {c: i for i, c in enumerate(domain.delivered_names)}
            findings += _found(parse_failures(well_formed, typed, domain, origin), PARSED, place)
            found, url = _value_findings(
                runner, values_suite, typed, findings, origin, day, domain, run_name, as_of, now
            )
            findings += found
            urls += [url] if url else []
    count = malformed.unexpected_count if malformed else 0
    return SliceResult(part, parts, len(delivered), count, tuple(findings), tuple(urls))


def _holds_back_all(found: list[Finding], parts: int) -> bool:
    """Whether the delivered suite's findings hold back the whole day already: certain from one
    slice only when it is the whole day, or when the columns are wrong (the same in every slice);
    otherwise :func:`judge` decides."""
    final = [f for f in found if not f.success and f.failure.scope == BATCH]
    if parts > 1:
        final = [f for f in final if f.failure.expectation == "expect_table_columns_to_match_set"]
    return bool(final)


def _value_findings(
    runner: GXRunner,
    suite: Any,
    typed: pd.DataFrame,
    findings: list[Finding],
    origin: pd.DataFrame,
    day: dt.date,
    domain: Domain,
    run_name: str,
    as_of: dt.datetime,
    now: dt.datetime | None,
) -> tuple[list[Finding], str | None]:
    """The values suite on the rows that may still be published (a value that did not parse is
    not a missing one); nothing when every row failed already."""
    failed = {n for f in findings if not f.success for n in f.failure.row_numbers}
    candidates = typed[~typed.index.isin(failed)]
    if not len(candidates):
        return [], None
    start, end = day_bounds(day, domain.timezone)
    found, url = runner.findings(
        suite,
        candidates,
        run_name=run_name,
        run_time=as_of,
        parameters={"day_start": start, "day_end": end, "run_time": now or as_of},
        stage=VALUES,
    )
    return [replace(f, failure=with_where([f.failure], origin)[0]) for f in found], url


def _check_slices(day: dt.date, results: Sequence[SliceResult], total: int) -> None:
    """Every slice of the day validated exactly once, over the rows landed now."""
    parts = sorted({r.part for r in results})
    expected = results[0].parts if results else 1
    if parts != list(range(expected)) or any(r.parts != expected for r in results):
        raise IngestError(f"{day}: slices {parts} of {expected} were validated: each must be, once")
    if sum(r.rows for r in results) != total:
        raise IngestError(
            f"{day}: the slices hold {sum(r.rows for r in results)} rows, the landed batch {total}: "
            "the day was landed again after validation started; validate it again"
        )


def _oversize(domain: Domain, total: int) -> list[Failure]:
    """A day over the domain's size fails on its count (GX is not run on such a day)."""
    from expectations import DELIVERED as DELIVERED_SUITE  # the name alone: no GX in the judge

    if total <= domain.max_rows_per_day:
        return []
    return [
        Failure(
            suite=DELIVERED_SUITE,
            expectation="expect_table_row_count_to_be_between",
            column=None,
            scope=BATCH,
            why="delivery completeness",
            observed=total,
            details=f"over the domain's max_rows_per_day={domain.max_rows_per_day}",
        )
    ]


def _record(warehouse: Warehouse, day: dt.date, batch_id: str, verdict: Verdict, as_of: dt.datetime) -> None:
    """The verdict in one transaction: the quarantine, the batch's status, and on a quarantine the
    removal of the day's observations and of what was derived from them."""
    rows = None if verdict.decision == QUARANTINE else list(verdict.bad_rows)
    _, held, origin = delivered_frame(warehouse, day, rows=rows)
    q_batch, q_rows = quarantine.records(
        day, batch_id, RAW, verdict, held, as_of, id_column=warehouse.domain.id, origin=origin
    )
    with warehouse.transaction() as tx:
        quarantine.write(tx, day, RAW, verdict, q_batch, q_rows)
        if verdict.decision == QUARANTINE:
            for table in (warehouse.observations, warehouse.features, predictions, prediction_batches):
                tx.delete_partition(table, day)
        tx.update_partition(
            ingest_batches,
            day,
            status="quarantined" if verdict.decision == QUARANTINE else "validated",
            quarantined_rows=verdict.quarantined_rows,
            published_rows=0 if verdict.decision == QUARANTINE else None,
            validated_at=as_of,
            validation_url=quarantine.url_list(verdict.validation_urls),
        )


def judge(
    warehouse: Warehouse,
    day: dt.date,
    results: Sequence[SliceResult],
    *,
    tolerance: float,
    as_of: dt.datetime,
) -> tuple[str, Verdict]:
    """Decide the day on its slices' findings and record the verdict (quarantine rows, batch
    status) atomically. Returns the batch id and the verdict.

    A file that could not be used is held back as a file. When the verdict is ``quarantine`` the
    day's ``observations`` and what was derived from them (its ``features``, ``predictions`` and
    ``prediction_batches``) are removed in the same transaction: a re-run that now fails never
    leaves the rows of an earlier, different delivery published, featurised or reported as
    scored. The delivery itself stays in ``raw_observations`` and the quarantine.
    """
    batch = landed_batch(warehouse, day)
    batch_id, total = batch["batch_id"], int(batch["row_count"] or 0)
    _check_slices(day, results, total)
    files = [DeliveredFile.from_dict(f) for f in json.loads(batch.get("files") or "[]")]
    malformed = sum(r.malformed for r in results)
    found = slicing.combine(
        (f for r in results for f in r.findings), totals={LANDING: total, PARSED: total - malformed}
    )
    if any(f.failure.scope == BATCH and f.key[0] == DELIVERED for f in found):
        found = [f for f in found if f.key[0] <= DELIVERED]  # a single pass stops there
    failures = [*file_failures(files), *(f.failure for f in found), *_oversize(warehouse.domain, total)]
    urls = [u for r in sorted(results, key=lambda r: r.part) for u in r.urls]
    verdict = replace(decide(total, failures, tolerance), validation_urls=tuple(urls))
    _record(warehouse, day, batch_id, verdict, as_of)
    return batch_id, verdict


def validate(
    warehouse: Warehouse,
    day: dt.date,
    *,
    gx_root: Path,
    tolerance: float,
    as_of: dt.datetime,
    now: dt.datetime | None = None,
    slices: int = 1,
) -> tuple[str, Verdict]:
    """Validate the landed day in ``slices`` slices, one after the other in this process, and
    judge it (:func:`validate_slice`, :func:`judge`): the DAG runs the slices as mapped tasks."""
    results = [
        validate_slice(warehouse, day, gx_root=gx_root, as_of=as_of, now=now, part=k, parts=slices)
        for k in range(slices)
    ]
    return judge(warehouse, day, results, tolerance=tolerance, as_of=as_of)
