"""Small frames and tables shaped like the warehouse's, for tests that need model inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sluice.features import FEATURE_VERSION
from sluice.schema import FEATURES

START = dt.date(2026, 1, 1)


def day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


def synthetic(days: int, rows_per_day: int = 60, seed: int = 0) -> pd.DataFrame:
    """A learnable frame shaped like load_labelled's result (label from two features plus noise)."""
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=list(FEATURES))
    frame.loc[rng.random(n) < 0.1, "ph"] = np.nan
    logit = 1.5 * frame["chloramines"] - frame["turbidity"] + rng.normal(scale=0.8, size=n)
    frame["label"] = (logit > 0).astype("int64")
    frame["sample_date"] = [day(i // rows_per_day) for i in range(n)]
    frame["sample_id"] = [f"S{i:06d}" for i in range(n)]
    return frame


def write_day(warehouse, d: dt.date, n: int = 4) -> None:
    frame = synthetic(1, rows_per_day=n, seed=d.toordinal()).drop(columns="label")
    frame["sample_date"] = d
    frame["sample_id"] = [f"S{d:%Y%m%d}-{i}" for i in range(n)]
    frame["station_id"] = "ST01"
    frame["sampled_at"] = pd.Timestamp(d, tz="UTC")
    frame["feature_version"] = FEATURE_VERSION
    frame["built_at"] = pd.Timestamp(d, tz="UTC")
    with warehouse.transaction() as tx:
        tx.replace_partition("features", d, frame)


def write_labels(warehouse, label_day: dt.date, sample_ids: list[str], label: int = 1) -> None:
    rows = pd.DataFrame(
        {
            "label_date": label_day,
            "sample_id": sample_ids,
            "label": label,
            "labelled_at": pd.Timestamp(label_day, tz="UTC"),
        }
    )
    with warehouse.transaction() as tx:
        tx.replace_partition("labels", label_day, rows)


def seed_days(
    warehouse, conf, days, *, without_features=(), as_of=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
) -> None:
    """Ingest, label and featurise ``days`` from ``conf``'s source with the library (the calls the
    DAG tasks make), without Airflow: the fast way to give a DAG test some history."""
    from sluice import features, ingest
    from sluice.sources import make_source

    source = make_source(conf, None)
    for day in days:
        ingest.land(warehouse, source, day, as_of)
        ingest.validate(
            warehouse, day, gx_root=conf.gx_dir, stations=conf.stations, tolerance=0.05, as_of=as_of
        )
        ingest.publish(warehouse, day, as_of=as_of)
        ingest.ingest_labels(warehouse, source, day, gx_root=conf.gx_dir, tolerance=0.05, as_of=as_of)
        if day not in without_features:
            features.build_day(warehouse, day, history_days=7, gx_root=conf.gx_dir, as_of=as_of)


def publish_features(
    warehouse, d: dt.date, n: int, *, seed: int | None = None, feature_version: str = FEATURE_VERSION
) -> list[str]:
    """``n`` synthetic feature rows for ``d`` and their ``feature_batches`` row (published), as
    sluice_features leaves a day; the sample ids."""
    frame = synthetic(1, rows_per_day=n, seed=d.toordinal() if seed is None else seed).drop(columns="label")
    frame["sample_date"] = d
    frame["sample_id"] = [f"S{d:%Y%m%d}-{i:07d}" for i in range(n)]
    frame["station_id"] = [f"ST{1 + i % 12:02d}" for i in range(n)]
    frame["sampled_at"] = pd.Timestamp(d, tz="UTC")
    frame["feature_version"] = feature_version
    frame["built_at"] = pd.Timestamp(d, tz="UTC")
    batch = pd.DataFrame(
        [
            {
                "sample_date": d,
                "feature_version": feature_version,
                "history_days": 7,
                "row_count": n,
                "status": "published",
                "built_at": pd.Timestamp(d, tz="UTC"),
            }
        ]
    )
    with warehouse.transaction() as tx:
        tx.replace_partition("features", d, frame)
        tx.replace_partition("feature_batches", d, batch)
    return frame["sample_id"].tolist()


def register_model(
    name: str, model, X: pd.DataFrame, *, family: str = "logistic_regression", tags: dict | None = None
) -> int:
    """Log ``model`` (fitted on ``X``) the way sluice_train does — skops with the family's trusted
    types, a signature, ``predict_proba`` — into the configured experiment, and register it as a new
    version of ``name`` (with its ``tags``); the version."""
    import contextlib

    import mlflow
    from mlflow.tracking import MlflowClient

    from sluice.settings import Settings
    from sluice.training import FAMILIES

    client = MlflowClient()
    # in the configured experiment: the default one would put artifacts under ./mlruns (the repo)
    experiment = client.get_experiment_by_name(Settings.from_env().experiment).experiment_id
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=list(FAMILIES[family].trusted_types),
            signature=mlflow.models.infer_signature(X, model.predict_proba(X)),
            pyfunc_predict_fn="predict_proba",
        )
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, info.model_uri, run_id=run.info.run_id, model_id=info.model_id
    )
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version.version, key, value)
    return int(version.version)


def serve_day(warehouse, model, d, n=400, shift=0.0, version=1, seed=None, name="m"):
    """Publish ``d``'s features (optionally shifted) and score them with ``model``."""
    from sluice import scoring
    from sluice.schema import FEATURES

    ids = publish_features(warehouse, d, n, seed=seed)
    if shift:
        frame = warehouse.read_partition("features", d)
        for column in ("chloramines", "turbidity", "trihalomethanes", "ph"):
            frame[column] += shift
        with warehouse.transaction() as tx:
            tx.replace_partition("features", d, frame)
    pinned = scoring.Pinned(name, version, tuple((f, "double", True) for f in FEATURES), "v1")
    at = dt.datetime.combine(d, dt.time(1), tzinfo=dt.UTC)
    scoring.score_day(warehouse, d, pinned, model, scored_at=at, scored_by="t", chunk_size=1000)
    return ids
