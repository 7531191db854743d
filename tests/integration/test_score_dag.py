"""sluice_score run for real with dag.test(), a real MLflow store (SQLite) and a real warehouse, on
SQLite and on PostgreSQL.

Feature days are published as sluice_features leaves them; models are fitted here and registered
the way sluice_train does (skops, signature). Every case checks what the predictions table holds.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

from sluice.families import FAMILIES
from sluice.tables import prediction_batches, predictions
from tests.factories import FEATURES, day, publish_features, register_model, synthetic
from tests.integration.test_ingest_dag import asset_events, run

pytestmark = pytest.mark.integration

MODEL = "water_potability"
ROWS = 2500
CONF = {"chunk_size": 1000}  # several chunks a day


@pytest.fixture
def score_dag(dagbag, warehouse, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("SLUICE_MLFLOW_ARTIFACTS", str(tmp_path / "artifacts"))
    dag = dagbag.dags["sluice_score"]
    for task in dag.tasks:
        task.retries = 0
    return dag


def fit_and_register(seed: int = 0, columns=FEATURES, champion: bool = True) -> int:
    frame = synthetic(6, seed=seed)
    X = frame[list(columns)]
    model = FAMILIES["logistic_regression"].build(seed).fit(X, frame["label"])
    alias = "champion" if champion else None
    return register_model(MODEL, model, X, tags={"sluice.feature_version": "v1"}, alias=alias)


def task_output(capfd) -> str:
    """What the in-process task runs printed (their logs and a failed task's error)."""
    out, err = capfd.readouterr()
    return out + err


def predictions_of(warehouse, d: dt.date) -> pd.DataFrame:
    query = select(predictions).where(predictions.c.sample_date == d).order_by(predictions.c.sample_id)
    return pd.DataFrame(warehouse.fetch(query))


def test_a_day_gets_one_prediction_per_feature_row_with_the_champions_version(score_dag, warehouse):
    ids = publish_features(warehouse, day(0), ROWS)
    version = fit_and_register()

    assert run(score_dag, day(0), CONF) == {"pin": "success", "score": "success"}
    scored = predictions_of(warehouse, day(0))
    assert sorted(scored["sample_id"]) == sorted(ids)
    assert set(zip(scored["model_name"], scored["model_version"], strict=True)) == {(MODEL, version)}
    assert scored["score"].between(0, 1).all()
    [batch] = warehouse.fetch(select(prediction_batches))
    assert (batch["model_version"], batch["row_count"]) == (version, ROWS)
    assert batch["scored_by"].startswith("sluice_score/")
    event = asset_events("sluice.predictions")[-1]
    assert event["version"] == version
    assert (event["day"], event["rows"]) == (day(0).isoformat(), ROWS)

    served = warehouse.digest("predictions")
    assert run(score_dag, day(0), CONF) == {"pin": "success", "score": "success"}
    assert warehouse.digest("predictions") == served  # re-running leaves identical rows
    assert warehouse.count("predictions") == ROWS


def test_a_promotion_between_runs_changes_the_next_runs_version_only(score_dag, warehouse):
    publish_features(warehouse, day(0), ROWS)
    publish_features(warehouse, day(1), ROWS)
    first = fit_and_register(seed=0)
    assert run(score_dag, day(0), CONF)["score"] == "success"
    old_day = warehouse.digest("predictions", day(0))

    second = fit_and_register(seed=1)  # promoted between the two runs
    assert run(score_dag, day(1), CONF)["score"] == "success"

    assert set(predictions_of(warehouse, day(0))["model_version"]) == {first}
    assert warehouse.digest("predictions", day(0)) == old_day  # what was served stays
    assert set(predictions_of(warehouse, day(1))["model_version"]) == {second}

    # the form can name a version: a back-fill of day 0 with the new model sits beside the old one
    assert run(score_dag, day(0), CONF | {"model_version": second})["score"] == "success"
    versions = predictions_of(warehouse, day(0)).groupby("model_version").size().to_dict()
    assert versions == {first: ROWS, second: ROWS}


def test_a_range_of_days_scores_those_with_features(score_dag, warehouse):
    publish_features(warehouse, day(0), 30)
    publish_features(warehouse, day(2), 40)
    fit_and_register()
    assert run(score_dag, day(9), {"last_day": day(3).isoformat()})["score"] == "failed"  # no first day
    conf = {"day": day(0).isoformat(), "last_day": day(3).isoformat()}
    assert run(score_dag, day(9), conf)["score"] == "success"
    assert [warehouse.count("predictions", day(i)) for i in range(4)] == [30, 0, 40, 0]
    assert asset_events("sluice.predictions")[-1]["days"] == [day(0).isoformat(), day(2).isoformat()]


def test_no_champion_skips_the_run(score_dag, warehouse):
    publish_features(warehouse, day(0), 30)
    assert run(score_dag, day(0), CONF) == {"pin": "skipped", "score": "skipped"}
    assert warehouse.count("predictions") == 0


def test_a_signature_mismatch_fails_before_anything_is_written(score_dag, warehouse, capfd):
    publish_features(warehouse, day(0), 30)
    fit_and_register(seed=0)
    assert run(score_dag, day(0), CONF)["score"] == "success"
    served = warehouse.digest("predictions")

    # a model trained on a frame with a column the features table does not have
    frame = synthetic(6, seed=2)
    frame["ph_squared"] = frame["ph"] ** 2
    X = frame[[*FEATURES, "ph_squared"]]
    model = FAMILIES["logistic_regression"].build(0).fit(X, frame["label"])
    version = register_model(MODEL, model, X, tags={"sluice.feature_version": "v1"}, alias="champion")

    assert run(score_dag, day(0), CONF) == {"pin": "failed", "score": "upstream_failed"}
    assert "columns missing from features: ph_squared" in task_output(capfd)
    assert warehouse.digest("predictions") == served
    assert set(predictions_of(warehouse, day(0))["model_version"]) == {version - 1}


def test_a_day_without_features_fails_clearly(score_dag, warehouse, capfd):
    fit_and_register()
    assert run(score_dag, day(5), CONF) == {"pin": "success", "score": "failed"}
    assert "features of 2026-01-06 are not built" in task_output(capfd)
