"""Expectations for one day of model inputs (``features``), checked before they are written, generated
from the domain's feature set.

Features are derived from validated observations, so a failure here means the feature code or its
inputs changed in a way nobody intended: every expectation holds back the whole day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations import BATCH, meta
from sluice.domain import COUNT

if TYPE_CHECKING:
    from sluice.domain import Domain

SUITE = "features.day"
IDENTITY = ("sample_id", "entity", "sampled_at", "feature_version")


def _between(column: str, bounds: tuple[float | None, float | None], why: str) -> gxe.Expectation:
    low, high = bounds
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=low, max_value=high, meta=meta(BATCH, why)
    )


def features_suite(domain: Domain) -> gx.ExpectationSuite:
    """The suite for the domain's feature set (the frame's index is the row's number)."""
    version = domain.features.version
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*IDENTITY, *domain.feature_names],
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
    ]
    for derived in domain.features.derived:
        if derived.range is not None:
            expectations.append(_between(derived.name, derived.range, "derived range"))
        if derived.not_null:
            expectations.append(
                gxe.ExpectColumnValuesToNotBeNull(column=derived.name, meta=meta(BATCH, "derived total"))
            )
    for aggregate in domain.features.history:
        if aggregate.range is not None:
            expectations.append(_between(aggregate.name, aggregate.range, "derived range"))
        if aggregate.how == COUNT:
            expectations.append(
                gxe.ExpectColumnValuesToNotBeNull(column=aggregate.name, meta=meta(BATCH, "derived total"))
            )
    for name in domain.numeric:
        column = domain.column(name)
        if column.range is not None:
            expectations.append(_between(name, column.range, "plausible range"))
    return gx.ExpectationSuite(name=SUITE, expectations=expectations)
