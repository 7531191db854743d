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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from sluice import quarantine
from sluice.dates import day_bounds
from sluice.domain import FLOAT, INTEGER, TIMESTAMP, Domain
from sluice.sources import Source
from sluice.validation import PARTIAL, PUBLISH, QUARANTINE, GXRunner, Verdict, decide
from sluice.warehouse import Warehouse, ingest_batches, prediction_batches, predictions, quarantine_rows

RAW = "raw_observations"
LABELS = "labels"


class IngestError(RuntimeError):
    """A step cannot run on the warehouse's current state; the message says why and what to do."""


@dataclass(frozen=True)
class LandedBatch:
    day: str
    batch_id: str
    source: str
    rows: int
    columns: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- land ------------------------------------------------------------------------------------


def batch_id_for(source: str, day: dt.date, frame: pd.DataFrame) -> str:
    """A deterministic id: the same delivery always gets the same id, a changed one a new id."""
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


def to_raw(
    frame: pd.DataFrame, day: dt.date, batch_id: str, ingested_at: dt.datetime, domain: Domain
) -> pd.DataFrame:
    """The delivered frame as ``raw_observations`` rows: declared columns as text, others in ``extra``."""
    declared = domain.delivered_names
    raw = pd.DataFrame(
        {
            "sample_date": [day] * len(frame),
            "batch_id": batch_id,
            "row_number": np.arange(len(frame), dtype="int64"),
        }
    )
    for column in declared:
        raw[column] = _as_text(frame[column]).to_numpy() if column in frame else None
    unknown = [c for c in frame.columns if c not in declared]
    if unknown:
        extra = frame[unknown].astype(object).where(frame[unknown].notna(), None)
        raw["extra"] = [json.dumps(r, default=str) for r in extra.to_dict("records")]
    else:
        raw["extra"] = None
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
    day asks now, not at the day's original run time.
    """
    frame = source.fetch(day, asked_at or as_of)
    batch_id = batch_id_for(source.name, day, frame)
    columns = [str(c) for c in frame.columns]
    batch_row = pd.DataFrame(
        [
            {
                "sample_date": day,
                "batch_id": batch_id,
                "source": source.name,
                "columns": json.dumps(columns),
                "row_count": len(frame),
                "landed_at": as_of,
                "status": "landed",
            }
        ]
    )
    with warehouse.transaction() as tx:
        tx.replace_partition(
            warehouse.raw_observations, day, to_raw(frame, day, batch_id, as_of, warehouse.domain)
        )
        tx.replace_partition(ingest_batches, day, batch_row)
    return LandedBatch(day.isoformat(), batch_id, source.name, len(frame), columns)


# --- validate --------------------------------------------------------------------------------


def _batch(warehouse: Warehouse, day: dt.date) -> dict[str, Any]:
    rows = warehouse.fetch(select(ingest_batches).where(ingest_batches.c.sample_date == day))
    if not rows:
        raise IngestError(f"nothing landed for {day}: run the extract task for that day first")
    return rows[0]


def delivered_frame(warehouse: Warehouse, day: dt.date) -> tuple[dict[str, Any], pd.DataFrame]:
    """The landed batch exactly as delivered (its own columns, text values) plus ``row_number``."""
    batch = _batch(warehouse, day)
    columns = json.loads(batch["columns"])
    declared = warehouse.domain.delivered_names
    known = [c for c in columns if c in declared]
    raw = warehouse.read_partition(
        warehouse.raw_observations, day, columns=["row_number", *known, "extra"], order_by=["row_number"]
    )
    frame = raw[["row_number", *known]].copy()
    unknown = [c for c in columns if c not in declared]
    if unknown:
        extra = pd.DataFrame([json.loads(e) if e else {} for e in raw["extra"]], index=raw.index)
        for column in unknown:
            frame[column] = extra.get(column)
    return batch, frame


def to_typed(delivered: pd.DataFrame, domain: Domain) -> pd.DataFrame:
    """Parse text into the declared types; what does not parse becomes missing (the suites flag it
    first). Text columns stay as delivered."""
    typed = pd.DataFrame({"row_number": delivered["row_number"].astype("int64")})
    for column in domain.delivered:
        values = delivered[column.name]
        if column.dtype == TIMESTAMP:
            typed[column.name] = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
        elif column.dtype in (FLOAT, INTEGER):
            typed[column.name] = pd.to_numeric(values.str.strip(), errors="coerce").astype("float64")
        else:
            typed[column.name] = values
    return typed


def _published_elsewhere(warehouse: Warehouse, day: dt.date) -> list[str]:
    id_ = warehouse.domain.id
    r, o = warehouse.raw_observations.alias("r"), warehouse.observations.alias("o")
    query = (
        select(r.c[id_].label("id"))
        .join(o, o.c[id_] == r.c[id_])
        .where(r.c.sample_date == day, o.c.sample_date != day)
        .distinct()
    )
    return sorted(row["id"] for row in warehouse.fetch(query))


def validate(
    warehouse: Warehouse,
    day: dt.date,
    *,
    gx_root: Path,
    tolerance: float,
    as_of: dt.datetime,
) -> tuple[str, Verdict]:
    """Validate the landed day and record the verdict (quarantine rows, batch status) atomically.

    Returns the batch id and the verdict. When the verdict is ``quarantine`` the day's
    ``observations`` and what was derived from them (its ``features``, ``predictions`` and
    ``prediction_batches``) are removed in the same transaction: a re-run that now fails never
    leaves the rows of an earlier, different delivery published, featurised or reported as scored.
    The delivery itself stays in ``raw_observations`` and the quarantine.
    """
    from expectations import raw_observations as raw_suites  # GX: only the tasks that validate import it

    domain = warehouse.domain
    batch, delivered = delivered_frame(warehouse, day)
    batch_id = batch["batch_id"]
    runner = GXRunner(gx_root)
    failures, url = runner.validate(
        raw_suites.delivered_suite(domain),
        delivered,
        run_name=batch_id,
        run_time=as_of,
        parameters={"published_elsewhere": _published_elsewhere(warehouse, day)},
    )
    urls = [url] if url else []
    if not any(f.scope == "batch" for f in failures):
        start, end = day_bounds(day, domain.timezone)
        more, url = runner.validate(
            raw_suites.values_suite(domain),
            to_typed(delivered, domain),
            run_name=batch_id,
            run_time=as_of,
            parameters={"day_start": start, "day_end": end},
        )
        failures += more
        urls += [url] if url else []
    verdict = decide(len(delivered), failures, tolerance)
    verdict = replace(verdict, validation_urls=tuple(urls))
    q_batch, q_rows = quarantine.records(day, batch_id, RAW, verdict, delivered, as_of, id_column=domain.id)
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
            validation_url=" ".join(urls) or None,
        )
    return batch_id, verdict


# --- publish ---------------------------------------------------------------------------------


def publish(warehouse: Warehouse, day: dt.date, *, as_of: dt.datetime) -> dict[str, Any]:
    """Publish the validated rows of the day to ``observations`` (replacing the day's rows)."""
    batch, delivered = delivered_frame(warehouse, day)
    if batch["status"] == "quarantined":
        raise IngestError(f"batch {batch['batch_id']} ({day}) is quarantined: nothing to publish")
    if batch["status"] == "landed" or batch["validated_at"] is None:
        raise IngestError(f"batch {batch['batch_id']} ({day}) has not been validated: run validate first")
    held = warehouse.read_partition(quarantine_rows, day, columns=["table_name", "batch_id", "row_number"])
    held = held[(held["table_name"] == RAW) & (held["batch_id"] == batch["batch_id"])]
    typed = to_typed(delivered, warehouse.domain)
    typed = typed[~typed["row_number"].isin(held["row_number"])]
    rows = typed[list(warehouse.domain.delivered_names)].copy()
    rows.insert(0, "sample_date", day)
    rows.insert(1, "batch_id", batch["batch_id"])
    rows["published_at"] = as_of
    with warehouse.transaction() as tx:
        published = tx.replace_partition(warehouse.observations, day, rows)
        tx.update_partition(ingest_batches, day, status="published", published_rows=published)
    return {
        "day": day.isoformat(),
        "batch_id": batch["batch_id"],
        "rows_published": published,
        "rows_quarantined": int(batch["quarantined_rows"] or 0),
    }


# --- labels ----------------------------------------------------------------------------------


def ingest_labels(
    warehouse: Warehouse,
    source: Source,
    day: dt.date,
    *,
    gx_root: Path,
    tolerance: float,
    as_of: dt.datetime,
) -> tuple[dict[str, Any], Verdict]:
    """Store the labels that arrived on ``day``; invalid rows go to quarantine."""
    domain = warehouse.domain
    id_, label, labelled_at = domain.label_columns
    frame = source.fetch_labels(day, as_of)
    batch_id = batch_id_for(f"{source.name}-labels", day, frame)
    delivered = frame.reset_index(drop=True)
    delivered.insert(0, "row_number", np.arange(len(delivered), dtype="int64"))
    for column in delivered.columns.drop("row_number"):
        delivered[column] = _as_text(delivered[column])
    if len(delivered):
        from expectations import labels as label_suites  # GX: only when there are labels to check

        failures, url = GXRunner(gx_root).validate(
            label_suites.labels_suite(domain), delivered, run_name=batch_id, run_time=as_of
        )
        verdict = decide(len(delivered), failures, tolerance)
        verdict = replace(verdict, validation_urls=(url,) if url else ())
    else:
        verdict = Verdict(PUBLISH, "no labels arrived", 0)
    good = delivered
    if verdict.decision == QUARANTINE:
        good = delivered.iloc[0:0]
    elif verdict.decision == PARTIAL:
        good = delivered[~delivered["row_number"].isin(verdict.bad_rows)]
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
    q_batch, q_rows = quarantine.records(day, batch_id, LABELS, verdict, delivered, as_of, id_column=id_)
    with warehouse.transaction() as tx:
        stored = tx.replace_partition(LABELS, day, rows)
        quarantine.write(tx, day, LABELS, verdict, q_batch, q_rows)
    summary = {
        "day": day.isoformat(),
        "batch_id": batch_id,
        "labels": stored,
        "rows_quarantined": verdict.quarantined_rows,
    }
    return summary, verdict
