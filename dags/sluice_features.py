"""
### Build the model inputs of each newly published day, validated before they are written

Runs when `sluice_ingest` publishes observations (the `sluice.observations` asset), or from the UI
for a given day. For each day it builds the `features` rows (`sluice.features`: the domain's
inputs, its derived values, and its entity-history aggregates over the days *before* it), validates
them with the
suite in `expectations/features.py`, and replaces the day's rows in one transaction. A day that
fails validation is quarantined with its GX result and this task fails with the reason.

When several ingest runs finish before this DAG starts, the scheduler folds their events into
one run: every day they name is built, oldest first. Days of the last *catch up* days that were
published but never got features (a failed or lost run) are built too. The `sluice.features`
event lists the days.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from sluice_common import (
    DEFAULT_ARGS,
    FEATURES,
    OBSERVATIONS,
    START_DATE,
    bad_input_fails_fast,
    catch_up_param,
    day_param,
    domain,
    run_days,
    run_time,
    settings,
    tags,
    warehouse,
)


@dag(
    schedule=[OBSERVATIONS],
    start_date=START_DATE,
    catchup=False,
    # No cap of 1: with max_active_runs=1, Airflow 3.3 can drop asset events that arrive while a
    # run is queued (apache/airflow#56050). Days are independent partitions, so runs may overlap.
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=tags("features"),
    doc_md=__doc__,
    params={
        "day": day_param(),
        "history_days": Param(
            domain().features.history_days,
            type="integer",
            minimum=1,
            maximum=90,
            title=f"{domain().entity_title.capitalize()} history (days)",
            description=f"How many days before the sample's day the per-{domain().entity_title} "
            "aggregates cover (default: the domain's). Training and scoring must use features built "
            "with the same value.",
        ),
        "catch_up_days": catch_up_param(
            "Also build any day of the last N (before the newest day asked for) that was published but "
            "has no features yet, e.g. after a failed run or a run the scheduler never started."
        ),
    },
)
def sluice_features():
    # Modularize code by importing functions from the include folder: each task is one call.

    @task(multiple_outputs=True, outlets=[FEATURES])
    def build(**context) -> dict:
        from sluice.features import build_days, summary

        params = context["params"]
        with bad_input_fails_fast():
            built = build_days(
                warehouse(),
                run_days(context),
                catch_up_days=0 if params["day"] else params["catch_up_days"],
                history_days=params["history_days"],
                gx_root=settings().gx_dir,
                as_of=run_time(context),
                piece_rows=settings().slice_rows,
            )
        if built.held:
            raise AirflowFailException("\n\n".join(built.held))
        extra = summary(built.published)
        context["outlet_events"][FEATURES].extra = extra
        return extra

    build()


sluice_features()
