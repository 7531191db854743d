"""The ingestion steps on a real warehouse (SQLite and PostgreSQL): idempotent, nothing lost."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from sluice import checking, ingest
from sluice.domains.water.simulator import Scenario, SimulatorConfig
from sluice.domains.water.source import SimulatedSource
from sluice.ingest import IngestError
from sluice.sources import DeliveryNotReady

AS_OF = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
START = dt.date(2026, 1, 1)
FAULTS = Scenario.from_dict(
    {
        "start": START.isoformat(),
        "events": [
            {"kind": "hostile_values", "day": 3, "share": 0.02},
            {"kind": "schema_break", "day": 4, "rename": {"sulfate": "Sulfate"}, "decimal_comma": ["ph"]},
            {"kind": "hostile_values", "day": 5, "share": 0.3},
            {"kind": "empty_delivery", "day": 6},
        ],
    }
)
SOURCE = SimulatedSource(SimulatorConfig(seed=3, rows_per_day=300, label_delay_days=2, scenario=FAULTS))


def day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


def run_day(warehouse, gx_root, d: dt.date, as_of: dt.datetime = AS_OF):
    batch = ingest.land(warehouse, SOURCE, d, as_of)
    _, verdict = checking.validate(warehouse, d, gx_root=gx_root, tolerance=0.05, as_of=as_of)
    published = ingest.publish(warehouse, d, as_of=as_of) if verdict.decision != "quarantine" else None
    ingest.ingest_labels(warehouse, SOURCE, d, gx_root=gx_root, tolerance=0.05, as_of=as_of)
    return batch, verdict, published


TABLES = ("raw_observations", "ingest_batches", "observations", "quarantine", "quarantine_rows", "labels")
AUDIT = ("ingested_at", "landed_at", "validated_at", "published_at", "quarantined_at", "validation_url")


def digests(warehouse, exclude=()):
    return {t: warehouse.digest(t, exclude=exclude) for t in TABLES}


def test_a_good_day_is_published_whole(warehouse, tmp_path):
    batch, verdict, published = run_day(warehouse, tmp_path, day(1))
    assert verdict.decision == "publish"
    assert published["rows_published"] == batch.rows == warehouse.count("observations", day(1))
    assert warehouse.count("quarantine") == 0


def test_rerunning_a_day_leaves_identical_tables(warehouse, tmp_path):
    for offset in (1, 2, 3):
        run_day(warehouse, tmp_path, day(offset))
    first, content = digests(warehouse), digests(warehouse, exclude=AUDIT)
    run_day(warehouse, tmp_path, day(2))
    run_day(warehouse, tmp_path, day(3))
    assert digests(warehouse) == first
    # a later run of the same day only moves the audit timestamps
    run_day(warehouse, tmp_path, day(2), as_of=AS_OF + dt.timedelta(hours=5))
    assert digests(warehouse, exclude=AUDIT) == content
    assert digests(warehouse) != first


def test_bad_rows_are_quarantined_and_the_rest_published(warehouse, tmp_path):
    batch, verdict, published = run_day(warehouse, tmp_path, day(3))
    assert verdict.decision == "partial"
    held = warehouse.read_partition("quarantine_rows", day(3))
    assert len(held) == verdict.quarantined_rows > 0
    # nothing valid lost, nothing lost at all: every delivered row is published or quarantined
    assert published["rows_published"] + len(held) == batch.rows
    published_ids = set(warehouse.read_partition("observations", day(3))["sample_id"])
    assert published_ids.isdisjoint(held["sample_id"].dropna())
    payload = json.loads(held["payload"].iloc[0])
    assert set(payload) >= {"sample_id", "station_id", "ph"}
    [record] = warehouse.fetch(text("SELECT scope, quarantined_rows FROM quarantine"))
    assert record == {"scope": "rows", "quarantined_rows": len(held)}


def test_a_schema_break_quarantines_the_whole_batch_recoverably(warehouse, tmp_path):
    run_day(warehouse, tmp_path, day(1))
    batch, verdict, published = run_day(warehouse, tmp_path, day(4))
    assert verdict.decision == "quarantine"
    assert published is None
    assert warehouse.count("observations", day(4)) == 0
    held = warehouse.read_partition("quarantine_rows", day(4), order_by=["row_number"])
    assert len(held) == batch.rows == warehouse.count("raw_observations", day(4))
    # the delivery can be rebuilt exactly from the quarantine, renamed column and all
    first = json.loads(held["payload"].iloc[0])
    assert "Sulfate" in first and "sulfate" not in first
    assert "," in (first["ph"] or ",")
    assert warehouse.count("observations", day(1)) > 0  # other days untouched


def test_too_many_bad_rows_hold_back_the_whole_batch(warehouse, tmp_path):
    batch, verdict, _ = run_day(warehouse, tmp_path, day(5))
    assert verdict.decision == "quarantine"
    assert "over the tolerance of 5.0%" in verdict.reason
    assert warehouse.count("quarantine_rows", day(5)) == batch.rows


def test_an_empty_delivery_is_recorded_in_quarantine(warehouse, tmp_path):
    batch, verdict, published = run_day(warehouse, tmp_path, day(6))
    assert (batch.rows, verdict.decision, published) == (0, "quarantine", None)
    [record] = warehouse.read_partition("quarantine", day(6)).to_dict("records")
    assert (record["scope"], record["row_count"], record["table_name"]) == ("batch", 0, "raw_observations")
    assert "expect_table_row_count_to_be_between" in record["failed_expectations"]


def test_a_day_that_becomes_quarantined_on_rerun_unpublishes_its_old_rows(warehouse, tmp_path):
    """...and what was derived from them: nothing stale stays featurised or reported as scored."""
    from sluice import features, scoring
    from sluice.families import FAMILIES
    from tests.factories import FEATURE_VERSION, FEATURES, synthetic

    for d in (day(0), day(1)):
        run_day(warehouse, tmp_path, d)
        features.build_day(warehouse, d, history_days=7, gx_root=tmp_path, as_of=AS_OF)
    train = synthetic(3)
    model = FAMILIES["logistic_regression"].build(0).fit(train[list(FEATURES)], train["label"])
    pinned = scoring.Pinned("m", 1, tuple((f, "double", True) for f in FEATURES), FEATURE_VERSION)
    for d in (day(0), day(1)):
        scoring.score_day(warehouse, d, pinned, model, scored_at=AS_OF, scored_by="t", chunk_size=1000)
    kept = {
        t: warehouse.count(t, day(0))
        for t in ("observations", "features", "predictions", "prediction_batches")
    }
    assert warehouse.count("observations", day(1)) > 0 and warehouse.count("predictions", day(1)) > 0
    broken = SimulatedSource(
        SimulatorConfig(
            seed=3,
            rows_per_day=300,
            scenario=Scenario.from_dict(
                {"start": START.isoformat(), "events": [{"kind": "schema_break", "day": 1, "drop": ["ph"]}]}
            ),
        )
    )
    ingest.land(warehouse, broken, day(1), AS_OF)
    _, verdict = checking.validate(warehouse, day(1), gx_root=tmp_path, tolerance=0.05, as_of=AS_OF)
    assert verdict.decision == "quarantine"
    for table in ("observations", "features", "predictions", "prediction_batches"):
        assert warehouse.count(table, day(1)) == 0, table
        assert warehouse.count(table, day(0)) == kept[table] > 0, f"{table}: another day untouched"
    delivered = len(broken.fetch(day(1), AS_OF))
    assert warehouse.count("raw_observations", day(1)) == delivered > 0, "the delivery stays recoverable"


def test_a_replayed_sample_id_is_not_published_twice(warehouse, tmp_path):
    run_day(warehouse, tmp_path, day(1))
    replay = SimulatedSource(SimulatorConfig(seed=3, rows_per_day=300))
    frame = replay.fetch(day(1), AS_OF).head(5)
    frame["sampled_at"] = frame["sampled_at"].str.replace(day(1).isoformat(), day(2).isoformat())

    class Replaying:
        name = "replay"

        def fetch(self, d, as_of):
            return frame

    ingest.land(warehouse, Replaying(), day(2), AS_OF)
    _, verdict = checking.validate(warehouse, day(2), gx_root=tmp_path, tolerance=1.0, as_of=AS_OF)
    assert {f.rule for f in verdict.failures} == {"expect_column_values_to_not_be_in_set(sample_id)"}
    assert verdict.quarantined_rows == 5


def test_steps_out_of_order_say_what_to_do(warehouse, tmp_path):
    with pytest.raises(IngestError, match="nothing landed for 2026-01-02: run the extract task"):
        checking.validate(warehouse, day(1), gx_root=tmp_path, tolerance=0.05, as_of=AS_OF)
    ingest.land(warehouse, SOURCE, day(1), AS_OF)
    with pytest.raises(IngestError, match="has not been validated: run validate first"):
        ingest.publish(warehouse, day(1), as_of=AS_OF)
    ingest.land(warehouse, SOURCE, day(4), AS_OF)
    checking.validate(warehouse, day(4), gx_root=tmp_path, tolerance=0.05, as_of=AS_OF)
    with pytest.raises(IngestError, match=r"\(2026-01-05\) is quarantined: nothing to publish"):
        ingest.publish(warehouse, day(4), as_of=AS_OF)


def test_labels_arrive_after_the_delay(warehouse, tmp_path):
    run_day(warehouse, tmp_path, day(1))
    _, _, _ = run_day(warehouse, tmp_path, day(3))
    stored = warehouse.read_partition("labels", day(3))
    sampled = SOURCE.fetch(day(1), AS_OF)
    assert sorted(stored["sample_id"]) == sorted(sampled["sample_id"])
    assert set(stored["label"]) <= {0, 1}


def test_a_late_delivery_is_judged_when_asked_not_when_the_run_was_due(warehouse):
    late = SimulatedSource(
        SimulatorConfig(
            seed=3,
            rows_per_day=50,
            scenario=Scenario.from_dict(
                {"start": START.isoformat(), "events": [{"kind": "late_delivery", "day": 1, "hours": 30}]}
            ),
        )
    )
    due = dt.datetime.combine(day(2), dt.time(1), tzinfo=dt.UTC)  # the scheduled run's time
    with pytest.raises(DeliveryNotReady, match="not yet"):
        ingest.land(warehouse, late, day(1), due)
    batch = ingest.land(warehouse, late, day(1), due, asked_at=due + dt.timedelta(days=30))  # a backfill
    assert batch.rows > 0
    [landed] = warehouse.read_partition("ingest_batches", day(1)).to_dict("records")
    assert landed["landed_at"] == due  # timestamps stay the run's


def test_batch_ids_are_deterministic_and_content_addressed():
    a = SOURCE.fetch(day(1), AS_OF)
    assert ingest.batch_id_for("s", day(1), a) == ingest.batch_id_for("s", day(1), a.copy())
    changed = a.copy()
    changed.loc[0, "ph"] = 1.0
    assert ingest.batch_id_for("s", day(1), changed) != ingest.batch_id_for("s", day(1), a)


def test_numbers_parse_as_if_every_value_were_stripped_first():
    """The parse skips the strip for values pandas reads as they are; the numbers must be the same
    as stripping every value first, whatever mix of spaces and junk a column holds."""
    import numpy as np
    import pandas as pd

    from sluice.parsing import _numbers

    pool = np.array(
        [" 7.2 ", "\t5\n", "\u00a07", "7\u2003", "\x1c7", "7\x85", " ", "", None, "1e5 ", " +3", "- 3", "nan",
         " inf", "1e999", "0x1A", "1_000", "١٢", "1" * 25, "-0", ".5", "5.", "abc", "3"],
        dtype=object,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for size in (1, 7, 50, 300):
        values = pd.Series(rng.choice(pool, size), dtype=object, index=rng.permutation(size) + 100)
        expected = pd.to_numeric(values.str.strip(), errors="coerce").astype("float64")
        got = _numbers(values)
        assert got.index.equals(values.index)
        assert np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True)
        assert np.array_equal(np.signbit(got.fillna(1).to_numpy()), np.signbit(expected.fillna(1).to_numpy()))
