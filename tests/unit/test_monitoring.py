"""The monitoring rules: thresholds, alerts, the retraining cooldown, bounded samples."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sluice.alerting import (
    ACCURACY_DROP,
    DRIFT_SHARE,
    ESTIMATE_ERROR,
    ESTIMATED_ACCURACY_DROP,
    PREDICTION_DRIFT,
    QUARANTINE_RATE,
    Alert,
    MonitoringError,
    Thresholds,
    alerts,
    retraining_due,
)
from sluice.domains.water import DOMAIN
from tests.factories import serve_day

DAY = dt.date(2026, 2, 1)


def test_only_figures_over_their_threshold_alert_and_the_message_names_everything():
    figures = {DRIFT_SHARE: 0.45, PREDICTION_DRIFT: 0.02, ACCURACY_DROP: None, QUARANTINE_RATE: 0.05}
    [alert] = alerts(DAY, figures, Thresholds())
    assert (alert.metric, alert.value, alert.threshold) == (DRIFT_SHARE, 0.45, 0.1)
    assert alert.message() == "2026-02-01: drift_share is 0.45, over the threshold 0.1"
    assert alerts(DAY, {QUARANTINE_RATE: 0.05}, Thresholds()) == []  # equal is not over


def test_a_column_alert_names_the_column():
    alert = Alert(DAY, PREDICTION_DRIFT, 0.3, 0.1, column="score")
    assert "prediction_drift of score is 0.3" in alert.message()
    assert Alert.from_dict(alert.to_dict()) == alert  # as it travels between tasks


def test_unknown_figures_and_bad_thresholds_are_refused():
    with pytest.raises(MonitoringError, match="no threshold for \\['latency'\\]"):
        alerts(DAY, {"latency": 1.0}, Thresholds())
    with pytest.raises(MonitoringError, match="drift_share=1.5"):
        Thresholds(drift_share=1.5)
    with pytest.raises(MonitoringError, match="cooldown_days=-1"):
        Thresholds(cooldown_days=-1)


@pytest.mark.parametrize(
    ("metric", "last_request", "due"),
    [
        (DRIFT_SHARE, None, True),  # first request
        (DRIFT_SHARE, DAY - dt.timedelta(days=3), False),  # inside the 7-day cooldown
        (DRIFT_SHARE, DAY - dt.timedelta(days=7), True),  # the cooldown is over
        (ACCURACY_DROP, DAY - dt.timedelta(days=8), True),
        (ESTIMATED_ACCURACY_DROP, None, True),  # before the labels (a trusted estimate alerts)
        (QUARANTINE_RATE, None, False),  # a data-source problem: alert, but no retraining
        (PREDICTION_DRIFT, DAY + dt.timedelta(days=5), True),  # a later request: this is a backfill
    ],
)
def test_retraining_is_requested_once_per_cooldown(metric, last_request, due):
    found = [Alert(DAY, metric, 0.9, 0.1)]
    assert retraining_due(found, DAY, last_request, cooldown_days=7) is due


def test_no_alert_no_request():
    assert retraining_due([], DAY, None, cooldown_days=0) is False


def test_evidently_finds_the_shifted_column_and_only_it(tmp_path):
    from sluice.drift import data_drift

    rng = np.random.default_rng(0)
    columns = ["ph", "hardness", "turbidity"]
    reference = pd.DataFrame(rng.normal(size=(5_000, 3)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(5_000, 3)), columns=columns)
    current["turbidity"] += 1.0
    current.loc[current.index[:500], "ph"] = np.nan  # gaps alone are a quality matter, not drift
    result = data_drift(reference, current, columns, html_path=tmp_path / "drift.html")
    assert [c.column for c in result.columns if c.drifted] == ["turbidity"]
    assert result.share == pytest.approx(1 / 3)
    assert result.most_drifted(1)[0].column == "turbidity"
    assert (tmp_path / "drift.html").stat().st_size > 10_000
    with pytest.raises(MonitoringError, match="missing: \\['solids'\\]"):
        data_drift(reference, current, ["solids"])
    with pytest.raises(MonitoringError, match="reference 0"):
        data_drift(reference.head(0), current, columns)


def test_p_value_tests_drift_below_the_threshold_distances_above():
    from sluice.drift import ColumnDrift

    assert ColumnDrift("ph", 0.01, "K-S p_value", 0.05).drifted
    assert not ColumnDrift("ph", 0.30, "K-S p_value", 0.05).drifted
    assert ColumnDrift("ph", 0.30, "Wasserstein distance (normed)", 0.1).drifted
    assert not ColumnDrift("ph", 0.01, "Wasserstein distance (normed)", 0.1).drifted


def test_small_samples_get_a_p_value_test():
    from sluice.drift import data_drift

    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"ph": rng.normal(size=400)})
    current = pd.DataFrame({"ph": rng.normal(loc=1.0, size=400)})
    [column] = data_drift(reference, current, ["ph"]).columns
    assert "p_value" in column.method
    assert column.drifted


@pytest.mark.parametrize("empty_side", ["current", "reference"])
def test_a_column_without_any_value_on_one_side_is_left_out_not_a_failure(empty_side):
    """A day on which no airport reported a wind gust: the column cannot be tested for drift (its
    missing share is in the quality figures); the other columns are, and the share counts them."""
    from sluice.drift import data_drift

    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"temp": rng.normal(size=3000), "gust": rng.normal(size=3000)})
    current = pd.DataFrame({"temp": rng.normal(loc=2.0, size=3000), "gust": rng.normal(size=3000)})
    {"current": current, "reference": reference}[empty_side]["gust"] = np.nan
    drift = data_drift(reference, current, ["temp", "gust"])
    assert [c.column for c in drift.columns] == ["temp"]
    assert drift.share == 1.0


def _labels(warehouse, label_day: dt.date, sample_day: dt.date, n: int, flip: bool = False) -> None:
    from tests.factories import synthetic

    truth = synthetic(1, rows_per_day=n, seed=sample_day.toordinal())["label"]
    frame = pd.DataFrame(
        {
            "label_date": label_day,
            "sample_id": [f"S{sample_day:%Y%m%d}-{i:07d}" for i in range(n)],
            "label": (1 - truth) if flip else truth,
            "labelled_at": pd.Timestamp(label_day, tz="UTC"),
        }
    )
    warehouse.replace_partition("labels", label_day, frame)


def test_served_performance_uses_the_serving_version_and_the_labels_in_by_then(warehouse):
    """What monitoring judges performance on: each day's served version, and the labels in by then."""
    from sluice import scoring
    from sluice.families import FAMILIES
    from sluice.sampling import performance_of, served_labelled
    from sluice.training import holdout_metrics
    from tests.factories import FEATURES, day, publish_features, synthetic

    train = synthetic(10)
    model = FAMILIES["logistic_regression"].build(0).fit(train[list(FEATURES)], train["label"])
    d0, d1 = day(20), day(21)
    for d in (d0, d1):
        publish_features(warehouse, d, 300)
    at = dt.datetime(2026, 1, 23, tzinfo=dt.UTC)

    def score(d, version, hour):
        pinned = scoring.Pinned("m", version, tuple((f, "double", True) for f in FEATURES), "v1")
        scoring.score_day(
            warehouse,
            d,
            pinned,
            model,
            scored_at=at + dt.timedelta(hours=hour),
            scored_by="t",
            chunk_size=100,
        )

    score(d0, 1, 0)
    score(d1, 1, 0)
    score(d1, 2, 5)  # a new champion re-scored d1: version 2 serves it
    _labels(warehouse, d0 + dt.timedelta(days=2), d0, 300)
    _labels(warehouse, d1 + dt.timedelta(days=2), d1, 40)  # only a few labels in yet

    def per_day(first, last, labels_as_of):
        rows = served_labelled(warehouse, first, last, labels_as_of, "m")
        grouped = rows.groupby(["sample_date", "model_version"], sort=True)
        return {(d, int(v)): (len(g), performance_of(g)) for (d, v), g in grouped}

    assert per_day(d0, d1, d0 + dt.timedelta(days=1)) == {}  # no label had arrived

    perf = per_day(d0, d1, d1 + dt.timedelta(days=2))
    assert list(perf) == [(d0, 1), (d1, 2)]
    assert [rows for rows, _ in perf.values()] == [300, 40]
    features = warehouse.read_partition("features", d0)
    truth = synthetic(1, rows_per_day=300, seed=d0.toordinal())["label"].to_numpy()
    expected = holdout_metrics(truth, model.predict_proba(features[list(FEATURES)])[:, 1])
    first = perf[(d0, 1)][1]
    assert first["accuracy"] == pytest.approx(expected["accuracy"])
    assert first["roc_auc"] == pytest.approx(expected["roc_auc"])
    assert perf[(d1, 2)][1] == dict.fromkeys(("accuracy", "f1", "roc_auc")), "40 < 50 labelled rows"

    _labels(warehouse, d0 + dt.timedelta(days=3), d0, 300, flip=True)  # the lab corrected every label
    corrected = per_day(d0, d0, d0 + dt.timedelta(days=3))
    assert corrected[(d0, 1)][1]["accuracy"] == pytest.approx(1 - expected["accuracy"])


def test_quarantine_rate_is_held_back_over_delivered(warehouse):
    from sluice.sampling import quarantine_rate

    d = dt.date(2026, 1, 5)
    assert quarantine_rate(warehouse, d) == (None, 0)
    batch = {
        "sample_date": d,
        "batch_id": "b",
        "source": "simulated",
        "columns": "[]",
        "row_count": 400,
        "landed_at": pd.Timestamp(d, tz="UTC"),
        "status": "landed",
    }
    warehouse.replace_partition("ingest_batches", d, pd.DataFrame([batch]))
    assert quarantine_rate(warehouse, d) == (None, 0)  # landed, not validated yet
    validated = batch | {"status": "partial", "quarantined_rows": 30, "published_rows": 370}
    validated["validated_at"] = pd.Timestamp(d, tz="UTC")
    warehouse.replace_partition("ingest_batches", d, pd.DataFrame([validated]))
    assert quarantine_rate(warehouse, d) == (30 / 400, 400)


def test_missing_shares_per_column():
    from sluice.sampling import missing_shares

    frame = pd.DataFrame({"ph": [1.0, None, None, 4.0], "turbidity": [1.0, 2.0, 3.0, 4.0]})
    assert missing_shares(frame, ["ph", "turbidity"]) == {"ph": 0.5, "turbidity": 0.0}
    assert missing_shares(frame.head(0), ["ph"]) == {"ph": 0.0}


def test_a_sample_of_days_is_bounded_and_the_same_whatever_the_chunks(warehouse):
    from sluice.sampling import sample_days
    from tests.factories import day, publish_features

    for offset in range(3):
        publish_features(warehouse, day(offset), 700)
    days = [day(0), day(1), day(2)]
    sample, drawn_from = sample_days(
        warehouse, "features", days, ["ph"], max_rows=500, seed=7, chunk_size=150
    )
    again, _ = sample_days(warehouse, "features", days, ["ph"], max_rows=500, seed=7, chunk_size=10_000)
    other, _ = sample_days(warehouse, "features", days, ["ph"], max_rows=500, seed=8)
    assert (len(sample), drawn_from) == (500, 2100)
    assert list(sample.columns) == ["sample_id", "ph"]
    assert sample.equals(again)
    assert set(sample["sample_id"]) != set(other["sample_id"])
    assert sample["sample_id"].str[1:9].nunique() == 3  # drawn from every day
    small, n = sample_days(warehouse, "features", [day(0)], ["ph"], max_rows=5_000, seed=7)
    assert (len(small), n) == (700, 700)
    empty, n = sample_days(warehouse, "features", [day(9)], ["ph"], max_rows=10, seed=7)
    assert (len(empty), n) == (0, 0)
    with pytest.raises(MonitoringError, match="max_rows=0"):
        sample_days(warehouse, "features", [day(0)], ["ph"], max_rows=0, seed=7)


# --- one day's monitoring: measure, write, request --------------------------------------------


def _champion(train=(0, 9), holdout=(10, 12), accuracy=0.9):
    from sluice.champion import Champion
    from tests.factories import day

    return Champion(
        "m", 1, (day(train[0]), day(train[1])), (day(holdout[0]), day(holdout[1])), accuracy, "v1"
    )


@pytest.fixture
def fitted():
    from sluice.families import FAMILIES
    from tests.factories import FEATURES, synthetic

    train = synthetic(10)
    return FAMILIES["logistic_regression"].build(0).fit(train[list(FEATURES)], train["label"])


def _measure(warehouse, fitted, d, **windows):
    from sluice.alerting import Thresholds, Windows
    from sluice.monitoring import measure_day

    return measure_day(
        warehouse,
        d,
        _champion(),
        lambda frame: fitted.predict_proba(frame)[:, 1],
        Thresholds(drift_share=0.2),
        Windows(**({"label_delay_days": 3, "window_days": 3} | windows)),
        holdout_accuracy=lambda version: 0.9,
    )


def test_a_stable_day_raises_nothing_and_a_drifted_day_names_its_columns(warehouse, fitted, tmp_path):
    from sluice.alerting import DRIFT_SHARE, PREDICTION_DRIFT
    from sluice.drift import drift_columns
    from sluice.monitoring import measure_day
    from tests.factories import day

    for i in range(13):
        serve_day(warehouse, fitted, day(i))
    stable_day, drifted_day = day(13), day(14)
    serve_day(warehouse, fitted, stable_day)
    serve_day(warehouse, fitted, drifted_day, shift=1.5)

    stable = _measure(warehouse, fitted, stable_day)
    assert stable.alerts == []
    assert stable.figure(DRIFT_SHARE) <= 0.2
    assert stable.figure("rows") == 400

    from sluice.alerting import Thresholds, Windows

    drifted = measure_day(
        warehouse,
        drifted_day,
        _champion(),
        lambda f: fitted.predict_proba(f)[:, 1],
        Thresholds(drift_share=0.2),
        Windows(window_days=3),
        reports_dir=tmp_path,
    )
    metrics = {a.metric for a in drifted.alerts}
    assert {DRIFT_SHARE, PREDICTION_DRIFT} <= metrics
    shifted = {c.column for c in drifted.drift.columns if c.drifted}
    assert {"chloramines", "turbidity", "trihalomethanes", "ph"} <= shifted
    assert {c.column for c in drifted.drift.columns} == set(drift_columns(DOMAIN))
    assert drifted.figure(DRIFT_SHARE) == pytest.approx(len(shifted) / len(drift_columns(DOMAIN)))
    assert "ph_station_mean" not in drift_columns(DOMAIN)
    report = (tmp_path / f"{drifted_day}.html").read_text()
    assert "Dataset Drift is detected. Dataset drift detection threshold is 0.2" in report, "as the alert"
    message = next(a for a in drifted.alerts if a.metric == DRIFT_SHARE).message()
    assert message.startswith(f"{drifted_day}: drift_share is")


def test_the_accuracy_is_estimated_before_the_labels_and_a_fall_alerts(warehouse, fitted):
    """CBPE on the day's served scores, calibrated on the champion's labelled hold-out (days
    10..12), against what the day's labels show when they arrive."""
    from sluice.alerting import (
        ESTIMATED_ACCURACY,
        ESTIMATED_ACCURACY_DROP,
        ESTIMATED_ROC_AUC,
        Thresholds,
        Windows,
    )
    from sluice.monitoring import measure_day
    from sluice.sampling import performance_of, served_labelled
    from tests.factories import day

    for i in range(14):
        serve_day(warehouse, fitted, day(i), n=1500)
    for i in (10, 11, 12, 13):
        _labels(warehouse, day(i) + dt.timedelta(days=1), day(i), 1500)

    def measure(champion):
        return measure_day(
            warehouse,
            day(13),
            champion,
            lambda frame: fitted.predict_proba(frame)[:, 1],
            Thresholds(),
            Windows(label_delay_days=3, window_days=3),
        )

    report = measure(_champion(accuracy=None))
    later = performance_of(served_labelled(warehouse, day(13), day(13), day(14), "m"))
    assert report.figure(ESTIMATED_ACCURACY) == pytest.approx(later["accuracy"], abs=0.04)
    assert report.figure(ESTIMATED_ROC_AUC) == pytest.approx(later["roc_auc"], abs=0.04)
    assert ESTIMATED_ACCURACY_DROP not in {a.metric for a in report.alerts}, "a stable day"
    assert report.summary()["estimated_accuracy"] == report.figure(ESTIMATED_ACCURACY)

    proud = measure(_champion(accuracy=0.99))  # a hold-out far better than the day looks
    [alert] = [a for a in proud.alerts if a.metric == ESTIMATED_ACCURACY_DROP]
    assert alert.value == pytest.approx(0.99 - report.figure(ESTIMATED_ACCURACY))

    unlabelled = measure(_champion(holdout=(20, 22)))  # no labelled hold-out: no estimate, no error
    assert unlabelled.figure(ESTIMATED_ACCURACY) is None


def _stored(warehouse, rows: list[tuple[int, str, float, int]]) -> None:
    """``monitoring_metrics`` rows (day index, metric, value, model version) an earlier run wrote."""
    from sluice.alerting import metric_row
    from sluice.tables import monitoring_metrics
    from tests.factories import day

    frame = pd.DataFrame(
        [metric_row(day(i), metric, value, model_version=v) for i, metric, value, v in rows]
    ).assign(computed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with warehouse.transaction() as tx:
        tx.insert(monitoring_metrics, frame)


def test_a_fall_of_the_estimate_requests_retraining_only_while_it_tracked_the_labels(warehouse, fitted):
    """The guard on the estimate's blind spot: what it estimated for the champion's labelled days
    of the window, against what their labels showed. Close: its fall alerts and asks for
    retraining. Far (concept drift): the fall is recorded without an alert."""
    from sluice.alerting import ESTIMATED_ACCURACY, Windows
    from sluice.monitoring import measure_day
    from tests.factories import day

    for i in range(14):
        serve_day(warehouse, fitted, day(i), n=1500)
    for i in (10, 11, 12, 13):
        _labels(warehouse, day(i) + dt.timedelta(days=1), day(i), 1500)

    def measure():  # day 13: the labelled day is day 10, the window days 8..10
        return measure_day(
            warehouse,
            day(13),
            _champion(accuracy=0.99),  # a hold-out far better than the day looks: the estimate falls
            lambda frame: fitted.predict_proba(frame)[:, 1],
            Thresholds(estimate_error=0.03),
            Windows(label_delay_days=3, window_days=3),
        )

    def estimate_alert(report):
        return [a for a in report.alerts if a.metric == ESTIMATED_ACCURACY_DROP]

    fresh = measure()  # no labelled day of the estimate's yet: trusted
    assert fresh.figure(ESTIMATE_ERROR) is None
    [alert] = estimate_alert(fresh)
    assert alert.asks_for_retraining
    accuracy = fresh.figure("accuracy", day=day(10))  # this run's labels of day 10

    # what earlier runs estimated was far from the labels (day 10's stale accuracy is replaced by
    # this run's); another version's figures and days outside the window do not count
    far = [(8, ESTIMATED_ACCURACY, 0.95, 1), (8, "accuracy", 0.80, 1), (9, ESTIMATED_ACCURACY, 0.95, 1)]
    far += [(9, "accuracy", 0.75, 1), (10, ESTIMATED_ACCURACY, accuracy + 0.05, 1), (10, "accuracy", 0.0, 1)]
    far += [(9, ESTIMATED_ACCURACY, 0.10, 2), (9, "accuracy", 0.90, 2), (7, ESTIMATED_ACCURACY, 0.1, 1)]
    far += [(7, "accuracy", 0.9, 1)]
    _stored(warehouse, far)
    lost = measure()
    assert lost.figure(ESTIMATE_ERROR) == pytest.approx((0.15 + 0.20 + 0.05) / 3)
    [error] = [r for r in lost.rows if r["metric"] == ESTIMATE_ERROR]
    assert (error["threshold"], error["alert"], error["sample_size"]) == (0.03, 0, 3), "a figure, no alert"
    assert estimate_alert(lost) == [], "an estimate that lost the labels does not alert"
    [row] = [r for r in lost.rows if r["metric"] == ESTIMATED_ACCURACY_DROP]
    assert (row["value"], row["threshold"], row["alert"]) == (pytest.approx(alert.value), 0.05, 0)

    from sqlalchemy import delete

    from sluice.tables import monitoring_metrics

    with warehouse.transaction() as tx:
        tx.conn.execute(delete(monitoring_metrics))
    _stored(warehouse, [(9, ESTIMATED_ACCURACY, 0.81, 1), (9, "accuracy", 0.80, 1)])
    close = measure()
    assert close.figure(ESTIMATE_ERROR) == pytest.approx(0.01)
    assert len(estimate_alert(close)) == 1, "trusted again"


def test_performance_waits_for_the_labels_and_a_drop_alerts_on_the_sample_day(warehouse, fitted):
    from sluice.alerting import ACCURACY_DROP
    from tests.factories import day, synthetic

    sample_day = day(13)
    for i in range(14):
        serve_day(warehouse, fitted, day(i))
    # the lab returns sample_day's results 3 days later, all of them the opposite of the truth
    _labels(warehouse, sample_day + dt.timedelta(days=3), sample_day, 400, flip=True)

    early = _measure(warehouse, fitted, sample_day + dt.timedelta(days=2))
    assert early.labelled_day == sample_day - dt.timedelta(days=1)
    assert early.figure("accuracy", day=sample_day) is None  # labels not in yet: nothing, no alert

    report = _measure(warehouse, fitted, sample_day + dt.timedelta(days=3))
    assert report.labelled_day == sample_day
    accuracy = report.figure("accuracy", day=sample_day)
    truth = synthetic(1, rows_per_day=400, seed=sample_day.toordinal())["label"].to_numpy()
    features = warehouse.read_partition("features", sample_day)
    from tests.factories import FEATURES

    predicted = (fitted.predict_proba(features[list(FEATURES)])[:, 1] >= 0.5).astype(int)
    assert accuracy == pytest.approx(np.mean(predicted == 1 - truth))
    [drop] = [a for a in report.alerts if a.metric == ACCURACY_DROP]
    assert (drop.day, drop.value) == (sample_day, pytest.approx(0.9 - accuracy))
    assert report.figure("accuracy", span="rolling_3d", day=sample_day) == pytest.approx(accuracy)


def test_writing_a_day_twice_gives_the_same_rows_and_keeps_other_runs_rows(warehouse, fitted):
    from sqlalchemy import select

    from sluice.alerting import RETRAIN_REQUESTED
    from sluice.monitoring import write_report
    from sluice.retraining import Request, record_request
    from sluice.tables import monitoring_metrics
    from tests.factories import day

    for i in range(17):
        serve_day(warehouse, fitted, day(i))
    _labels(warehouse, day(16), day(13), 400)
    at = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)

    def table():
        rows = warehouse.fetch(select(monitoring_metrics).order_by(*monitoring_metrics.c))
        return [tuple(r.values()) for r in rows]

    first = _measure(warehouse, fitted, day(16))
    write_report(warehouse, first, at)
    record_request(warehouse, day(16), Request(True, "test", day(16)), at)
    write_report(warehouse, _measure(warehouse, fitted, day(13)), at)  # day 13's own figures
    once = table()
    write_report(warehouse, _measure(warehouse, fitted, day(16)), at)  # a re-run of day 16
    assert table() == once
    dates = {(r[0], r[1]) for r in once}
    assert (day(13), "accuracy") in dates  # written by day 16's run, kept by day 13's
    assert (day(13), "drift_share") in dates
    assert (day(16), RETRAIN_REQUESTED) in dates  # the request step's row survives a re-measure
    record_request(warehouse, day(16), Request(False, "test"), at)
    assert (day(16), RETRAIN_REQUESTED) not in {(r[0], r[1]) for r in table()}


def _alerting(warehouse, days, metric="drift_share", request_on=()):
    from sluice.alerting import metric_row as _row
    from sluice.tables import monitoring_metrics

    at = pd.Timestamp("2026-03-01", tz="UTC")
    rows = [_row(d, metric, 0.5, threshold=0.2, alert=True) | {"computed_at": at} for d in days]
    rows += [_row(d, "retrain_requested", 1.0, alert=True) | {"computed_at": at} for d in request_on]
    with warehouse.transaction() as tx:
        tx.insert(monitoring_metrics, pd.DataFrame(rows))


def test_the_change_began_on_the_first_of_the_consecutive_alerting_days(warehouse):
    from sluice.retraining import change_onset
    from tests.factories import day

    _alerting(warehouse, [day(3), day(5), day(6), day(7)])
    assert change_onset(warehouse, day(7)) == day(5)  # day 4 was quiet: a new change began on 5
    assert change_onset(warehouse, day(4)) is None


def _decision(warehouse, as_of: dt.date, decision: str, hour: int) -> None:
    """A model_decisions row of an applied evaluation as of ``as_of``, decided at ``hour``."""
    from sluice.tables import model_decisions

    row = {
        "decision_date": as_of,
        "decision_id": f"sluice_evaluate/{as_of}-{hour}",
        "model_name": "m",
        "decision": decision,
        "status": "applied",
        "reason": decision,
        "triggered_by": "sluice.challenger event",
        "decided_at": dt.datetime.combine(as_of, dt.time(hour), tzinfo=dt.UTC),
    }
    with warehouse.transaction() as tx:
        tx.insert(model_decisions, pd.DataFrame([row]))


def test_retraining_waits_for_labels_since_the_change_then_respects_the_cooldown(warehouse):
    from sluice.alerting import Thresholds, Windows
    from sluice.retraining import retraining_request
    from tests.factories import day

    onset = day(30)
    windows = Windows(label_delay_days=3, min_labelled_days=4)
    drift = [Alert(onset, DRIFT_SHARE, 0.5, 0.2)]
    _alerting(warehouse, [onset + dt.timedelta(days=i) for i in range(8)])

    def ask(offset, alerts=drift):
        d = onset + dt.timedelta(days=offset)
        return retraining_request(
            warehouse, d, [Alert(d, a.metric, 0.5, 0.2) for a in alerts], Thresholds(), windows
        )

    waiting = ask(4)  # labelled sample days since the change (delay 3): the first 2 of the 4 needed
    assert not waiting.due and "2 of 4" in waiting.reason and waiting.since == onset
    due = ask(6)  # the first 4 are labelled
    assert due.due and due.since == onset and "drift_share" in due.reason
    assert not ask(6, [Alert(onset, QUARANTINE_RATE, 0.5, 0.05)]).due  # a source problem only

    _alerting(warehouse, [], request_on=[onset + dt.timedelta(days=6)])
    cooled = ask(7)
    assert not cooled.due and "cooldown" in cooled.reason and "2026-02-06" in cooled.reason

    # the challenger that request trained was rejected: a second chance the next day, with a
    # day more of labels, instead of a week's wait; a promotion keeps the cooldown
    _decision(warehouse, onset + dt.timedelta(days=6), "reject", hour=1)
    retry = ask(7)
    assert retry.due and retry.since == onset, retry.reason
    slower = retraining_request(
        warehouse, onset + dt.timedelta(days=7), drift, Thresholds(retry_days=3), windows
    )
    assert not slower.due and "rejected: retry 3 days" in slower.reason
    _decision(warehouse, onset + dt.timedelta(days=6), "promote", hour=2)  # a later evaluation
    assert not ask(7).due, "the newest decision promoted: the cooldown holds"
    at_once = Windows(label_delay_days=3, min_labelled_days=0)  # 0: request at once
    first_day = retraining_request(warehouse, onset, drift, Thresholds(), at_once)
    assert first_day.due and first_day.since is None  # nothing labelled to learn the change from
    with pytest.raises(MonitoringError, match="window_days=0"):
        Windows(window_days=0)


def test_day_level_features_are_told_apart_from_row_level_ones():
    """Weekday (constant within a day) and a day's weather band vary between days; a reading that
    varies row by row does not: only the first two are left to the rolling window."""
    from sluice.drift import between_day_share, day_level_columns

    rng = np.random.default_rng(0)
    days = np.repeat(pd.date_range("2026-01-01", periods=14).date, 200)
    frame = pd.DataFrame(
        {
            "sample_date": days,
            "weekday": [d.weekday() for d in days],
            "temp": np.repeat(rng.normal(40, 10, 14), 200) + rng.normal(0, 2, len(days)),
            "reading": rng.normal(7, 1.5, len(days)),
            "carrier": rng.choice(["AA", "B6", "DL"], len(days)),
            "day_code": np.repeat(rng.choice(["x", "y", "z"], 14), 200),
        }
    )
    assert between_day_share(frame, "weekday") == pytest.approx(1.0)
    assert between_day_share(frame, "temp") > 0.9
    assert between_day_share(frame, "reading") < 0.05
    assert between_day_share(frame, "carrier", categorical=True) < 0.05
    assert between_day_share(frame, "day_code", categorical=True) == pytest.approx(1.0)
    columns = ["weekday", "temp", "reading", "carrier", "day_code"]
    assert day_level_columns(frame, columns, {"carrier", "day_code"}) == ["weekday", "temp", "day_code"]
    frame["month"], frame["code"] = 1, "JAN"  # every reference day in one month: still day-level
    assert between_day_share(frame, "month") == between_day_share(frame, "code", categorical=True) == 1.0
    one_day = frame[frame["sample_date"] == frame["sample_date"].iloc[0]]
    assert day_level_columns(one_day, columns, {"carrier", "day_code"}) == [], "one day: nothing to compare"


def test_days_as_different_as_the_champion_s_own_are_not_drift(warehouse, fitted):
    """When the champion's own days differ from each other (a storm, a holiday), a day within that
    spread raises nothing: each column's and the scores' thresholds are measured on those days, and
    are recorded with the figures. A day beyond every one of them still alerts."""
    from sluice.alerting import DRIFT_SCORE, DRIFT_SHARE, PREDICTION_DRIFT
    from tests.factories import day

    for i in range(13):
        serve_day(warehouse, fitted, day(i), shift=1.2 * (i % 2))
    serve_day(warehouse, fitted, day(13), shift=1.2)
    serve_day(warehouse, fitted, day(14), shift=6.0)

    within = _measure(warehouse, fitted, day(13))
    assert within.alerts == []
    rows = {(r["metric"], r["column_name"], r["span"]): r for r in within.rows}
    assert rows[PREDICTION_DRIFT, "score", "day"]["threshold"] > 0.1, (
        "the scores' own spread, not the setting"
    )
    shifted = [rows[DRIFT_SCORE, "turbidity", "day"]]
    assert shifted[0]["threshold"] > 0.1 and not shifted[0]["alert"]

    beyond = _measure(warehouse, fitted, day(14))
    assert {DRIFT_SHARE, PREDICTION_DRIFT} <= {a.metric for a in beyond.alerts}

    # what the view charts and exports is what the monitor wrote
    from sluice import dashboard
    from sluice.monitoring import write_report

    write_report(warehouse, beyond, dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    charted, summary = dashboard.series(warehouse, day(14), day(14)), beyond.summary()
    for metric in (DRIFT_SHARE, PREDICTION_DRIFT):
        assert [p["value"] for p in charted[metric]] == [pytest.approx(summary[metric])], metric
