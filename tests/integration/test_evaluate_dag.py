"""sluice_evaluate run for real with dag.test(), a real MLflow store (SQLite) and a real warehouse.

Sixteen simulated days (400 samples a day, labels a day later) are ingested and featurised once
for the module. Models are fitted on the first days and registered like sluice_train does; the
"bad" one is fitted on shuffled labels. Every case checks the aliases, the audit rows and the
champion asset.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from sqlalchemy import delete, select

from sluice import registry, tracking
from sluice.domains.water import STATIONS as DEFAULT_STATIONS
from sluice.families import FAMILIES
from sluice.settings import Settings
from sluice.specs import TrainingSpec
from sluice.tables import model_decisions
from sluice.training import load_labelled
from sluice.warehouse import Warehouse
from tests.factories import FEATURES, register_model, seed_days
from tests.integration.test_ingest_dag import asset_events, run

pytestmark = pytest.mark.integration

START = dt.date(2026, 1, 1)
DAYS = 16
AS_OF = START + dt.timedelta(days=DAYS - 1)
MODEL = "water_potability"
TRAIN_SPEC = TrainingSpec(
    as_of=START + dt.timedelta(days=8), window_days=8, holdout_days=2, label_cutoff_days=1
)
CONF = {"as_of": AS_OF.isoformat(), "label_cutoff_days": 1, "holdout_days": 6}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A SQLite warehouse holding DAYS ingested and featurised days, and its state folder."""
    home = tmp_path_factory.mktemp("evaluate")
    url = f"sqlite:///{home / 'warehouse.db'}"
    warehouse = Warehouse(url)
    warehouse.create_tables()
    conf = Settings.from_env(
        {"SLUICE_HOME": str(home), "SLUICE_ROWS_PER_DAY": "400", "SLUICE_LABEL_DELAY_DAYS": "1"}
    )
    seed_days(warehouse, conf, [START + dt.timedelta(days=i) for i in range(DAYS)])
    return url, home


@pytest.fixture
def evaluate_dag(dagbag, seeded, tmp_path, monkeypatch):
    url, home = seeded
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_WAREHOUSE", url)
    monkeypatch.setenv("SLUICE_HOME", str(home))
    monkeypatch.setenv("SLUICE_LABEL_DELAY_DAYS", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("SLUICE_MLFLOW_ARTIFACTS", str(tmp_path / "artifacts"))
    conf = Settings.from_env()
    conf.model_store().experiment_id()  # the experiment, with its artifacts under tmp_path
    warehouse = Warehouse(url)
    with warehouse.transaction() as tx:  # each case starts without decisions
        tx.conn.execute(delete(model_decisions))
    dag = dagbag.dags["sluice_evaluate"]
    for task in dag.tasks:
        task.retries = 0
    return dag


def register(warehouse_url: str, *, shuffled: bool = False, seed: int = 0) -> int:
    """Fit logistic regression on the training days (labels shuffled if asked) and register it the
    way sluice_train does (skops, trusted types, training-window tags); returns the version."""
    from sluice.training import time_split

    split = time_split(load_labelled(Warehouse(warehouse_url), TRAIN_SPEC), TRAIN_SPEC.holdout_days)
    y = split.train["label"].to_numpy()
    if shuffled:
        y = np.random.default_rng(seed).permutation(y)
    X = split.train[list(FEATURES)]
    model = FAMILIES["logistic_regression"].build(seed).fit(X, y)
    tags = {"sluice.train_last_day": str(split.train_days[-1]), "sluice.feature_version": "v1"}
    return register_model(MODEL, model, X, tags=tags)


def models():
    """The MLflow store the DAG's tasks use (the fixture's environment)."""
    return Settings.from_env().model_store()


def set_alias(alias: str, version: int) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().set_registered_model_alias(MODEL, alias, str(version))


def decisions(warehouse_url: str) -> list[dict]:
    return Warehouse(warehouse_url).fetch(select(model_decisions))


def champion_events() -> list[dict]:
    return list(asset_events("sluice.champion"))


def test_the_first_challenger_becomes_champion_and_loads_by_alias(evaluate_dag, seeded):
    import mlflow
    from mlflow.tracking import MlflowClient

    url, _ = seeded
    warehouse = Warehouse(url)
    spec = TrainingSpec(
        **{**TRAIN_SPEC.__dict__, "families": ("logistic_regression",), "budget": 1, "cv_folds": 2}
    )
    prepared = tracking.prepare(warehouse, models(), spec, run_key="t/1")
    candidate = tracking.train(
        warehouse,
        models(),
        spec,
        "logistic_regression",
        parent_run_id=prepared["parent_run_id"],
        run_key="t/1",
    )
    registered = tracking.register_challenger(
        models(), MODEL, [candidate], spec, parent_run_id=prepared["parent_run_id"]
    )
    version = registered["version"]
    before = len(champion_events())

    states = run(evaluate_dag, AS_OF, CONF)
    assert states == dict.fromkeys(("resolve", "decide", "approve", "apply", "announce"), "success")
    assert registry.alias_version(models(), MODEL, "champion") == version
    assert registry.alias_version(models(), MODEL, "challenger") is None, "a judged challenger loses it"
    [row] = decisions(url)
    assert (row["decision"], row["status"], row["champion_before"], row["champion_after"]) == (
        "promote",
        "applied",
        None,
        version,
    )
    assert "no champion yet" in row["reason"]
    assert json.loads(row["challenger_metrics"])["roc_auc"] > 0.75
    assert row["holdout_first_day"] > dt.date.fromisoformat(prepared["train_days"][1])
    events = champion_events()
    assert len(events) == before + 1 and events[-1]["version"] == version

    loaded = registry.load(models(), MODEL, version)
    with registry._trusted_loading():
        by_alias = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    X = load_labelled(warehouse, spec)[list(FEATURES)].head(50)
    assert np.array_equal(by_alias.predict_proba(X), loaded.predict_proba(X))
    assert int(MlflowClient().get_model_version_by_alias(MODEL, "champion").version) == version


def test_a_better_challenger_is_promoted(evaluate_dag, seeded):
    from mlflow.tracking import MlflowClient

    url, _ = seeded
    weak = register(url, shuffled=True)
    set_alias("champion", weak)
    better = register(url)
    set_alias("challenger", better)
    before = len(champion_events())

    assert run(evaluate_dag, AS_OF, CONF)["announce"] == "success"
    assert registry.alias_version(models(), MODEL, "champion") == better
    [row] = decisions(url)
    assert (row["decision"], row["champion_before"], row["challenger_version"], row["champion_after"]) == (
        "promote",
        weak,
        better,
        better,
    )
    assert row["ci_low"] > 0 and row["gain"] >= row["margin"]
    assert json.loads(row["champion_metrics"])["roc_auc"] < 0.65, "shuffled labels learn next to nothing"
    assert {s["entity"] for s in json.loads(row["slices"])} == set(DEFAULT_STATIONS)
    assert champion_events()[before:] == [
        {"model_name": MODEL, "version": better, "previous": weak, "decision": "promote"}
    ]
    tags = MlflowClient().get_model_version(MODEL, str(weak)).tags
    assert tags["sluice.replaced_by"] == str(better) and tags["sluice.replaced_at"]


def test_a_worse_challenger_is_rejected_and_the_champion_untouched(evaluate_dag, seeded):
    url, _ = seeded
    good = register(url)
    set_alias("champion", good)
    worse = register(url, shuffled=True, seed=3)
    set_alias("challenger", worse)
    before = len(champion_events())

    states = run(evaluate_dag, AS_OF, CONF)
    assert states["apply"] == "success" and states["announce"] == "skipped"
    assert registry.alias_version(models(), MODEL, "champion") == good
    [row] = decisions(url)
    assert (row["decision"], row["status"], row["champion_after"]) == ("reject", "applied", good)
    assert "below the margin" in row["reason"] and "does not exclude zero" in row["reason"]
    assert len(champion_events()) == before, "no champion event when the champion did not change"


def test_force_promote_needs_a_reason(evaluate_dag, seeded):
    url, _ = seeded
    good, other = register(url), register(url, shuffled=True)
    set_alias("champion", good)
    set_alias("challenger", other)
    assert run(evaluate_dag, AS_OF, CONF | {"force_promote": True, "reason": "  "})["resolve"] == "failed"
    assert registry.alias_version(models(), MODEL, "champion") == good
    assert decisions(url) == [], "a refused request is not a decision: nothing is recorded"

    states = run(
        evaluate_dag,
        AS_OF + dt.timedelta(days=1),
        CONF | {"force_promote": True, "reason": "lab recalibration"},
    )
    assert states["announce"] == "success"
    assert registry.alias_version(models(), MODEL, "champion") == other
    [row] = decisions(url)
    assert (row["decision"], row["reason"], row["champion_before"]) == ("forced", "lab recalibration", good)
    assert row["triggered_by"].startswith(f"force_promote of version {other} (manual run ")


def test_rollback_restores_the_earlier_version(evaluate_dag, seeded):
    url, _ = seeded
    first, second = register(url), register(url, seed=1)
    set_alias("champion", second)
    before = len(champion_events())
    conf = CONF | {"rollback_to_version": first, "reason": "v2 misbehaves on ST03"}

    assert run(evaluate_dag, AS_OF, conf)["announce"] == "success"
    assert registry.alias_version(models(), MODEL, "champion") == first
    [row] = decisions(url)
    assert (row["decision"], row["champion_before"], row["champion_after"], row["status"]) == (
        "rollback",
        second,
        first,
        "applied",
    )
    assert champion_events()[before:][0]["version"] == first
    assert run(evaluate_dag, AS_OF + dt.timedelta(days=1), conf | {"reason": ""})["resolve"] == "failed"


def test_apply_repairs_a_half_done_promotion_and_refuses_a_moved_champion(evaluate_dag, seeded):
    url, _ = seeded
    warehouse = Warehouse(url)
    old, new, third = register(url), register(url, seed=1), register(url, seed=2)
    set_alias("champion", old)
    when = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
    row = registry.decide_forced(
        warehouse,
        models(),
        MODEL,
        {"champion": old, "challenger": new},
        decision_id="d/1",
        as_of=AS_OF,
        reason="test",
        triggered_by="test",
        decided_at=when,
    )
    assert row["status"] == "pending"
    set_alias("champion", new)  # the alias moved, then the task died before marking the row
    assert registry.apply(warehouse, models(), MODEL, "d/1")["status"] == "applied"
    assert registry.apply(warehouse, models(), MODEL, "d/1")["status"] == "applied", "idempotent"
    assert [r["status"] for r in decisions(url)] == ["applied"]

    registry.decide_forced(
        warehouse,
        models(),
        MODEL,
        {"champion": new, "challenger": third},
        decision_id="d/2",
        as_of=AS_OF,
        reason="test",
        triggered_by="test",
        decided_at=when,
    )
    set_alias("champion", old)  # another evaluation won the race
    with pytest.raises(registry.RegistryError, match="the champion moved from version"):
        registry.apply(warehouse, models(), MODEL, "d/2")
    with pytest.raises(registry.RegistryError, match="decision d/2 was aborted"):
        registry.apply(warehouse, models(), MODEL, "d/2")  # a retry fails too: a lost race never wins
    assert registry.alias_version(models(), MODEL, "champion") == old
    assert {r["decision_id"]: r["status"] for r in decisions(url)} == {"d/1": "applied", "d/2": "aborted"}


# --- human approval (Airflow's human-in-the-loop) -----------------------------------------------


def _answer_when_asked(dag, logical_day: dt.date, conf: dict, answer) -> dict[str, str]:
    """Run the DAG (here: Airflow's task runner wants the main thread); from another thread, when
    its ``approve`` task waits for a person, call ``answer(run_id)`` (what the Required Actions
    page does). The run's task states."""
    import threading
    import time

    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select as sa_select

    answered: list[str] = []
    failed: list[BaseException] = []

    def respond() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with create_session() as session:
                parked = session.scalars(
                    sa_select(TaskInstance).where(
                        TaskInstance.dag_id == dag.dag_id,
                        TaskInstance.task_id == "approve",
                        TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                    )
                ).first()
                run_id = parked.run_id if parked else None
            if run_id:
                try:
                    answer(run_id)
                    answered.append(run_id)
                except BaseException as exc:  # reported by the test, not lost in the thread
                    failed.append(exc)
                return
            time.sleep(0.5)

    responder = threading.Thread(target=respond, daemon=True)
    responder.start()
    states = run(dag, logical_day, conf)
    responder.join(10)
    if failed:
        raise failed[0]
    assert answered, "the approve task never waited for a person"
    return states


@pytest.fixture
def required_actions(airflow_db, monkeypatch):
    """Answer a human-in-the-loop task through Airflow's own REST API, as user ``admin``."""
    from airflow.api_fastapi.app import create_app, get_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-secret")
    purge_cached_app()
    client = TestClient(create_app("core"))
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="ADMIN"))

    def answer(run_id: str, chosen: str, reason: str) -> None:
        response = client.patch(
            f"/api/v2/dags/sluice_evaluate/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
            json={"chosen_options": [chosen], "params_input": {"reason": reason}},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text

    yield answer
    purge_cached_app()


HUMAN = CONF | {"approval": "human"}


def test_a_promotion_waits_for_a_person_and_records_who_approved_and_why(
    evaluate_dag, seeded, required_actions
):
    url, _ = seeded
    weak = register(url, shuffled=True)
    set_alias("champion", weak)
    better = register(url)
    set_alias("challenger", better)
    assert registry.alias_version(models(), MODEL, "champion") == weak

    states = _answer_when_asked(
        evaluate_dag, AS_OF, HUMAN, lambda run_id: required_actions(run_id, "Approve", "looked at the slices")
    )
    assert states == dict.fromkeys(("resolve", "decide", "approve", "apply", "announce"), "success")
    assert registry.alias_version(models(), MODEL, "champion") == better
    [row] = decisions(url)
    assert (row["decision"], row["status"], row["approval"], row["approved_by"], row["approval_reason"]) == (
        "promote",
        "applied",
        "approved",
        "admin",
        "looked at the slices",
    )
    assert row["approved_at"] is not None


def test_a_person_who_rejects_keeps_the_champion(evaluate_dag, seeded, required_actions):
    url, _ = seeded
    weak = register(url, shuffled=True)
    set_alias("champion", weak)
    better = register(url)
    set_alias("challenger", better)
    before = len(champion_events())

    states = _answer_when_asked(
        evaluate_dag, AS_OF, HUMAN, lambda run_id: required_actions(run_id, "Reject", "wait for the audit")
    )
    assert (states["approve"], states["apply"], states["announce"]) == ("success", "success", "skipped")
    assert registry.alias_version(models(), MODEL, "champion") == weak
    assert registry.alias_version(models(), MODEL, "challenger") is None, "judged: it loses the alias"
    [row] = decisions(url)
    assert (row["decision"], row["status"], row["approval"], row["approved_by"]) == (
        "promote",
        "declined",
        "rejected",
        "admin",
    )
    assert row["approval_reason"] == "wait for the audit"
    assert len(champion_events()) == before


def test_no_answer_by_the_deadline_rejects(evaluate_dag, seeded):
    """Airflow's scheduler resolves a human-in-the-loop task past its deadline with its default
    (Reject): the promotion does not happen, and the row says no one answered."""
    import datetime

    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    url, _ = seeded
    weak = register(url, shuffled=True)
    set_alias("champion", weak)
    set_alias("challenger", register(url))

    def the_deadline_passes(run_id: str) -> None:
        with create_session() as session:
            ti = session.scalars(
                select(TaskInstance).where(TaskInstance.run_id == run_id, TaskInstance.task_id == "approve")
            ).one()
            ti.trigger_timeout = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()

    states = _answer_when_asked(evaluate_dag, AS_OF, HUMAN, the_deadline_passes)
    assert (states["approve"], states["announce"]) == ("success", "skipped")
    assert registry.alias_version(models(), MODEL, "champion") == weak
    [row] = decisions(url)
    assert (row["status"], row["approval"], row["approved_by"]) == ("declined", "timed_out", None)


def test_with_auto_approval_no_one_is_asked(evaluate_dag, seeded):
    url, _ = seeded
    weak = register(url, shuffled=True)
    set_alias("champion", weak)
    better = register(url)
    set_alias("challenger", better)
    assert run(evaluate_dag, AS_OF, CONF | {"approval": "auto"})["approve"] == "success"
    [row] = decisions(url)
    assert (row["status"], row["approval"], row["approved_by"]) == ("applied", "auto", None)
    assert registry.alias_version(models(), MODEL, "champion") == better
