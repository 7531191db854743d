"""
### Score each day's samples with the champion: one pinned version, streamed, one write per day

Runs when `sluice_features` builds a day (the `sluice.features` asset), when the champion changes
(`sluice.champion`), and from the UI.

* **pin** resolves `models:/<model>@champion` to a concrete version once, at the start of the run,
  and checks its MLflow signature against the `features` table (a column the model needs that the
  table lacks, or holds as another type, fails the run with its name). With no champion yet the
  run ends *skipped*.
* **score** loads that version once and scores each day: features are read in chunks (binary COPY
  on PostgreSQL), predicted and written while the next chunk is read, and the day's
  `predictions` for that version are replaced in one transaction — `model_name` and
  `model_version` are on every row. A re-run replaces; nothing is appended twice.

Which days: the form's *day* (through *last day*; a day of the range published without features
fails the run, naming it); else every day the `sluice.features` events name, and after a new
champion the newest day with features — older days keep the predictions that were served, with
their version — and any day of the last *catch up* days that has features but was never scored
since serving began (its event started no run); else the run's logical date. Emits `sluice.predictions`
with the version, the days and the rows.
"""

from __future__ import annotations

import logging

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from sluice_common import (
    CHAMPION,
    DEFAULT_ARGS,
    FEATURES,
    PREDICTIONS,
    START_DATE,
    bad_input_fails_fast,
    catch_up_param,
    day_param,
    model_store,
    run_key,
    run_time,
    score_plan,
    settings,
    tags,
    warehouse,
)

log = logging.getLogger(__name__)


@dag(
    schedule=(FEATURES | CHAMPION),
    start_date=START_DATE,
    catchup=False,
    # Days are independent partitions and two runs writing the same day and version take turns,
    # so runs may overlap; a cap of 1 can drop asset events (apache/airflow#56050).
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=tags("models"),
    doc_md=__doc__,
    params={
        "day": day_param(),
        "last_day": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Through day",
            description="With Day: score every day from Day through this one that has features "
            "(YYYY-MM-DD). Empty: Day only.",
        ),
        "model_version": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Model version",
            description="Score with this registered version instead of the champion (e.g. to fill "
            "in a candidate's predictions). Empty: the champion, resolved once when the run starts.",
        ),
        "catch_up_days": catch_up_param(
            "With new features: also score any day of the last N (before the newest featurised day) "
            "that has features but no predictions since serving began, e.g. after a run the scheduler "
            "never started."
        ),
        "chunk_size": Param(
            100_000,
            type="integer",
            minimum=1_000,
            maximum=2_000_000,
            title="Chunk size (rows)",
            description="Rows read, predicted and written at a time. Memory grows with it, not "
            "with the size of the day.",
        ),
    },
)
def sluice_score():
    # Modularize code by importing functions from the include folder: each task is one call.

    @task(multiple_outputs=True)
    def pin(**context) -> dict:
        from sluice import scoring

        name, asked = settings().model_name, context["params"]["model_version"]
        with bad_input_fails_fast():
            pinned = scoring.pin(model_store(), name, asked)
            if pinned is None:
                raise AirflowSkipException(
                    f"{name} has no champion yet: nothing to score with. Train one (sluice_train) and "
                    "promote it (sluice_evaluate), or give a model version on the form."
                )
        log.info("scoring with %s (%s)", pinned, "asked for" if asked else "the champion now")
        return pinned.to_dict()

    @task(multiple_outputs=True, outlets=[PREDICTIONS])
    def score(pinned: dict, **context) -> dict:
        from sluice import scoring
        from sluice.scoring_days import score_run

        with bad_input_fails_fast():
            results = score_run(
                warehouse(),
                model_store(),
                scoring.Pinned.from_dict(pinned),
                plan=score_plan(context),
                scored_at=run_time(context),
                scored_by=run_key(context),
                chunk_size=context["params"]["chunk_size"],
            )
        if not results:
            raise AirflowSkipException("no day has features yet: nothing to re-score for the new champion")
        extra = scoring.summary(results)
        context["outlet_events"][PREDICTIONS].extra = extra
        return extra

    score(pin())


sluice_score()
