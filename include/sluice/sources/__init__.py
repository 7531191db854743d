"""Where a day's batch comes from. A source delivers frames exactly as it received them.

``fetch(day, as_of)`` returns the day's observations; ``fetch_labels(day, as_of)`` the lab results
that arrived on ``day``. Both raise :class:`DeliveryNotReady` when the delivery is not there yet at
``as_of`` (the DAG retries later).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from sluice.settings import ConfigError, Settings
from sluice.simulator import DeliveryNotReady

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DeliveryNotReady", "Source", "make_source"]


class Source(Protocol):
    name: str

    def fetch(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame: ...

    def fetch_labels(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame: ...


def make_source(settings: Settings, kind: str | None = None) -> Source:
    """The source named by ``kind`` (a Param), else by ``SLUICE_SOURCE``."""
    kind = kind or settings.source
    if kind == "simulated":
        from sluice.sources.simulated import SimulatedSource

        return SimulatedSource.from_settings(settings)
    if kind == "landing":
        from sluice.sources.landing import LandingSource

        return LandingSource(settings.landing)
    raise ConfigError(f"source {kind!r} is not one of: simulated, landing")
