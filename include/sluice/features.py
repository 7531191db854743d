"""Model inputs for one day of published observations (the ``features`` table).

Feature set ``v1`` (bump :data:`FEATURE_VERSION` when a definition changes; every row carries it):

* the nine measurements as published, **missing values kept missing**: imputation and scaling
  learn from data, so they live inside the model pipeline and are fitted on the training window
  only (no leakage from the hold-out days or the future);
* ``ph_from_neutral`` = |ph − 7| (drinking water is judged by its distance from neutral);
* ``missing_measurements``: how many of the nine are missing (a struggling sensor or lab);
* per station, over the ``history_days`` days **before** the sample's day: the number of samples
  (``station_history_samples``) and the mean of each measurement (``<m>_station_mean``). A sensor
  that drifts or sticks shows up as a reading far from its own station's recent past.

Nothing here reads a day after the one being built: the station history covers
``[day - history_days, day - 1]`` and the day's own rows are only used row by row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, select

from expectations import features as feature_suites
from sluice import quarantine
from sluice.schema import FEATURES, MEASUREMENTS, STATION_MEANS
from sluice.validation import PUBLISH, QUARANTINE, GXRunner, Verdict, decide
from sluice.warehouse import Warehouse, feature_batches, features, ingest_batches, observations

FEATURE_VERSION = "v1"
DEFAULT_HISTORY_DAYS = 7
TABLE = "features"
KEYS = ("sample_date", "sample_id", "station_id", "sampled_at")


class FeatureError(RuntimeError):
    """Features cannot be built for the day asked; the message says why and what to do."""


def history_window(day: dt.date, history_days: int) -> tuple[dt.date, dt.date]:
    """The first and last day of the station history used for ``day``: strictly before it."""
    if history_days < 1:
        raise ValueError(f"history_days={history_days} must be at least 1")
    return day - dt.timedelta(days=history_days), day - dt.timedelta(days=1)


def station_history(warehouse: Warehouse, day: dt.date, history_days: int) -> pd.DataFrame:
    """Per station over the history window: ``station_history_samples`` and ``<m>_station_mean``.

    Aggregated in the database (one row per station comes back, however large the days are).
    Means skip missing readings; a station without history is absent from the result.
    """
    first, last = history_window(day, history_days)
    o = observations.c
    query = (
        select(
            o.station_id,
            func.count().label("station_history_samples"),
            *(func.avg(o[m]).label(mean) for m, mean in zip(MEASUREMENTS, STATION_MEANS, strict=True)),
        )
        .where(and_(o.sample_date >= first, o.sample_date <= last))
        .group_by(o.station_id)
    )
    frame = pd.DataFrame(
        warehouse.fetch(query), columns=["station_id", "station_history_samples", *STATION_MEANS]
    )
    return frame.astype({c: "float64" for c in ["station_history_samples", *STATION_MEANS]})


def row_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Features computed from each sample alone (pure; returns a new frame)."""
    out = pd.DataFrame(index=rows.index)
    for m in MEASUREMENTS:
        out[m] = rows[m].astype("float64")
    out["ph_from_neutral"] = (out["ph"] - 7.0).abs()
    out["missing_measurements"] = out[list(MEASUREMENTS)].isna().sum(axis=1).astype("float64")
    return out


def build_features(
    day_rows: pd.DataFrame, history: pd.DataFrame, day: dt.date, version: str = FEATURE_VERSION
) -> pd.DataFrame:
    """The ``features`` rows for one day's observations and its station history (pure).

    ``history`` is :func:`station_history`'s result for ``day``. Rows of other days are refused:
    a feature for day D is built from D's samples and the days before D, never from later ones.
    """
    if len(day_rows):
        days = set(pd.to_datetime(day_rows["sample_date"]).dt.date)
        if days != {day}:
            raise FeatureError(f"features for {day}: got observations of {sorted(map(str, days))}")
    out = day_rows[list(KEYS)].reset_index(drop=True)
    out.insert(4, "feature_version", version)
    derived = row_features(day_rows.reset_index(drop=True))
    stations = history.set_index("station_id") if len(history) else None
    joined = (
        out[["station_id"]].join(stations, on="station_id")
        if stations is not None
        else pd.DataFrame({c: np.nan for c in ["station_history_samples", *STATION_MEANS]}, index=out.index)
    )
    derived["station_history_samples"] = joined["station_history_samples"].fillna(0.0).astype("float64")
    for mean in STATION_MEANS:
        derived[mean] = joined[mean].astype("float64")
    return pd.concat([out, derived[list(FEATURES)]], axis=1)


def unbuilt_days(warehouse: Warehouse, up_to: dt.date, lookback_days: int) -> list[dt.date]:
    """Days in ``[up_to - lookback_days, up_to]`` with published observations but no features built.

    A run triggered by new observations also builds these, so a day whose trigger was lost (or
    whose features run failed) is caught up by the next run instead of staying without features.
    """
    first = up_to - dt.timedelta(days=lookback_days)
    b = ingest_batches.c
    query = (
        select(b.sample_date)
        .where(b.sample_date >= first, b.sample_date <= up_to, b.status == "published")
        .where(
            ~select(feature_batches.c.sample_date)
            .where(feature_batches.c.sample_date == b.sample_date)
            .exists()
        )
        .order_by(b.sample_date)
    )
    return [row["sample_date"] for row in warehouse.fetch(query)]


@dataclass(frozen=True)
class FeatureDay:
    """What building one day's features did."""

    day: dt.date
    version: str
    rows: int
    verdict: Verdict
    batch_id: str

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "feature_version": self.version,
            "rows": self.rows if self.verdict.decision == PUBLISH else 0,
            "decision": self.verdict.decision,
        }


def build_day(
    warehouse: Warehouse,
    day: dt.date,
    *,
    history_days: int,
    gx_root: Path,
    as_of: dt.datetime,
    version: str = FEATURE_VERSION,
) -> FeatureDay:
    """Build, validate and write the day's features (replacing the day's rows) in one transaction.

    When validation fails the day's features are removed (no stale rows stay visible), the rows
    go to quarantine with the GX result, and the returned verdict says ``quarantine``.
    """
    batch = warehouse.fetch(select(ingest_batches).where(ingest_batches.c.sample_date == day))
    day_rows = warehouse.read_partition(observations, day, order_by=["sample_id"])
    if day_rows.empty:
        status = batch[0]["status"] if batch else "not ingested"
        raise FeatureError(
            f"no published observations for {day} (ingest status: {status}): "
            "run sluice_ingest for that day first"
        )
    frame = build_features(day_rows, station_history(warehouse, day, history_days), day, version)
    frame["built_at"] = as_of
    batch_id = f"features-{version}-{batch[0]['batch_id'] if batch else day.isoformat()}"
    checked = frame.drop(columns=["sample_date", "built_at"])
    checked.insert(0, "row_number", np.arange(len(checked), dtype="int64"))
    failures, url = GXRunner(gx_root).validate(
        feature_suites.features_suite(version), checked, run_name=batch_id, run_time=as_of
    )
    verdict = replace(decide(len(frame), failures, tolerance=0.0), validation_urls=(url,) if url else ())
    q_batch, q_rows = quarantine.records(day, batch_id, TABLE, verdict, checked, as_of)
    record = pd.DataFrame(
        [
            {
                "sample_date": day,
                "feature_version": version,
                "history_days": history_days,
                "row_count": len(frame),
                "status": "quarantined" if verdict.decision == QUARANTINE else "published",
                "validation_url": url,
                "built_at": as_of,
            }
        ]
    )
    with warehouse.transaction() as tx:
        if verdict.decision == QUARANTINE:
            tx.delete_partition(features, day)
        else:
            tx.replace_partition(features, day, frame)
        quarantine.write(tx, day, TABLE, verdict, q_batch, q_rows)
        tx.replace_partition(feature_batches, day, record)
    return FeatureDay(day, version, len(frame), verdict, batch_id)


def with_unbuilt(warehouse: Warehouse, days: list[dt.date], catch_up_days: int) -> list[dt.date]:
    """``days`` plus the days of the ``catch_up_days`` before the newest of them that were published
    without features (see :func:`unbuilt_days`), oldest first."""
    if not catch_up_days:
        return sorted(days)
    return sorted(set(days) | set(unbuilt_days(warehouse, max(days), catch_up_days)))


def summary(results: list[FeatureDay]) -> dict[str, Any]:
    """What the ``features`` asset event says about a run's days (all of them built)."""
    built = [r.summary() for r in results]
    return {
        "day": built[-1]["day"],
        "days": [b["day"] for b in built],
        "rows": sum(b["rows"] for b in built),
        "feature_version": built[-1]["feature_version"],
    }
