"""Expectations for lab results (``labels``) delivered on one day, validated as text."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations import BATCH, ROW, meta
from expectations.raw_observations import ISO_TIMESTAMP
from sluice.schema import LABEL_COLUMNS

SUITE = "labels.delivered"


def labels_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=SUITE,
        expectations=[
            gxe.ExpectTableColumnsToMatchSet(
                column_set=[*LABEL_COLUMNS, "row_number"],
                exact_match=True,
                meta=meta(BATCH, "schema adherence"),
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="sample_id", meta=meta(ROW, "entity identity")),
            gxe.ExpectColumnValuesToBeUnique(column="sample_id", meta=meta(ROW, "duplicate result")),
            gxe.ExpectColumnValuesToNotBeNull(column="label", meta=meta(ROW, "missing outcome")),
            gxe.ExpectColumnValuesToBeInSet(
                column="label", value_set=["0", "1"], meta=meta(ROW, "binary outcome")
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="labelled_at", meta=meta(ROW, "event time")),
            gxe.ExpectColumnValuesToMatchRegex(
                column="labelled_at", regex=ISO_TIMESTAMP, meta=meta(ROW, "type coercible")
            ),
        ],
    )
