"""Small frames and tables shaped like the warehouse's, for tests that need model inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sluice.domains.water import DOMAIN

FEATURES = DOMAIN.feature_names
FEATURE_VERSION = DOMAIN.features.version

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
    frame["entity"] = "ST01"
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
    from sluice import checking, features, ingest
    from sluice.sources import make_source

    source = make_source(conf, None)
    for day in days:
        ingest.land(warehouse, source, day, as_of)
        checking.validate(warehouse, day, gx_root=conf.gx_dir, tolerance=0.05, as_of=as_of)
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
    frame["entity"] = [f"ST{1 + i % 12:02d}" for i in range(n)]
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
    name: str,
    model,
    X: pd.DataFrame,
    *,
    family: str = "logistic_regression",
    tags: dict | None = None,
    alias: str | None = None,
    store=None,
) -> int:
    """Log ``model`` (fitted on ``X``) the way sluice_train does — skops with the family's trusted
    types, a signature, ``predict_proba`` — into ``store`` (default: the one the environment
    configures), and register it as a new version of ``name`` with its ``tags`` (and ``alias``,
    e.g. ``champion``); the version."""
    import contextlib

    import mlflow

    from sluice.families import FAMILIES
    from sluice.run_artifacts import log_model
    from sluice.settings import Settings

    store = store or Settings.from_env().model_store()
    client = store.client()
    with store.active() as experiment, mlflow.start_run(experiment_id=experiment) as run:
        # sluice_train's own call: pinned requirements, so MLflow does not infer them by loading
        # the model in a subprocess (3-5 s a model)
        info = log_model(model, X, FAMILIES[family].trusted_types)
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.create_registered_model(name)
    with store.active():  # a SQL registry resolves models:/ through the process-wide URI
        version = client.create_model_version(
            name, info.model_uri, run_id=run.info.run_id, model_id=info.model_id
        )
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version.version, key, value)
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)


def serve_day(warehouse, model, d, n=400, shift=0.0, version=1, seed=None, name="m"):
    """Publish ``d``'s features (optionally shifted) and score them with ``model``."""
    from sluice import scoring

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


def seed_view(
    warehouse, days: int = 40, first: dt.date = START, model_name: str = "water_potability"
) -> dict:
    """Tables the Sluice view reads, for ``days`` days from ``first``: delivered and scored rows,
    monitoring figures (a drift from two thirds of the way on), three decisions, one quarantined
    batch. Returns what was written, for assertions."""
    import json

    rng = np.random.default_rng(7)
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    onset = dates[(2 * days) // 3]
    at = pd.Timestamp(first, tz="UTC")
    quarantined_day = dates[days // 4]
    batches = pd.DataFrame(
        {
            "sample_date": dates,
            "batch_id": [f"B{d:%Y%m%d}" for d in dates],
            "source": "simulated",
            "columns": "[]",
            "row_count": 1000,
            "landed_at": at,
            "status": ["partial" if d == quarantined_day else "published" for d in dates],
            "published_rows": [990 if d == quarantined_day else 1000 for d in dates],
            "quarantined_rows": [10 if d == quarantined_day else 0 for d in dates],
            "validated_at": at,
            "validation_url": None,
        }
    )
    versions = [1 if d < onset + dt.timedelta(days=5) else 3 for d in dates]
    scored = pd.DataFrame(
        {
            "sample_date": dates,
            "model_name": model_name,
            "model_version": versions,
            "feature_version": FEATURE_VERSION,
            "row_count": [990 if d == quarantined_day else 1000 for d in dates],
            "threshold": 0.5,
            "scored_by": "sluice_score/test",
            "scored_at": at,
        }
    )
    metrics = []

    def figure(d, metric, value, column="", threshold=None, version=None):
        alert = int(threshold is not None and value is not None and value > threshold)
        metrics.append((d, metric, column, "day", value, threshold, alert, 1000, version))

    for d, v in zip(dates, versions, strict=True):
        drifted = d >= onset and d < onset + dt.timedelta(days=5)
        for i, column in enumerate(("chloramines", "turbidity", "trihalomethanes", "ph", "sulfate")):
            base = 0.02 + 0.01 * i
            figure(
                d,
                "drift_score",
                base + (0.3 - 0.05 * i if drifted else 0) + rng.uniform(0, 0.01),
                column,
                0.1,
            )
        figure(d, "drift_share", 0.4 if drifted else round(rng.uniform(0, 0.08), 3), threshold=0.1, version=v)
        figure(
            d,
            "prediction_drift",
            0.2 if drifted else round(rng.uniform(0.01, 0.06), 3),
            "score",  # as the monitor records it
            threshold=0.1,
            version=v,
        )
        figure(d, "quarantine_rate", 0.01 if d == quarantined_day else 0.0, threshold=0.05)
        for column in FEATURES:  # quality figures per feature, as the monitor writes them
            figure(d, "missing_share", round(rng.uniform(0, 0.2), 3), column)
            figure(d, "out_of_range", int(rng.integers(0, 5)), column)
        metrics.append((d, "drift_share", "", "rolling_7d", 0.05, 0.1, 0, 7000, v))
        if d <= dates[-4]:  # the newest three days have no lab results yet
            accuracy = 0.72 if drifted else 0.85 + rng.uniform(-0.01, 0.01)
            figure(d, "accuracy", accuracy, version=v)
            figure(d, "roc_auc", accuracy + 0.07, version=v)
            figure(d, "accuracy_drop", 0.86 - accuracy, threshold=0.05, version=v)
    frame = pd.DataFrame(
        metrics,
        columns=[
            "metric_date",
            "metric",
            "column_name",
            "span",
            "value",
            "threshold",
            "alert",
            "sample_size",
            "model_version",
        ],
    )
    frame["computed_at"] = at

    def decision(d, kind, before, challenger, after, gain, reason, status="applied"):
        return {
            "decision_date": d,
            "decision_id": f"sluice_evaluate/{kind}-{d}",
            "model_name": model_name,
            "decision": kind,
            "status": status,
            "champion_before": before,
            "challenger_version": challenger,
            "champion_after": after,
            "primary_metric": "roc_auc",
            "margin": 0.005,
            "gain": gain,
            "ci_low": None if gain is None else gain - 0.01,
            "ci_high": None if gain is None else gain + 0.01,
            "champion_metrics": json.dumps({"roc_auc": 0.90, "accuracy": 0.84}) if before else None,
            "challenger_metrics": json.dumps({"roc_auc": 0.90 + (gain or 0), "accuracy": 0.85, "f1": 0.83}),
            "slices": None,
            "holdout_first_day": d - dt.timedelta(days=7),
            "holdout_last_day": d - dt.timedelta(days=1),
            "holdout_rows": 7000,
            "reason": reason,
            "triggered_by": "asset_triggered run",
            "decided_at": pd.Timestamp(d, tz="UTC") + pd.Timedelta(hours=4),
        }

    decisions = pd.DataFrame(
        [
            decision(dates[0], "promote", None, 1, 1, None, "first champion"),
            decision(dates[days // 3], "reject", 1, 2, 1, -0.002, "gain below the margin"),
            decision(onset + dt.timedelta(days=4), "promote", 1, 3, 3, 0.08, "better on the hold-out"),
        ]
    )
    failed = [
        {
            "expectation": "expect_column_values_to_be_between",
            "column": "ph",
            "unexpected_count": 10,
            "why": "physical range",
        }
    ]
    held = pd.DataFrame(
        [
            {
                "sample_date": quarantined_day,
                "batch_id": f"B{quarantined_day:%Y%m%d}",
                "table_name": "observations",
                "scope": "rows",
                "reason": "10 rows broke row rules",
                "failed_expectations": json.dumps(failed),
                "row_count": 1000,
                "quarantined_rows": 10,
                "validation_url": None,
                "quarantined_at": at,
            }
        ]
    )
    with warehouse.transaction() as tx:
        tx.insert("ingest_batches", batches)
        tx.insert("prediction_batches", scored)
        tx.insert("monitoring_metrics", frame)
        tx.insert("model_decisions", decisions)
        tx.insert("quarantine", held)
    return {"dates": dates, "onset": onset, "quarantined_day": quarantined_day, "versions": versions}


def shop_domain(features=None):
    """A small domain of its own (orders and their returns), for tests that need a second domain."""
    from sluice.domain import (
        CATEGORICAL,
        ENTITY,
        EVENT_TIME,
        ID,
        LABEL,
        NUMERIC,
        Column,
        Domain,
        FeatureSet,
        Label,
    )

    return Domain(
        name="shop",
        title="Shop returns",
        columns=(
            Column("order_id", ID),
            Column("placed_at", EVENT_TIME),
            Column("shop", ENTITY),
            Column("channel", CATEGORICAL),
            Column("amount", NUMERIC),
            Column("returned", LABEL),
        ),
        label=Label("returned", "returned", "kept"),
        features=features or FeatureSet("f1"),
        model_name="shop_returns",
    ).check()
