"""sluice_ingest run for real with dag.test(): consecutive days, a re-run, and two bad days.

Runs once with the warehouse on SQLite and once on PostgreSQL. The scenario is the shipped
``faults.yaml``: 2026-01-04 has hostile values in 1% of the rows, 2026-01-05 a schema break.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from sluice.domains.water import DEFAULT_SCENARIO

pytestmark = pytest.mark.integration

FAULTS = DEFAULT_SCENARIO.parent / "faults.yaml"
STEPS = ("extract", "validate", "judge", "publish", "labels")
TABLES = ("raw_observations", "ingest_batches", "observations", "quarantine", "quarantine_rows", "labels")


@pytest.fixture
def ingest_dag(dagbag, warehouse, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    monkeypatch.setenv("SLUICE_SCENARIO", str(FAULTS))
    monkeypatch.setenv("SLUICE_LABEL_DELAY_DAYS", "1")
    dag = dagbag.dags["sluice_ingest"]
    for task in dag.tasks:  # a failure shows at once instead of waiting out the retry delay
        task.retries = 0
    return dag


_DECLARED: dict[int, dict] = {}
"""Each DAG's Param values as declared, by DAG object."""


def run(dag, logical_day: dt.date, conf: dict | None = None) -> dict[str, str]:
    return {task: state for task, _, state in run_instances(dag, logical_day, conf)}


def run_instances(dag, logical_day: dt.date, conf: dict | None = None) -> list[tuple[str, int, str]]:
    """Run the day; each task instance's task id, map index and state."""
    logical = dt.datetime.combine(logical_day, dt.time.min, tzinfo=dt.UTC)
    # Every Param is passed, at the value the DAG file declares (read before the DAG's first run
    # here): in-process runs write a run's conf into the Param objects the run merged (the DAG's
    # own, for a task without a copy of them, such as a human-in-the-loop task), so a Param left
    # out, or read from the DAG later, would keep the value an earlier test gave it.
    defaults = _DECLARED.setdefault(
        id(dag), {name: copy.deepcopy(dag.params.get_param(name).value) for name in dag.params}
    )
    # run_after is fixed per day, as for a scheduled run: a re-run writes the same timestamps
    dr = dag.test(
        logical_date=logical,
        run_after=logical + dt.timedelta(days=1, hours=1),
        run_conf=defaults | (conf or {}),
    )
    return [(ti.task_id, ti.map_index, str(ti.state)) for ti in dr.get_task_instances()]


def asset_events(name: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == name)
        )
        query = query.order_by(AssetEvent.timestamp)
        return [extra for (extra,) in session.execute(query)]


def test_three_days_then_a_rerun_gives_identical_tables(ingest_dag, warehouse):
    days = [dt.date(2026, 1, 2), dt.date(2026, 1, 3), dt.date(2026, 1, 4)]
    for day in days:
        states = run(ingest_dag, day)
        assert states == dict.fromkeys(STEPS, "success"), (day, states)
    counts = {d: warehouse.count("observations", d) for d in days}
    assert all(counts.values())
    published = {e["day"]: e for e in asset_events("sluice.observations")}
    assert {d.isoformat() for d in days} <= set(published)
    assert published["2026-01-03"]["rows_published"] == counts[days[1]]
    assert warehouse.count("labels", days[1]) > 0  # lab results for the 2nd, one day later

    before = {t: warehouse.digest(t) for t in TABLES}
    assert run(ingest_dag, days[1])["publish"] == "success"
    assert {t: warehouse.digest(t) for t in TABLES} == before


def test_out_of_range_rows_are_quarantined_and_the_rest_published(ingest_dag, warehouse):
    day = dt.date(2026, 1, 4)
    assert run(ingest_dag, day)["publish"] == "success"
    delivered = warehouse.count("raw_observations", day)
    held = warehouse.read_partition("quarantine_rows", day)
    assert 0 < len(held) < 0.05 * delivered
    assert warehouse.count("observations", day) + len(held) == delivered  # nothing valid lost
    assert held["failed_rules"].str.contains("expect_column_values_to_be_between").any()
    newest = [e for e in asset_events("sluice.observations") if e["day"] == day.isoformat()][-1]
    assert newest["rows_quarantined"] == len(held)


def test_a_schema_break_fails_the_judge_after_quarantining_every_row(ingest_dag, warehouse):
    day = dt.date(2026, 1, 5)
    states = run(ingest_dag, day)
    assert states == {
        "extract": "success",
        "validate": "success",
        "judge": "failed",
        "publish": "upstream_failed",
        "labels": "success",
    }
    delivered = warehouse.count("raw_observations", day)
    assert delivered > 0
    assert warehouse.count("observations", day) == 0
    assert warehouse.count("quarantine_rows", day) == delivered
    [batch] = warehouse.read_partition("quarantine", day).to_dict("records")
    assert batch["scope"] == "batch"
    failed = {(f["expectation"], f["column"]) for f in json.loads(batch["failed_expectations"])}
    assert ("expect_table_columns_to_match_set", None) in failed
    assert ("expect_column_values_to_match_regex", "ph") in failed
    [page] = json.loads(batch["validation_url"])  # the schema broke: the values suite did not run
    assert page.startswith("file://") and page.endswith(".html")
    assert day.isoformat() not in {e["day"] for e in asset_events("sluice.observations")}


def test_a_day_validated_as_mapped_slices_gives_the_tables_of_one_slice(ingest_dag, warehouse, monkeypatch):
    """2026-01-04 (hostile values in 1 % of the rows) in one slice, then in slices of 100 rows: the
    validate task is mapped over them, and the day's tables are the same."""
    from sqlalchemy import select

    from sluice.tables import quarantine

    day = dt.date(2026, 1, 4)

    def outcome():
        record = warehouse.fetch(select(quarantine).where(quarantine.c.sample_date == day))
        digests = {t: warehouse.digest(t) for t in ("raw_observations", "observations", "quarantine_rows")}
        return digests, [{k: v for k, v in r.items() if k != "validation_url"} for r in record]

    assert run(ingest_dag, day) == dict.fromkeys(STEPS, "success")
    one = outcome()
    monkeypatch.setenv("SLUICE_SLICE_ROWS", "100")
    dr_states = run_instances(ingest_dag, day)
    mapped = sorted(i for task, i, _ in dr_states if task == "validate")
    assert len(mapped) == -(-warehouse.count("raw_observations", day) // 100) > 2, mapped
    assert {state for *_, state in dr_states} == {"success"}
    assert outcome() == one
    assert one[1] and one[1][0]["quarantined_rows"] > 0


def test_the_day_param_overrides_the_logical_date(ingest_dag, warehouse):
    states = run(ingest_dag, dt.date(2026, 1, 20), {"day": "2026-01-03"})
    assert states["publish"] == "success"
    assert warehouse.count("observations", dt.date(2026, 1, 3)) > 0
    assert warehouse.count("observations", dt.date(2026, 1, 20)) == 0


def test_a_bad_day_param_is_refused_before_any_task_runs(ingest_dag):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="param day: 'tomorrow' is not a 'date'"):
        run(ingest_dag, dt.date(2026, 1, 20), {"day": "tomorrow"})
