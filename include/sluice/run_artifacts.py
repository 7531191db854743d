"""What a training run logs to MLflow besides its parameters and metrics: its data sets (with a
source that reads the same rows again), the hold-out figures, the permutation importance and search
tables, and the requirements a saved model needs. Each runs inside the caller's active MLflow run.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.dataset_source import DatasetSource

from sluice.specs import TrainingSpec
from sluice.training import SCORERS, THRESHOLD
from sluice.warehouse import Warehouse

MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "scipy", "pandas")
"""What a saved pipeline needs to load, pinned to the installed versions. Named rather than
inferred: MLflow's inference loads the model in a subprocess, about 4 s a model."""


class WarehouseDatasetSource(DatasetSource):
    """Where a training frame came from: features of a range of sample days in a Sluice warehouse,
    joined with the lab results that had arrived by a day. ``load()`` reads the same rows again."""

    def __init__(
        self, warehouse: str, first_day: str, last_day: str, labels_as_of: str, feature_version: str
    ) -> None:
        self.warehouse = warehouse
        self.first_day = first_day
        self.last_day = last_day
        self.labels_as_of = labels_as_of
        self.feature_version = feature_version

    @staticmethod
    def _get_source_type() -> str:
        return "sluice_warehouse"

    def load(self, warehouse_url: str | None = None) -> pd.DataFrame:
        """The rows again (pass ``warehouse_url`` when the recorded URL hides a password)."""
        from sluice.training import labelled_between

        return labelled_between(
            Warehouse(warehouse_url or self.warehouse),
            dt.date.fromisoformat(self.first_day),
            dt.date.fromisoformat(self.last_day),
            dt.date.fromisoformat(self.labels_as_of),
            self.feature_version,
        )

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False  # built explicitly, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> WarehouseDatasetSource:
        raise NotImplementedError("construct WarehouseDatasetSource directly")

    def to_dict(self) -> dict[str, Any]:
        return {
            "warehouse": self.warehouse,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "labels_as_of": self.labels_as_of,
            "feature_version": self.feature_version,
        }

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> WarehouseDatasetSource:
        return cls(**source_dict)


def log_dataset(
    warehouse: Warehouse, frame: pd.DataFrame, digest: str, spec: TrainingSpec, name: str, context: str
) -> None:
    days = sorted(set(frame["sample_date"]))
    source = WarehouseDatasetSource(
        warehouse.url.render_as_string(hide_password=True),
        days[0].isoformat(),
        days[-1].isoformat(),
        spec.as_of.isoformat(),
        spec.feature_version,
    )
    with warnings.catch_warnings():  # the label is an integer column on purpose: it is never missing
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(
            frame[["sample_date", "sample_id", *spec.features, "label"]],
            source=source,
            targets="label",
            name=name,
            digest=digest,
        )
        mlflow.log_input(dataset, context=context)


def model_requirements() -> list[str]:
    """``MODEL_REQUIREMENTS`` pinned to what is installed here (MLflow adds its own pin)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def cv_table(results: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in results.columns if c.startswith(("param_", "mean_", "std_", "rank_"))]
    table = results[keep].copy()
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = table[column].astype(str)
    return table


def log_figures(y: np.ndarray, score: np.ndarray, title: str, class_names: tuple[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        y, (score >= THRESHOLD).astype(int), display_labels=list(class_names), ax=ax, colorbar=False
    )
    ax.set_title(f"{title}: hold-out confusion matrix")
    fig.tight_layout()
    mlflow.log_figure(fig, "confusion_matrix.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    RocCurveDisplay.from_predictions(y, score, ax=ax, name=title, plot_chance_level=True)
    ax.set_title(f"{title}: hold-out ROC curve")
    fig.tight_layout()
    mlflow.log_figure(fig, "roc_curve.png")
    plt.close(fig)


def log_importance(model: Any, X: pd.DataFrame, y: np.ndarray, spec: TrainingSpec) -> None:
    from sklearn.inspection import permutation_importance

    result = permutation_importance(
        model,
        X,
        y,
        scoring=SCORERS[spec.selection_metric],
        n_repeats=5,
        max_samples=min(len(X), spec.importance_rows),
        random_state=spec.seed,
        n_jobs=1,
    )
    table = pd.DataFrame(
        {
            "feature": list(X.columns),
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    ).sort_values("importance_mean", ascending=False)
    mlflow.log_table(table, "feature_importance.json")


def log_model(model: Any, X: pd.DataFrame, trusted_types: list[str] | tuple[str, ...]) -> Any:
    """Save the fitted pipeline in the active run with skops (trusting exactly ``trusted_types``),
    its signature from ``X``, an input example and pinned requirements; MLflow's model info."""
    return mlflow.sklearn.log_model(
        model,
        name="model",
        serialization_format="skops",
        skops_trusted_types=list(trusted_types),
        signature=mlflow.models.infer_signature(X, model.predict_proba(X)),
        input_example=X.head(5),
        pyfunc_predict_fn="predict_proba",
        pip_requirements=model_requirements(),
    )
