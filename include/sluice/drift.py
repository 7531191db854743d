"""Drift: Evidently's per-column tests of a day (or a window of days) against the champion's
reference, and the threshold each column is judged on.

Each column is tested with the test Evidently picks for a large reference: the normed Wasserstein
distance for numbers with more than five values, the Jensen-Shannon distance for categories and
for numbers with few values. Evidently's threshold for both, 0.1, treats the rows as independent
draws. Real rows are not: one storm sets the weather of every flight of the day, one holiday the
timetable. So each column's threshold is measured on the reference itself (:func:`calibrate`):
the largest distance any one reference day has from the other reference days. A day has drifted
in a column when it is further from the reference than every day the model was trained on was from
the rest; never under :data:`FLOOR`, Evidently's own threshold. Where the reference's days are
alike (the water simulator's stable days) the floor rules and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from sluice.alerting import MonitoringError
from sluice.domain import Domain

FLOOR = 0.1
"""The least threshold of a distance test: Evidently's default for both tests used here."""


SCORE = "score"
"""The column prediction drift is tested on, and recorded under in ``monitoring_metrics``."""
WASSERSTEIN = "wasserstein"
JENSEN_SHANNON = "jensenshannon"
MIN_CALIBRATION_DAYS = 3
"""Fewer reference days than this: too few to measure how days differ; the floor is the threshold."""


@dataclass(frozen=True)
class ColumnTest:
    """How one column is tested: an Evidently stat test by name, and its threshold."""

    method: str
    threshold: float


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


def _value_drifts(snapshot) -> list[ColumnDrift]:
    """The per-column ``ValueDrift`` results of an Evidently snapshot."""
    found = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            found.append(
                ColumnDrift(
                    config["column"], float(metric["value"]), config["method"], float(config["threshold"])
                )
            )
    return found


def _has_values(current: pd.DataFrame, reference: pd.DataFrame, column: str) -> bool:
    return bool(current[column].notna().any() and reference[column].notna().any())


def _datasets(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], categorical: Iterable[str] = ()
):
    from evidently import DataDefinition, Dataset

    missing = [c for c in columns if c not in reference or c not in current]
    if missing:
        raise MonitoringError(f"columns to check for drift are missing: {missing}")
    if reference.empty or current.empty:
        raise MonitoringError(
            f"drift needs rows on both sides: reference {len(reference)}, current {len(current)}"
        )
    categorical = [c for c in columns if c in set(categorical)]
    definition = DataDefinition(
        numerical_columns=[c for c in columns if c not in categorical], categorical_columns=categorical
    )
    return (
        Dataset.from_pandas(current[list(columns)], data_definition=definition),
        Dataset.from_pandas(reference[list(columns)], data_definition=definition),
    )


def data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    html_path=None,
    summary: bool = False,
    categorical: Iterable[str] = (),
    tests: Mapping[str, ColumnTest] | None = None,
    drift_share: float = 0.5,
) -> DriftResult:
    """Per-column drift of ``current`` against ``reference`` with Evidently's ``DataDriftPreset``
    (which picks each column's test by its type and the number of rows); the HTML report is saved
    to ``html_path`` when given, with Evidently's ``DataSummaryPreset`` of both sides when
    ``summary`` (missing values, ranges, quantiles per column). Columns named in ``categorical``
    are tested as categories. A column without a single value on either side cannot be tested
    (a day with no wind gust anywhere): it is left out, and its missing share is in the quality
    figures. ``tests`` (from :func:`calibrate`) sets each column's method and threshold; a
    column without one gets Evidently's choice. ``drift_share`` is the share of drifted columns
    over which the report's headline says the dataset drifted: give it the alert's threshold, so
    that the report and the alert agree."""
    from evidently import Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    columns = [
        c for c in columns if c not in current or c not in reference or _has_values(current, reference, c)
    ]
    current_data, reference_data = _datasets(reference, current, columns, categorical)
    tests = {c: t for c, t in (tests or {}).items() if c in columns}
    presets = [
        DataDriftPreset(
            columns=list(columns),
            drift_share=drift_share,
            per_column_method={c: t.method for c, t in tests.items()} or None,
            per_column_threshold={c: t.threshold for c, t in tests.items()} or None,
        )
    ]
    if summary:
        presets.append(DataSummaryPreset(columns=list(columns)))
    snapshot = Report(presets).run(current_data, reference_data)
    if html_path is not None:
        snapshot.save_html(str(html_path))
    return DriftResult(tuple(_value_drifts(snapshot)), len(reference), len(current))


PREDICTION_DRIFT_METHOD = WASSERSTEIN
"""Prediction drift is always the normed Wasserstein distance of the scores (not a p-value, whose
meaning changes with the sample size), so one threshold serves every day."""


def prediction_drift(reference_scores: pd.Series, current_scores: pd.Series, threshold: float) -> ColumnDrift:
    """Drift of the model's scores on the day against its scores on its own hold-out."""
    from evidently import Report
    from evidently.metrics import ValueDrift

    reference, current = pd.DataFrame({SCORE: reference_scores}), pd.DataFrame({SCORE: current_scores})
    current_data, reference_data = _datasets(reference, current, [SCORE])
    metric = ValueDrift(column=SCORE, method=PREDICTION_DRIFT_METHOD, threshold=threshold)
    [found] = _value_drifts(Report([metric]).run(current_data, reference_data))
    return found


def drift_columns(domain: Domain) -> list[str]:
    """The features whose drift is tested: those computed from each sample alone.

    The entity-history features are left out: a day holds one value per entity (a dozen, say),
    repeated on every sample, so a per-row test sees hundreds of copies of a dozen numbers and
    flags them every day; they aggregate the inputs, whose drift is tested. Their gaps and ranges
    are still checked with the rest.
    """
    return list(domain.row_features)


DAY_LEVEL_SHARE = 0.5
"""A feature with more than this share of its variation between days (in the champion's training
days) is a *day-level* feature: weekday, month, the day's weather. One day holds one value, or one
narrow band, of it, so the day's sample never looks like the reference and a per-day test would
flag it every day. It is tested on the rolling window only."""


def between_day_share(frame: pd.DataFrame, column: str, categorical: bool = False) -> float:
    """How much of ``column``'s variation in ``frame`` lies between its ``sample_date`` days (0: none,
    1: constant within each day). Numbers: the between-day share of the variance (η²). Categories:
    1 − the mean within-day Gini impurity over the overall one. A column that never varies within a
    day is 1 even when the days agree (every reference day in January: the month): one day can only
    ever hold one value of it."""
    values = frame[[column, "sample_date"]].dropna()
    if len(values) < 2 or values["sample_date"].nunique() < 2:
        return 0.0
    if values.groupby("sample_date")[column].nunique().max() == 1:
        return 1.0
    if categorical:

        def gini(series: pd.Series) -> float:
            shares = series.value_counts(normalize=True)
            return float(1.0 - (shares**2).sum())

        within = values.groupby("sample_date")[column].apply(gini)
        weights = values.groupby("sample_date").size() / len(values)
        return float(max(0.0, 1.0 - (within * weights).sum() / gini(values[column])))
    numbers = values[column].astype("float64")
    means = numbers.groupby(values["sample_date"]).transform("mean")
    return float(((means - numbers.mean()) ** 2).sum() / ((numbers - numbers.mean()) ** 2).sum())


def day_level_columns(
    reference: pd.DataFrame, columns: list[str], categorical: set[str], share: float = DAY_LEVEL_SHARE
) -> list[str]:
    """The ``columns`` that vary mostly between days in ``reference`` (see :data:`DAY_LEVEL_SHARE`)."""
    return [c for c in columns if between_day_share(reference, c, c in categorical) > share]


def distance_method(values: pd.Series, categorical: bool) -> str:
    """Evidently's choice for a reference of more than 1000 rows, taken whatever the size so that a
    column is always judged by a distance whose threshold was calibrated (never a p-value, whose
    meaning changes with the number of rows)."""
    return WASSERSTEIN if not categorical and values.nunique() > 5 else JENSEN_SHANNON


def _distance(method: str, reference: pd.Series, current: pd.Series, categorical: bool) -> float:
    """Evidently's own implementation of the distance, the one its report computes."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Categorical if categorical else ColumnType.Numerical
    return float(get_stattest(reference, current, kind, method)(reference, current, kind, None).drift_score)


def day_scores(frame: pd.DataFrame, column: str, method: str, categorical: bool = False) -> list[float]:
    """Each ``sample_date`` day of ``frame`` against the other days: the distance of ``column``."""
    values = frame[[column, "sample_date"]].dropna()
    scores = []
    for day in values["sample_date"].unique():
        own = values["sample_date"] == day
        if own.all():
            continue
        scores.append(_distance(method, values.loc[~own, column], values.loc[own, column], categorical))
    return scores


def calibrate(
    reference: pd.DataFrame, columns: Iterable[str], categorical: Iterable[str] = (), floor: float = FLOOR
) -> dict[str, ColumnTest]:
    """The test of each of ``columns``: its distance method, and as threshold the largest distance
    of one ``sample_date`` day of ``reference`` from its other days, or ``floor`` if larger. A
    column with values on fewer than :data:`MIN_CALIBRATION_DAYS` days gets the floor."""
    categorical = set(categorical)
    tests = {}
    for column in columns:
        values = reference[[column, "sample_date"]].dropna()
        method = distance_method(values[column], column in categorical)
        threshold = floor
        if values["sample_date"].nunique() >= MIN_CALIBRATION_DAYS:
            threshold = max(floor, *day_scores(values, column, method, column in categorical))
        tests[column] = ColumnTest(method, float(threshold))
    return tests
