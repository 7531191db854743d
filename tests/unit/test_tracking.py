"""MLflow tracking of a training on a local store: what is logged, and that retries reuse it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sluice import run_artifacts, tracking
from sluice.modelstore import ModelStore
from sluice.specs import TrainingSpec
from sluice.training import dataset_digest
from sluice.warehouse import Warehouse
from tests.conftest import free_port
from tests.factories import day, synthetic, write_day, write_labels

MODEL = "water_potability_test"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (SQLite store, served artifacts), as ``make up`` and compose run it:
    the REST API is stricter than a local store in places (registering a logged model, for one)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    with open(root / "server.log", "w") as log:  # the child keeps its own copy of the handle
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(root / "artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                assert server.poll() is None, (root / "server.log").read_text()[-2000:]
                time.sleep(0.5)
        else:
            pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def store(tmp_path_factory, mlflow_server):
    """A warehouse with 10 labelled days of synthetic features, and the MLflow server."""
    root = tmp_path_factory.mktemp("tracking")
    warehouse = Warehouse(f"sqlite:///{root / 'warehouse.db'}")
    warehouse.create_tables()
    for i in range(10):
        write_day(warehouse, day(i), n=60)
        labels = synthetic(1, rows_per_day=60, seed=day(i).toordinal())["label"]
        ids = [f"S{day(i):%Y%m%d}-{j}" for j in range(60)]
        write_labels(warehouse, day(i + 1), ids, label=labels.to_numpy())
    return warehouse, ModelStore(mlflow_server, "sluice-test", root / "unused")


SPEC = TrainingSpec(
    as_of=day(11),
    window_days=10,
    holdout_days=3,
    label_cutoff_days=1,
    budget=2,
    cv_folds=2,
    families=("logistic_regression", "hist_gradient_boosting"),
)


@pytest.fixture(scope="module")
def trained(store):
    warehouse, models = store
    prepared = tracking.prepare(warehouse, models, SPEC, run_key="test/run-1")
    candidates = [
        tracking.train(
            warehouse, models, SPEC, f, parent_run_id=prepared["parent_run_id"], run_key="test/run-1"
        )
        for f in SPEC.families
    ]
    registered = tracking.register_challenger(
        models, MODEL, candidates, SPEC, parent_run_id=prepared["parent_run_id"]
    )
    return prepared, candidates, registered


def test_the_parent_run_records_the_spec_the_data_and_the_split(store, trained):
    prepared, _, _ = trained
    run = store[1].client().get_run(prepared["parent_run_id"])
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert (params["as_of"], params["window_first_day"], params["window_last_day"]) == (
        "2026-01-12",
        "2026-01-02",
        "2026-01-11",
    )
    assert (params["holdout_first_day"], params["holdout_last_day"]) == ("2026-01-08", "2026-01-10")
    assert params["train_last_day"] == "2026-01-07"
    assert params["train_digest"] == prepared["train_digest"]
    contexts = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert set(contexts) == {"training", "holdout"}
    assert contexts["training"].digest == prepared["train_digest"]
    source = run_artifacts.WarehouseDatasetSource.from_json(contexts["training"].source)
    assert (source.first_day, source.last_day, source.labels_as_of) == (
        "2026-01-02",
        "2026-01-07",
        "2026-01-12",
    )
    assert dataset_digest(source.load()) == prepared["train_digest"], "the source reads the same rows again"


def test_each_family_has_a_nested_run_with_metrics_figures_importance_and_a_skops_model(store, trained):
    from importlib.metadata import version
    from pathlib import Path

    import mlflow

    prepared, candidates, _ = trained
    client = store[1].client()
    for candidate in candidates:
        run = client.get_run(candidate.run_id)
        assert run.data.tags["mlflow.parentRunId"] == prepared["parent_run_id"]
        assert {f"holdout_{m}" for m in ("roc_auc", "f1", "accuracy", "log_loss", "brier")} <= set(
            run.data.metrics
        )
        assert "cv_roc_auc_mean" in run.data.metrics
        assert run.data.params["candidates"] == "2"
        artifacts = {a.path for a in client.list_artifacts(candidate.run_id)}
        assert {
            "confusion_matrix.png",
            "roc_curve.png",
            "feature_importance.json",
            "cv_results.json",
        } <= artifacts
        with store[1].active():
            info = mlflow.models.get_model_info(candidate.model_uri)
            requirements = mlflow.pyfunc.get_model_dependencies(candidate.model_uri)
        assert info.flavors["sklearn"]["serialization_format"] == "skops"
        assert info.signature.inputs.input_names()[:2] == ["ph", "hardness"]
        assert info.saved_input_example_info is not None
        requirements = Path(requirements).read_text().split()
        assert f"scikit-learn=={version('scikit-learn')}" in requirements, "named, not inferred"
        assert f"skops=={version('skops')}" in requirements


def test_the_best_family_is_registered_with_the_challenger_alias(store, trained):
    _, candidates, registered = trained
    best = max(candidates, key=lambda c: c.metrics["roc_auc"])
    assert registered["family"] == best.family
    version = store[1].client().get_model_version_by_alias(MODEL, "challenger")
    assert int(version.version) == registered["version"]
    assert version.run_id == best.run_id
    assert version.tags["sluice.family"] == best.family
    assert version.tags["sluice.train_last_day"] == "2026-01-07", "evaluation needs what it trained on"
    assert registered["day"] == registered["as_of"] == "2026-01-12"
    assert float(version.tags["sluice.holdout_roc_auc"]) == pytest.approx(best.metrics["roc_auc"])


def test_retries_reuse_what_an_earlier_attempt_finished(store, trained):
    warehouse, models = store
    prepared, candidates, registered = trained
    again = tracking.prepare(warehouse, models, SPEC, run_key="test/run-1")
    assert again["parent_run_id"] == prepared["parent_run_id"]
    retried = tracking.train(
        warehouse,
        models,
        SPEC,
        candidates[0].family,
        parent_run_id=prepared["parent_run_id"],
        run_key="test/run-1",
    )
    assert retried == candidates[0]
    assert (
        tracking.register_challenger(models, MODEL, candidates, SPEC, parent_run_id=prepared["parent_run_id"])
        == registered
    )


def test_a_new_run_with_the_same_seed_and_data_gets_the_same_holdout_metrics(store, trained):
    warehouse, models = store
    _, candidates, _ = trained
    spec = replace(SPEC, importance_rows=0)  # no importance table: the metrics do not depend on it
    prepared = tracking.prepare(warehouse, models, spec, run_key="test/run-2")
    again = tracking.train(
        warehouse,
        models,
        spec,
        candidates[0].family,
        parent_run_id=prepared["parent_run_id"],
        run_key="test/run-2",
    )
    assert again.run_id != candidates[0].run_id
    assert again.metrics == candidates[0].metrics
    artifacts = {a.path for a in models.client().list_artifacts(again.run_id)}
    assert "roc_curve.png" in artifacts and "feature_importance.json" not in artifacts


def test_training_refuses_data_that_changed_since_the_parent_run(store, trained):
    warehouse, models = store
    prepared, _, _ = trained
    later = TrainingSpec(**{**SPEC.__dict__, "as_of": day(12)})  # a different window: other rows
    with pytest.raises(tracking.TrackingError, match="the train data changed since training run"):
        tracking.train(
            warehouse,
            models,
            later,
            "logistic_regression",
            parent_run_id=prepared["parent_run_id"],
            run_key="x",
        )


def test_the_server_decides_where_artifacts_go(store):
    _, models = store
    location = models.client().get_experiment(models.experiment_id()).artifact_location
    assert location.startswith("mlflow-artifacts:")


def test_without_a_server_artifacts_go_to_the_given_folder(tmp_path):
    models = ModelStore(f"sqlite:///{tmp_path / 'mlflow.db'}", "local", tmp_path / "artifacts")
    location = models.client().get_experiment(models.experiment_id()).artifact_location
    assert location == (tmp_path / "artifacts").as_uri()
