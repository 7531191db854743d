"""Expectations for a delivered day of water samples (``raw_observations``).

Two suites, run in order on the same batch:

* ``raw_observations.delivered`` — on the batch *as delivered* (text): the schema, the volume, and
  values that must parse (numbers, timestamps) or belong to a known set.
* ``raw_observations.values`` — on the typed batch: plausible ranges, null shares, the day.

A failure of a ``batch``-scope expectation holds back the whole delivery; ``row``-scope failures
hold back just the rows that broke them (see ``sluice.validation``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations import BATCH, ROW, meta
from sluice.schema import MEASUREMENTS, SOURCE_COLUMNS

DELIVERED = "raw_observations.delivered"
VALUES = "raw_observations.values"

NUMBER = r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$"
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$"

# Physically plausible ranges for drinking water (units as in the Water Potability data set).
RANGES: Mapping[str, tuple[float, float]] = {
    "ph": (0.0, 14.0),
    "hardness": (0.0, 1_000.0),  # mg/L
    "solids": (0.0, 100_000.0),  # ppm
    "chloramines": (0.0, 20.0),  # ppm
    "sulfate": (0.0, 2_000.0),  # mg/L
    "conductivity": (0.0, 5_000.0),  # μS/cm
    "organic_carbon": (0.0, 100.0),  # ppm
    "trihalomethanes": (0.0, 500.0),  # μg/L
    "turbidity": (0.0, 100.0),  # NTU
}

# Largest tolerated share of missing values per column; the usual shares are 15% (ph),
# 24% (sulfate) and 5% (trihalomethanes), so these leave room for a bad day, not a dead sensor.
MAX_NULL_SHARE: Mapping[str, float] = {
    "ph": 0.30,
    "sulfate": 0.40,
    "trihalomethanes": 0.15,
} | {c: 0.05 for c in MEASUREMENTS if c not in ("ph", "sulfate", "trihalomethanes")}


@dataclass(frozen=True)
class RawSuiteConfig:
    stations: tuple[str, ...]
    min_rows: int = 1
    max_rows: int = 20_000_000
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(RANGES))
    max_null_share: Mapping[str, float] = field(default_factory=lambda: dict(MAX_NULL_SHARE))


def delivered_suite(config: RawSuiteConfig) -> gx.ExpectationSuite:
    """Checks on the batch as delivered. Parameters: ``published_elsewhere`` (ids of other days)."""
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*SOURCE_COLUMNS, "row_number"], exact_match=True, meta=meta(BATCH, "schema adherence")
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=config.min_rows, max_value=config.max_rows, meta=meta(BATCH, "delivery completeness")
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="sample_id", meta=meta(ROW, "entity identity")),
        gxe.ExpectColumnValuesToBeUnique(column="sample_id", meta=meta(ROW, "duplicate delivery")),
        gxe.ExpectColumnValuesToNotBeInSet(
            column="sample_id",
            value_set={"$PARAMETER": "published_elsewhere"},
            meta=meta(ROW, "replayed samples"),
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="station_id", meta=meta(ROW, "entity identity")),
        gxe.ExpectColumnValuesToBeInSet(
            column="station_id", value_set=list(config.stations), meta=meta(ROW, "known stations")
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="sampled_at", meta=meta(ROW, "event time")),
        gxe.ExpectColumnValuesToMatchRegex(
            column="sampled_at", regex=ISO_TIMESTAMP, meta=meta(ROW, "type coercible")
        ),
    ]
    expectations += [
        gxe.ExpectColumnValuesToMatchRegex(column=c, regex=NUMBER, meta=meta(ROW, "type coercible"))
        for c in MEASUREMENTS
    ]
    return gx.ExpectationSuite(name=DELIVERED, expectations=expectations)


def values_suite(config: RawSuiteConfig) -> gx.ExpectationSuite:
    """Checks on the typed batch. Parameters: ``day_start`` and ``day_end`` (UTC datetimes)."""
    expectations: list[gxe.Expectation] = [
        # a timestamp outside what the warehouse can store (e.g. year 2999) does not parse
        gxe.ExpectColumnValuesToNotBeNull(column="sampled_at", meta=meta(ROW, "parsable time")),
        gxe.ExpectColumnValuesToBeBetween(
            column="sampled_at",
            min_value={"$PARAMETER": "day_start"},
            max_value={"$PARAMETER": "day_end"},
            meta=meta(ROW, "wrong day"),
        ),
    ]
    for column in MEASUREMENTS:
        low, high = config.ranges[column]
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=low, max_value=high, meta=meta(ROW, "physical range")
            )
        )
        # an aggregate, not a map expectation: it does not list every missing value as unexpected
        expectations.append(
            gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column=column,
                min_value=round(1.0 - config.max_null_share[column], 6),
                max_value=1.0,
                meta=meta(BATCH, "sensor outage"),
            )
        )
    return gx.ExpectationSuite(name=VALUES, expectations=expectations)
