"""Which days a scoring run scores: the days a form asks for, the days new features name, the
newest day when the champion changed, and days a lost event left without predictions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select

from sluice.modelstore import ModelStore
from sluice.scoring import Pinned, ScoreResult, ScoringError, score_days
from sluice.tables import feature_batches, prediction_batches
from sluice.warehouse import Warehouse


def published_days(warehouse: Warehouse, first: dt.date, last: dt.date) -> list[dt.date]:
    """Days in ``[first, last]`` whose features are published (built and valid)."""
    query = (
        select(feature_batches.c.sample_date)
        .where(feature_batches.c.sample_date.between(first, last), feature_batches.c.status == "published")
        .order_by(feature_batches.c.sample_date)
    )
    return [row["sample_date"] for row in warehouse.fetch(query)]


def latest_day(warehouse: Warehouse) -> dt.date | None:
    """The newest day with published features: what a new champion re-scores."""
    query = select(func.max(feature_batches.c.sample_date)).where(feature_batches.c.status == "published")
    return warehouse.scalar(query)


def unscored_days(warehouse: Warehouse, catch_up_days: int) -> list[dt.date]:
    """Days with published features but no predictions at all, among the ``catch_up_days`` before
    the newest featurised day and after the first day ever scored (serving had begun).

    A run triggered by new features also scores these, so a day whose ``features`` event never
    started a scoring run (the DAG was paused, or at its run limit when Airflow folded the event
    away) is caught up by the next run. Days featurised before any champion served stay unscored
    (a range on the form scores them)."""
    newest = latest_day(warehouse)
    first_served = warehouse.scalar(select(func.min(prediction_batches.c.sample_date)))
    if newest is None or first_served is None or not catch_up_days:
        return []
    start = max(newest - dt.timedelta(days=catch_up_days), first_served + dt.timedelta(days=1))
    f, p = feature_batches.c, prediction_batches.c
    scored = select(p.sample_date).where(p.sample_date == f.sample_date).exists()
    query = (
        select(f.sample_date)
        .where(f.sample_date.between(start, newest), f.status == "published", ~scored)
        .order_by(f.sample_date)
    )
    return [row["sample_date"] for row in warehouse.fetch(query)]


def days_to_score(warehouse: Warehouse, first: dt.date, last: dt.date | None = None) -> list[dt.date]:
    """The days of ``[first, last]`` with published features.

    A day of the range whose observations were published but whose features were never built is
    an error that names it (scoring would otherwise stop quietly at the last featurised day); days
    that were never published, or quarantined, have nothing to score and are left out."""
    from sluice.features import unbuilt_days

    last = last or first
    if last < first:
        raise ScoringError(f"the last day to score ({last}) is before the first ({first})")
    unbuilt = unbuilt_days(warehouse, last, (last - first).days)
    if unbuilt:
        listed = ", ".join(str(d) for d in unbuilt)
        raise ScoringError(
            f"{len(unbuilt)} day(s) of {first} to {last} were published but have no features: {listed}. "
            "Build them first (trigger sluice_features with that day), then score the range again"
        )
    days = published_days(warehouse, first, last)
    if not days:
        span = str(first) if first == last else f"{first} to {last}"
        raise ScoringError(
            f"no published features for {span}: build them first (sluice_features), "
            "or see feature_batches/quarantine for why they were held back"
        )
    return days


def plan_days(
    warehouse: Warehouse,
    *,
    first: dt.date | None,
    last: dt.date | None,
    feature_days: Iterable[dt.date],
    champion_changed: bool,
    fallback: dt.date | None = None,
    catch_up_days: int = 0,
) -> list[dt.date]:
    """The days a run scores, oldest first.

    * A day given on the form: the published days from it through ``last`` (an error if none, or
      if a day of the range was published without features).
    * Else the days the ``features`` events name, plus, when the champion changed, the newest day
      with features: a new champion serves from the latest day on; older days keep the predictions
      that were served, with their version. Plus :func:`unscored_days`: days a lost event left
      without predictions.
    * Else (a run with neither) ``fallback``, the run's own day, if any.
    """
    if first is not None:
        return days_to_score(warehouse, first, last)
    if last is not None:
        raise ScoringError(
            f"last day {last} given without a first day: fill in 'day' too (the range starts there)"
        )
    days = set(feature_days)
    if days or champion_changed:
        days |= set(unscored_days(warehouse, catch_up_days))
    if champion_changed:
        latest = latest_day(warehouse)
        if latest is not None:
            days.add(latest)
    elif not days and fallback is not None:
        days.add(fallback)
    return sorted(days)


def score_run(
    warehouse: Warehouse,
    store: ModelStore,
    pinned: Pinned,
    *,
    plan: Mapping[str, Any],
    scored_at: dt.datetime,
    scored_by: str,
    chunk_size: int,
) -> list[ScoreResult]:
    """What a scoring run does: the days :func:`plan_days` picks from ``plan`` (its keyword
    arguments), each scored with the pinned version; none when there is no day to score."""
    days = plan_days(warehouse, **plan)
    if not days:
        return []
    return score_days(
        warehouse, store, days, pinned, scored_at=scored_at, scored_by=scored_by, chunk_size=chunk_size
    )
