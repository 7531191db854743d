"""MLflow for training: the experiment, one parent run per training, a nested run per model family,
and the registration of the best family as the ``challenger`` of the registered model.

Every step can be retried: a training is identified by a ``run_key`` (the DAG layer passes its
run's id), a retried step finds what an earlier attempt finished and reuses it instead of logging
a second parent run, a second candidate or a second model version.

Models are saved with skops, naming exactly the types each family's fitted pipeline needs
(:attr:`sluice.families.Family.trusted_types`); an unexpected type fails the save instead of
falling back to pickle.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient
from sqlalchemy import select

from sluice.errors import SluiceError
from sluice.families import family
from sluice.modelstore import ModelStore
from sluice.run_artifacts import cv_table, log_dataset, log_figures, log_importance, log_model
from sluice.specs import METRICS, TrainingSpec
from sluice.tables import feature_batches, ingest_batches
from sluice.training import (
    Split,
    holdout_metrics,
    load_labelled,
    search,
    select_best,
    time_split,
)
from sluice.warehouse import Warehouse

CHALLENGER = "challenger"
TAG = "sluice"


class TrackingError(SluiceError, RuntimeError):
    """MLflow holds something training cannot continue from; the message says what."""


def _find_runs(client: MlflowClient, experiment_id: str, **tags: str) -> list[Any]:
    query = " and ".join(f"tags.`{TAG}.{k}` = '{v}'" for k, v in tags.items())
    return client.search_runs([experiment_id], filter_string=query, order_by=["attributes.start_time DESC"])


def _finished_run(client: MlflowClient, experiment_id: str, **tags: str) -> Any | None:
    """The run an earlier attempt finished with these tags; an attempt killed halfway is marked
    failed (the retry starts over)."""
    for run in _find_runs(client, experiment_id, **tags):
        if run.info.status == "FINISHED":
            return run
        client.set_terminated(run.info.run_id, "FAILED")
    return None


def _split_params(split: Split) -> dict[str, Any]:
    """The split as the parent run's params: sizes, first and last days, digests."""
    return {
        "train_rows": len(split.train),
        "holdout_rows": len(split.holdout),
        "train_first_day": split.train_days[0].isoformat(),
        "train_last_day": split.train_days[-1].isoformat(),
        "holdout_first_day": split.holdout_days[0].isoformat(),
        "holdout_last_day": split.holdout_days[-1].isoformat(),
        "train_digest": split.digests["train"],
        "holdout_digest": split.digests["holdout"],
    }


def start_training(
    warehouse: Warehouse,
    store: ModelStore,
    spec: TrainingSpec,
    split: Split,
    *,
    run_key: str,
    validations: Mapping[str, Mapping[str, str]],
) -> str:
    """The parent run of one training (reused when a retry finds it): spec, data, GX links.

    ``validations`` maps each table validated (``observations``, ``features``) to ``{day: Data
    Docs URL}`` for the days used; each becomes a tag ``sluice.gx.<table>.<day>``.
    """
    client, experiment_id = store.client(), store.experiment_id()
    finished = _finished_run(client, experiment_id, run_key=run_key, kind="training")
    if finished is not None:
        return finished.info.run_id
    first, last = spec.window
    tags = {
        f"{TAG}.run_key": run_key,
        f"{TAG}.kind": "training",
        f"{TAG}.as_of": spec.as_of.isoformat(),
        f"{TAG}.train_days": f"{split.train_days[0]}..{split.train_days[-1]}",
        f"{TAG}.holdout_days": f"{split.holdout_days[0]}..{split.holdout_days[-1]}",
    }
    for table, links in validations.items():
        tags |= {f"{TAG}.gx.{table}.{day}": url for day, url in sorted(links.items()) if url}
    with (
        store.active(),
        mlflow.start_run(
            experiment_id=experiment_id, run_name=f"training as of {spec.as_of}", tags=tags
        ) as run,
    ):
        mlflow.log_params(spec.params() | _split_params(split))
        mlflow.log_metrics(
            {
                "train_positive_share": float(split.train["label"].mean()),
                "holdout_positive_share": float(split.holdout["label"].mean()),
            }
        )
        log_dataset(
            warehouse, split.train, split.digests["train"], spec, f"train {first}..{last}", "training"
        )
        log_dataset(
            warehouse, split.holdout, split.digests["holdout"], spec, f"holdout {first}..{last}", "holdout"
        )
        mlflow.log_dict(
            {t: dict(sorted(links.items())) for t, links in validations.items()}, "gx_validations.json"
        )
        return run.info.run_id


@dataclass(frozen=True)
class Candidate:
    """One family's result, as the mapped task returns it (JSON-ready)."""

    family: str
    run_id: str
    model_id: str
    model_uri: str
    metrics: dict[str, float]
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "run_id": self.run_id,
            "model_id": self.model_id,
            "model_uri": self.model_uri,
            "metrics": self.metrics,
            "train_seconds": self.train_seconds,
        }


def train_candidate(
    store: ModelStore,
    spec: TrainingSpec,
    split: Split,
    family_name: str,
    *,
    parent_run_id: str,
    run_key: str,
    class_names: tuple[str, str] = ("class 0", "class 1"),
) -> Candidate:
    """Search, fit and evaluate one family in a nested run; log everything a reviewer needs.
    ``class_names`` label the confusion matrix (the domain's words for class 0 and 1)."""
    client, experiment_id = store.client(), store.experiment_id()
    run = _finished_run(client, experiment_id, run_key=run_key, kind="candidate", family=family_name)
    if run is not None:
        return Candidate(
            family_name,
            run.info.run_id,
            run.data.tags[f"{TAG}.model_id"],
            run.data.tags[f"{TAG}.model_uri"],
            {k: run.data.metrics[f"holdout_{k}"] for k in METRICS},
            run.data.metrics["train_seconds"],
        )
    fam = family(family_name)
    tags = {f"{TAG}.run_key": run_key, f"{TAG}.kind": "candidate", f"{TAG}.family": family_name}
    with (
        store.active(),
        mlflow.start_run(
            experiment_id=experiment_id, run_name=family_name, parent_run_id=parent_run_id, tags=tags
        ) as run,
    ):
        started = time.perf_counter()
        result = search(spec, family_name, split.train)
        seconds = time.perf_counter() - started
        X = split.holdout[list(spec.features)]
        y = split.holdout["label"].to_numpy()
        score = result.model.predict_proba(X)[:, 1]
        metrics = holdout_metrics(y, score)
        mlflow.log_params({"family": family_name, "candidates": result.candidates, "budget": spec.budget})
        mlflow.log_params({f"best_{k}": v for k, v in result.best_params.items()})
        mlflow.log_metrics(result.cv_scores | {f"holdout_{k}": v for k, v in metrics.items()})
        mlflow.log_metric("train_seconds", seconds)
        mlflow.log_table(cv_table(result.cv_results), "cv_results.json")
        log_figures(y, score, fam.title, class_names)
        if spec.importance_rows:
            log_importance(result.model, X, y, spec)
        info = log_model(result.model, X, fam.trusted(spec.categorical))
        mlflow.set_tags({f"{TAG}.model_id": info.model_id, f"{TAG}.model_uri": info.model_uri})
        return Candidate(family_name, run.info.run_id, info.model_id, info.model_uri, metrics, seconds)


def _model_version(store: ModelStore, model_name: str, best: Candidate, about: str, description: str) -> Any:
    """The version registered from ``best``'s run: the one an earlier attempt registered, else a
    new one (the registered model created first, with ``description``, if it does not exist)."""
    client = store.client()
    existing = client.search_model_versions(f"name = '{model_name}' and run_id = '{best.run_id}'")
    if existing:
        return existing[0]
    try:
        client.get_registered_model(model_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(model_name, description=description or None)
    # a SQL registry resolves the models:/ source through the process-wide tracking URI (MLflow's
    # own TODO), not the client's: point it at this store meanwhile
    with store.active():
        return client.create_model_version(
            model_name, best.model_uri, run_id=best.run_id, model_id=best.model_id, description=about
        )


def register_challenger(
    store: ModelStore,
    model_name: str,
    candidates: list[Candidate],
    spec: TrainingSpec,
    *,
    parent_run_id: str,
    description: str = "",
) -> dict[str, Any]:
    """Register the best candidate as a new version of ``model_name`` with the alias ``challenger``;
    ``description`` describes a model registered for the first time (the domain says what it is).

    A retry that finds the version already registered from the same run reuses it.
    """
    client = store.client()
    by_family = {c.family: c for c in candidates}
    best = by_family[select_best({c.family: c.metrics for c in candidates}, spec.selection_metric)]
    version = _model_version(store, model_name, best, f"{best.family}, as of {spec.as_of}", description)
    first, last = spec.window
    recorded = client.get_run(parent_run_id).data.params
    tags = {
        f"{TAG}.family": best.family,
        f"{TAG}.train_first_day": recorded["train_first_day"],
        f"{TAG}.train_last_day": recorded["train_last_day"],
        f"{TAG}.holdout_first_day": recorded["holdout_first_day"],
        f"{TAG}.holdout_last_day": recorded["holdout_last_day"],
        f"{TAG}.training_run": parent_run_id,
        f"{TAG}.as_of": spec.as_of.isoformat(),
        f"{TAG}.window": f"{first}..{last}",
        f"{TAG}.selection_metric": spec.selection_metric,
        f"{TAG}.feature_version": spec.feature_version,
    } | {f"{TAG}.holdout_{k}": f"{v:.6f}" for k, v in best.metrics.items()}
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version.version, key, value)
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    client.set_tag(parent_run_id, f"{TAG}.best_family", best.family)
    client.set_tag(parent_run_id, f"{TAG}.registered_version", str(version.version))
    for key, value in best.metrics.items():
        client.log_metric(parent_run_id, f"best_holdout_{key}", value)
    return {
        "model_name": model_name,
        "version": int(version.version),
        "family": best.family,
        "run_id": best.run_id,
        "metrics": best.metrics,
        "selection_metric": spec.selection_metric,
        "candidates": {c.family: c.metrics[spec.selection_metric] for c in candidates},
        "as_of": spec.as_of.isoformat(),
        "day": spec.as_of.isoformat(),  # how a downstream run finds its as-of day (sluice.dates)
    }


def candidate_from_dict(data: Mapping[str, Any]) -> Candidate:
    return Candidate(
        data["family"],
        data["run_id"],
        data["model_id"],
        data["model_uri"],
        dict(data["metrics"]),
        float(data["train_seconds"]),
    )


def validation_links(warehouse: Warehouse, first: dt.date, last: dt.date) -> dict[str, dict[str, str]]:
    """The GX Data Docs pages of the days ``first``..``last``: ``{table: {day: URL(s)}}`` (the
    pages of a day's suites separated by spaces)."""
    from sluice.quarantine import urls

    links: dict[str, dict[str, str]] = {}
    for name, table in (("observations", ingest_batches), ("features", feature_batches)):
        rows = warehouse.fetch(
            select(table.c.sample_date, table.c.validation_url).where(
                table.c.sample_date >= first, table.c.sample_date <= last
            )
        )
        links[name] = {
            str(r["sample_date"]): " ".join(urls(r["validation_url"])) for r in rows if r["validation_url"]
        }
    return links


def _split(warehouse: Warehouse, spec: TrainingSpec) -> Split:
    """The spec's data, split by time (enough training days for the folds)."""
    return time_split(load_labelled(warehouse, spec), spec.holdout_days, min_train_days=spec.cv_folds + 1)


def prepare(warehouse: Warehouse, store: ModelStore, spec: TrainingSpec, *, run_key: str) -> dict[str, Any]:
    """Load and split the training data and open the training's parent run (what the first task does)."""
    split = _split(warehouse, spec)
    first, last = spec.window
    parent = start_training(
        warehouse,
        store,
        spec,
        split,
        run_key=run_key,
        validations=validation_links(warehouse, first, last),
    )
    return {
        "parent_run_id": parent,
        "train_rows": len(split.train),
        "holdout_rows": len(split.holdout),
        "train_days": [split.train_days[0].isoformat(), split.train_days[-1].isoformat()],
        "holdout_days": [split.holdout_days[0].isoformat(), split.holdout_days[-1].isoformat()],
        "train_digest": split.digests["train"],
        "holdout_digest": split.digests["holdout"],
    }


def train(
    warehouse: Warehouse,
    store: ModelStore,
    spec: TrainingSpec,
    family_name: str,
    *,
    parent_run_id: str,
    run_key: str,
) -> Candidate:
    """Train one family on exactly the data the parent run recorded (what each mapped task does)."""
    split = _split(warehouse, spec)
    recorded = store.client().get_run(parent_run_id).data.params
    for part, digest in split.digests.items():
        if recorded.get(f"{part}_digest") != digest:
            raise TrackingError(
                f"the {part} data changed since training run {parent_run_id} started "
                f"(digest {recorded.get(f'{part}_digest')} then, {digest} now): "
                "labels or features of the window were rewritten meanwhile; start a new training run"
            )
    label = warehouse.domain.label
    return train_candidate(
        store,
        spec,
        split,
        family_name,
        parent_run_id=parent_run_id,
        run_key=run_key,
        class_names=(label.negative, label.positive),
    )
