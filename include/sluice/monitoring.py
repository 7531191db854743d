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

from sluice.alerting import (
    ACCURACY_DROP,
    DRIFT_SCORE,
    DRIFT_SHARE,
    PREDICTION_DRIFT,
    QUARANTINE_RATE,
    RETRAINING_METRICS,
    MonitoringError,
    Thresholds,
)
from sluice.drift import (
    SCORE,
    DriftResult,
    calibrate,
    data_drift,
    day_level_columns,
    drift_columns,
    prediction_drift,
)
from sluice.modelstore import ModelStore


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

    @classmethod
    def from_dict(cls, data: dict) -> Alert:
        return cls(
            dt.date.fromisoformat(data["day"]),
            data["metric"],
            data["value"],
            data["threshold"],
            data["column"],
        )


def alerts(day: dt.date, figures: dict[str, float | None], thresholds: Thresholds) -> list[Alert]:
    """The figures of ``day`` over their thresholds. A figure that could not be computed (None:
    no labels yet, no predictions) raises no alert."""
    unknown = set(figures) - {DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP, QUARANTINE_RATE}
    if unknown:
        raise MonitoringError(f"no threshold for {sorted(unknown)}")
    found = (over(day, metric, value, getattr(thresholds, metric)) for metric, value in figures.items())
    return [alert for alert in found if alert]


def over(day: dt.date, metric: str, value: float | None, threshold: float, column: str = "") -> Alert | None:
    """An alert when ``value`` is over ``threshold``; None for no figure."""
    return (
        None if value is None or value <= threshold else Alert(day, metric, float(value), threshold, column)
    )


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


def served_performance(
    warehouse, first: dt.date, last: dt.date, labels_as_of: dt.date, model_name: str, min_rows: int = 50
) -> pd.DataFrame:
    """How the predictions that were served did, per sample day of ``first``..``last``, against the
    labels that had arrived by ``labels_as_of`` (see :func:`served_labelled`).

    Days with fewer than ``min_rows`` labelled predictions get no figures (their labels are still
    arriving). Columns: sample_date, model_version, labelled_rows, accuracy, f1, roc_auc.
    """
    rows = served_labelled(warehouse, first, last, labels_as_of, model_name)
    out = [
        {"sample_date": day, "model_version": int(version), "labelled_rows": len(group)}
        | performance_of(group, min_rows)
        for (day, version), group in rows.groupby(["sample_date", "model_version"], sort=True)
    ]
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


# --- one day's monitoring --------------------------------------------------------------------

RETRAIN_REQUESTED = "retrain_requested"
"""The ``monitoring_metrics`` row that records a retraining request (the cooldown reads it)."""

SPAN_DAY = "day"


def rolling_span(days: int) -> str:
    return f"rolling_{days}d"


@dataclass(frozen=True)
class Windows:
    """How much data each figure uses."""

    reference_rows: int = 20_000
    """Rows sampled from the champion's training days: the reference for data drift."""
    current_rows: int = 20_000
    """Rows sampled from the day (and, separately, from the rolling window)."""
    window_days: int = 7
    """The rolling window of recent days, for drift and for performance."""
    label_delay_days: int = 3
    """Performance is computed for the sample day this many days back, whose labels are in."""
    min_labelled_rows: int = 50
    """Fewer labelled predictions than this on a day: no performance figures for it."""
    min_labelled_days: int = 4
    """Labelled sample days since a change before retraining is requested (0: at once)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("reference_rows", "current_rows", "window_days", "min_labelled_rows"):
            if getattr(self, name) < 1:
                raise MonitoringError(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("label_delay_days", "min_labelled_days"):
            if getattr(self, name) < 0:
                raise MonitoringError(f"{name}={getattr(self, name)} must be 0 or more")


@dataclass(frozen=True)
class Champion:
    """What monitoring needs to know about the model in service, from its registry tags (which
    the training run set from its own parameters)."""

    model_name: str
    version: int
    train_days: tuple[dt.date, dt.date]
    holdout_days: tuple[dt.date, dt.date]
    holdout_accuracy: float | None
    feature_version: str | None = None

    @classmethod
    def from_tags(cls, model_name: str, version: int, tags: dict[str, str]) -> Champion:
        def day(key: str) -> dt.date:
            value = tags.get(f"sluice.{key}")
            if not value:
                raise MonitoringError(
                    f"{model_name} version {version} has no sluice.{key} tag: monitoring needs the "
                    "training and hold-out days that sluice_train records"
                )
            return dt.date.fromisoformat(value)

        accuracy = tags.get("sluice.holdout_accuracy")
        return cls(
            model_name,
            int(version),
            (day("train_first_day"), day("train_last_day")),
            (day("holdout_first_day"), day("holdout_last_day")),
            float(accuracy) if accuracy else None,
            tags.get("sluice.feature_version"),
        )

    def to_dict(self) -> dict:
        return {
            "model_name": self.model_name,
            "version": self.version,
            "train_days": [d.isoformat() for d in self.train_days],
            "holdout_days": [d.isoformat() for d in self.holdout_days],
            "holdout_accuracy": self.holdout_accuracy,
            "feature_version": self.feature_version,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Champion:
        return cls(
            data["model_name"],
            int(data["version"]),
            tuple(dt.date.fromisoformat(d) for d in data["train_days"]),
            tuple(dt.date.fromisoformat(d) for d in data["holdout_days"]),
            data["holdout_accuracy"],
            data.get("feature_version"),
        )


def champion(store: ModelStore, model_name: str) -> Champion | None:
    """The champion's monitoring facts (MLflow registry), or None when there is no champion."""
    from sluice import registry

    version = registry.alias_version(store, model_name, registry.CHAMPION)
    if version is None:
        return None
    tags = registry.model_version(store, model_name, version).tags
    return Champion.from_tags(model_name, version, dict(tags))


def holdout_accuracy(store: ModelStore, model_name: str, version: int) -> float | None:
    """A version's hold-out accuracy (its ``sluice.holdout_accuracy`` tag)."""
    from sluice import registry

    accuracy = registry.model_version(store, model_name, version).tags.get("sluice.holdout_accuracy")
    return float(accuracy) if accuracy else None


def scorer(store: ModelStore, model: Champion):
    """The champion's ``predict_proba`` for the positive class, loaded once from the registry."""
    from sluice import registry

    fitted = registry.load(store, model.model_name, model.version)
    return lambda frame: fitted.predict_proba(frame)[:, 1]


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass
class DayReport:
    """Everything one monitoring run found for ``day``."""

    day: dt.date
    rows: list[dict]
    """``monitoring_metrics`` rows (the day's, and the performance rows of ``labelled_day``)."""
    alerts: list[Alert]
    labelled_day: dt.date
    report_path: str | None = None
    drift: DriftResult | None = None

    def figure(self, metric: str, span: str = SPAN_DAY, column: str = "", day: dt.date | None = None):
        for row in self.rows:
            if (row["metric"], row["span"], row["column_name"], row["metric_date"]) == (
                metric,
                span,
                column,
                day or self.day,
            ):
                return row["value"]
        return None

    def summary(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "labelled_day": self.labelled_day.isoformat(),
            "drift_share": self.figure(DRIFT_SHARE),
            "prediction_drift": self.figure(PREDICTION_DRIFT, column=SCORE),
            "quarantine_rate": self.figure(QUARANTINE_RATE),
            "accuracy": self.figure("accuracy", day=self.labelled_day),
            "most_drifted": [c.column for c in self.drift.most_drifted(5) if c.drifted] if self.drift else [],
            "alerts": [a.message() for a in self.alerts],
            "report": self.report_path,
            "metrics": len(self.rows),
        }


def _row(
    day,
    metric,
    value,
    *,
    column="",
    span=SPAN_DAY,
    threshold=None,
    alert=False,
    sample_size=None,
    model_version=None,
) -> dict:
    return {
        "metric_date": day,
        "metric": metric,
        "column_name": column,
        "span": span,
        "value": None if value is None else float(value),
        "threshold": threshold,
        "alert": int(bool(alert)),
        "sample_size": sample_size,
        "model_version": model_version,
    }


def _scores(warehouse, day: dt.date, model_name: str, version: int, max_rows: int, seed: int) -> pd.Series:
    """A bounded sample of ``day``'s scores by ``version`` (read in chunks, like the features)."""
    columns = ["score", "model_name", "model_version"]
    # rows of other versions (a re-scoring) share the day: over-sample, then keep this version's
    frame, _ = sample_days(warehouse, "predictions", [day], columns, max_rows * 2, seed)
    frame = frame[(frame["model_name"] == model_name) & (frame["model_version"] == version)]
    return frame["score"].astype(float).head(max_rows)


class _Figures:
    """Collects a run's ``monitoring_metrics`` rows and the alerts among them."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.rows: list[dict] = []
        self.alerts: list[Alert] = []

    def add(self, day: dt.date, metric: str, value, **kw) -> None:
        self.rows.append(_row(day, metric, value, **kw))

    def judge(
        self, day: dt.date, metric: str, value, column: str = "", threshold: float | None = None, **kw
    ) -> None:
        """A figure with a threshold (the setting's, or ``threshold`` measured for this model):
        recorded, and an alert when over it."""
        threshold = getattr(self.thresholds, metric) if threshold is None else threshold
        found = over(day, metric, value, threshold, column)
        self.alerts += [found] if found else []
        self.add(day, metric, value, column=column, threshold=threshold, alert=bool(found), **kw)


def _quality(
    figures: _Figures,
    day: dt.date,
    current: pd.DataFrame,
    reference: pd.DataFrame,
    columns,
    categorical: Iterable[str] = (),
) -> None:
    """Gaps per column, and values outside what the model was trained on: outside the range of a
    numeric column, or a category the training days never had."""
    for column, share in missing_shares(current, columns).items():
        figures.add(day, "missing_share", share, column=column, sample_size=len(current))
    for column in columns:
        values, seen = current[column], reference[column]
        if column in categorical:
            outside = int((values.notna() & ~values.isin(set(seen.dropna()))).sum())
        else:
            outside = int(((values < seen.min()) | (values > seen.max())).sum())
        figures.add(day, "out_of_range", outside, column=column, sample_size=len(current))


def _performance(
    figures: _Figures, warehouse, day: dt.date, model: Champion, windows: Windows, holdout_accuracy
) -> dt.date:
    """Performance of what was served on the sample day whose labels are now in, and over the
    window ending there; the accuracy drop against the served version's hold-out accuracy."""
    labelled_day = day - dt.timedelta(days=windows.label_delay_days)
    first = labelled_day - dt.timedelta(days=windows.window_days - 1)
    served = served_labelled(warehouse, first, labelled_day, day, model.model_name)
    today = served[served["sample_date"] == labelled_day]
    if not len(today):
        return labelled_day
    version = int(today["model_version"].max())
    found = performance_of(today, windows.min_labelled_rows)
    for metric, value in found.items():
        figures.add(labelled_day, metric, value, sample_size=len(today), model_version=version)
    baseline = holdout_accuracy(version) if holdout_accuracy else None
    if baseline is not None and found["accuracy"] is not None:
        figures.judge(
            labelled_day,
            ACCURACY_DROP,
            baseline - found["accuracy"],
            sample_size=len(today),
            model_version=version,
        )
    for metric, value in performance_of(served, windows.min_labelled_rows).items():
        figures.add(
            labelled_day,
            metric,
            value,
            span=rolling_span(windows.window_days),
            sample_size=len(served),
            model_version=version,
        )
    return labelled_day


def measure_day(
    warehouse,
    day: dt.date,
    model: Champion,
    predict,
    thresholds: Thresholds,
    windows: Windows,
    reports_dir=None,
    holdout_accuracy=None,
) -> DayReport:
    """Every figure for ``day``: data drift of the day and of the rolling window against the
    champion's training days, prediction drift against the champion's scores on its hold-out
    (``predict`` scores a feature frame with the champion), data quality, and the performance of
    the predictions served for the sample day ``label_delay_days`` back, whose labels are in.

    ``holdout_accuracy(version)`` gives a version's hold-out accuracy (the served version of an
    older day may not be the champion). The HTML report goes to ``reports_dir/<day>.html``.
    """
    from pathlib import Path

    domain = warehouse.domain
    columns, drifting, version = list(domain.feature_names), drift_columns(domain), model.version
    categorical = set(domain.categorical_features)
    figures = _Figures(thresholds)
    rate, delivered = quarantine_rate(warehouse, day)
    figures.judge(day, QUARANTINE_RATE, rate, sample_size=delivered)

    def sample(days: list[dt.date], max_rows: int) -> tuple[pd.DataFrame, int]:
        return sample_days(warehouse, "features", days, [*columns, "sample_date"], max_rows, windows.seed)

    reference, _ = sample(_days(*model.train_days), windows.reference_rows)
    current, current_total = sample([day], windows.current_rows)
    figures.add(day, "rows", current_total, sample_size=current_total)
    drift = report_path = None
    if len(current) and len(reference):
        _quality(figures, day, current, reference, columns, categorical)
        if reports_dir is not None:
            Path(reports_dir).mkdir(parents=True, exist_ok=True)
            report_path = str(Path(reports_dir) / f"{day.isoformat()}.html")
        tests = calibrate(reference, drifting, categorical)
        daily = [c for c in drifting if c not in day_level_columns(reference, drifting, categorical)]
        drift = data_drift(
            reference,
            current,
            daily or drifting,
            html_path=report_path,
            summary=True,
            categorical=categorical,
            tests=tests,
            drift_share=thresholds.drift_share,
        )
        for c in drift.columns if daily else ():
            figures.add(
                day,
                DRIFT_SCORE,
                c.score,
                column=c.column,
                threshold=c.threshold,
                alert=c.drifted,
                sample_size=len(current),
                model_version=version,
            )
        if daily:  # a domain whose every feature is day-level is judged on the rolling window only
            figures.judge(day, DRIFT_SHARE, drift.share, sample_size=len(current), model_version=version)
        recent, _ = sample(_days(day - dt.timedelta(days=windows.window_days - 1), day), windows.current_rows)
        rolling = data_drift(
            reference,
            recent,
            drifting,
            categorical=categorical,
            tests=tests,
            drift_share=thresholds.drift_share,
        )
        figures.add(
            day,
            DRIFT_SHARE,
            rolling.share,
            span=rolling_span(windows.window_days),
            threshold=thresholds.drift_share,
            alert=rolling.share > thresholds.drift_share,
            sample_size=len(recent),
            model_version=version,
        )
    scores = _scores(warehouse, day, model.model_name, version, windows.current_rows, windows.seed)
    if len(scores):
        holdout, _ = sample(_days(*model.holdout_days), windows.reference_rows)
        if len(holdout):
            own = pd.concat([reference, holdout], ignore_index=True)
            own = pd.DataFrame({SCORE: predict(own[columns]), "sample_date": own["sample_date"]})
            [test] = calibrate(own, [SCORE], floor=thresholds.prediction_drift).values()
            drifted = prediction_drift(own[SCORE].tail(len(holdout)), scores, test.threshold)
            figures.judge(
                day,
                PREDICTION_DRIFT,
                drifted.score,
                column=SCORE,
                threshold=test.threshold,
                sample_size=len(scores),
                model_version=version,
            )
    labelled_day = _performance(figures, warehouse, day, model, windows, holdout_accuracy)
    return DayReport(day, figures.rows, figures.alerts, labelled_day, report_path, drift)


PERFORMANCE_ROWS = (*PERFORMANCE_METRICS, ACCURACY_DROP)
"""Rows written at the *sample* day whose labels arrived (by the run ``label_delay_days`` later)."""


def write_report(warehouse, report: DayReport, computed_at: dt.datetime) -> int:
    """Replace what an earlier run for the same day wrote, in one transaction: the day's figures,
    and the performance figures of its labelled day. The day's retraining request row is the
    request step's (:func:`record_request`)."""
    from sqlalchemy import delete

    from sluice.warehouse import monitoring_metrics

    m = monitoring_metrics.c
    frame = pd.DataFrame(report.rows, columns=list(_row(report.day, "", None))).assign(
        computed_at=computed_at
    )
    with warehouse.transaction() as tx:
        tx.conn.execute(
            delete(monitoring_metrics).where(
                m.metric_date == report.day, m.metric.not_in([*PERFORMANCE_ROWS, RETRAIN_REQUESTED])
            )
        )
        tx.conn.execute(
            delete(monitoring_metrics).where(
                m.metric_date == report.labelled_day, m.metric.in_(PERFORMANCE_ROWS)
            )
        )
        return tx.insert(monitoring_metrics, frame)


def last_request(warehouse, before: dt.date) -> dt.date | None:
    """The newest day before ``before`` on which retraining was requested."""
    from sqlalchemy import func, select

    from sluice.warehouse import monitoring_metrics

    m = monitoring_metrics.c
    return warehouse.scalar(
        select(func.max(m.metric_date)).where(m.metric == RETRAIN_REQUESTED, m.metric_date < before)
    )


def change_onset(warehouse, day: dt.date, lookback_days: int = 90) -> dt.date | None:
    """The first day of the run of consecutive days, ending at ``day``, that raised an alert asking
    for retraining (drift, prediction drift, accuracy drop); None when ``day`` raised none."""
    from sqlalchemy import select

    from sluice.warehouse import monitoring_metrics

    m = monitoring_metrics.c
    alerted = {
        row["metric_date"]
        for row in warehouse.fetch(
            select(m.metric_date).where(
                m.metric.in_(RETRAINING_METRICS),
                m.span == SPAN_DAY,
                m.alert == 1,
                m.metric_date.between(day - dt.timedelta(days=lookback_days), day),
            )
        )
    }
    if day not in alerted:
        return None
    onset = day
    while onset - dt.timedelta(days=1) in alerted:
        onset -= dt.timedelta(days=1)
    return onset


@dataclass(frozen=True)
class Request:
    """Whether ``day`` requests retraining, and why (or why not)."""

    due: bool
    reason: str
    since: dt.date | None = None

    def event_extra(self, day: dt.date, model_name: str, champion_version: int) -> dict:
        """The ``sluice.retrain_requested`` event's extra: ``day`` is the training's as-of day,
        ``since`` the day the change began (when training should learn from it on)."""
        return {
            "day": day.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "reason": self.reason,
            "model_name": model_name,
            "champion_version": champion_version,
        }


def retraining_request(
    warehouse, day: dt.date, found: Iterable[Alert], thresholds: Thresholds, windows: Windows
) -> Request:
    """Retraining is requested when one of the day's alerts is about the model or its inputs, the
    last request is at least ``cooldown_days`` old, and the labels of ``min_labelled_days`` sample
    days since the change began are in: a model retrained before any labelled day of the new
    regime would learn the old one again. The request names the change's first day (``since``)."""
    found = list(found)
    if not any(a.asks_for_retraining for a in found):
        return Request(False, "no alert asks for retraining")
    last = last_request(warehouse, day)
    if not retraining_due(found, day, last, thresholds.cooldown_days):
        return Request(
            False,
            f"in the cooldown: retraining was requested on {last} (cooldown {thresholds.cooldown_days} days)",
        )
    from sluice.specs import MIN_DAYS_SINCE_CHANGE

    onset = change_onset(warehouse, day) or day
    labelled = max((day - dt.timedelta(days=windows.label_delay_days) - onset).days + 1, 0)
    if labelled < windows.min_labelled_days:
        return Request(
            False,
            f"waiting for labels: {labelled} of {windows.min_labelled_days} sample days since the "
            f"change began on {onset} are labelled",
            onset,
        )
    # too few labelled days to learn the new regime alone: training uses its whole window
    since = onset if labelled >= MIN_DAYS_SINCE_CHANGE else None
    reasons = "; ".join(a.message() for a in found if a.asks_for_retraining)
    return Request(True, f"retraining requested: {reasons}", since)


def record_request(warehouse, day: dt.date, request: Request, computed_at: dt.datetime) -> None:
    """The day's request row: written when it requests, removed when it does not (a re-run)."""
    from sqlalchemy import delete

    from sluice.warehouse import monitoring_metrics

    m = monitoring_metrics.c
    with warehouse.transaction() as tx:
        tx.conn.execute(delete(monitoring_metrics).where(m.metric_date == day, m.metric == RETRAIN_REQUESTED))
        if request.due:
            row = _row(day, RETRAIN_REQUESTED, 1.0, alert=True) | {"computed_at": computed_at}
            tx.insert(monitoring_metrics, pd.DataFrame([row]))
