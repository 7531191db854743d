"""Recording what validation held back: one ``quarantine`` row per batch and table, and every held
row in ``quarantine_rows`` as delivered (JSON), with the rules it broke. Nothing is dropped."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from sluice.validation import PUBLISH, QUARANTINE, Verdict
from sluice.warehouse import Transaction, quarantine, quarantine_rows


def records(
    day: dt.date,
    batch_id: str,
    table: str,
    verdict: Verdict,
    delivered: pd.DataFrame,
    as_of: dt.datetime,
    id_column: str = "sample_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``quarantine`` row and the ``quarantine_rows`` rows for a verdict on ``delivered``.

    ``delivered`` must have a ``row_number`` column (the row's position in the batch); its
    ``id_column`` (the domain's identifier) is kept as each held row's ``sample_id``.
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
                "validation_url": " ".join(verdict.validation_urls) or None,
                "quarantined_at": as_of,
            }
        ]
    )
    held = (
        delivered
        if verdict.decision == QUARANTINE
        else delivered[delivered["row_number"].isin(verdict.bad_rows)]
    )
    payload_columns = [c for c in held.columns if c != "row_number"]
    payloads = held[payload_columns].astype(object).where(held[payload_columns].notna(), None)
    rules = [
        "; ".join(verdict.bad_rows.get(int(n), ())) or f"batch: {verdict.reason}" for n in held["row_number"]
    ]
    rows = pd.DataFrame(
        {
            "sample_date": [day] * len(held),
            "batch_id": batch_id,
            "table_name": table,
            "row_number": held["row_number"].to_numpy(),
            "sample_id": held[id_column].to_numpy() if id_column in held else None,
            "failed_rules": rules,
            "payload": [json.dumps(r, default=str) for r in payloads.to_dict("records")],
        }
    )
    return batch, rows


def write(
    tx: Transaction, day: dt.date, table: str, verdict: Verdict, batch: pd.DataFrame, rows: pd.DataFrame
) -> None:
    """Replace the day's quarantine for ``table`` (a batch that passed leaves none)."""
    if verdict.decision == PUBLISH:
        tx.delete_partition(quarantine, day, table_name=table)
    else:
        tx.replace_partition(quarantine, day, batch, table_name=table)
    tx.replace_partition(quarantine_rows, day, rows, table_name=table)
