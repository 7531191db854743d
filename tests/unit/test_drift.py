"""Drift thresholds measured on the reference's own days (``sluice.drift.calibrate``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sluice.drift import FLOOR, JENSEN_SHANNON, WASSERSTEIN, calibrate, data_drift, day_scores


def _days(values_per_day: list[np.ndarray], column: str = "x") -> pd.DataFrame:
    start = pd.Timestamp("2026-03-01")
    return pd.concat(
        [
            pd.DataFrame({"sample_date": (start + pd.Timedelta(days=i)).date(), column: values})
            for i, values in enumerate(values_per_day)
        ],
        ignore_index=True,
    )


def _weather_like(rng, days: int, rows: int = 600, spread: float = 1.0) -> pd.DataFrame:
    """A column whose level is set per day (one storm, one heat wave), as real weather is."""
    return _days([rng.normal(rng.normal(0, spread), 0.3, rows) for _ in range(days)])


def test_alike_days_keep_evidently_s_threshold():
    rng = np.random.default_rng(1)
    reference = _days([rng.normal(0, 1, 2000) for _ in range(8)])
    [test] = calibrate(reference, ["x"]).values()
    assert (test.method, test.threshold) == (WASSERSTEIN, FLOOR)


def test_the_threshold_is_the_most_distant_reference_day_as_evidently_reports_it():
    """The calibrated threshold is the score Evidently's own report gives the most unusual reference
    day against the other days: the same test, computed the same way."""
    rng = np.random.default_rng(2)
    reference = _weather_like(rng, 10)
    [test] = calibrate(reference, ["x"]).values()
    scores = day_scores(reference, "x", WASSERSTEIN)
    assert test.threshold == pytest.approx(max(scores)) and test.threshold > 10 * FLOOR
    worst = reference["sample_date"].unique()[int(np.argmax(scores))]
    own = reference["sample_date"] == worst
    [reported] = data_drift(reference[~own], reference[own], ["x"]).columns
    assert reported.score == pytest.approx(test.threshold)


def test_a_day_like_the_reference_days_passes_and_one_beyond_them_drifts():
    rng = np.random.default_rng(3)
    reference = _weather_like(rng, 14)
    tests = calibrate(reference, ["x"])
    levels = reference.groupby("sample_date")["x"].mean()
    typical = pd.DataFrame({"x": rng.normal(levels.median(), 0.3, 600)})
    beyond = pd.DataFrame({"x": rng.normal(levels.max() + 3 * levels.std(), 0.3, 600)})
    assert not data_drift(reference, typical, ["x"], tests=tests).columns[0].drifted
    assert data_drift(reference, beyond, ["x"], tests=tests).columns[0].drifted
    # without the calibration, Evidently's 0.1 flags the ordinary day too
    assert data_drift(reference, typical, ["x"]).columns[0].drifted


def test_categories_use_jensen_shannon_and_few_valued_numbers_too():
    rng = np.random.default_rng(4)
    frame = _days(
        [rng.choice(["AA", "B6", "DL"], 800, p=rng.dirichlet([5, 5, 5])) for _ in range(6)], "carrier"
    )
    frame["rain"] = rng.choice([0.0, 0.01, 0.02], len(frame))
    tests = calibrate(frame, ["carrier", "rain"], categorical={"carrier"})
    assert tests["carrier"].method == tests["rain"].method == JENSEN_SHANNON
    assert tests["carrier"].threshold == pytest.approx(
        max(day_scores(frame, "carrier", JENSEN_SHANNON, True))
    )
    drift = data_drift(frame, frame.head(800), ["carrier", "rain"], categorical={"carrier"}, tests=tests)
    assert {c.column: c.threshold for c in drift.columns} == {
        "carrier": pytest.approx(tests["carrier"].threshold),
        "rain": pytest.approx(tests["rain"].threshold),
    }


@pytest.mark.parametrize("days", [1, 2])
def test_too_few_days_to_compare_keep_the_floor(days):
    rng = np.random.default_rng(5)
    [test] = calibrate(_weather_like(rng, days), ["x"], floor=0.2).values()
    assert test.threshold == 0.2


def test_gaps_are_left_out_and_a_column_never_reported_keeps_the_floor():
    rng = np.random.default_rng(6)
    frame = _weather_like(rng, 6)
    frame.loc[frame.index % 3 == 0, "x"] = np.nan
    frame["gust"] = np.nan
    tests = calibrate(frame, ["x", "gust"])
    assert np.isfinite(tests["x"].threshold) and tests["x"].threshold > FLOOR
    assert tests["gust"].threshold == FLOOR


@pytest.mark.parametrize("drift_share", [0.1, 0.3, 0.5, 0.7])
def test_the_report_s_headline_gives_the_alert_s_verdict(tmp_path, drift_share):
    """Evidently's report judges the dataset with the alert's threshold, not its own 0.5."""
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({c: rng.normal(0, 1, 2000) for c in "abcde"})
    current = pd.DataFrame({c: rng.normal(1.0 if c in "ab" else 0, 1, 500) for c in "abcde"})
    result = data_drift(
        reference, current, list("abcde"), html_path=tmp_path / "r.html", drift_share=drift_share
    )
    assert result.share == pytest.approx(0.4)
    headline = "Dataset Drift is detected" if result.share > drift_share else "Dataset Drift is NOT detected"
    assert (
        f"{headline}. Dataset drift detection threshold is {drift_share}" in (tmp_path / "r.html").read_text()
    )
