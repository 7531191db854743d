"""Model inputs for one day of published observations (the ``features`` table), from the domain's
declaration (:class:`sluice.domain.FeatureSet`; every row carries its version):

* the domain's inputs as published: numeric columns as numbers, categorical ones as text,
  **missing values kept missing** (imputation, scaling and encoding learn from data, so they live
  inside the model pipeline and are fitted on the training window only);
* the domain's *derived* row features, each computed from the sample's own values;
* *history* aggregates: per entity (or per the columns an aggregate names), over the
  ``history_days`` days **before** the sample's day, counts and means of its columns and the share
  of class 1 among the labels that had arrived by the day before.

Nothing here reads a day after the one being built: the history covers
``[day - history_days, day - 1]``, label rates only count labels that arrived by ``day - 1``,
and the day's own rows are only used row by row.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, select

from sluice import quarantine, slicing
from sluice.domain import CATEGORICAL, COUNT, LABEL_RATE, Aggregate, Domain
from sluice.errors import SluiceError
from sluice.tables import feature_batches, ingest_batches, labels, quarantine_rows
from sluice.transaction import Transaction
from sluice.validation import GXRunner
from sluice.verdict import PUBLISH, QUARANTINE, Verdict, decide
from sluice.warehouse import Warehouse

log = logging.getLogger(__name__)

DEFAULT_HISTORY_DAYS = 7
TABLE = "features"
KEYS = ("sample_date", "sample_id", "entity", "sampled_at")


class FeatureError(SluiceError, RuntimeError):
    """Features cannot be built for the day asked; the message says why and what to do."""


def history_window(day: dt.date, history_days: int) -> tuple[dt.date, dt.date]:
    """The first and last day of the history used for ``day``: strictly before it."""
    if history_days < 1:
        raise ValueError(f"history_days={history_days} must be at least 1")
    return day - dt.timedelta(days=history_days), day - dt.timedelta(days=1)


def _group_key(domain: Domain, aggregate: Aggregate) -> tuple[str, ...]:
    return aggregate.by or (domain.entity,)


def history_groups(domain: Domain) -> dict[tuple[str, ...], list[Aggregate]]:
    """The domain's history aggregates by the columns they group on, in declaration order."""
    groups: dict[tuple[str, ...], list[Aggregate]] = {}
    for aggregate in domain.features.history:
        groups.setdefault(_group_key(domain, aggregate), []).append(aggregate)
    return groups


def _latest_labels(first: dt.date, last: dt.date):
    """Each sample's newest label among those that arrived from ``first`` to ``last`` (a correction
    wins). A sample of the window ``first``..``last`` cannot be labelled before its own day, so
    only the window's labels are ranked, not every label ever received."""
    lab = labels.c
    ranked = select(
        lab.sample_id,
        lab.label,
        func.row_number().over(partition_by=lab.sample_id, order_by=lab.label_date.desc()).label("rank"),
    ).where(lab.label_date.between(first, last))
    ranked = ranked.subquery("ranked")
    return select(ranked.c.sample_id, ranked.c.label).where(ranked.c.rank == 1).subquery("known")


def entity_history(
    warehouse: Warehouse, day: dt.date, history_days: int
) -> dict[tuple[str, ...], pd.DataFrame]:
    """The history aggregates of ``day``, one frame per grouping (indexed by its columns).

    Aggregated in the database: one row per group comes back, however large the days are. Means
    skip missing values; a group without history is absent from its frame.
    """
    domain = warehouse.domain
    first, last = history_window(day, history_days)
    o = warehouse.observations.c
    out = {}
    for key, aggregates in history_groups(domain).items():
        needs_labels = any(a.of == LABEL_RATE for a in aggregates)
        source = warehouse.observations
        known = None
        if needs_labels:
            known = _latest_labels(first, last)
            source = source.outerjoin(known, known.c.sample_id == o[domain.id])
        columns = []
        for a in aggregates:
            value = known.c.label if a.of == LABEL_RATE and known is not None else (o[a.of] if a.of else None)
            if a.how == COUNT:
                columns.append((func.count(value) if value is not None else func.count()).label(a.name))
            else:
                columns.append(func.avg(value * 1.0 if a.of == LABEL_RATE else value).label(a.name))
        query = (
            select(*(o[k] for k in key), *columns)
            .select_from(source)
            .where(and_(o.sample_date >= first, o.sample_date <= last))
            .group_by(*(o[k] for k in key))
        )
        names = [a.name for a in aggregates]
        frame = pd.DataFrame(warehouse.fetch(query), columns=[*key, *names])
        out[key] = frame.astype({n: "float64" for n in names}).set_index(list(key))
    return out


def row_features(rows: pd.DataFrame, domain: Domain) -> pd.DataFrame:
    """Features computed from each sample alone: the inputs and the derived ones (pure; a new frame)."""
    out = pd.DataFrame(index=rows.index)
    for name in domain.numeric:
        out[name] = rows[name].astype("float64")
    for name in domain.categorical:
        out[name] = _text(rows[name])
    for derived in domain.features.derived:
        value = derived.compute(rows)
        out[derived.name] = (
            _text(value)
            if derived.kind == CATEGORICAL
            else pd.Series(value, index=rows.index).astype("float64")
        )
    return out


def _text(values: pd.Series) -> pd.Series:
    series = pd.Series(values)
    return series.astype(object).where(series.notna(), None)


def build_features(
    day_rows: pd.DataFrame,
    history: dict[tuple[str, ...], pd.DataFrame],
    day: dt.date,
    domain: Domain,
) -> pd.DataFrame:
    """The ``features`` rows for one day's observations and its history (pure).

    ``history`` is :func:`entity_history`'s result for ``day``. Rows of other days are refused:
    a feature for day D is built from D's samples and the days before D, never from later ones.
    """
    if len(day_rows):
        days = set(pd.to_datetime(pd.unique(day_rows["sample_date"])).date)
        if days != {day}:
            raise FeatureError(f"features for {day}: got observations of {sorted(map(str, days))}")
    rows = day_rows.copy(deep=False)  # the values are shared, not copied: a piece can be large
    rows.index = pd.RangeIndex(len(rows))
    out = pd.DataFrame(
        {
            "sample_date": rows["sample_date"],
            "sample_id": rows[domain.id].astype(str),
            "entity": rows[domain.entity].astype(str),
            "sampled_at": rows[domain.event_time],
            "feature_version": domain.features.version,
        }
    )
    derived = row_features(rows, domain)
    for key, aggregates in history_groups(domain).items():
        frame = history.get(key)
        names = [a.name for a in aggregates]
        if frame is None or frame.empty:
            joined = pd.DataFrame({n: np.nan for n in names}, index=rows.index)
        else:
            joined = rows[list(key)].join(frame, on=list(key))
        for a in aggregates:
            column = joined[a.name].astype("float64")
            derived[a.name] = column.fillna(0.0) if a.how == COUNT else column
    # one copy of the parts into the frame's blocks; a concat of the parts made two or three (at
    # 250,000 rows it peaked at 170 MB against 62)
    columns = {name: out[name] for name in out.columns}
    columns |= {name: derived[name] for name in domain.feature_names}
    return pd.DataFrame(columns, index=rows.index)


def unbuilt_days(warehouse: Warehouse, up_to: dt.date, lookback_days: int) -> list[dt.date]:
    """Days in ``[up_to - lookback_days, up_to]`` with published observations but no features built.

    A run triggered by new observations also builds these, so a day whose trigger was lost (or
    whose features run failed) is caught up by the next run instead of staying without features.
    """
    first = up_to - dt.timedelta(days=lookback_days)
    b = ingest_batches.c
    query = (
        select(b.sample_date)
        .where(b.sample_date >= first, b.sample_date <= up_to, b.status == "published")
        .where(
            ~select(feature_batches.c.sample_date)
            .where(feature_batches.c.sample_date == b.sample_date)
            .exists()
        )
        .order_by(b.sample_date)
    )
    return [row["sample_date"] for row in warehouse.fetch(query)]


@dataclass(frozen=True)
class FeatureDay:
    """What building one day's features did."""

    day: dt.date
    version: str
    rows: int
    verdict: Verdict
    batch_id: str

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "feature_version": self.version,
            "rows": self.rows if self.verdict.decision == PUBLISH else 0,
            "decision": self.verdict.decision,
        }


def _no_rows(warehouse: Warehouse, day: dt.date) -> FeatureError:
    batch = warehouse.fetch(select(ingest_batches.c.status).where(ingest_batches.c.sample_date == day))
    status = batch[0]["status"] if batch else "not ingested"
    return FeatureError(
        f"no published observations for {day} (ingest status: {status}): run sluice_ingest for that day first"
    )


def _pieces(
    warehouse: Warehouse, day: dt.date, history: dict, piece_rows: int | None
) -> Iterator[pd.DataFrame]:
    """The day's ``features`` rows (without ``built_at``), a piece of about ``piece_rows``
    observations at a time in identifier order (None: the day at once), indexed by their row
    number in the day."""
    domain = warehouse.domain
    first = 0
    for day_rows in warehouse.iter_pieces(warehouse.observations, day, piece_rows, order_by=[domain.id]):
        frame = build_features(day_rows, history, day, domain)
        frame.index = pd.RangeIndex(first, first + len(frame))
        first += len(frame)
        yield frame


def _quarantine(
    tx: Transaction,
    warehouse: Warehouse,
    day: dt.date,
    verdict: Verdict,
    batch_id: str,
    as_of: dt.datetime,
    pieces: Iterable[pd.DataFrame],
) -> None:
    """Record the verdict; a day held back loses its features and its rows go to quarantine, built
    again a piece at a time (``pieces`` is read only then)."""
    q_batch, no_rows = quarantine.records(
        day, batch_id, TABLE, verdict, pd.DataFrame({"sample_id": []}), as_of
    )
    quarantine.write(tx, day, TABLE, verdict, q_batch, no_rows)
    if verdict.decision == QUARANTINE:
        tx.delete_partition(warehouse.features, day)
        for frame in pieces:
            checked = frame.drop(columns=["sample_date"])
            tx.insert(quarantine_rows, quarantine.records(day, batch_id, TABLE, verdict, checked, as_of)[1])


def build_day(
    warehouse: Warehouse,
    day: dt.date,
    *,
    history_days: int,
    gx_root: Path,
    as_of: dt.datetime,
    piece_rows: int | None = None,
) -> FeatureDay:
    """Build, validate and write the day's features (replacing the day's rows) in one transaction.

    When validation fails the day's features are removed (no stale rows stay visible), the rows
    go to quarantine with the GX result, and the returned verdict says ``quarantine``.

    With ``piece_rows`` (the DAG passes ``SLUICE_SLICE_ROWS``) the day is read, built, validated and
    written a piece at a time in the transaction: memory is set by the piece, not the day. The
    verdict is a single pass's (:func:`sluice.slicing.combine`: failing rows are the union of the
    pieces', the row count their sum; identifiers are unique: ``observations`` holds each once).
    """
    from expectations import features as feature_suites  # GX imports in seconds: only when it runs

    version = warehouse.domain.features.version
    batch = warehouse.fetch(select(ingest_batches.c.batch_id).where(ingest_batches.c.sample_date == day))
    history = entity_history(warehouse, day, history_days)
    batch_id = f"features-{version}-{batch[0]['batch_id'] if batch else day.isoformat()}"
    suite = feature_suites.features_suite(warehouse.domain)
    if piece_rows is not None:
        slicing.check_sliceable(suite, first=False)
    runner = GXRunner(gx_root)
    findings, urls, rows = [], [], 0
    with warehouse.transaction() as tx:
        tx.delete_partition(warehouse.features, day)
        for n, frame in enumerate(_pieces(warehouse, day, history, piece_rows)):
            found, url = runner.findings(
                suite,
                frame.drop(columns=["sample_date"]),
                run_name=batch_id if piece_rows is None else f"{batch_id}-piece{n + 1}",
                run_time=as_of,
            )
            findings += found
            urls += [url] if url else []
            rows += tx.insert(warehouse.features, frame.assign(built_at=as_of))
        if not rows:
            raise _no_rows(warehouse, day)  # nothing written: the transaction rolls back
        verdict = decide(rows, [f.failure for f in slicing.combine(findings, {})], tolerance=0.0)
        verdict = replace(verdict, validation_urls=tuple(urls))
        _quarantine(
            tx, warehouse, day, verdict, batch_id, as_of, _pieces(warehouse, day, history, piece_rows)
        )
        record = {
            "sample_date": day,
            "feature_version": version,
            "history_days": history_days,
            "row_count": rows,
            "status": "quarantined" if verdict.decision == QUARANTINE else "published",
            "validation_url": urls[0] if len(urls) == 1 else quarantine.url_list(urls),
            "built_at": as_of,
        }
        tx.replace_partition(feature_batches, day, pd.DataFrame([record]))
    return FeatureDay(day, version, rows, verdict, batch_id)


def with_unbuilt(warehouse: Warehouse, days: list[dt.date], catch_up_days: int) -> list[dt.date]:
    """``days`` plus every day published without features (see :func:`unbuilt_days`) in the
    ``catch_up_days`` before the newest published day (or the newest asked, when later), oldest first.

    Looking up to the newest published day, not only to the run's own: when two days are published
    at once, Airflow can fold the second day's asset event into the run the first one started, and
    no run would ever be asked for the second day."""
    if not catch_up_days:
        return sorted(days)
    b = ingest_batches.c
    newest = warehouse.scalar(select(func.max(b.sample_date)).where(b.status == "published"))
    up_to = max([*days, newest]) if newest else max(days)
    return sorted(set(days) | set(unbuilt_days(warehouse, up_to, catch_up_days)))


def summary(results: list[FeatureDay]) -> dict[str, Any]:
    """What the ``features`` asset event says about a run's days (all of them built)."""
    built = [r.summary() for r in results]
    return {
        "day": built[-1]["day"],
        "days": [b["day"] for b in built],
        "rows": sum(b["rows"] for b in built),
        "feature_version": built[-1]["feature_version"],
    }


@dataclass(frozen=True)
class Built:
    """What a run's features step did: the days built (published, in part when validation held
    some rows back), and the messages of the days whose features it held back whole."""

    published: list[FeatureDay]
    held: list[str]


def build_days(
    warehouse: Warehouse,
    asked: list[dt.date],
    *,
    catch_up_days: int,
    history_days: int,
    gx_root: Path,
    as_of: dt.datetime,
    piece_rows: int | None = None,
) -> Built:
    """Build each of the ``asked`` days, and the days published without features in the
    ``catch_up_days`` before them (:func:`with_unbuilt`; 0: only those asked), oldest first (what
    the features DAG's task does). A day that validation holds back does not stop the others."""
    days = with_unbuilt(warehouse, asked, catch_up_days)
    if set(days) - set(asked):
        log.warning(
            "also building days published without features: %s", [str(d) for d in days if d not in asked]
        )
    published, held = [], []
    for day in days:
        result = build_day(
            warehouse, day, history_days=history_days, gx_root=gx_root, as_of=as_of, piece_rows=piece_rows
        )
        message = result.verdict.message(result.batch_id, day, table="features")
        if result.verdict.decision == QUARANTINE:
            log.error(message)
            held.append(message)
        else:
            log.info(message)
            published.append(result)
    return Built(published, held)
