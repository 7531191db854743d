"""Monitoring decisions: bounded samples, thresholds, alerts and the retraining cooldown.

The figures themselves (drift per feature, prediction drift, data quality, performance on labelled
days) come from Evidently and the warehouse; this module holds the pure rules applied to them, so
that they can be tested without either: which figures cross their threshold (an :class:`Alert`
naming the day, metric, column, value and threshold), whether an alert asks for retraining given
the last request (the cooldown), and how a large day is sampled to a bounded, reproducible size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

DRIFT_SHARE = "drift_share"
PREDICTION_DRIFT = "prediction_drift"
ACCURACY_DROP = "accuracy_drop"
QUARANTINE_RATE = "quarantine_rate"

RETRAINING_METRICS = (DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP)
"""Metrics whose alert asks for retraining; a quarantine-rate alert is about the data source."""


class MonitoringError(ValueError):
    """A monitoring setting or input is unusable; the message names it."""


@dataclass(frozen=True)
class Thresholds:
    """When a figure becomes an alert. Each is compared with ``>`` (over the threshold alerts)."""

    drift_share: float = 0.3
    """Share of the features whose distribution drifted from the reference."""
    prediction_drift: float = 0.1
    """Drift score of the model's scores against its hold-out scores."""
    accuracy_drop: float = 0.05
    """Accuracy below the champion's hold-out accuracy, on days whose labels have arrived."""
    quarantine_rate: float = 0.05
    """Share of the delivered rows held back by validation."""
    cooldown_days: int = 7
    """Days after a retraining request during which another alert does not request again."""

    def __post_init__(self) -> None:
        for name in (DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP, QUARANTINE_RATE):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise MonitoringError(f"threshold {name}={value} must be between 0 and 1")
        if self.cooldown_days < 0:
            raise MonitoringError(f"cooldown_days={self.cooldown_days} must be 0 or more")


@dataclass(frozen=True)
class Alert:
    day: dt.date
    metric: str
    value: float
    threshold: float
    column: str = ""

    @property
    def asks_for_retraining(self) -> bool:
        return self.metric in RETRAINING_METRICS

    def message(self) -> str:
        what = f"{self.metric} of {self.column}" if self.column else self.metric
        return f"{self.day}: {what} is {self.value:.4g}, over the threshold {self.threshold:.4g}"

    def to_dict(self) -> dict:
        return asdict(self) | {"day": self.day.isoformat()}


def alerts(day: dt.date, figures: dict[str, float | None], thresholds: Thresholds) -> list[Alert]:
    """The figures of ``day`` over their thresholds. A figure that could not be computed (None:
    no labels yet, no predictions) raises no alert."""
    unknown = set(figures) - {DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP, QUARANTINE_RATE}
    if unknown:
        raise MonitoringError(f"no threshold for {sorted(unknown)}")
    return [
        Alert(day, metric, float(value), getattr(thresholds, metric))
        for metric, value in figures.items()
        if value is not None and value > getattr(thresholds, metric)
    ]


def retraining_due(
    found: Iterable[Alert], day: dt.date, last_request: dt.date | None, cooldown_days: int
) -> bool:
    """Whether ``day``'s alerts should request retraining: one of them is about the model or its
    inputs, and the last request (if any, and not later than ``day``) is at least
    ``cooldown_days`` old. A persistent drift alerts every day but requests once per cooldown."""
    if not any(alert.asks_for_retraining for alert in found):
        return False
    if last_request is None or last_request > day:  # a request "in the future" is a backfill's
        return True
    return (day - last_request).days >= cooldown_days


def bounded_sample(frame: pd.DataFrame, max_rows: int, seed: int) -> tuple[pd.DataFrame, int]:
    """At most ``max_rows`` rows of ``frame``, the same ones for the same seed; and the sample size.

    Drift statistics over a few tens of thousands of rows are as decisive as over a million, at a
    fraction of the time and memory; the size is recorded next to every figure.
    """
    if max_rows < 1:
        raise MonitoringError(f"max_rows={max_rows} must be at least 1")
    if len(frame) <= max_rows:
        return frame, len(frame)
    sample = frame.sample(n=max_rows, random_state=seed).sort_index()
    return sample, max_rows


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    score: float
    method: str
    threshold: float

    @property
    def drifted(self) -> bool:
        # Evidently's distance methods (Wasserstein, Jensen-Shannon, PSI) drift when the score is
        # over the threshold; its p-value tests (K-S, chi-squared) when the p-value is under it
        return self.score < self.threshold if "p_value" in self.method else self.score > self.threshold


@dataclass(frozen=True)
class DriftResult:
    columns: tuple[ColumnDrift, ...]
    reference_rows: int
    current_rows: int

    @property
    def share(self) -> float:
        """Share of the columns that drifted."""
        return sum(c.drifted for c in self.columns) / len(self.columns) if self.columns else 0.0

    def most_drifted(self, n: int = 5) -> list[ColumnDrift]:
        return sorted(self.columns, key=lambda c: (not c.drifted, -c.score))[:n]


def data_drift(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], html_path=None
) -> DriftResult:
    """Per-column drift of ``current`` against ``reference`` with Evidently's ``DataDriftPreset``
    (which picks each column's test by its type and the number of rows); the HTML report is saved
    to ``html_path`` when given."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    missing = [c for c in columns if c not in reference or c not in current]
    if missing:
        raise MonitoringError(f"columns to check for drift are missing: {missing}")
    if reference.empty or current.empty:
        raise MonitoringError(
            f"drift needs rows on both sides: reference {len(reference)}, current {len(current)}"
        )
    definition = DataDefinition(numerical_columns=list(columns))
    snapshot = Report([DataDriftPreset(columns=list(columns))]).run(
        Dataset.from_pandas(current[list(columns)], data_definition=definition),
        Dataset.from_pandas(reference[list(columns)], data_definition=definition),
    )
    found = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            found.append(
                ColumnDrift(
                    config["column"], float(metric["value"]), config["method"], float(config["threshold"])
                )
            )
    if html_path is not None:
        snapshot.save_html(str(html_path))
    return DriftResult(tuple(found), len(reference), len(current))


PERFORMANCE_METRICS = ("accuracy", "f1", "roc_auc")


def served_performance(
    warehouse, first: dt.date, last: dt.date, labels_as_of: dt.date, model_name: str, min_rows: int = 50
) -> pd.DataFrame:
    """How the predictions that were served did, per sample day of ``first``..``last``, against the
    labels that had arrived by ``labels_as_of``.

    The served version of a day is the one that scored it last (``prediction_batches``). Days with
    fewer than ``min_rows`` labelled predictions get no figures (their labels are still arriving).
    Columns: sample_date, model_version, labelled_rows, accuracy, f1, roc_auc.
    """
    from sqlalchemy import and_, func, select

    from sluice.training import metric_value
    from sluice.warehouse import labels, prediction_batches, predictions

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
    # a sample labelled twice (a correction) counts with its newest label
    label_rank = (
        select(
            lab.sample_id,
            lab.label,
            func.row_number().over(partition_by=lab.sample_id, order_by=lab.label_date.desc()).label("rank"),
        )
        .where(lab.label_date <= labels_as_of)
        .subquery()
    )
    query = (
        select(p.sample_date, p.model_version, p.score, label_rank.c.label)
        .join(served, and_(served.c.sample_date == p.sample_date, served.c.model_version == p.model_version))
        .join(label_rank, and_(label_rank.c.sample_id == p.sample_id, label_rank.c.rank == 1))
        .where(p.sample_date.between(first, last), p.model_name == model_name)
    )
    rows = pd.DataFrame(warehouse.fetch(query), columns=["sample_date", "model_version", "score", "label"])
    out = []
    for (day, version), group in rows.groupby(["sample_date", "model_version"], sort=True):
        y, score = group["label"].to_numpy(dtype=int), group["score"].to_numpy(dtype=float)
        enough = len(group) >= min_rows
        figures = {
            m: (metric_value(m, y, score) if enough and (m != "roc_auc" or len(set(y)) == 2) else None)
            for m in PERFORMANCE_METRICS
        }
        out.append({"sample_date": day, "model_version": int(version), "labelled_rows": len(group)} | figures)
    return pd.DataFrame(out, columns=["sample_date", "model_version", "labelled_rows", *PERFORMANCE_METRICS])


def quarantine_rate(warehouse, day: dt.date) -> tuple[float | None, int]:
    """Share of ``day``'s delivered rows that validation held back, and the rows delivered; None
    when the day has not been delivered or validated yet."""
    from sqlalchemy import select

    from sluice.warehouse import ingest_batches

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
