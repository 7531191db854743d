"""The flights domain: a deterministic replay of the real 2013 data, cancelled and diverted flights
labelled (never dropped), weather only as known by the scheduled departure, and validation that
fits the real data (and surfaces its quirks)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sluice.domains.flights import DOMAIN
from sluice.domains.flights import source as replay
from sluice.sources import DeliveryNotReady, SourceError

LATER = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BLIZZARD = dt.date(2013, 2, 8)  # Nemo: most of the afternoon's flights were cancelled


def test_a_day_is_the_days_departures_as_the_data_has_them():
    flights = replay.flights()
    assert len(flights) == 336_776, "the whole year, every flight"
    day = replay.FlightsReplay().fetch(dt.date(2013, 1, 1), LATER)
    assert len(day) == 842
    assert list(day.columns) == list(DOMAIN.delivered_names)
    assert day["flight_id"].is_unique
    assert (day.map(lambda v: v is None or isinstance(v, str))).all(axis=None), "delivered as text"
    again = replay.FlightsReplay().fetch(dt.date(2013, 1, 1), LATER)
    pd.testing.assert_frame_equal(day, again)


def test_cancelled_flights_are_delivered_and_labelled_late():
    day = replay.FlightsReplay().fetch(BLIZZARD, LATER)
    cancelled = day[day["dep_time"].isna()]
    assert len(cancelled) > 300, "the blizzard's cancellations are in the delivery"
    labels = replay.FlightsReplay(label_delay_days=1).fetch_labels(BLIZZARD + dt.timedelta(days=1), LATER)
    assert set(labels["flight_id"]) == set(day["flight_id"]), "every flight gets a label"
    late = labels.set_index("flight_id")["late"]
    assert (late[cancelled["flight_id"]] == "1").all()
    outcomes = replay.outcomes(BLIZZARD).set_index("flight_id")
    assert (outcomes.loc[cancelled["flight_id"], "outcome"] == "cancelled").all()


def test_the_label_is_late_arrival_or_no_arrival_at_all():
    flights = replay.flights()
    arrived = flights[flights["outcome"] == "arrived"]
    assert ((arrived["arr_delay"] > 15) == (arrived["late"] == 1)).all()
    assert (flights.loc[flights["outcome"] != "arrived", "late"] == 1).all()
    counts = flights["outcome"].value_counts()
    assert (counts["cancelled"], counts["diverted"]) == (8255, 1175)
    assert flights["late"].mean() == pytest.approx(0.2585, abs=0.0005)


def test_weather_is_only_what_was_observed_by_the_scheduled_departure():
    flights = replay.flights()
    assert (flights["observed"] <= flights["scheduled"]).all(), "no weather from after the departure"
    assert (flights["scheduled"] - flights["observed"]).max() < pd.Timedelta(hours=30)


def test_labels_arrive_the_next_day_and_days_outside_the_data_are_refused():
    source = replay.FlightsReplay(label_delay_days=1)
    assert source.fetch_labels(dt.date(2013, 1, 1), LATER).empty, "no flights the day before the data"
    with pytest.raises(SourceError, match="holds the departures of 2013-01-01 to 2013-12-31, not 2014-01-01"):
        source.fetch(dt.date(2014, 1, 1), LATER)
    during = dt.datetime(2013, 1, 1, 20, tzinfo=dt.UTC)
    with pytest.raises(DeliveryNotReady, match="once the day is over"):
        source.fetch(dt.date(2013, 1, 1), during)


def test_local_days_and_local_features():
    from sluice.parsing import to_typed

    day = replay.FlightsReplay().fetch(dt.date(2013, 7, 4), LATER)
    typed = to_typed(day.reset_index(drop=True), DOMAIN)
    from sluice.dates import day_bounds

    start, end = day_bounds(dt.date(2013, 7, 4), DOMAIN.timezone)
    assert typed["scheduled_at"].between(start, end).all(), "a day's flights are its local day's"
    assert (typed["scheduled_at"] >= pd.Timestamp("2013-07-04T09:00Z")).all(), "05:00 EDT at the earliest"
    from sluice.features import row_features

    out = row_features(typed, DOMAIN)
    assert set(out["weekday"]) == {3.0}, "Thursday in New York"
    assert set(out["month"]) == {7.0}
    assert set(out["carrier"]) <= set(DOMAIN.column("carrier").categories)


def test_the_last_day_of_2013_is_held_back_because_its_weather_stopped(warehouse, tmp_path):
    """The data's weather ends on 2013-12-30: GX holds back 12-31 as a batch, naming the rule."""
    from sluice import checking, ingest
    from sluice.warehouse import Warehouse

    store = Warehouse(str(warehouse.url.render_as_string(hide_password=False)), domain=DOMAIN)
    store.drop_tables()
    store.create_tables()
    source = replay.FlightsReplay()
    for day, expected in ((dt.date(2013, 12, 30), "publish"), (dt.date(2013, 12, 31), "quarantine")):
        ingest.land(store, source, day, LATER)
        _, verdict = checking.validate(store, day, gx_root=tmp_path, tolerance=0.05, as_of=LATER)
        assert verdict.decision == expected, verdict.message("b", day)
    assert [f.rule for f in verdict.failures] == ["expect_column_values_to_be_between(weather_age)"]
    assert "weather feed" in verdict.message("b", day)
    store.drop_tables()
