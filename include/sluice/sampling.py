"""What monitoring reads from the warehouse: bounded, reproducible samples of a day's rows, the
predictions served with the labels that arrived since, and the share of a day validation held back.
Memory stays bounded however large the days (rows are read in chunks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from sluice.alerting import MonitoringError


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


PERFORMANCE_METRICS = ("accuracy", "f1", "roc_auc")


def served_labelled(
    warehouse, first: dt.date, last: dt.date, labels_as_of: dt.date, model_name: str
) -> pd.DataFrame:
    """The predictions that were served for the sample days ``first``..``last`` that have a label
    by ``labels_as_of``: sample_date, model_version, score, label.

    The served version of a day is the one that scored it last (``prediction_batches``); a sample
    labelled twice (a correction) counts with its newest label.
    """
    from sqlalchemy import and_, func, select

    from sluice.tables import labels, prediction_batches, predictions

    b, p, lab = prediction_batches.c, predictions.c, labels.c
    newest = (
        select(b.sample_date, func.max(b.scored_at).label("scored_at"))
        .where(b.sample_date.between(first, last), b.model_name == model_name)
        .group_by(b.sample_date)
        .subquery()
    )
    served = (
        select(b.sample_date, b.model_version)
        .join(newest, and_(newest.c.sample_date == b.sample_date, newest.c.scored_at == b.scored_at))
        .where(b.model_name == model_name)
        .subquery()
    )
    scored_ids = select(p.sample_id).where(p.sample_date.between(first, last), p.model_name == model_name)
    label_rank = (
        select(
            lab.sample_id,
            lab.label,
            func.row_number().over(partition_by=lab.sample_id, order_by=lab.label_date.desc()).label("rank"),
        )
        # only these days' samples (the sample_id index), not every label ever received
        .where(lab.label_date <= labels_as_of, lab.sample_id.in_(scored_ids))
        .subquery()
    )
    query = (
        select(p.sample_date, p.model_version, p.score, label_rank.c.label)
        .join(served, and_(served.c.sample_date == p.sample_date, served.c.model_version == p.model_version))
        .join(label_rank, and_(label_rank.c.sample_id == p.sample_id, label_rank.c.rank == 1))
        .where(p.sample_date.between(first, last), p.model_name == model_name)
    )
    return pd.DataFrame(warehouse.fetch(query), columns=["sample_date", "model_version", "score", "label"])


def performance_of(rows: pd.DataFrame, min_rows: int = 50) -> dict[str, float | None]:
    """Accuracy, F1 and ROC AUC of labelled predictions (``score``, ``label``); None for each when
    there are fewer than ``min_rows`` (and for ROC AUC when only one class is present)."""
    from sluice.training import metric_value

    y, score = rows["label"].to_numpy(dtype=int), rows["score"].to_numpy(dtype=float)
    enough = len(rows) >= min_rows
    return {
        m: (metric_value(m, y, score) if enough and (m != "roc_auc" or len(set(y)) == 2) else None)
        for m in PERFORMANCE_METRICS
    }


def quarantine_rate(warehouse, day: dt.date) -> tuple[float | None, int]:
    """Share of ``day``'s delivered rows that validation held back, and the rows delivered; None
    when the day has not been delivered or validated yet."""
    from sqlalchemy import select

    from sluice.tables import ingest_batches

    rows = warehouse.fetch(select(ingest_batches).where(ingest_batches.c.sample_date == day))
    if not rows or rows[0]["validated_at"] is None:
        return None, 0
    batch = rows[0]
    delivered = int(batch["row_count"])
    if delivered == 0:
        return 0.0, 0
    return int(batch["quarantined_rows"] or 0) / delivered, delivered


def missing_shares(frame: pd.DataFrame, columns: Iterable[str]) -> dict[str, float]:
    """Share of missing values per column (0 for an empty frame)."""
    return {c: float(frame[c].isna().mean()) if len(frame) else 0.0 for c in columns}


def sample_days(
    warehouse,
    table: str,
    days: Iterable[dt.date],
    columns: list[str],
    max_rows: int,
    seed: int,
    chunk_size: int = 100_000,
) -> tuple[pd.DataFrame, int]:
    """A reproducible sample of at most ``max_rows`` rows of ``table`` over ``days``, read in chunks
    (memory stays near ``max_rows + chunk_size`` rows however large the days), and the number of
    rows it was drawn from.

    Rows are kept by a seeded hash of their ``sample_id``: the same rows for the same seed whatever
    order the database returns them in, and whatever the chunk size.
    """
    if max_rows < 1:
        raise MonitoringError(f"max_rows={max_rows} must be at least 1")
    wanted = list(dict.fromkeys(["sample_id", *columns]))
    kept: pd.DataFrame | None = None
    total = 0
    key = f"sluice{seed:016d}"[-16:]
    for day in days:
        for arrow in warehouse.arrow_chunks(table, day, wanted, chunk_size):
            chunk = arrow.to_pandas()
            total += len(chunk)
            chunk["_key"] = pd.util.hash_pandas_object(
                chunk["sample_id"], index=False, hash_key=key
            ).to_numpy()
            kept = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
            if len(kept) > max_rows:
                kept = kept.nsmallest(max_rows, "_key")
    if kept is None:
        return pd.DataFrame(columns=wanted), 0
    kept = kept.sort_values("_key").drop(columns="_key").reset_index(drop=True)
    return kept[wanted], total


def served_scores(
    warehouse, day: dt.date, model_name: str, version: int, max_rows: int, seed: int
) -> pd.Series:
    """A bounded sample of ``day``'s scores by ``version`` (read in chunks, like the features)."""
    columns = ["score", "model_name", "model_version"]
    # rows of other versions (a re-scoring) share the day: over-sample, then keep this version's
    frame, _ = sample_days(warehouse, "predictions", [day], columns, max_rows * 2, seed)
    frame = frame[(frame["model_name"] == model_name) & (frame["model_version"] == version)]
    return frame["score"].astype(float).head(max_rows)
