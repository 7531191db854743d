"""The simulator: deterministic, realistic, learnable but noisy, and its scenario events."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sluice.domains.water import DEFAULT_SCENARIO, MEASUREMENTS
from sluice.domains.water.simulator import (
    MARGINALS,
    SOURCE_COLUMNS,
    Scenario,
    ScenarioError,
    SimulatorConfig,
    bayes_accuracy,
    concept,
    delivered_at,
    generate_batch,
    generate_labels,
    potable_probability,
    true_measurements,
)
from sluice.domains.water.source import SimulatedSource
from sluice.sources import DeliveryNotReady

DAY = dt.date(2026, 1, 10)


def scenario(*events: dict) -> Scenario:
    return Scenario.from_dict({"start": "2026-01-01", "events": list(events)})


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    config = SimulatorConfig(seed=3, rows_per_day=20_000)
    return generate_batch(config, DAY)


def test_same_seed_and_day_give_the_same_batch():
    config = SimulatorConfig(seed=5, rows_per_day=500)
    pd.testing.assert_frame_equal(generate_batch(config, DAY), generate_batch(config, DAY))


def test_other_day_or_seed_give_other_batches():
    a = generate_batch(SimulatorConfig(seed=5, rows_per_day=500), DAY)
    b = generate_batch(SimulatorConfig(seed=5, rows_per_day=500), DAY + dt.timedelta(days=1))
    c = generate_batch(SimulatorConfig(seed=6, rows_per_day=500), DAY)
    assert not np.allclose(a["hardness"].iloc[:400], b["hardness"].iloc[:400])
    assert not np.allclose(a["hardness"].iloc[:400], c["hardness"].iloc[:400])
    assert set(a["sample_id"]).isdisjoint(b["sample_id"])


def test_batch_has_the_source_schema(big):
    assert list(big.columns) == list(SOURCE_COLUMNS)
    assert big["sample_id"].is_unique
    sampled = pd.to_datetime(big["sampled_at"])
    assert (sampled.dt.date == DAY).all()
    assert 18_000 <= len(big) <= 22_000  # rows_per_day ± 10%


@pytest.mark.parametrize("column", MEASUREMENTS)
def test_marginals_follow_the_public_data_set(big, column):
    m = MARGINALS[column]
    values = big[column]
    assert values.isna().mean() == pytest.approx(m.missing, abs=0.015)
    # station offsets widen the spread a little; the means stay put
    assert values.mean() == pytest.approx(m.mean, rel=0.03)
    assert values.std() == pytest.approx(m.std, rel=0.12)
    assert values.min() >= m.low
    assert values.max() <= m.high


def test_labels_are_learnable_but_noisy():
    config = SimulatorConfig(seed=11, rows_per_day=20_000)
    truth = true_measurements(config, DAY)
    p = potable_probability(truth, concept(config, DAY))
    assert 0.80 <= bayes_accuracy(p) <= 0.92  # a perfect model would be right this often
    assert 0.35 <= p.mean() <= 0.50  # about 39% of samples are potable in the public set


def test_labels_arrive_after_the_delay_for_the_samples_of_that_day():
    config = SimulatorConfig(seed=2, rows_per_day=300, label_delay_days=3)
    labels = generate_labels(config, DAY)
    sampled = generate_batch(config, DAY - dt.timedelta(days=3))
    assert list(labels["sample_id"]) == list(sampled["sample_id"])
    assert set(labels["label"].unique()) <= {0, 1}
    assert (labels["labelled_at"].dt.date == DAY).all()
    early = generate_labels(config, dt.date(2026, 1, 2))  # nothing sampled before the start
    assert early.empty


def test_covariate_drift_shifts_the_scheduled_column_only_from_its_day():
    config = SimulatorConfig(
        seed=1,
        rows_per_day=5000,
        scenario=scenario({"kind": "covariate_drift", "day": 9, "columns": {"ph": {"shift": 1.0}}}),
    )
    before = true_measurements(config, DAY - dt.timedelta(days=1))
    after = true_measurements(config, DAY)
    assert after["ph"].mean() - before["ph"].mean() == pytest.approx(MARGINALS["ph"].std, rel=0.15)
    assert after["hardness"].mean() == pytest.approx(before["hardness"].mean(), rel=0.02)


def test_concept_drift_changes_labels_not_inputs():
    drift = scenario({"kind": "concept_drift", "day": 9, "coefficients": {"intercept": 2.0}})
    stable, drifted = (
        SimulatorConfig(seed=1, rows_per_day=3000),
        SimulatorConfig(seed=1, rows_per_day=3000, scenario=drift),
    )
    pd.testing.assert_frame_equal(generate_batch(stable, DAY), generate_batch(drifted, DAY))
    assert generate_labels(drifted, DAY + dt.timedelta(days=3))["label"].mean() > (
        generate_labels(stable, DAY + dt.timedelta(days=3))["label"].mean() + 0.2
    )


def test_sensor_fault_sticks_one_station():
    fault = scenario(
        {"kind": "sensor_fault", "day": 9, "station": "ST03", "column": "turbidity", "value": 3.1}
    )
    batch = true_measurements(SimulatorConfig(seed=1, rows_per_day=2000, scenario=fault), DAY)
    st03 = batch[batch["station_id"] == "ST03"]
    assert (st03["turbidity"] == 3.1).all()
    assert batch.loc[batch["station_id"] != "ST03", "turbidity"].nunique() > 100


def test_schema_break_renames_and_uses_decimal_commas():
    brk = scenario(
        {"kind": "schema_break", "day": 9, "rename": {"sulfate": "Sulfate"}, "decimal_comma": ["ph"]}
    )
    batch = generate_batch(SimulatorConfig(seed=1, rows_per_day=300, scenario=brk), DAY)
    assert "Sulfate" in batch and "sulfate" not in batch
    assert batch["ph"].dropna().str.contains(",").all()
    # one-off: the next day is normal again
    assert "sulfate" in generate_batch(
        SimulatorConfig(seed=1, rows_per_day=300, scenario=brk), DAY + dt.timedelta(days=1)
    )


def test_empty_and_late_deliveries():
    events = scenario({"kind": "empty_delivery", "day": 9}, {"kind": "late_delivery", "day": 10, "hours": 30})
    config = SimulatorConfig(seed=1, rows_per_day=300, scenario=events)
    empty = generate_batch(config, DAY)
    assert empty.empty
    assert list(empty.columns) == list(SOURCE_COLUMNS)
    late = DAY + dt.timedelta(days=1)
    ready = delivered_at(config, late)
    assert ready == dt.datetime(2026, 1, 13, 6, tzinfo=dt.UTC)
    source = SimulatedSource(config)
    with pytest.raises(DeliveryNotReady, match="2026-01-11"):
        source.fetch(late, ready - dt.timedelta(minutes=1))
    assert len(source.fetch(late, ready)) > 0


def test_hostile_values_touch_only_the_given_share():
    hostile = scenario({"kind": "hostile_values", "day": 9, "share": 0.02})
    clean = generate_batch(SimulatorConfig(seed=1, rows_per_day=1000), DAY)
    dirty = generate_batch(SimulatorConfig(seed=1, rows_per_day=1000, scenario=hostile), DAY)
    changed = (clean.astype(str) != dirty.astype(str)).any(axis=1)
    assert changed.sum() == round(len(clean) * 0.02)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"events": []}, "'start' must be a date"),
        ({"start": "2026-01-01", "events": [{"kind": "meteor", "day": 1}]}, "kind 'meteor' is not one of"),
        (
            {"start": "2026-01-01", "events": [{"kind": "empty_delivery"}]},
            r"events\[0\] \(empty_delivery\): 'day'",
        ),
        (
            {"start": "2026-01-01", "events": [{"kind": "empty_delivery", "day": "soon"}]},
            "neither an offset nor a date",
        ),
    ],
)
def test_invalid_scenarios_are_named(doc, message):
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict(doc)


def test_the_shipped_default_scenario_loads():
    default = Scenario.load(DEFAULT_SCENARIO)
    assert default.active(default.start + dt.timedelta(days=30), "covariate_drift")
    assert not default.active(default.start + dt.timedelta(days=29), "covariate_drift")
