"""One day's monitoring: the figures of a day (data drift of the day and of the rolling window,
prediction drift, data quality, performance of what was served once its labels are in), the alerts
among them, and the ``monitoring_metrics`` rows that record them.

Evidently computes drift (:mod:`sluice.drift`); samples and served predictions come from the
warehouse (:mod:`sluice.sampling`); the model is read from MLflow (:mod:`sluice.champion`); which
figure alerts is :mod:`sluice.alerting`, and whether alerts request retraining
:mod:`sluice.retraining`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from sluice.alerting import (
    ACCURACY_DROP,
    DRIFT_SCORE,
    DRIFT_SHARE,
    ESTIMATED_ACCURACY,
    PREDICTION_DRIFT,
    QUARANTINE_RATE,
    RETRAIN_REQUESTED,
    SPAN_DAY,
    Alert,
    Figures,
    Thresholds,
    Windows,
    metric_row,
    rolling_span,
)
from sluice.champion import Champion
from sluice.drift import (
    SCORE,
    DriftResult,
    calibrate,
    data_drift,
    day_level_columns,
    drift_columns,
    prediction_drift,
)
from sluice.estimate import estimate_error, record_estimate
from sluice.modelstore import ModelStore
from sluice.sampling import (
    PERFORMANCE_METRICS,
    days_between,
    missing_shares,
    performance_of,
    quarantine_rate,
    sample_days,
    served_labelled,
    served_scores,
)


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
            "estimated_accuracy": self.figure(ESTIMATED_ACCURACY),
            "most_drifted": [c.column for c in self.drift.most_drifted(5) if c.drifted] if self.drift else [],
            "alerts": [a.message() for a in self.alerts],
            "report": self.report_path,
            "metrics": len(self.rows),
        }


def _quality(
    figures: Figures,
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
    figures: Figures, warehouse, day: dt.date, model: Champion, windows: Windows, holdout_accuracy
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


@dataclass(frozen=True)
class _Samples:
    """The bounded samples of features one day's figures are computed on."""

    warehouse: object
    columns: list[str]
    seed: int

    def of(self, days: list[dt.date], max_rows: int) -> tuple[pd.DataFrame, int]:
        wanted = [*self.columns, "sample_date"]
        return sample_days(self.warehouse, "features", days, wanted, max_rows, self.seed)


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
    figures = Figures(thresholds)
    rate, delivered = quarantine_rate(warehouse, day)
    figures.judge(day, QUARANTINE_RATE, rate, sample_size=delivered)
    samples = _Samples(warehouse, list(warehouse.domain.feature_names), windows.seed)
    reference, _ = samples.of(days_between(*model.train_days), windows.sample_rows)
    current, current_total = samples.of([day], windows.sample_rows)
    figures.add(day, "rows", current_total, sample_size=current_total)
    drift = report_path = None
    if len(current) and len(reference):
        categorical = set(warehouse.domain.categorical_features)
        _quality(figures, day, current, reference, samples.columns, categorical)
        report_path = _report_path(reports_dir, day)
        drift = _data_drift(figures, samples, day, model, windows, reference, current, report_path)
    _prediction_drift(figures, samples, day, model, windows, predict, reference)
    labelled_day = _performance(figures, warehouse, day, model, windows, holdout_accuracy)
    error = estimate_error(figures, warehouse, day, labelled_day, model, windows)
    trusted = error is None or error <= thresholds.estimate_error
    record_estimate(figures, warehouse, day, model, windows, predict, trusted=trusted)
    return DayReport(day, figures.rows, figures.alerts, labelled_day, report_path, drift)


def _report_path(reports_dir, day: dt.date) -> str | None:
    if reports_dir is None:
        return None
    from pathlib import Path

    Path(reports_dir).mkdir(parents=True, exist_ok=True)
    return str(Path(reports_dir) / f"{day.isoformat()}.html")


def _data_drift(
    figures: Figures,
    samples: _Samples,
    day: dt.date,
    model: Champion,
    windows: Windows,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    report_path: str | None,
) -> DriftResult:
    """Drift of the day's features (per column and the share drifted), and of the rolling window's,
    against the champion's training days; the day's HTML report at ``report_path``."""
    domain, threshold = samples.warehouse.domain, figures.thresholds.drift_share
    drifting, categorical = drift_columns(domain), set(domain.categorical_features)
    tests = calibrate(reference, drifting, categorical)
    daily = [c for c in drifting if c not in day_level_columns(reference, drifting, categorical)]
    options = {"categorical": categorical, "tests": tests, "drift_share": threshold}
    drift = data_drift(reference, current, daily or drifting, html_path=report_path, summary=True, **options)
    for c in drift.columns if daily else ():
        figures.add(
            day,
            DRIFT_SCORE,
            c.score,
            column=c.column,
            threshold=c.threshold,
            alert=c.drifted,
            sample_size=len(current),
            model_version=model.version,
        )
    if daily:  # a domain whose every feature is day-level is judged on the rolling window only
        figures.judge(day, DRIFT_SHARE, drift.share, sample_size=len(current), model_version=model.version)
    window = days_between(day - dt.timedelta(days=windows.window_days - 1), day)
    recent, _ = samples.of(window, windows.sample_rows)
    rolling = data_drift(reference, recent, drifting, **options)
    figures.add(
        day,
        DRIFT_SHARE,
        rolling.share,
        span=rolling_span(windows.window_days),
        threshold=threshold,
        alert=rolling.share > threshold,
        sample_size=len(recent),
        model_version=model.version,
    )
    return drift


def _prediction_drift(
    figures: Figures,
    samples: _Samples,
    day: dt.date,
    model: Champion,
    windows: Windows,
    predict,
    reference: pd.DataFrame,
) -> None:
    """The day's scores against the champion's own scores on its hold-out days, with a threshold
    calibrated on its training and hold-out days (never below the setting's)."""
    scores = served_scores(
        samples.warehouse, day, model.model_name, model.version, windows.sample_rows, samples.seed
    )
    if not len(scores):
        return
    holdout, _ = samples.of(days_between(*model.holdout_days), windows.sample_rows)
    if not len(holdout):
        return
    own = pd.concat([reference, holdout], ignore_index=True)
    own = pd.DataFrame({SCORE: predict(own[samples.columns]), "sample_date": own["sample_date"]})
    [test] = calibrate(own, [SCORE], floor=figures.thresholds.prediction_drift).values()
    drifted = prediction_drift(own[SCORE].tail(len(holdout)), scores, test.threshold)
    figures.judge(
        day,
        PREDICTION_DRIFT,
        drifted.score,
        column=SCORE,
        threshold=test.threshold,
        sample_size=len(scores),
        model_version=model.version,
    )


PERFORMANCE_ROWS = (*PERFORMANCE_METRICS, ACCURACY_DROP)
"""Rows written at the *sample* day whose labels arrived (by the run ``label_delay_days`` later)."""


def write_report(warehouse, report: DayReport, computed_at: dt.datetime) -> int:
    """Replace what an earlier run for the same day wrote, in one transaction: the day's figures,
    and the performance figures of its labelled day. The day's retraining request row is the
    request step's (:func:`sluice.retraining.record_request`)."""
    from sqlalchemy import delete

    from sluice.tables import monitoring_metrics

    m = monitoring_metrics.c
    frame = pd.DataFrame(report.rows, columns=list(metric_row(report.day, "", None))).assign(
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


def monitor_day(
    warehouse,
    store: ModelStore,
    day: dt.date,
    model: Champion,
    thresholds: Thresholds,
    windows: Windows,
    *,
    reports_dir,
    computed_at: dt.datetime,
) -> DayReport:
    """Measure ``day`` with the champion read from ``store`` and record the figures (what the
    monitor DAG's ``measure`` task does); the report."""
    from functools import partial

    from sluice.champion import holdout_accuracy, scorer

    report = measure_day(
        warehouse,
        day,
        model,
        scorer(store, model),
        thresholds,
        windows,
        reports_dir=reports_dir,
        holdout_accuracy=partial(holdout_accuracy, store, model.model_name),
    )
    write_report(warehouse, report, computed_at=computed_at)
    return report
