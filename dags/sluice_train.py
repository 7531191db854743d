"""
### Train candidate models, track them in MLflow, register the best as `challenger`

Runs weekly (Monday 03:00 UTC), whenever monitoring asks for it (the `sluice.retrain_requested`
asset), and from the UI with the form below.

* **prepare** reads the features of the window's sample days joined with the lab results that
  had arrived by the *as of* day (only the days since a change, when the form or the retraining
  request names one), splits them by time (the newest labelled days are the hold-out),
  and opens the MLflow parent run: the spec, both data sets (`mlflow.log_input`, with digests),
  and tags linking the GX validations of every day used.
* **train** runs once per chosen model family (a mapped task): a randomised hyper-parameter
  search of *budget* candidates over time-ordered folds, the best refit on the training days,
  then hold-out metrics, confusion matrix, ROC curve, permutation importance and the model
  (skops, with its signature) in a nested MLflow run.
* **register** registers the family with the best hold-out metric as a new version of the
  registered model, gives it the alias `challenger`, and emits `sluice.challenger` with the
  version, which starts the champion/challenger evaluation.

Re-running a task (a retry, or *clear*) reuses the MLflow runs and the model version an earlier
attempt finished: nothing is logged or registered twice.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from sluice.specs import TrainingSpec
from sluice_common import (
    CHALLENGER,
    DEFAULT_ARGS,
    RETRAIN_REQUESTED,
    as_of_day,
    as_of_param,
    bad_input_fails_fast,
    change_day,
    label_cutoff_param,
    model_store,
    params_of,
    run_key,
    settings,
    tags,
    training_spec,
    warehouse,
)


@dag(
    # No start date: unpausing the DAG then waits for the next Monday instead of training at once
    # "as of" last Monday (with a start date, Airflow runs the latest missed tick, a week stale,
    # beside the run the user triggers). Runs for any day, 2013's included, still take any as-of.
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * 1", timezone="UTC", run_immediately=False),
        assets=RETRAIN_REQUESTED,
    ),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("training"),
    doc_md=__doc__,
    params={
        "as_of": as_of_param("the day in the retraining request"),
        "since": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Learn from day",
            description="Learn only from sample days from this day on (YYYY-MM-DD): after a change "
            "in the data, older days teach the old regime. The hold-out and the folds shrink to fit. "
            "Empty: the change day a retraining request names, else the whole window.",
        ),
        "label_cutoff_days": label_cutoff_param(),
        **params_of(TrainingSpec),
    },
)
def sluice_train():
    # Modularize code by importing functions from the include folder: each task is one call.

    @task(multiple_outputs=True)
    def prepare(**context) -> dict:
        from sluice import tracking

        as_of, since = as_of_day(context).isoformat(), change_day(context)
        with bad_input_fails_fast():
            spec = training_spec(context["params"], as_of, since)
            prepared = tracking.prepare(warehouse(), model_store(), spec, run_key=run_key(context))
        return prepared | {"as_of": as_of, "since": since}

    @task
    def families(**context) -> list[str]:
        return list(context["params"]["families"])

    @task(multiple_outputs=True, map_index_template="{{ family_name }}")
    def train(family_name: str, prepared: dict, **context) -> dict:
        from sluice import tracking

        context["family_name"] = family_name  # names the mapped task instance in the UI
        with bad_input_fails_fast():
            candidate = tracking.train(
                warehouse(),
                model_store(),
                training_spec(context["params"], prepared["as_of"], prepared["since"]),
                family_name,
                parent_run_id=prepared["parent_run_id"],
                run_key=run_key(context),
            )
        return candidate.to_dict()

    @task(multiple_outputs=True, outlets=[CHALLENGER])
    def register(candidates: list[dict], prepared: dict, **context) -> dict:
        from sluice import tracking

        with bad_input_fails_fast():
            conf = settings()
            registered = tracking.register_challenger(
                model_store(),
                conf.model_name,
                [tracking.candidate_from_dict(c) for c in candidates],
                training_spec(context["params"], prepared["as_of"], prepared["since"]),
                parent_run_id=prepared["parent_run_id"],
                description=conf.domain.model_description,
            )
        context["outlet_events"][CHALLENGER].extra = registered
        return registered

    prepared = prepare()
    candidates = train.partial(prepared=prepared).expand(family_name=families())
    register(candidates, prepared)


sluice_train()
