"""Ingestion of one day: land raw → (check it: :mod:`sluice.checking`) → publish → labels.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sluice import quarantine, slicing
from sluice.checking import (
    ORIGIN,
    RAW,
    IngestError,
    delivered_pieces,
    landed_batch,
    landing_failures,
    published_elsewhere,
    row_failure,
    with_where,
)
from sluice.domain import Domain
from sluice.parsing import to_typed
from sluice.sources import DeliveredFile, Delivery, Part, Source
from sluice.tables import ingest_batches, quarantine_rows
from sluice.transaction import Transaction
from sluice.validation import GXRunner
from sluice.verdict import PARTIAL, PUBLISH, QUARANTINE, Failure, Verdict, decide
from sluice.warehouse import Warehouse

LABELS = "labels"
PIECE_ROWS = 100_000
"""Rows landed, and published, at a time: a day is read, turned into text (or parsed) and written
in pieces of about this many rows inside its one transaction, so these steps hold a piece, not
the day."""


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
    for part in delivery.chunks():
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
    first_row: int = 0,
) -> pd.DataFrame:
    """The delivered rows as ``raw_observations`` rows: declared columns as text, others in
    ``extra``, each row with the file and record it came from and its defect (if any).
    ``first_row``: the batch's row number of the first row (a day lands in pieces)."""
    if isinstance(delivery, pd.DataFrame):
        frame = delivery.reset_index(drop=True)
        delivery = Delivery([Part(None, frame, list(range(1, len(frame) + 1)))], [])
    text, origin = combine(delivery)
    declared = domain.delivered_names
    raw = pd.DataFrame(
        {
            "sample_date": [day] * len(text),
            "batch_id": batch_id,
            "row_number": np.arange(first_row, first_row + len(text)),
        }
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
    does not stop the others. The rows are read and written about :data:`PIECE_ROWS` at a
    time, all in the one transaction: no reader sees part of a day.
    """
    domain = warehouse.domain
    delivery = delivery_of(source, day, asked_at or as_of, domain.delivered_names)
    only = delivery.parts[0] if len(delivery.parts) == 1 and not delivery.files else None
    whole = only.frame if isinstance(only, Part) else pd.DataFrame()
    batch_id = batch_id_for(source.name, day, whole, delivery.files)
    columns = delivery.columns
    rows = 0
    with warehouse.transaction() as tx:
        tx.delete_partition(warehouse.raw_observations, day)
        for part in delivery.chunks(PIECE_ROWS):
            raw = to_raw(Delivery([part], []), day, batch_id, as_of, domain, first_row=rows)
            rows += tx.insert(warehouse.raw_observations, raw)
        batch_row = {
            "sample_date": day,
            "batch_id": batch_id,
            "source": source.name,
            "columns": json.dumps(columns),
            "row_count": rows,
            "landed_at": as_of,
            "status": "landed",
            "files": json.dumps([f.to_dict() for f in delivery.files]) if delivery.files else None,
        }
        tx.replace_partition(ingest_batches, day, pd.DataFrame([batch_row]))
    return LandedBatch(
        day.isoformat(), batch_id, source.name, rows, columns, [f.name for f in delivery.files if f.problem]
    )


# --- publish ---------------------------------------------------------------------------------

PUBLISH_LOCK = 0x51_0CE_0B5
"""The PostgreSQL advisory lock that makes publishes take turns: each checks the identifiers
already published by other days and writes its own as one step."""


def publish(
    warehouse: Warehouse, day: dt.date, *, as_of: dt.datetime, piece_rows: int | None = PIECE_ROWS
) -> dict[str, Any]:
    """Publish the validated rows of the day to ``observations`` (replacing the day's rows), in
    one transaction.

    The landed rows are read, parsed and written ``piece_rows`` at a time (None: the day at once)
    inside that transaction, so the step holds a piece, not the day; the tables are the same
    either way.

    Two days validated side by side cannot see each other's identifiers; the second to publish
    finds the first's, and holds those rows back in the quarantine (rule ``replayed samples``)
    instead of failing on the unique key, so the rest of its day is published.
    """
    batch = landed_batch(warehouse, day)
    batch_id = batch["batch_id"]
    if batch["status"] == "quarantined":
        raise IngestError(f"batch {batch_id} ({day}) is quarantined: nothing to publish")
    if batch["status"] == "landed" or batch["validated_at"] is None:
        raise IngestError(f"batch {batch_id} ({day}) has not been validated: run validate first")
    total = int(batch["row_count"] or 0)
    held = warehouse.read_partition(quarantine_rows, day, columns=["table_name", "batch_id", "row_number"])
    held = set(held.loc[(held["table_name"] == RAW) & (held["batch_id"] == batch_id), "row_number"])
    published, replayed, origins = 0, [], []
    with warehouse.transaction() as tx:
        tx.lock(PUBLISH_LOCK)
        clash = set(published_elsewhere(tx.conn, warehouse, day))
        tx.delete_partition(warehouse.observations, day)
        for delivered, origin in delivered_pieces(warehouse, day, batch, piece_rows):
            good = delivered[~delivered.index.isin(held) & origin["defect"].isna().to_numpy()]
            typed = to_typed(good, warehouse.domain)
            again = typed[warehouse.domain.id].isin(clash).to_numpy()
            replayed.append(good[again])
            origins.append(origin[origin.index.isin(good.index[again])])
            rows = typed[~again][list(warehouse.domain.delivered_names)].copy()
            rows.insert(0, "sample_date", day)
            rows.insert(1, "batch_id", batch_id)
            rows["published_at"] = as_of
            published += tx.insert(warehouse.observations, rows)
        replayed_rows = pd.concat(replayed).sort_index() if replayed else pd.DataFrame()
        if len(replayed_rows):
            _hold_replayed(tx, warehouse, day, batch_id, replayed_rows, pd.concat(origins), total, as_of)
        quarantined = int(batch["quarantined_rows"] or 0) + len(replayed_rows)
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
    more, urls = _label_failures(well_formed, origin, domain, gx_root, batch_id, as_of, now or as_of)
    failures += more
    if len(delivered) or delivery.files:
        verdict = replace(decide(len(delivered), failures, tolerance), validation_urls=urls)
    else:
        verdict = Verdict(PUBLISH, "no labels arrived", 0)
    rows = _label_rows(day, delivered, verdict, domain)
    q_batch, q_rows = quarantine.records(
        day, batch_id, LABELS, verdict, delivered, as_of, id_column=domain.label_columns[0], origin=origin
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


def _label_failures(
    well_formed: pd.DataFrame,
    origin: pd.DataFrame,
    domain: Domain,
    gx_root: Path,
    batch_id: str,
    as_of: dt.datetime,
    now: dt.datetime,
) -> tuple[list[Failure], tuple[str, ...]]:
    """The labels suite's failures on the well-formed rows, and label times that do not parse or
    lie after ``now``; the Data Docs page."""
    if not len(well_formed):
        return [], ()
    from expectations import labels as label_suites  # GX: only when there are labels to check

    labelled_at = domain.label_columns[2]
    found, url = GXRunner(gx_root).validate(
        label_suites.labels_suite(domain), well_formed, run_name=batch_id, run_time=as_of
    )
    failures = with_where(found, origin)
    if labelled_at in well_formed:
        failures += _time_failures(well_formed[labelled_at], now, origin)
    return failures, (url,) if url else ()


def _label_rows(day: dt.date, delivered: pd.DataFrame, verdict: Verdict, domain: Domain) -> pd.DataFrame:
    """The ``labels`` rows of the day: what was delivered, less what the verdict holds back."""
    id_, label, labelled_at = domain.label_columns
    good = delivered
    if verdict.decision == QUARANTINE:
        good = delivered.iloc[0:0]
    elif verdict.decision == PARTIAL:
        good = delivered[~delivered.index.isin(verdict.bad_rows)]
    if not len(good):
        return pd.DataFrame({"label_date": [], "sample_id": [], "label": [], "labelled_at": []})
    return pd.DataFrame(
        {
            "label_date": [day] * len(good),
            "sample_id": good[id_].astype(str).to_numpy(),
            "label": pd.to_numeric(good[label]).astype("int64").to_numpy(),
            "labelled_at": pd.to_datetime(good[labelled_at], utc=True, format="ISO8601").to_numpy(),
        }
    )


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
