"""Expectations for labels (``labels``) delivered on one day, validated as text (the batch's index
is the row's number in the delivery). A time that matches the pattern but does not parse, or lies
after the run's time, is caught by ``sluice.ingest`` on the parsed values."""

from __future__ import annotations

from typing import TYPE_CHECKING

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations import BATCH, ROW, meta
from expectations.raw_observations import ISO_TIMESTAMP

if TYPE_CHECKING:
    from sluice.domain import Domain

SUITE = "labels.delivered"


def labels_suite(domain: Domain) -> gx.ExpectationSuite:
    id_, label, labelled_at = domain.label_columns
    return gx.ExpectationSuite(
        name=SUITE,
        expectations=[
            gxe.ExpectTableColumnsToMatchSet(
                column_set=[id_, label, labelled_at],
                exact_match=True,
                meta=meta(BATCH, "schema adherence"),
            ),
            gxe.ExpectColumnValuesToNotBeNull(column=id_, meta=meta(ROW, "entity identity")),
            gxe.ExpectColumnValuesToBeUnique(column=id_, meta=meta(ROW, "duplicate result")),
            gxe.ExpectColumnValueLengthsToBeBetween(
                column=id_,
                min_value=None,
                max_value=domain.column(id_).length_limit,
                meta=meta(ROW, "bounded length"),
            ),
            gxe.ExpectColumnValuesToNotBeNull(column=label, meta=meta(ROW, "missing outcome")),
            gxe.ExpectColumnValuesToBeInSet(
                column=label, value_set=["0", "1"], meta=meta(ROW, "binary outcome")
            ),
            gxe.ExpectColumnValuesToNotBeNull(column=labelled_at, meta=meta(ROW, "event time")),
            gxe.ExpectColumnValuesToMatchRegex(
                column=labelled_at, regex=ISO_TIMESTAMP, meta=meta(ROW, "type coercible")
            ),
        ],
    )
