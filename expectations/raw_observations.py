"""Expectations for a delivered day of observations (``raw_observations``), generated from the
domain's declaration (:mod:`sluice.domain`) plus the domain's own.

Two suites, run in order on the same batch:

* ``raw_observations.delivered`` — on the batch *as delivered* (text): the schema, the volume, and
  values that must parse (numbers, timestamps) or belong to a declared set.
* ``raw_observations.values`` — on the typed batch: declared ranges, null shares, the day.

A failure of a ``batch``-scope expectation holds back the whole delivery; ``row``-scope failures
hold back just the rows that broke them (see ``sluice.validation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations import BATCH, DELIVERED, ROW, VALUES, meta
from sluice.domain import CATEGORICAL, ENTITY, EVENT_TIME, FLOAT, ID, INFO, INTEGER, NUMERIC, TEXT, TIMESTAMP

if TYPE_CHECKING:
    from sluice.domain import Domain

# ASCII digits only: ``\d`` also matches the digits of other scripts, which do not parse. What
# matches and still does not parse (an exponent that overflows, 31 February) is caught by
# ``sluice.ingest.parse_failures`` on the parsed values.
NUMBER = r"^\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?\s*$"
WHOLE_NUMBER = r"^\s*[-+]?[0-9]{1,16}(?:\.0*)?\s*$"
ISO_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?$"
)


def delivered_suite(domain: Domain) -> gx.ExpectationSuite:
    """Checks on the batch as delivered. Parameters: ``published_elsewhere`` (ids of other days).

    The batch's rows are those of the files that could be used, malformed rows left out (landing
    judges both, :mod:`sluice.sources.landing`); its index is the row's number in the delivery,
    so no column of a delivery can take the place of one Sluice adds."""
    id_, entity, event = domain.id, domain.entity, domain.event_time
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(domain.delivered_names),
            exact_match=True,
            meta=meta(BATCH, "schema adherence"),
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, max_value=domain.max_rows_per_day, meta=meta(BATCH, "delivery completeness")
        ),
        gxe.ExpectColumnValuesToNotBeNull(column=id_, meta=meta(ROW, "entity identity")),
        gxe.ExpectColumnValuesToBeUnique(column=id_, meta=meta(ROW, "duplicate delivery")),
        gxe.ExpectColumnValuesToNotBeInSet(
            column=id_, value_set={"$PARAMETER": "published_elsewhere"}, meta=meta(ROW, "replayed samples")
        ),
        gxe.ExpectColumnValuesToNotBeNull(column=entity, meta=meta(ROW, "entity identity")),
        gxe.ExpectColumnValuesToNotBeNull(column=event, meta=meta(ROW, "event time")),
        gxe.ExpectColumnValuesToMatchRegex(
            column=event, regex=ISO_TIMESTAMP, meta=meta(ROW, "type coercible")
        ),
    ]
    expectations.append(
        gxe.ExpectColumnValueLengthsToBeBetween(
            column=id_,
            min_value=None,
            max_value=domain.column(id_).length_limit,
            meta=meta(ROW, "bounded length"),
        )
    )
    for column in domain.delivered:
        if column.role in (ID, EVENT_TIME):
            continue
        if column.dtype in (FLOAT, INTEGER):
            regex = WHOLE_NUMBER if column.dtype == INTEGER else NUMBER
            expectations.append(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=column.name, regex=regex, meta=meta(ROW, "type coercible")
                )
            )
        elif column.dtype == TIMESTAMP:
            expectations.append(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=column.name, regex=ISO_TIMESTAMP, meta=meta(ROW, "type coercible")
                )
            )
        elif column.categories is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=column.name,
                    value_set=list(column.categories),
                    meta=meta(ROW, "known entities" if column.role == ENTITY else "known categories"),
                )
            )
        if column.dtype == TEXT:
            expectations.append(
                gxe.ExpectColumnValueLengthsToBeBetween(
                    column=column.name,
                    min_value=None,
                    max_value=column.length_limit,
                    meta=meta(ROW, "bounded length"),
                )
            )
    if domain.delivered_expectations is not None:
        expectations += list(domain.delivered_expectations())
    return gx.ExpectationSuite(name=DELIVERED, expectations=expectations)


def values_suite(domain: Domain) -> gx.ExpectationSuite:
    """Checks on the typed batch. Parameters: ``day_start`` and ``day_end`` (UTC datetimes: the
    day's bounds), ``run_time`` (no event happens after the run)."""
    event = domain.event_time
    expectations: list[gxe.Expectation] = [
        # a timestamp outside what the warehouse can store (e.g. year 2999) does not parse
        gxe.ExpectColumnValuesToNotBeNull(column=event, meta=meta(ROW, "parsable time")),
        gxe.ExpectColumnValuesToBeBetween(
            column=event,
            min_value={"$PARAMETER": "day_start"},
            max_value={"$PARAMETER": "day_end"},
            meta=meta(ROW, "wrong day"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=event, min_value=None, max_value={"$PARAMETER": "run_time"}, meta=meta(ROW, "future time")
        ),
    ]
    for column in domain.delivered:
        if column.role not in (NUMERIC, CATEGORICAL, INFO):
            continue
        if column.range is not None:
            low, high = column.range
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column.name, min_value=low, max_value=high, meta=meta(ROW, "declared range")
                )
            )
        # an aggregate, not a map expectation: it does not list every missing value as unexpected
        expectations.append(
            gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column=column.name,
                min_value=round(1.0 - column.max_null_share, 6),
                max_value=1.0,
                meta=meta(BATCH, "missing values"),
            )
        )
    if domain.value_expectations is not None:
        expectations += list(domain.value_expectations())
    return gx.ExpectationSuite(name=VALUES, expectations=expectations)
