"""Ingestion of one day: land raw → validate → publish (or quarantine) → labels.

Each step is one function that the matching task of ``dags/sluice_ingest.py`` calls, and each
writes its day's partitions in one transaction, so re-running any step (or the whole day) gives the
same tables. Timestamps written to the tables (``ingested_at``, ``published_at``, …) are the
``as_of`` the caller passes: the DAG passes its run's time, so a retried or cleared run writes
exactly what the first attempt wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from sluice import quarantine, slicing
from sluice.dates import day_bounds
from sluice.domain import FLOAT, INTEGER, TIMESTAMP, Domain
from sluice.errors import SluiceError
from sluice.sources import DeliveredFile, Delivery, Part, Source
from sluice.validation import (
    BATCH,
    EXAMPLES,
    FILE,
    PARTIAL,
    PUBLISH,
    QUARANTINE,
    ROW,
    Failure,
    Finding,
    GXRunner,
    Verdict,
    decide,
)
from sluice.warehouse import (
    Transaction,
    Warehouse,
    ingest_batches,
    prediction_batches,
    predictions,
    quarantine_rows,
)

RAW = "raw_observations"
LABELS = "labels"
ORIGIN = ["source_file", "source_row", "defect"]
"""Where a landed row came from, and why it is malformed (None: it is not)."""


class IngestError(SluiceError, RuntimeError):
    """A step cannot run on the warehouse's current state; the message says why and what to do."""


@dataclass(frozen=True)
class LandedBatch:
    day: str
    batch_id: str
    source: str
    rows: int
    columns: list[str]
    held_files: list[str] = field(default_factory=list)
    """Delivered files that could not be used (validation holds them back as files)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- land ------------------------------------------------------------------------------------


def delivery_of(source: Source, day: dt.date, asked_at: dt.datetime, columns: tuple[str, ...]) -> Delivery:
    """The day as ``source`` delivers it: file by file when it reads files (``deliver``), else its
    frame as one part."""
    deliver = getattr(source, "deliver", None)
    if deliver is not None:
        return deliver(day, asked_at, columns)
    frame = source.fetch(day, asked_at).reset_index(drop=True)
    return Delivery([Part(None, frame, list(range(1, len(frame) + 1)))], [])


def batch_id_for(source: str, day: dt.date, frame: pd.DataFrame, files: list[DeliveredFile] = ()) -> str:
    """A deterministic id: the same delivery always gets the same id, a changed one a new id. Files
    are named by their names and contents, frames by their columns and values."""
    if files:
        digest = hashlib.sha256(json.dumps([[f.name, f.size, f.sha256] for f in files]).encode())
        return f"{source}-{day:%Y%m%d}-{digest.hexdigest()[:10]}"
    digest = hashlib.sha256(json.dumps(list(map(str, frame.columns))).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return f"{source}-{day:%Y%m%d}-{digest.hexdigest()[:10]}"


def _as_text(series: pd.Series) -> pd.Series:
    missing = series.isna()
    if pd.api.types.is_datetime64_any_dtype(series):
        text = series.dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    else:
        text = series.astype(str)
    return text.where(~missing, None)


NUL = "\x00"


def _text_part(part: Part) -> tuple[pd.DataFrame, list[str | None]]:
    """A part's values as text, and each row's defects (its own, plus a NUL character anywhere: no
    database text column can hold one, so it is stored as U+FFFD and the row is held back)."""
    frame = pd.DataFrame(
        {str(c): _as_text(part.frame[c]) for c in part.frame.columns}, index=part.frame.index
    )
    defects = list(part.defects) if part.defects else [None] * len(frame)
    for column in frame.columns:
        values = frame[column]
        if NUL not in "".join(values.dropna().to_list()):  # one scan in C: the common case
            continue
        has_nul = values.str.contains(NUL, regex=False, na=False)
        if has_nul.any():
            frame[column] = values.where(~has_nul, values.str.replace(NUL, "\ufffd", regex=False))
            for i in np.flatnonzero(has_nul.to_numpy()):
                said = f"a NUL character in {column!r} (stored as U+FFFD)"
                defects[i] = f"{defects[i]}; {said}" if defects[i] else said
    return frame, defects


def combine(delivery: Delivery) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The delivery's rows as one text frame (index: the row's number in the batch) and, on the
    same index, where each came from (``source_file``, ``source_row``) and its ``defect``."""
    frames, origins = [], []
    for part in delivery.parts:
        text, defects = _text_part(part)
        frames.append(text)
        origins.append(
            pd.DataFrame(
                {
                    "source_file": part.file.name if part.file else None,
                    "source_row": np.asarray(part.source_rows, dtype="int64"),
                    "defect": pd.Series(defects, dtype=object),
                }
            )
        )
    if not frames:
        return pd.DataFrame(), pd.DataFrame(columns=ORIGIN)
    return pd.concat(frames, ignore_index=True), pd.concat(origins, ignore_index=True)


def to_raw(
    delivery: Delivery | pd.DataFrame,
    day: dt.date,
    batch_id: str,
    ingested_at: dt.datetime,
    domain: Domain,
) -> pd.DataFrame:
    """The delivered rows as ``raw_observations`` rows: declared columns as text, others in
    ``extra``, each row with the file and record it came from and its defect (if any)."""
    if isinstance(delivery, pd.DataFrame):
        frame = delivery.reset_index(drop=True)
        delivery = Delivery([Part(None, frame, list(range(1, len(frame) + 1)))], [])
    text, origin = combine(delivery)
    declared = domain.delivered_names
    raw = pd.DataFrame(
        {"sample_date": [day] * len(text), "batch_id": batch_id, "row_number": np.arange(len(text))}
    )
    for column in declared:
        raw[column] = text[column].to_numpy() if column in text else None
    unknown = [c for c in text.columns if c not in declared]
    if unknown:
        extra = text[unknown].astype(object).where(text[unknown].notna(), None)
        raw["extra"] = [json.dumps(r) for r in extra.to_dict("records")]
    else:
        raw["extra"] = None
    for column in ORIGIN:
        raw[column] = origin[column].to_numpy() if len(origin) else None
    raw["slice_key"] = slicing.slice_keys(raw[domain.id]) if len(raw) else None
    raw["ingested_at"] = ingested_at
    return raw


def land(
    warehouse: Warehouse,
    source: Source,
    day: dt.date,
    as_of: dt.datetime,
    asked_at: dt.datetime | None = None,
) -> LandedBatch:
    """Fetch the day from ``source`` and store it as delivered (replacing the day's raw rows).

    ``as_of`` is written as ``ingested_at``/``landed_at``; ``asked_at`` (default ``as_of``) is when
    the source is asked, which decides whether a late delivery is there yet: a backfill of an old
    day asks now, not at the day's original run time. A source that reads files delivers them one
    by one: a file that cannot be used is recorded (and kept by the source), never landed, and
    does not stop the others.
    """
    domain = warehouse.domain
    delivery = delivery_of(source, day, asked_at or as_of, domain.delivered_names)
    whole = delivery.parts[0].frame if len(delivery.parts) == 1 and not delivery.files else pd.DataFrame()
    batch_id = batch_id_for(source.name, day, whole, delivery.files)
    columns = list(dict.fromkeys(str(c) for p in delivery.parts for c in p.frame.columns))
    raw = to_raw(delivery, day, batch_id, as_of, domain)
    batch_row = pd.DataFrame(
        [
            {
                "sample_date": day,
                "batch_id": batch_id,
                "source": source.name,
                "columns": json.dumps(columns),
                "row_count": len(raw),
                "landed_at": as_of,
                "status": "landed",
                "files": json.dumps([f.to_dict() for f in delivery.files]) if delivery.files else None,
            }
        ]
    )
    with warehouse.transaction() as tx:
        tx.replace_partition(warehouse.raw_observations, day, raw)
        tx.replace_partition(ingest_batches, day, batch_row)
    return LandedBatch(
        day.isoformat(),
        batch_id,
        source.name,
        len(raw),
        columns,
        [f.name for f in delivery.files if f.problem],
    )


# --- validate --------------------------------------------------------------------------------


def _batch(warehouse: Warehouse, day: dt.date) -> dict[str, Any]:
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
    batch = _batch(warehouse, day)
    columns = json.loads(batch["columns"])
    declared = warehouse.domain.delivered_names
    known = [c for c in columns if c in declared]
    names = ["row_number", *known, "extra", *ORIGIN]
    if rows is not None:
        raw = warehouse.read_rows(warehouse.raw_observations, day, "row_number", rows, columns=names)
    else:
        raw = warehouse.read_partition(
            warehouse.raw_observations, day, columns=names, order_by=["row_number"], part=part
        )
    raw = raw.set_index("row_number")
    raw.index = raw.index.astype("int64")
    raw.index.name = None
    frame = raw[known].copy()
    unknown = [c for c in columns if c not in declared]
    if unknown:
        extra = pd.DataFrame([json.loads(e) if e else {} for e in raw["extra"]], index=raw.index)
        for column in unknown:
            frame[column] = extra.get(column)
    return batch, frame, raw[ORIGIN]


def to_typed(delivered: pd.DataFrame, domain: Domain) -> pd.DataFrame:
    """Parse text into the declared types (same index); what does not parse becomes missing, and
    :func:`parse_failures` holds its row back. Text columns stay as delivered."""
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


def _published_elsewhere(conn: Any, warehouse: Warehouse, day: dt.date) -> list[str]:
    id_ = warehouse.domain.id
    r, o = warehouse.raw_observations.alias("r"), warehouse.observations.alias("o")
    query = (
        select(r.c[id_].label("id"))
        .join(o, o.c[id_] == r.c[id_])
        .where(r.c.sample_date == day, o.c.sample_date != day)
        .distinct()
    )
    return sorted(row.id for row in conn.execute(query))


def _with_where(failures: list[Failure], origin: pd.DataFrame) -> list[Failure]:
    return [replace(f, where=f.where or where(origin, f.row_numbers)) for f in failures]


LANDING, DELIVERED, PARSED, VALUES = 0, 1, 2, 3
"""The stages of a day's checks, in the order they run and are reported (:class:`Finding` keys)."""


@dataclass(frozen=True)
class SliceResult:
    """What the checks found on one slice of a day (:func:`validate_slice`), for :func:`judge`."""

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
            elsewhere = _published_elsewhere(conn, warehouse, day)
        found, url = runner.findings(
            delivered_suite,
            well_formed,
            run_name=run_name,
            run_time=as_of,
            parameters={"published_elsewhere": elsewhere},
            stage=DELIVERED,
        )
        findings += [replace(f, failure=_with_where([f.failure], origin)[0]) for f in found]
        urls += [url] if url else []
        # whether the day holds back every row: certain from one slice only when it is the whole
        # day, or the columns are wrong (the same for every slice); otherwise :func:`judge` decides
        final = [f for f in found if not f.success and f.failure.scope == BATCH]
        if parts > 1:
            final = [f for f in final if f.failure.expectation == "expect_table_columns_to_match_set"]
        if not final:
            start, end = day_bounds(day, domain.timezone)
            typed = to_typed(well_formed, domain)
            place = {c: i for i, c in enumerate(domain.delivered_names)}
            findings += _found(parse_failures(well_formed, typed, domain, origin), PARSED, place)
            # the values (and their shares of missing values) of the rows that may be published:
            # a value that did not parse is not a missing one
            failed = {n for f in findings if not f.success for n in f.failure.row_numbers}
            candidates = typed[~typed.index.isin(failed)]
            if len(candidates):  # when every row failed already, no value is left to judge
                found, url = runner.findings(
                    values_suite,
                    candidates,
                    run_name=run_name,
                    run_time=as_of,
                    parameters={"day_start": start, "day_end": end, "run_time": now or as_of},
                    stage=VALUES,
                )
                findings += [replace(f, failure=_with_where([f.failure], origin)[0]) for f in found]
                urls += [url] if url else []
    count = malformed.unexpected_count if malformed else 0
    return SliceResult(part, parts, len(delivered), count, tuple(findings), tuple(urls))


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
    from expectations.raw_observations import DELIVERED as DELIVERED_SUITE

    domain = warehouse.domain
    batch = _batch(warehouse, day)
    batch_id, total = batch["batch_id"], int(batch["row_count"] or 0)
    parts = sorted({r.part for r in results})
    expected = results[0].parts if results else 1
    if parts != list(range(expected)) or any(r.parts != expected for r in results):
        raise IngestError(f"{day}: slices {parts} of {expected} were validated: each must be, once")
    if sum(r.rows for r in results) != total:
        raise IngestError(
            f"{day}: the slices hold {sum(r.rows for r in results)} rows, the landed batch {total}: "
            "the day was landed again after validation started; validate it again"
        )
    files = [DeliveredFile.from_dict(f) for f in json.loads(batch.get("files") or "[]")]
    malformed = sum(r.malformed for r in results)
    found = slicing.combine(
        (f for r in results for f in r.findings), totals={LANDING: total, PARSED: total - malformed}
    )
    if any(f.failure.scope == BATCH and f.key[0] == DELIVERED for f in found):
        found = [f for f in found if f.key[0] <= DELIVERED]  # a single pass stops there
    failures = [*file_failures(files), *(f.failure for f in found)]
    if total > domain.max_rows_per_day:  # judged from the count: GX is not run on such a day
        failures.append(
            Failure(
                suite=DELIVERED_SUITE,
                expectation="expect_table_row_count_to_be_between",
                column=None,
                scope=BATCH,
                why="delivery completeness",
                observed=total,
                details=f"over the domain's max_rows_per_day={domain.max_rows_per_day}",
            )
        )
    urls = [u for r in sorted(results, key=lambda r: r.part) for u in r.urls]
    verdict = replace(decide(total, failures, tolerance), validation_urls=tuple(urls))
    if verdict.decision == QUARANTINE:
        _, held, origin = delivered_frame(warehouse, day)
    else:
        _, held, origin = delivered_frame(warehouse, day, rows=list(verdict.bad_rows))
    q_batch, q_rows = quarantine.records(
        day, batch_id, RAW, verdict, held, as_of, id_column=domain.id, origin=origin
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
            validation_url=quarantine.url_list(urls),
        )
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


# --- publish ---------------------------------------------------------------------------------

PUBLISH_LOCK = 0x51_0CE_0B5
"""The PostgreSQL advisory lock that makes publishes take turns: each checks the identifiers
already published by other days and writes its own as one step."""


def publish(warehouse: Warehouse, day: dt.date, *, as_of: dt.datetime) -> dict[str, Any]:
    """Publish the validated rows of the day to ``observations`` (replacing the day's rows).

    Two days validated side by side cannot see each other's identifiers; the second to publish
    finds the first's, and holds those rows back in the quarantine (rule ``replayed samples``)
    instead of failing on the unique key, so the rest of its day is published.
    """
    domain = warehouse.domain
    batch, delivered, origin = delivered_frame(warehouse, day)
    batch_id = batch["batch_id"]
    if batch["status"] == "quarantined":
        raise IngestError(f"batch {batch_id} ({day}) is quarantined: nothing to publish")
    if batch["status"] == "landed" or batch["validated_at"] is None:
        raise IngestError(f"batch {batch_id} ({day}) has not been validated: run validate first")
    held = warehouse.read_partition(quarantine_rows, day, columns=["table_name", "batch_id", "row_number"])
    held = held[(held["table_name"] == RAW) & (held["batch_id"] == batch_id)]
    good = delivered[~delivered.index.isin(held["row_number"]) & origin["defect"].isna().to_numpy()]
    typed = to_typed(good, domain)
    with warehouse.transaction() as tx:
        tx.lock(PUBLISH_LOCK)
        clash = set(_published_elsewhere(tx.conn, warehouse, day)) & set(typed[domain.id])
        replayed = typed[typed[domain.id].isin(clash)]
        if len(replayed):
            _hold_replayed(
                tx, warehouse, day, batch_id, good.loc[replayed.index], origin, len(delivered), as_of
            )
            typed = typed.drop(index=replayed.index)
        rows = typed[list(domain.delivered_names)].copy()
        rows.insert(0, "sample_date", day)
        rows.insert(1, "batch_id", batch_id)
        rows["published_at"] = as_of
        published = tx.replace_partition(warehouse.observations, day, rows)
        quarantined = int(batch["quarantined_rows"] or 0) + len(replayed)
        tx.update_partition(
            ingest_batches, day, status="published", published_rows=published, quarantined_rows=quarantined
        )
    return {
        "day": day.isoformat(),
        "batch_id": batch_id,
        "rows_published": published,
        "rows_quarantined": quarantined,
    }


def _hold_replayed(
    tx: Transaction,
    warehouse: Warehouse,
    day: dt.date,
    batch_id: str,
    replayed: pd.DataFrame,
    origin: pd.DataFrame,
    total: int,
    as_of: dt.datetime,
) -> None:
    """Quarantine, at publish, rows whose identifiers another day published after validation."""
    id_ = warehouse.domain.id
    failure = row_failure(
        "sluice.publish",
        "expect_column_values_to_not_be_in_set",
        id_,
        "replayed samples",
        tuple(int(i) for i in replayed.index),
        replayed[id_],
        origin,
        total,
    )
    reason = (
        f"{len(replayed)} rows carry identifiers another day published after this one was "
        "validated (replayed samples); held back at publish"
    )
    rows = quarantine.held_rows(day, batch_id, RAW, replayed, [failure.rule] * len(replayed), origin, id_)
    quarantine.add(tx, day, RAW, batch_id, rows, failure.record(), reason, total, as_of)


# --- labels ----------------------------------------------------------------------------------


def ingest_labels(
    warehouse: Warehouse,
    source: Source,
    day: dt.date,
    *,
    gx_root: Path,
    tolerance: float,
    as_of: dt.datetime,
    now: dt.datetime | None = None,
) -> tuple[dict[str, Any], Verdict]:
    """Store the labels that arrived on ``day``; invalid rows (and files that could not be used) go
    to quarantine. ``now`` (default ``as_of``): no label time may lie after it."""
    domain = warehouse.domain
    id_, label, labelled_at = domain.label_columns
    deliver = getattr(source, "deliver_labels", None)
    if deliver is not None:
        delivery = deliver(day, as_of)
        whole = pd.DataFrame()
    else:
        whole = source.fetch_labels(day, as_of).reset_index(drop=True)
        delivery = Delivery([Part(None, whole, list(range(1, len(whole) + 1)))], [])
    batch_id = batch_id_for(f"{source.name}-labels", day, whole, delivery.files)
    delivered, origin = combine(delivery)
    failures = landing_failures(delivery.files, origin, len(delivered))
    well_formed = delivered[origin["defect"].isna().to_numpy()] if len(delivered) else delivered
    urls: tuple[str, ...] = ()
    if len(well_formed):
        from expectations import labels as label_suites  # GX: only when there are labels to check

        more, url = GXRunner(gx_root).validate(
            label_suites.labels_suite(domain), well_formed, run_name=batch_id, run_time=as_of
        )
        failures += _with_where(more, origin)
        urls = (url,) if url else ()
        if labelled_at in well_formed:
            failures += _time_failures(well_formed[labelled_at], now or as_of, origin)
    if len(delivered) or delivery.files:
        verdict = replace(decide(len(delivered), failures, tolerance), validation_urls=urls)
    else:
        verdict = Verdict(PUBLISH, "no labels arrived", 0)
    good = delivered
    if verdict.decision == QUARANTINE:
        good = delivered.iloc[0:0]
    elif verdict.decision == PARTIAL:
        good = delivered[~delivered.index.isin(verdict.bad_rows)]
    rows = pd.DataFrame(
        {
            "label_date": [day] * len(good),
            "sample_id": good[id_].astype(str).to_numpy() if len(good) else [],
            "label": pd.to_numeric(good[label]).astype("int64").to_numpy() if len(good) else [],
            "labelled_at": pd.to_datetime(good[labelled_at], utc=True, format="ISO8601").to_numpy()
            if len(good)
            else [],
        }
    )
    q_batch, q_rows = quarantine.records(
        day, batch_id, LABELS, verdict, delivered, as_of, id_column=id_, origin=origin
    )
    with warehouse.transaction() as tx:
        stored = tx.replace_partition(LABELS, day, rows)
        quarantine.write(tx, day, LABELS, verdict, q_batch, q_rows)
    summary = {
        "day": day.isoformat(),
        "batch_id": batch_id,
        "labels": stored,
        "rows_quarantined": verdict.quarantined_rows,
        "held_files": [f.file for f in verdict.held_files],
    }
    return summary, verdict


def _time_failures(values: pd.Series, as_of: dt.datetime, origin: pd.DataFrame) -> list[Failure]:
    """Label times that do not parse, or that lie after ``as_of``."""
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    checks = [
        ("expect_column_values_to_parse", "parsable time", values.notna() & parsed.isna()),
        ("expect_column_values_to_be_between", "future time", parsed > pd.Timestamp(as_of)),
    ]
    failures = []
    for expectation, why, bad in checks:
        if bad.any():
            rows = tuple(int(i) for i in values.index[bad.to_numpy()])
            details = f"after {as_of.isoformat()}" if why == "future time" else None
            failures.append(
                row_failure(
                    "sluice.parse", expectation, values.name, why, rows, values, origin, len(values), details
                )
            )
    return failures
