"""
### Ingest one day of the domain's data: land → validate (in slices) → judge → publish, and the labels

* **extract** fetches the day from the source (one of the domain's own, or the files dropped in the
  landing folder) and lands it *as delivered* in `raw_observations`. Landing files are read one by
  one: a file that cannot be used (unreadable, wrong columns, over `SLUICE_MAX_DAY_MB`) is kept and
  held back as a file, a malformed record as a row; neither stops the rest of the day.
* **validate** runs the Great Expectations suites of `expectations/raw_observations.py`, generated
  from the domain's declaration (`SLUICE_DOMAIN`) plus the domain's own expectations. It is
  mapped over slices of the day: one slice per `SLUICE_SLICE_ROWS` landed rows (default 250,000),
  split by a stable hash of the identifier, so the workers of the production stack validate a
  large day side by side. Results are in GX Data Docs, a page per suite and slice.
* **judge** decides the day on what the slices found, as one pass over the day would: a broken
  schema, an empty or oversized delivery quarantines the whole batch; rows that break a row-level
  rule are quarantined and the rest published — unless their share is over the tolerance, then
  the whole batch is held back. A held-back batch fails this task with a message naming the
  batch, the expectations, the columns and the counts, after the quarantine is committed
  (`quarantine`, `quarantine_rows`: nothing is lost).
* **publish** writes the validated rows to `observations` and emits the `sluice.observations` asset.
* **labels** stores the labels that arrived that day and emits `sluice.labels`.

The day is the `day` Param when given, else the run's data interval. Every task replaces its day's
rows, so re-running or backfilling a day never duplicates anything.
"""

from __future__ import annotations

import logging

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from sluice_common import (
    DEFAULT_ARGS,
    LABELS,
    OBSERVATIONS,
    START_DATE,
    bad_input_fails_fast,
    day_param,
    domain,
    now,
    run_day,
    run_time,
    settings,
    tags,
    warehouse,
)

log = logging.getLogger(__name__)


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=tags("ingest"),
    doc_md=__doc__,
    params={
        "day": day_param(),
        "source": Param(
            None,
            type=["null", "string"],
            enum=[None, *domain().source_names()],
            title="Source",
            description="Where the batch comes from. Empty: the SLUICE_SOURCE setting (default: the "
            "domain's first source). 'landing' reads the CSV/Parquet files under <landing folder>/<day>/.",
        ),
        "tolerance": Param(
            0.05,
            type="number",
            minimum=0,
            maximum=1,
            title="Row rejection tolerance",
            description="Largest share of rows that may fail row-level checks while the rest is published. "
            "Over it, the whole batch is quarantined.",
        ),
    },
)
def sluice_ingest():
    # Modularize code by importing functions from the include folder: each task is one call.

    @task
    def extract(**context) -> list[list[int]]:
        from sluice.ingest import land
        from sluice.slicing import slices_for
        from sluice.sources import make_source

        with bad_input_fails_fast():
            conf = settings()
            source = make_source(conf, context["params"]["source"])
            batch = land(warehouse(), source, run_day(context), run_time(context), asked_at=now())
        parts = slices_for(batch.rows, conf.slice_rows)
        log.info("landed %s; validated in %d slice(s)", batch.to_dict(), parts)
        return [[k, parts] for k in range(parts)]  # what validate is mapped over

    @task(multiple_outputs=False, map_index_template="{{ slice_name }}")  # one XCom: the slice's findings
    def validate(part: list[int], **context) -> dict:
        from airflow.sdk import get_current_context

        from sluice.checking import validate_slice

        # the mapped instance's name in the UI (map_index_template)
        get_current_context()["slice_name"] = f"slice {part[0] + 1} of {part[1]}"
        with bad_input_fails_fast():
            found = validate_slice(
                warehouse(),
                run_day(context),
                gx_root=settings().gx_dir,
                as_of=run_time(context),
                now=now(),
                part=part[0],
                parts=part[1],
            )
        return found.to_dict()

    @task(multiple_outputs=True)
    def judge(found: list[dict], **context) -> dict:
        from sluice import checking
        from sluice.slicing import SliceResult

        with bad_input_fails_fast():
            day = run_day(context)
            batch_id, verdict = checking.judge(
                warehouse(),
                day,
                [SliceResult.from_dict(f) for f in found],
                tolerance=context["params"]["tolerance"],
                as_of=run_time(context),
            )
        message = verdict.message(batch_id, day)
        if verdict.decision == "quarantine":
            raise AirflowFailException(message)
        log.log(logging.WARNING if verdict.decision == "partial" else logging.INFO, message)
        return {
            "batch_id": batch_id,
            "decision": verdict.decision,
            "rows_quarantined": verdict.quarantined_rows,
        }

    @task(multiple_outputs=True, outlets=[OBSERVATIONS])
    def publish(report: dict, **context) -> dict:
        from sluice.ingest import publish as publish_day

        with bad_input_fails_fast():
            summary = publish_day(warehouse(), run_day(context), as_of=run_time(context))
        context["outlet_events"][OBSERVATIONS].extra = summary
        return summary

    @task(multiple_outputs=True, outlets=[LABELS])
    def labels(**context) -> dict:
        from sluice.ingest import ingest_labels
        from sluice.sources import make_source

        with bad_input_fails_fast():
            conf = settings()
            day = run_day(context)
            summary, verdict = ingest_labels(
                warehouse(),
                make_source(conf, context["params"]["source"]),
                day,
                gx_root=conf.gx_dir,
                tolerance=context["params"]["tolerance"],
                as_of=run_time(context),
                now=now(),
            )
        if verdict.decision == "quarantine":
            raise AirflowFailException(verdict.message(summary["batch_id"], day, table="labels"))
        context["outlet_events"][LABELS].extra = summary
        return summary

    report = judge(validate.expand(part=extract()))
    publish(report)
    labels()


sluice_ingest()
