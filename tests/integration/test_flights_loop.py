"""The flights domain (real 2013 departures from New York) runs ingest → features → train → evaluate
→ score → monitor through dag.test() on SQLite and PostgreSQL, in a process whose SLUICE_DOMAIN is
``sluice.domains.flights``."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.domain_loop import run_loop, separate_warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CARRIERS_OF_JAN_8 = ("9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "UA", "US", "VX", "WN", "YV")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def flights_warehouse(request, tmp_path) -> str:
    return separate_warehouse(request, tmp_path, "sluice_test_flights")


def test_a_week_of_new_york_departures_runs_the_whole_loop(flights_warehouse, tmp_path):
    found = run_loop("sluice.domains.flights", dt.date(2013, 1, 1), 8, tmp_path / "home", flights_warehouse)
    assert (found["domain"], found["model_name"]) == ("flights", "flight_delay")
    assert found["champion_version"] == 1
    assert found["observations"] == found["features"] == found["predictions"] == 899, "every flight of 01-08"
    assert found["categorical_values"] == sorted(CARRIERS_OF_JAN_8)
    assert found["labels"] == sum([842, 943, 914, 915, 720, 832, 933]), "the outcomes of 01-01 … 01-07"
    assert found["monitoring_rows"] > 0
    assert {"carrier", "dest", "temp", "weekday"} <= set(found["monitored_columns"])
    assert found["overview"]["domain"]["positive"] == "late"
    assert found["overview"]["domain"]["entity"] == "carrier"
    assert found["quarantined_rows"] == 0, "a week of January fits the expectations"
