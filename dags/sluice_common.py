"""What every Sluice DAG shares: assets, default arguments, and the Airflow side of the library.

This module is the only bridge between Airflow and the ``sluice`` library: it turns the run's
context (Params, asset events, data interval, connections) into the plain arguments the library
takes. It imports nothing heavy at module level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Connection, Param
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

if TYPE_CHECKING:
    from sluice.alerting import Thresholds, Windows
    from sluice.approval import Approval
    from sluice.domain import Domain
    from sluice.modelstore import ModelStore
    from sluice.settings import Settings
    from sluice.specs import TrainingSpec
    from sluice.warehouse import Warehouse

WAREHOUSE_CONN_ID = "sluice_warehouse"

OBSERVATIONS = Asset(name="sluice.observations", uri="sluice://warehouse/observations", group="sluice")
LABELS = Asset(name="sluice.labels", uri="sluice://warehouse/labels", group="sluice")
FEATURES = Asset(name="sluice.features", uri="sluice://warehouse/features", group="sluice")
PREDICTIONS = Asset(name="sluice.predictions", uri="sluice://warehouse/predictions", group="sluice")
CHALLENGER = Asset(name="sluice.challenger", uri="sluice://models/challenger", group="sluice")
CHAMPION = Asset(name="sluice.champion", uri="sluice://models/champion", group="sluice")
RETRAIN_REQUESTED = Asset(
    name="sluice.retrain_requested", uri="sluice://models/retrain_requested", group="sluice"
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "sluice",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
}

START_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
"""Early enough for any domain's days (the flights domain replays 2013): a run for a day before a
DAG's start date executes no task at all. No DAG catches up, so an early start schedules nothing
extra; it only lets backfills and dated runs reach the domain's history."""


JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def params_of(spec: type, **words: str) -> dict[str, Param]:
    """The form fields of a library spec's knobs (``sluice.specs``): default, type, bounds, choices,
    title and description as the spec declares them, so they are written once. ``words`` fill the
    spec's placeholders (``{entity}``: the domain's word for an entity)."""
    from sluice.specs import knobs

    params = {}
    for name, (default, about) in knobs(spec).items():
        schema = {k: about[k] for k in ("minimum", "maximum") if about[k] is not None}
        choices = about["choices"]
        if isinstance(default, tuple):  # several of the choices
            schema |= {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True}
            if choices:
                schema["items"]["enum"] = list(choices)
                schema["examples"] = list(choices)
        else:
            schema["type"] = JSON_TYPES[type(default)]
            if choices:
                schema["enum"] = list(choices)
        if isinstance(choices, Mapping):
            schema["values_display"] = dict(choices)
        params[name] = Param(
            list(default) if isinstance(default, tuple) else default,
            title=about["title"].format(**words),
            description=about["description"].format(**words),
            **schema,
        )
    return params


def spec_from(spec: type, params: dict, **given: Any) -> Any:
    """The spec a run asked for: its knobs from the run's Params (a list as the tuple the spec
    holds), and the fields ``given`` (what the run works out itself, such as its day)."""
    from sluice.specs import knobs

    asked = {name: params[name] for name in knobs(spec)}
    asked = {k: tuple(v) if isinstance(v, list) else v for k, v in asked.items()}
    return spec(**asked, **given)


def day_param() -> Param:
    return Param(
        None,
        type=["null", "string"],
        format="date",
        title="Day",
        description="The day to process (YYYY-MM-DD). Empty: the day of the triggering asset event, "
        "else the run's data interval.",
    )


def catch_up_param(what: str) -> Param:
    """How far back a run triggered by asset events also does days whose own event started no run
    (Airflow queues none for a paused DAG, and folds events into one run at a DAG's run limit)."""
    return Param(
        30,
        type="integer",
        minimum=0,
        maximum=365,
        title="Catch up (days)",
        description=f"{what} 0: only the days asked for. Not used when a day is given.",
    )


def as_of_param(default_source: str) -> Param:
    """The newest day whose lab results a model run may use; ``default_source`` says what else."""
    return Param(
        None,
        type=["null", "string"],
        format="date",
        title="Labels as of",
        description=f"The newest day whose lab results may be used (YYYY-MM-DD). Empty: {default_source}, "
        "else the day before the run.",
    )


def label_cutoff_param() -> Param:
    return Param(
        None,
        type=["null", "integer"],
        minimum=0,
        maximum=60,
        title="Label-delay cut-off (days)",
        description="Leave out the newest N sample days, whose labels may still be arriving. "
        "Empty: the label delay setting (SLUICE_LABEL_DELAY_DAYS, default: the domain's label delay).",
    )


def label_cutoff(params: dict) -> int:
    """The run's label cut-off: the Param, else the label delay setting."""
    cutoff = params["label_cutoff_days"]
    return settings().label_delay_days if cutoff is None else cutoff


def settings() -> Settings:
    from sluice.settings import Settings

    return Settings.from_env()


def tags(*more: str) -> list[str]:
    """A Sluice DAG's tags: ``sluice``, the domain's name (the UI filters by it), then ``more``."""
    return ["sluice", f"domain:{domain().name}", *more]


def domain() -> Domain:
    """The domain ``SLUICE_DOMAIN`` names. DAG files call it while they are parsed (it is light to
    import), so a broken domain module shows as an import error of every Sluice DAG, naming the
    module and what is wrong, before any run starts."""
    from sluice.domain import active

    return active()


def warehouse() -> Warehouse:
    """The warehouse behind the ``sluice_warehouse`` connection, checked to hold the domain's data:
    a warehouse built for another domain (or not set up) fails the task at once, saying what to do."""
    from sluice.connections import url_of
    from sluice.warehouse import Warehouse, WarehouseSetupError

    try:
        conn = Connection.get(WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        raise AirflowFailException(
            f"the Airflow connection {WAREHOUSE_CONN_ID!r} is not defined: set "
            "AIRFLOW_CONN_SLUICE_WAREHOUSE to a SQLAlchemy URL (make up does) "
            "or add it in Admin → Connections"
        ) from None
    store = Warehouse(url_of(conn), domain=settings().domain)
    try:
        store.check_domain()
    except WarehouseSetupError as exc:
        raise AirflowFailException(str(exc)) from exc
    return store


def run_day(context: Any) -> dt.date:
    """The run's day: the ``day`` Param, else the triggering asset event's day, else the logical date.

    A scheduled run's logical date is the start of its data interval, the day it covers; a manual
    run with a logical date X (``airflow dags test DAG X``) processes X, although the timetable
    gives it the interval that ends at X.
    """
    from sluice.dates import resolve_day

    logical = context.get("logical_date") or context.get("data_interval_start")
    return resolve_day(context["params"].get("day"), event_extras(context), logical)


def event_extras(context: Any, asset: Asset | None = None) -> list[dict]:
    """The ``extra`` of every asset event that triggered this run (none for other runs); only
    ``asset``'s events when one is given (a DAG scheduled on several assets)."""
    events = context.get("triggering_asset_events") or {}
    return [
        event.extra or {}
        for key, asset_events in events.items()
        if asset is None or getattr(key, "name", key) == asset.name
        for event in asset_events
    ]


def run_days(context: Any) -> list[dt.date]:
    """Every day the run works on: the ``day`` Param, else every day the triggering asset events
    name (the scheduler may fold several into one run), else the logical date."""
    from sluice.dates import resolve_days

    logical = context.get("logical_date") or context.get("data_interval_start")
    return resolve_days(context["params"].get("day"), event_extras(context), logical)


def as_of_day(context: Any, param: str = "as_of") -> dt.date:
    """The newest day whose data a model run may use: the Param, else the triggering asset event's
    day, else the day before the run (the last complete day)."""
    from sluice.dates import resolve_day

    reference = context.get("logical_date") or context["dag_run"].run_after
    return resolve_day(context["params"].get(param), event_extras(context), reference - dt.timedelta(days=1))


def run_key(context: Any) -> str:
    """Identifies this DAG run across task retries (MLflow runs are tagged with it)."""
    return f"{context['dag'].dag_id}/{context['run_id']}"


def model_store() -> ModelStore:
    """Where MLflow keeps runs and models (``MLFLOW_TRACKING_URI``, the experiment), for the
    library's MLflow calls."""
    return settings().model_store()


def run_time(context: Any) -> dt.datetime:
    """The run's own timestamp: written as ``*_at`` so a retried run writes what the first one did."""
    return context["dag_run"].run_after


def now() -> dt.datetime:
    """The wall clock, for questions about the present only (is the delivery there yet?)."""
    return dt.datetime.now(dt.UTC)


# --- Params to the library's arguments -----------------------------------------------------


def training_spec(params: dict[str, Any], as_of: str, since: str | None = None) -> TrainingSpec:
    """The library's TrainingSpec for this run's Params (the DAG's only translation step); from
    ``since`` on only, when a change day is given."""
    from sluice.dates import parse_day
    from sluice.specs import TrainingSpec, since_change

    spec = spec_from(
        TrainingSpec, params, as_of=parse_day(as_of, where="as_of"), label_cutoff_days=label_cutoff(params)
    )
    return since_change(spec, parse_day(since, where="since")) if since else spec


def change_day(context: Any) -> str | None:
    """The first day of the change to learn from: the form's, else the retraining request's."""
    if context["params"]["since"]:
        return context["params"]["since"]
    return next((e["since"] for e in event_extras(context, RETRAIN_REQUESTED) if e.get("since")), None)


def triggered_by(context: Any, what: str) -> str:
    """Who or what started this run, for the audit row: ``what`` (run type, run id, user)."""
    dag_run = context["dag_run"]
    user = getattr(dag_run, "triggering_user_name", None)
    by = f" by {user}" if user else ""
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    return f"{what} ({run_type} run {dag_run.run_id}{by})"


def thresholds(params: dict) -> Thresholds:
    """The monitoring thresholds this run asked for."""
    from sluice.alerting import Thresholds

    return spec_from(Thresholds, params)


def windows(params: dict) -> Windows:
    """How much data each monitoring figure uses, from this run's Params."""
    from sluice.alerting import Windows

    delay = params["label_delay_days"]
    return spec_from(
        Windows, params, label_delay_days=settings().label_delay_days if delay is None else delay
    )


def score_plan(context: Any) -> dict[str, Any]:
    """Which days a scoring run asks for (``sluice.scoring_days.plan_days``' arguments): the form's
    range, else the days of the triggering features events and, on a new champion, its newest day."""
    from sluice.dates import parse_day

    params = context["params"]
    features_events, champion_events = event_extras(context, FEATURES), event_extras(context, CHAMPION)
    return {
        "first": parse_day(params["day"], where="day") if params["day"] else None,
        "last": parse_day(params["last_day"], where="last_day") if params["last_day"] else None,
        "feature_days": run_days(context) if features_events else [],
        "champion_changed": bool(champion_events),
        # a run with neither a day nor events (manual, or `airflow dags test`): its own day
        "fallback": run_days(context)[-1] if not (features_events or champion_events) else None,
        "catch_up_days": params["catch_up_days"],
    }


def approval_of(answer: dict | None) -> Approval | None:
    """The approver's answer (the ``approve`` task's XCom) as the library's Approval; None when
    no one was asked. An answer without a user is the deadline's default: timed out."""
    from sluice.approval import APPROVED, REJECTED, TIMED_OUT, Approval
    from sluice_approval import APPROVE

    if not answer:
        return None
    at = answer.get("responded_at")
    at = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
    reason = str((answer.get("params_input") or {}).get("reason") or "")
    user = answer.get("responded_by_user")
    if not user:
        return Approval(TIMED_OUT, None, reason, at)
    chosen = APPROVED if answer["chosen_options"] == [APPROVE] else REJECTED
    return Approval(chosen, user.get("name") or user.get("id"), reason, at)


@contextmanager
def bad_input_fails_fast() -> Iterator[None]:
    """An error of Sluice's that retrying will not mend (bad input, a wrong setting, a warehouse never
    initialised: ``SluiceError.retry`` is false) fails the task at once, with the library's message;
    one that may pass later (a delivery not there yet) and anything unexpected keep the retries."""
    from sluice.errors import SluiceError

    try:
        yield
    except SluiceError as exc:
        if exc.retry:
            raise
        raise AirflowFailException(str(exc)) from exc
