"""Where a day's batch comes from. A source delivers frames exactly as it received them.

``fetch(day, as_of)`` returns the day's observations; ``fetch_labels(day, as_of)`` the labels
that arrived on ``day``. Both raise :class:`DeliveryNotReady` when the delivery is not there yet at
``as_of`` (the DAG retries later).

A source that reads files may instead offer ``deliver(day, as_of)`` and ``deliver_labels(day,
as_of)``, returning a :class:`Delivery`: the day file by file, with where each row came from and
what could not be read. Ingestion then judges each file's structure on its own, quarantines a file
it cannot use as a file (named, its bytes kept) and a malformed row as a row, and judges the rest.

Every domain can read the landing folder (:mod:`sluice.sources.landing`); a domain declares its
own sources beside it (``Domain.sources``: a name and a factory taking the settings and the domain).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sluice.errors import NotReady, SluiceError
from sluice.settings import ConfigError, Settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DeliveredFile",
    "Delivery",
    "DeliveryNotReady",
    "Part",
    "Rows",
    "Source",
    "SourceError",
    "make_source",
]

LANDING = "landing"


class DeliveryNotReady(NotReady, RuntimeError):
    """The day's batch has not been delivered yet; try again later."""


class SourceError(SluiceError, ValueError):
    """A source is configured in a way it cannot work with (a scenario file, a data package): the
    message names what; retrying does not help."""


@dataclass(frozen=True)
class DeliveredFile:
    """One delivered file. ``problem`` says why none of its rows can be used (unreadable, not a
    CSV or Parquet file, over the size limit, its columns); such a file is kept whole at ``kept``."""

    name: str
    size: int
    sha256: str | None = None
    rows: int | None = None
    columns: tuple[str, ...] = ()
    problem: str | None = None
    kept: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveredFile:
        return cls(**{**data, "columns": tuple(data.get("columns") or ())})


@dataclass
class Part:
    """The rows read from one file (or from a source that delivers frames): text as delivered, in
    the file's order. ``source_rows`` is each row's 1-based position among the file's records;
    ``defects`` says, per row, why the row itself is malformed (None when it is not)."""

    file: DeliveredFile | None
    frame: pd.DataFrame
    source_rows: list[int] = field(default_factory=list)
    defects: list[str | None] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def chunks(self, rows: int | None = None) -> Iterator[Part]:
        """The part in consecutive pieces of at most ``rows`` rows (None: whole)."""
        if rows is None or len(self.frame) <= rows:
            yield self
            return
        for start in range(0, len(self.frame), rows):
            piece = slice(start, start + rows)
            defects = self.defects[piece] if self.defects else []
            yield Part(self.file, self.frame.iloc[piece], self.source_rows[piece], defects)


class Rows(Protocol):
    """Where a delivery's rows come from: a :class:`Part` in memory, or a file read when iterated
    (:class:`sluice.sources.landing.FilePart`), so a day need not fit in memory to land."""

    file: DeliveredFile | None

    @property
    def rows(self) -> int: ...

    @property
    def columns(self) -> list[str]: ...

    def chunks(self, rows: int | None = None) -> Iterator[Part]: ...


@dataclass
class Delivery:
    """A day as delivered: the readable parts in order, and every file (readable or not)."""

    parts: Sequence[Rows]
    files: list[DeliveredFile]

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def columns(self) -> list[str]:
        """Every column of the parts, in the order first delivered."""
        return list(dict.fromkeys(c for p in self.parts for c in p.columns))

    def chunks(self, rows: int | None = None) -> Iterator[Part]:
        """The day's rows in order, in pieces of about ``rows`` rows (None: a part at a time)."""
        for part in self.parts:
            yield from part.chunks(rows)


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

        return LandingSource(
            settings.landing,
            label_columns=domain.label_columns,
            keep=settings.quarantine_dir / "files",
            max_day_bytes=settings.max_day_mb * 2**20,
        )
    factory = domain.sources.get(kind)
    if factory is None:
        raise ConfigError(
            f"source {kind!r} is not one of domain {domain.name!r}'s: {', '.join(domain.source_names())}"
        )
    return factory(settings, domain)
