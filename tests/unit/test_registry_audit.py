"""The audit rows of model decisions on both warehouses: one row per deciding run, replaced on a re-run."""

from __future__ import annotations

import datetime as dt

from sluice import registry

WHEN = dt.datetime(2026, 2, 2, 3, tzinfo=dt.UTC)


def row(decision_id: str, reason: str) -> dict:
    return {
        "decision_date": dt.date(2026, 2, 1),
        "decision_id": decision_id,
        "model_name": "water_potability",
        "decision": "reject",
        "status": "pending",
        "champion_before": 2,
        "challenger_version": 3,
        "champion_after": 2,
        "primary_metric": "roc_auc",
        "margin": 0.005,
        "gain": -0.01,
        "ci_low": -0.02,
        "ci_high": 0.001,
        "champion_metrics": '{"roc_auc": 0.91}',
        "challenger_metrics": '{"roc_auc": 0.90}',
        "slices": "[]",
        "holdout_first_day": dt.date(2026, 1, 20),
        "holdout_last_day": dt.date(2026, 1, 26),
        "holdout_rows": 2400,
        "reason": reason,
        "triggered_by": "test",
        "decided_at": WHEN,
    }


def test_a_rerun_replaces_its_own_row_only(warehouse):
    registry._write(warehouse, row("sluice_evaluate/run-1", "first attempt"))
    registry._write(warehouse, row("sluice_evaluate/run-2", "another run"))
    registry._write(warehouse, row("sluice_evaluate/run-1", "retried"))
    assert warehouse.count("model_decisions") == 2
    stored = registry.existing(warehouse, "sluice_evaluate/run-1")
    assert stored["reason"] == "retried"
    assert (stored["holdout_first_day"], stored["ci_low"], stored["champion_before"]) == (
        dt.date(2026, 1, 20),
        -0.02,
        2,
    )
    assert registry.existing(warehouse, "nope") is None


def test_marking_changes_the_status_of_one_row(warehouse):
    registry._write(warehouse, row("a", "x"))
    registry._write(warehouse, row("b", "y"))
    registry._mark(warehouse, registry.existing(warehouse, "a"), "aborted", reason="x; aborted")
    assert (registry.existing(warehouse, "a")["status"], registry.existing(warehouse, "a")["reason"]) == (
        "aborted",
        "x; aborted",
    )
    assert registry.existing(warehouse, "b")["status"] == "pending"
