"""Which day a run works on.

Every DAG that processes one day finds it the same way: the ``day`` Param when the run gives one,
else the triggering asset event's ``extra["day"]``, else the run's data interval (logical date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sluice.errors import SluiceError


class DayError(SluiceError, ValueError):
    """The run names no usable day; the message says where it looked."""


def parse_day(value: Any, *, where: str = "day") -> dt.date:
    """``YYYY-MM-DD`` (or a date/datetime) to a date; anything else is a clear error."""
    if isinstance(value, dt.date):  # also datetimes, and pendulum's subclasses: return a plain date
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise DayError(f"{where}={value!r} is not a day in the form YYYY-MM-DD")


def resolve_day(
    param: Any,
    event_extras: Iterable[Mapping[str, Any]] = (),
    logical_date: dt.datetime | dt.date | None = None,
) -> dt.date:
    """The day a run works on: the Param, else the newest asset event's day, else the logical date."""
    if param not in (None, ""):
        return parse_day(param, where="Param 'day'")
    days = [parse_day(e["day"], where="asset event extra 'day'") for e in event_extras if e.get("day")]
    if days:
        return max(days)
    if logical_date is not None:
        return parse_day(logical_date)
    raise DayError(
        "no day to work on: give the Param 'day' (YYYY-MM-DD), or trigger the run from an asset "
        "event whose extra has 'day', or run it with a logical date"
    )


def resolve_days(
    param: Any,
    event_extras: Iterable[Mapping[str, Any]] = (),
    logical_date: dt.datetime | dt.date | None = None,
) -> list[dt.date]:
    """Every day a run works on, oldest first: the Param, else *all* triggering events' days, else
    the logical date.

    The scheduler folds the asset events that arrive before a run starts into that one run (a
    backfill of the upstream DAG publishes several days at once), so a DAG downstream of an asset
    must process every day they name, not only the newest. An event's extra names its days in
    ``days`` (a list) or ``day``.
    """
    if param not in (None, ""):
        return [parse_day(param, where="Param 'day'")]
    days: set[dt.date] = set()
    for extra in event_extras:
        named = extra.get("days") or ([extra["day"]] if extra.get("day") else [])
        days.update(parse_day(d, where="asset event extra 'days'") for d in named)
    if days:
        return sorted(days)
    return [resolve_day(None, (), logical_date)]


def day_bounds(day: dt.date, timezone: str = "UTC") -> tuple[dt.datetime, dt.datetime]:
    """The first and the last microsecond of ``day`` where its days are counted (``timezone``), in UTC."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start.astimezone(dt.UTC), (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC)
