"""Where a day's batch comes from. A source delivers frames exactly as it received them.

``fetch(day, as_of)`` returns the day's observations; ``fetch_labels(day, as_of)`` the labels
that arrived on ``day``. Both raise :class:`DeliveryNotReady` when the delivery is not there yet at
``as_of`` (the DAG retries later).

Every domain can read the landing folder (:mod:`sluice.sources.landing`); a domain declares its
own sources beside it (``Domain.sources``: a name and a factory taking the settings and the domain).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from sluice.settings import ConfigError, Settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DeliveryNotReady", "Source", "SourceError", "make_source"]

LANDING = "landing"


class DeliveryNotReady(RuntimeError):
    """The day's batch has not been delivered yet; try again later."""


class SourceError(ValueError):
    """A source is configured in a way it cannot work with (a scenario file, a data package): the
    message names what; retrying does not help."""


class Source(Protocol):
    name: str

    def fetch(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame: ...

    def fetch_labels(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame: ...


def make_source(settings: Settings, kind: str | None = None) -> Source:
    """The source named by ``kind`` (a Param), else by ``SLUICE_SOURCE``, else the domain's first."""
    domain = settings.domain
    kind = kind or settings.source
    if kind == LANDING:
        from sluice.sources.landing import LandingSource

        return LandingSource(settings.landing, label_columns=domain.label_columns)
    factory = domain.sources.get(kind)
    if factory is None:
        raise ConfigError(
            f"source {kind!r} is not one of domain {domain.name!r}'s: {', '.join(domain.source_names())}"
        )
    return factory(settings, domain)
