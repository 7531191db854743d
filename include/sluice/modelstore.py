"""Where MLflow keeps Sluice's runs and models, passed to every function that reads or writes them.

MLflow's client takes its store as an argument; its fluent API (``start_run``, ``log_model``,
``load_model``) reads a process-wide URI. A function that works with MLflow takes a
:class:`ModelStore` and uses :meth:`ModelStore.client`, or runs fluent calls inside
:meth:`ModelStore.active`, so no step depends on a call made earlier for its side effect and a
task that forgets one cannot reach another store by accident. Light: MLflow is imported only when
a store is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelStore:
    """An MLflow tracking server (or local store) and the experiment Sluice logs to."""

    tracking_uri: str
    experiment: str = "sluice"
    artifacts_dir: Path | None = None
    """Where artifacts go without a tracking server (a ``sqlite:`` or file store); a server keeps
    its own artifact store."""

    @property
    def local(self) -> bool:
        return not self.tracking_uri.startswith(("http://", "https://", "databricks"))

    def client(self) -> Any:
        """An ``MlflowClient`` bound to this store, for tracking and the model registry."""
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        """The id of :attr:`experiment`, created on first use (artifacts under :attr:`artifacts_dir`
        for a local store)."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = None
        if self.local and self.artifacts_dir is not None:
            location = Path(self.artifacts_dir).resolve().as_uri()
        try:
            return client.create_experiment(self.experiment, artifact_location=location)
        except MlflowException:  # created meanwhile by a parallel task
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    @contextmanager
    def active(self) -> Iterator[str]:
        """Point MLflow's fluent API at this store for the block, then back at exactly what it
        was; yields the experiment's id.

        ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into the environment (and
        clears it when reset), so the environment is saved and put back as well: a user's own
        setting is never lost to a Sluice call.
        """
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        saved_env = {name: os.environ.get(name) for name in _URI_VARIABLES}
        tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield self.experiment_id()
        finally:
            mlflow.set_tracking_uri(tracking)
            registry_utils._registry_uri = registry  # set_registry_uri(None) keeps the variable
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
