"""Recording what validation held back: one ``quarantine`` row per batch and table, and every held
row in ``quarantine_rows`` as delivered (JSON), with the rules it broke and the file and record it
came from. Nothing is dropped."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from sqlalchemy import select

from sluice.tables import quarantine, quarantine_rows
from sluice.transaction import Transaction
from sluice.verdict import PUBLISH, QUARANTINE, Verdict


def urls(value: str | None) -> list[str]:
    """The validation pages a ``validation_url`` column holds: a JSON list (older rows: URLs
    separated by spaces, which a ``file://`` URI never contains)."""
    if not value:
        return []
    if value.startswith("["):
        return [str(u) for u in json.loads(value)]
    return value.split()


def url_list(pages: tuple[str, ...] | list[str]) -> str | None:
    return json.dumps(list(pages), separators=(",", ":")) if pages else None


def held_rows(
    day: dt.date,
    batch_id: str,
    table: str,
    delivered: pd.DataFrame,
    rules: list[str],
    origin: pd.DataFrame | None,
    id_column: str,
) -> pd.DataFrame:
    """``quarantine_rows`` rows for ``delivered`` (indexed by row number), one rule text per row."""
    payloads = delivered.astype(object).where(delivered.notna(), None)
    source = origin.reindex(delivered.index) if origin is not None else None
    return pd.DataFrame(
        {
            "sample_date": [day] * len(delivered),
            "batch_id": batch_id,
            "table_name": table,
            "row_number": delivered.index.to_numpy(dtype="int64"),
            "sample_id": delivered[id_column].to_numpy() if id_column in delivered else None,
            "source_file": source["source_file"].to_numpy() if source is not None else None,
            "source_row": source["source_row"].to_numpy() if source is not None else None,
            "failed_rules": rules,
            "payload": [json.dumps(r, default=str) for r in payloads.to_dict("records")],
        }
    )


def records(
    day: dt.date,
    batch_id: str,
    table: str,
    verdict: Verdict,
    delivered: pd.DataFrame,
    as_of: dt.datetime,
    id_column: str = "sample_id",
    origin: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``quarantine`` row and the ``quarantine_rows`` rows for a verdict on ``delivered``.

    ``delivered`` is indexed by the row's number in the batch; its ``id_column`` (the domain's
    identifier) is kept as each held row's ``sample_id``. ``origin`` (same index) names each row's
    ``source_file`` and ``source_row``.
    """
    batch = pd.DataFrame(
        [
            {
                "sample_date": day,
                "batch_id": batch_id,
                "table_name": table,
                "scope": "batch" if verdict.decision == QUARANTINE else "rows",
                "reason": verdict.reason,
                "failed_expectations": json.dumps([f.record() for f in verdict.failures]),
                "row_count": verdict.rows,
                "quarantined_rows": verdict.quarantined_rows,
                "validation_url": url_list(verdict.validation_urls),
                "quarantined_at": as_of,
            }
        ]
    )
    held = delivered if verdict.decision == QUARANTINE else delivered[delivered.index.isin(verdict.bad_rows)]
    rules = ["; ".join(verdict.bad_rows.get(int(n), ())) or f"batch: {verdict.reason}" for n in held.index]
    return batch, held_rows(day, batch_id, table, held, rules, origin, id_column)


def write(
    tx: Transaction, day: dt.date, table: str, verdict: Verdict, batch: pd.DataFrame, rows: pd.DataFrame
) -> None:
    """Replace the day's quarantine for ``table`` (a batch that passed leaves none)."""
    if verdict.decision == PUBLISH:
        tx.delete_partition(quarantine, day, table_name=table)
    else:
        tx.replace_partition(quarantine, day, batch, table_name=table)
    tx.replace_partition(quarantine_rows, day, rows, table_name=table)


def add(
    tx: Transaction,
    day: dt.date,
    table: str,
    batch_id: str,
    rows: pd.DataFrame,
    failure: dict,
    reason: str,
    total: int,
    as_of: dt.datetime,
) -> None:
    """Add held rows to the day's quarantine after validation (a publish that finds rows it may
    not write): the rows, and the batch's record (created when validation held nothing back)."""
    q = quarantine.c
    current = tx.conn.execute(
        select(q.failed_expectations, q.quarantined_rows, q.reason).where(
            q.sample_date == day, q.table_name == table
        )
    ).first()
    tx.insert(quarantine_rows, rows)
    if current is None:
        record = {
            "sample_date": day,
            "batch_id": batch_id,
            "table_name": table,
            "scope": "rows",
            "reason": reason,
            "failed_expectations": json.dumps([failure]),
            "row_count": total,
            "quarantined_rows": len(rows),
            "validation_url": None,
            "quarantined_at": as_of,
        }
        tx.insert(quarantine, pd.DataFrame([record]))
        return
    tx.update_partition(
        quarantine,
        day,
        where={"table_name": table},
        failed_expectations=json.dumps([*json.loads(current.failed_expectations), failure]),
        quarantined_rows=current.quarantined_rows + len(rows),
        reason=f"{current.reason}; {reason}",
    )
