"""ModelStore: every MLflow read and write goes to the store it is given, whatever this process's
global MLflow settings say, and leaves those settings as it found them."""

from __future__ import annotations

import os

import pytest

from sluice import registry
from sluice.families import FAMILIES
from sluice.modelstore import ModelStore
from tests.factories import FEATURES, register_model, synthetic

MODEL = "store_test"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two local stores, ``a`` and ``b``."""
    found = []
    for name in ("a", "b"):
        root = tmp_path_factory.mktemp(name)
        found.append(ModelStore(f"sqlite:///{root / 'mlflow.db'}", "sluice", root / "artifacts"))
    return tuple(found)


def _fitted():
    frame = synthetic(2, seed=3)
    X = frame[list(FEATURES)]
    return FAMILIES["logistic_regression"].build(0).fit(X, frame["label"]), X


def test_reads_and_writes_go_to_the_store_given_not_the_process_wide_one(stores, monkeypatch):
    import mlflow

    a, b = stores
    monkeypatch.setenv("MLFLOW_TRACKING_URI", b.tracking_uri)  # the process points at b
    model, X = _fitted()
    version = register_model(MODEL, model, X, alias="champion", store=a)

    assert registry.alias_version(a, MODEL, registry.CHAMPION) == version
    assert registry.alias_version(b, MODEL, registry.CHAMPION) is None, "nothing reached b"
    loaded = registry.load(a, MODEL, version)
    assert (loaded.predict_proba(X) == model.predict_proba(X)).all()
    with pytest.raises(registry.RegistryError, match="has no version"):
        registry.model_version(b, MODEL, version)
    assert mlflow.get_tracking_uri() == b.tracking_uri, "the process-wide setting is untouched"
    artifacts = a.client().get_experiment(a.experiment_id()).artifact_location
    assert artifacts == a.artifacts_dir.resolve().as_uri(), "a local store keeps artifacts where told"


@pytest.mark.parametrize("tracking_env", [None, "sqlite:////elsewhere/mlflow.db"])
@pytest.mark.parametrize("registry_env", [None, "sqlite:////registry/mlflow.db"])
def test_active_puts_back_the_uris_and_the_environment_exactly(
    stores, monkeypatch, tracking_env, registry_env
):
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    a, _ = stores
    for name, value in (("MLFLOW_TRACKING_URI", tracking_env), ("MLFLOW_REGISTRY_URI", registry_env)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)

    with a.active() as experiment:
        assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == a.tracking_uri
        assert experiment == a.experiment_id()
    assert (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI")) == (
        tracking_env,
        registry_env,
    )
    assert (tracking_utils._tracking_uri, registry_utils._registry_uri) == (None, None)

    with pytest.raises(RuntimeError, match="inside"), a.active():  # and when the block fails
        raise RuntimeError("inside")
    assert os.environ.get("MLFLOW_TRACKING_URI") == tracking_env
    assert tracking_utils._tracking_uri is None


def test_a_server_keeps_its_own_artifacts():
    assert not ModelStore("http://mlflow:5000").local
    assert ModelStore("sqlite:///x.db").local
