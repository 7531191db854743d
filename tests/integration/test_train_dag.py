"""sluice_features and sluice_train run for real with dag.test(), on SQLite and on PostgreSQL.

Eleven days are ingested and featurised with the library (the same calls the tasks make), except
the features of one day; the twelfth day goes through the ingest and features DAGs, and the
features run catches up the missed day; then a training as of that day runs every family,
tracks it in MLflow (a local SQLite store) and registers the best as ``challenger``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sluice.settings import Settings
from tests.factories import seed_days
from tests.integration.test_ingest_dag import asset_events, run

pytestmark = pytest.mark.integration

START = dt.date(2026, 1, 1)
LAST = START + dt.timedelta(days=11)
MISSED = START + dt.timedelta(days=9)  # published, but its features run never happened
TRAIN_CONF = {
    "as_of": LAST.isoformat(),
    "window_days": 10,
    "holdout_days": 3,
    "label_cutoff_days": 1,
    "budget": 2,
    "cv_folds": 2,
}


@pytest.fixture
def train_dag(dagbag):
    dag = dagbag.dags["sluice_train"]
    for task in dag.tasks:
        task.retries = 0
    return dag


@pytest.fixture
def stack(dagbag, train_dag, warehouse, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    monkeypatch.setenv("SLUICE_LABEL_DELAY_DAYS", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("SLUICE_MLFLOW_ARTIFACTS", str(tmp_path / "artifacts"))
    dags = {name: dagbag.dags[name] for name in ("sluice_ingest", "sluice_features", "sluice_train")}
    for dag in dags.values():
        for task in dag.tasks:
            task.retries = 0
    conf = Settings.from_env()
    seed_days(warehouse, conf, [START + dt.timedelta(days=i) for i in range(11)], without_features={MISSED})
    return dags


def test_features_then_training_register_a_challenger(stack, warehouse):
    from mlflow.tracking import MlflowClient

    assert set(run(stack["sluice_ingest"], LAST).values()) == {"success"}
    assert warehouse.count("features", MISSED) == 0
    assert run(stack["sluice_features"], LAST) == {"build": "success"}  # the logical date's day + catch-up
    built = warehouse.read_partition("features", LAST)
    assert len(built) == warehouse.count("observations", LAST) > 0
    assert (built["feature_version"] == "v1").all()
    assert warehouse.count("features", MISSED) == warehouse.count("observations", MISSED) > 0
    assert asset_events("sluice.features")[-1] == {
        "day": LAST.isoformat(),
        "days": [MISSED.isoformat(), LAST.isoformat()],
        "rows": len(built) + warehouse.count("features", MISSED),
        "feature_version": "v1",
    }

    states = run(stack["sluice_train"], LAST, TRAIN_CONF)
    assert states == {"prepare": "success", "families": "success", "train": "success", "register": "success"}

    client = MlflowClient()
    [experiment] = [e for e in client.search_experiments() if e.name == "sluice"]
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("sluice.kind") == "training"]
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert {r.data.tags["sluice.family"] for r in nested} == {
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
    }
    for child in nested:
        assert {
            "holdout_roc_auc",
            "holdout_f1",
            "holdout_accuracy",
            "holdout_log_loss",
            "holdout_brier",
        } <= set(child.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"confusion_matrix.png", "roc_curve.png", "feature_importance.json"} <= artifacts
    tags = parent.data.tags
    window = [START + dt.timedelta(days=i) for i in range(1, 11)]
    for day in window:
        assert tags[f"sluice.gx.observations.{day}"].startswith("file://")
        assert tags[f"sluice.gx.features.{day}"].startswith("file://")
    assert {i.tags[0].value for i in parent.inputs.dataset_inputs} == {"training", "holdout"}

    [event] = asset_events("sluice.challenger")[-1:]
    version = client.get_model_version_by_alias("water_potability", "challenger")
    assert event["version"] == int(version.version)
    assert event["model_name"] == "water_potability"
    best = max(nested, key=lambda r: r.data.metrics["holdout_roc_auc"])
    assert version.run_id == best.info.run_id
    assert event["metrics"]["roc_auc"] == pytest.approx(best.data.metrics["holdout_roc_auc"])
    assert event["metrics"]["roc_auc"] > 0.75, "the simulator's labels are learnable"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"families": []}, "families"),
        ({"families": ["svm"]}, "svm"),
        ({"budget": 0}, "budget"),
        ({"selection_metric": "precision"}, "selection_metric"),
    ],
)
def test_a_bad_training_form_is_refused_before_any_task_runs(train_dag, change, message):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=message):
        run(train_dag, LAST, TRAIN_CONF | change)
