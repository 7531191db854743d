"""Expectations for one day of model inputs (``features``), checked before they are written.

Features are derived from validated observations, so a failure here means the feature code or its
inputs changed in a way nobody intended: every expectation holds back the whole day.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations import BATCH, meta
from expectations.raw_observations import RANGES
from sluice.schema import FEATURES, MEASUREMENTS, STATION_MEANS

SUITE = "features.day"
IDENTITY = ("sample_id", "station_id", "sampled_at", "feature_version")


def features_suite(version: str) -> gx.ExpectationSuite:
    """The suite for feature-set ``version`` (the frame also carries ``row_number``)."""
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=["row_number", *IDENTITY, *FEATURES],
            exact_match=True,
            meta=meta(BATCH, "schema adherence"),
        ),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=meta(BATCH, "volume")),
        gxe.ExpectColumnValuesToNotBeNull(column="sample_id", meta=meta(BATCH, "entity identity")),
        gxe.ExpectColumnValuesToBeUnique(column="sample_id", meta=meta(BATCH, "no duplicates")),
        gxe.ExpectColumnValuesToNotBeNull(column="sampled_at", meta=meta(BATCH, "event time")),
        gxe.ExpectColumnValuesToBeInSet(
            column="feature_version", value_set=[version], meta=meta(BATCH, "one version")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="ph_from_neutral", min_value=0, max_value=7, meta=meta(BATCH, "derived range")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="missing_measurements",
            min_value=0,
            max_value=len(MEASUREMENTS),
            meta=meta(BATCH, "derived range"),
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="missing_measurements", meta=meta(BATCH, "derived total")),
        gxe.ExpectColumnValuesToBeBetween(
            column="station_history_samples", min_value=0, meta=meta(BATCH, "derived range")
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="station_history_samples", meta=meta(BATCH, "derived total")
        ),
    ]
    for measurement, mean in zip(MEASUREMENTS, STATION_MEANS, strict=True):
        low, high = RANGES[measurement]
        for column in (measurement, mean):
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column, min_value=low, max_value=high, meta=meta(BATCH, "plausible range")
                )
            )
    return gx.ExpectationSuite(name=SUITE, expectations=expectations)
