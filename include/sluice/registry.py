"""The model registry side of champion/challenger: aliases, decisions, and their audit rows.

A decision is made in two steps, each safe to retry:

1. :func:`decide_evaluation` / :func:`decide_forced` (a forced promotion or a rollback), both
   through :func:`decide_request`, work out the decision
   and write its ``model_decisions`` row with ``status = 'pending'`` (one row per deciding run,
   replaced on a re-run, so a retry never adds a second row).
2. :func:`apply` moves the aliases in MLflow and then marks the row ``applied``. If the process
   dies between the two, the retry finds the row pending and the aliases already moved, and only
   marks it; if the alias move failed, the retry moves them. If the champion moved since the
   decision was made (another evaluation won the race), the row is marked ``aborted`` and nothing
   moves.

MLflow keeps no history of aliases; ``model_decisions`` is that history. Versions are also tagged
(``sluice.decision``, ``sluice.champion_since``, ``sluice.replaced_at``) so the MLflow UI shows it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from sqlalchemy import select, update

from sluice.approval import AUTO, Approval, changes_champion
from sluice.errors import SluiceError
from sluice.evaluation import (
    FORCED,
    REJECT,
    ROLLBACK,
    Comparison,
    EvaluationError,
    Policy,
    compare,
    decide,
    finite,
    load_holdout,
)
from sluice.modelstore import ModelStore
from sluice.tables import model_decisions
from sluice.warehouse import Warehouse

CHAMPION, CHALLENGER = "champion", "challenger"
TAG = "sluice"


class RegistryError(SluiceError, RuntimeError):
    """The registry is not in a state this step can work from; the message says what to do."""


def alias_version(store: ModelStore, name: str, alias: str) -> int | None:
    """The version ``alias`` points to, or None when the model or the alias does not exist."""
    try:
        return int(store.client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def request(
    *, force_promote: bool, rollback_to_version: int | None, reason: str, challenger: int | None
) -> tuple[str, int | None]:
    """What a run is asked to do, from its form: ``(mode, version)`` with mode ``evaluate``,
    ``forced`` or ``rollback``; an override without a reason is refused before anything happens."""
    if force_promote and rollback_to_version:
        raise RegistryError("choose force_promote or rollback_to_version, not both")
    if rollback_to_version:
        _require_reason(ROLLBACK, reason)
        return ROLLBACK, rollback_to_version
    if force_promote:
        _require_reason(FORCED, reason)
        return FORCED, challenger
    return "evaluate", challenger


def _require_reason(kind: str, reason: str | None) -> None:
    if not (reason or "").strip():
        what = "force_promote" if kind == FORCED else "rollback_to_version"
        raise RegistryError(
            f"{what} needs a reason: fill in 'reason' with why the evaluation is overridden "
            "(it is kept in model_decisions)"
        )


def resolve(store: ModelStore, name: str, challenger: int | None = None) -> dict[str, int | None]:
    """The champion and challenger versions, read once at the start of an evaluation.

    ``challenger`` (a Param, or the version in the triggering event) wins over the alias.
    """
    return {
        "champion": alias_version(store, name, CHAMPION),
        "challenger": challenger if challenger is not None else alias_version(store, name, CHALLENGER),
    }


def model_version(store: ModelStore, name: str, version: int) -> Any:
    """The registered version (tags and all); a clear error when it does not exist."""
    try:
        return store.client().get_model_version(name, str(version))
    except MlflowException:
        raise RegistryError(f"model {name!r} has no version {version}") from None


def trained_until(store: ModelStore, name: str, version: int) -> dt.date | None:
    """The last sample day a version trained on (from its ``sluice.train_last_day`` tag)."""
    tag = model_version(store, name, version).tags.get(f"{TAG}.train_last_day")
    return dt.date.fromisoformat(tag) if tag else None


@contextmanager
def _trusted_loading() -> Iterator[None]:
    # MLflow 3.17 refuses to deserialise any model (skops included) unless this is set, since a
    # model's own files decide what gets loaded. Ours come from our own registry: allow it here only.
    previous = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", None)
        else:
            os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = previous


def load(store: ModelStore, name: str, version: int) -> Any:
    """The fitted scikit-learn pipeline of ``name`` version ``version``."""
    import mlflow.sklearn

    model_version(store, name, version)
    with store.active(), _trusted_loading():
        return mlflow.sklearn.load_model(f"models:/{name}/{version}")


# --- decisions -------------------------------------------------------------------------------


def existing(warehouse: Warehouse, decision_id: str) -> dict[str, Any] | None:
    rows = warehouse.fetch(select(model_decisions).where(model_decisions.c.decision_id == decision_id))
    return dict(rows[0]) if rows else None


def _write(warehouse: Warehouse, row: Mapping[str, Any]) -> dict[str, Any]:
    with warehouse.transaction() as tx:
        tx.replace_partition(
            model_decisions, row["decision_date"], pd.DataFrame([row]), decision_id=row["decision_id"]
        )
    return dict(row)


def _row(
    *,
    name: str,
    decision_id: str,
    as_of: dt.date,
    decision: str,
    reason: str,
    champion: int | None,
    challenger: int | None,
    champion_after: int | None,
    triggered_by: str,
    decided_at: dt.datetime,
    comparison: Comparison | None = None,
    policy: Policy | None = None,
) -> dict[str, Any]:
    interval = comparison.interval if comparison else None
    return {
        "decision_date": as_of,
        "decision_id": decision_id,
        "model_name": name,
        "decision": decision,
        "status": "pending",
        "champion_before": champion,
        "challenger_version": challenger,
        "champion_after": champion_after,
        "primary_metric": policy.primary_metric if policy else None,
        "margin": policy.margin if policy else None,
        "gain": interval.estimate if interval else None,
        "ci_low": interval.low if interval else None,
        "ci_high": interval.high if interval else None,
        "champion_metrics": json.dumps(finite(comparison.champion)) if comparison else None,
        "challenger_metrics": json.dumps(finite(comparison.challenger)) if comparison else None,
        "slices": json.dumps(comparison.record()["slices"]) if comparison else None,
        "holdout_first_day": comparison.days[0] if comparison else None,
        "holdout_last_day": comparison.days[-1] if comparison else None,
        "holdout_rows": comparison.rows if comparison else None,
        "reason": reason,
        "triggered_by": triggered_by,
        "decided_at": decided_at,
    }


def _compare(
    warehouse: Warehouse,
    store: ModelStore,
    name: str,
    champion: int | None,
    challenger: int,
    *,
    as_of: dt.date,
    label_cutoff_days: int,
    holdout_days: int,
    policy: Policy,
) -> Comparison:
    building = warehouse.domain.features.version
    for version in (champion, challenger):
        if version is None:
            continue
        feature_version = model_version(store, name, version).tags.get(f"{TAG}.feature_version", building)
        if feature_version != building:
            raise EvaluationError(
                f"version {version} was trained on feature set {feature_version}, the warehouse builds "
                f"{building}: the two cannot be scored on the same rows; "
                "use force_promote with a reason"
            )
    frame = load_holdout(
        warehouse,
        as_of,
        label_cutoff_days,
        holdout_days,
        [trained_until(store, name, v) for v in (champion, challenger) if v is not None],
        building,
    )
    return compare(
        frame,
        warehouse.domain.feature_names,
        load(store, name, challenger),
        load(store, name, champion) if champion is not None else None,
        policy,
    )


def decide_evaluation(
    warehouse: Warehouse,
    store: ModelStore,
    name: str,
    versions: Mapping[str, int | None],
    *,
    decision_id: str,
    as_of: dt.date,
    label_cutoff_days: int,
    holdout_days: int,
    policy: Policy,
    triggered_by: str,
    decided_at: dt.datetime,
) -> dict[str, Any]:
    """Compare the challenger with the champion and record the (pending) decision."""
    done = existing(warehouse, decision_id)
    if done and done["status"] != "pending":
        return done  # this run already decided and applied (or aborted): never decide twice
    champion, challenger = versions["champion"], versions["challenger"]
    if challenger is None:
        raise RegistryError(f"model {name!r} has no challenger to evaluate: run sluice_train first")
    if challenger == champion:
        raise RegistryError(f"version {challenger} of {name!r} is already the champion")
    comparison = _compare(
        warehouse,
        store,
        name,
        champion,
        challenger,
        as_of=as_of,
        label_cutoff_days=label_cutoff_days,
        holdout_days=holdout_days,
        policy=policy,
    )
    verdict = decide(
        policy, comparison.challenger, comparison.champion, comparison.interval, comparison.slices
    )
    row = _row(
        name=name,
        decision_id=decision_id,
        as_of=as_of,
        decision=verdict.decision,
        reason=verdict.reason,
        champion=champion,
        challenger=challenger,
        champion_after=challenger if verdict.promotes else champion,
        triggered_by=triggered_by,
        decided_at=decided_at,
        comparison=comparison,
        policy=policy,
    )
    return _write(warehouse, row)


def decide_forced(
    warehouse: Warehouse,
    store: ModelStore,
    name: str,
    versions: Mapping[str, int | None],
    *,
    decision_id: str,
    as_of: dt.date,
    reason: str,
    triggered_by: str,
    decided_at: dt.datetime,
    kind: str = FORCED,
) -> dict[str, Any]:
    """Record a promotion that skips the comparison (``forced``) or a ``rollback`` to a version."""
    done = existing(warehouse, decision_id)
    if done and done["status"] != "pending":
        return done
    _require_reason(kind, reason)
    champion, target = versions["champion"], versions["challenger"]
    if target is None:
        raise RegistryError(f"model {name!r} has no challenger to promote: run sluice_train first")
    model_version(store, name, target)
    if target == champion:
        raise RegistryError(f"version {target} of {name!r} is already the champion: nothing to do")
    if kind == ROLLBACK and champion is not None and target > champion:
        raise RegistryError(
            f"rollback_to_version={target} is newer than the champion (version {champion}): a rollback goes "
            "back to an earlier version; use force_promote to promote a newer one"
        )
    row = _row(
        name=name,
        decision_id=decision_id,
        as_of=as_of,
        decision=kind,
        reason=reason.strip(),
        champion=champion,
        challenger=target,
        champion_after=target,
        triggered_by=triggered_by,
        decided_at=decided_at,
    )
    return _write(warehouse, row)


def decide_request(
    warehouse: Warehouse,
    store: ModelStore,
    name: str,
    versions: Mapping[str, int | None],
    *,
    mode: str,
    policy: Policy,
    label_cutoff_days: int,
    holdout_days: int,
    reason: str,
    **decision: Any,
) -> dict[str, Any]:
    """The decision a run asked for (``mode`` from :func:`request`): an evaluation under ``policy``,
    else a forced promotion or a rollback with its ``reason``; ``decision`` holds the row's
    ``decision_id``, ``as_of``, ``triggered_by`` and ``decided_at``."""
    if mode == "evaluate":
        return decide_evaluation(
            warehouse,
            store,
            name,
            versions,
            label_cutoff_days=label_cutoff_days,
            holdout_days=holdout_days,
            policy=policy,
            **decision,
        )
    return decide_forced(warehouse, store, name, versions, reason=reason, kind=mode, **decision)


def apply(
    warehouse: Warehouse, store: ModelStore, name: str, decision_id: str, approval: Approval | None = None
) -> dict[str, Any]:
    """Carry out a recorded decision in MLflow, then mark its row applied (idempotent). With an
    ``approval`` that refuses (rejected, or timed out), a decision that would move the champion is
    declined instead: nothing moves, and the row records who refused and why."""
    row = existing(warehouse, decision_id)
    if row is None:
        raise RegistryError(f"no decision {decision_id!r} recorded: run the evaluation step first")
    if row["status"] == "aborted":  # a retry must not turn a lost race into a success
        raise RegistryError(f"decision {decision_id} was aborted: {row['reason']}")
    if row["status"] != "pending":
        return row
    approval = approval or Approval(AUTO)
    if approval.refused and changes_champion(row):
        return _decline(warehouse, store, name, row, approval)
    client = store.client()
    current = alias_version(store, name, CHAMPION)
    moved_already = row["decision"] != REJECT and current == row["champion_after"]
    if current != row["champion_before"] and not moved_already:
        aborted = (
            f"; aborted: the champion moved from version {row['champion_before']} to {current} meanwhile"
        )
        _mark(warehouse, row, "aborted", reason=row["reason"] + aborted)
        raise RegistryError(
            f"decision {decision_id} not applied: the champion moved from version "
            f"{row['champion_before']} to {current} while it was being made; evaluate again"
        )
    when = row["decided_at"].isoformat()
    target = row["challenger_version"]
    if row["decision"] == REJECT:
        client.set_model_version_tag(name, str(target), f"{TAG}.decision", REJECT)
        client.set_model_version_tag(name, str(target), f"{TAG}.decided_at", when)
    else:
        client.set_registered_model_alias(name, CHAMPION, str(target))
        client.set_model_version_tag(name, str(target), f"{TAG}.decision", row["decision"])
        client.set_model_version_tag(name, str(target), f"{TAG}.champion_since", when)
        previous = row["champion_before"]
        if previous is not None and previous != target:
            client.set_model_version_tag(name, str(previous), f"{TAG}.replaced_at", when)
            client.set_model_version_tag(name, str(previous), f"{TAG}.replaced_by", str(target))
    if alias_version(store, name, CHALLENGER) == target:  # judged: no longer waiting for a decision
        client.delete_registered_model_alias(name, CHALLENGER)
    _mark(warehouse, row, "applied", approval=approval)
    return row | {"status": "applied"} | approval.columns()


def _decline(
    warehouse: Warehouse, store: ModelStore, name: str, row: dict[str, Any], approval: Approval
) -> dict[str, Any]:
    """A promotion the approver refused: the challenger is tagged and loses its alias (it was
    judged), the champion stays, the row says who refused and why."""
    client, target = store.client(), row["challenger_version"]
    client.set_model_version_tag(name, str(target), f"{TAG}.decision", f"declined ({approval.answer})")
    client.set_model_version_tag(name, str(target), f"{TAG}.decided_at", row["decided_at"].isoformat())
    if alias_version(store, name, CHALLENGER) == target:
        client.delete_registered_model_alias(name, CHALLENGER)
    _mark(warehouse, row, "declined", approval=approval)
    return row | {"status": "declined"} | approval.columns()


def _mark(
    warehouse: Warehouse,
    row: Mapping[str, Any],
    status: str,
    reason: str | None = None,
    approval: Approval | None = None,
) -> None:
    query = update(model_decisions).where(model_decisions.c.decision_id == row["decision_id"])
    values: dict[str, Any] = {"status": status} | (approval.columns() if approval else {})
    if reason is not None:
        values["reason"] = reason
    with warehouse.transaction() as tx:
        tx.conn.execute(query.values(**values))
