"""
### Monitor the model in service: drift, data quality, performance — alert, and ask for retraining

Runs daily at 06:00 UTC for the day before (backfillable: `airflow backfill create`), and from
the UI with the form below.

* **champion** reads the champion's training and hold-out days from its registry tags (set by
  `sluice_train` from its MLflow run). With no champion the run ends *skipped*.
* **measure** computes, with Evidently, the day's figures and writes them to
  `monitoring_metrics`, replacing what an earlier run of the day wrote:
  - data drift of every feature (Evidently's `DataDriftPreset`: each column's test chosen by
    its type and size) of the day and of the rolling window against the champion's training
    days, and the share of drifted features;
  - prediction drift: the day's scores against the champion's scores on its hold-out days
    (normed Wasserstein distance);
  - data quality: missing share and values outside the training range per feature, and the
    share of the delivered rows that validation quarantined;
  - performance (accuracy, F1, ROC AUC) of the predictions served for the sample day whose lab
    results are now in (the label delay back), for that day and its rolling window, and the drop
    in accuracy from the served version's hold-out accuracy. These rows are dated by the sample
    day: a concept drift shows on the day it began;
  - estimated performance before any label (CBPE): the day's scores, calibrated on the
    champion's labelled hold-out, give the accuracy and ROC AUC the day should show, and an alert
    when the estimate falls below the hold-out accuracy. Blind to concept drift: it does not
    request retraining, the labelled figures do.

  Large days are sampled to a bounded size (recorded as `sample_size`). The HTML report (drift
  and data summary) is saved as `reports/monitoring/<day>.html` in the state folder; the log
  gives its path.
* **notify** sends the alerts (a figure over its threshold; each names the day, the metric, the
  value and the threshold) through Airflow notifiers: the task log always, a webhook when the
  connection `sluice_alerts_webhook` exists, e-mail when `sluice_alerts_smtp` does.
* **request_retraining** emits `sluice.retrain_requested` (which starts `sluice_train`) when an
  alert is about the model or its inputs, the cooldown since the last request is over, and the
  lab results of enough days since the change began are in to learn the new regime from. The
  event names the change's first day; training then learns from it on. Otherwise it is
  *skipped*, and its log says why.
"""

from __future__ import annotations

import logging

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from sluice.alerting import Thresholds, Windows  # light: the form is declared there
from sluice_common import (
    DEFAULT_ARGS,
    RETRAIN_REQUESTED,
    START_DATE,
    bad_input_fails_fast,
    day_param,
    model_store,
    params_of,
    run_day,
    run_time,
    settings,
    tags,
    thresholds,
    warehouse,
    windows,
)

log = logging.getLogger(__name__)


@dag(
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # the cooldown reads the requests of the days before: one day at a time
    default_args=DEFAULT_ARGS,
    tags=tags("monitoring"),
    doc_md=__doc__,
    params={
        "day": day_param(),
        **params_of(Thresholds),
        **params_of(Windows),
        "label_delay_days": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=60,
            title="Label delay (days)",
            description="Performance is measured for the sample day this many days back, whose lab "
            "results are in. Empty: the label delay setting (SLUICE_LABEL_DELAY_DAYS, default 3).",
        ),
    },
)
def sluice_monitor():
    # Modularize code by importing functions from the include folder: each task is one call.

    @task(multiple_outputs=True)
    def champion(**context) -> dict:
        from sluice.champion import champion as read_champion

        with bad_input_fails_fast():
            found = read_champion(model_store(), settings().model_name)
        if found is None:
            raise AirflowSkipException("no champion yet: nothing to monitor")
        return found.to_dict()

    @task(multiple_outputs=True)
    def measure(model: dict, **context) -> dict:
        from sluice.champion import Champion
        from sluice.monitoring import monitor_day

        day, model = run_day(context), Champion.from_dict(model)
        with bad_input_fails_fast():
            report = monitor_day(
                warehouse(),
                model_store(),
                day,
                model,
                thresholds(context["params"]),
                windows(context["params"]),
                reports_dir=settings().reports_dir / "monitoring",
                computed_at=run_time(context),
            )
        summary = report.summary()
        log.info("%s: %s", day, summary)
        if report.report_path:
            log.info("Evidently report: file://%s", report.report_path)
        return summary | {"alert_records": [a.to_dict() for a in report.alerts], "version": model.version}

    @task
    def notify(measured: dict, **context) -> list[str]:
        from sluice_alerts import send

        if not measured["alerts"]:
            log.info("%s: no alert", measured["day"])
            return []
        subject = (
            f"Sluice: {len(measured['alerts'])} alert(s) for {measured['day']} "
            f"(champion v{measured['version']})"
        )
        lines = measured["alerts"] + ([f"report: {measured['report']}"] if measured["report"] else [])
        return send(context, subject, lines, measured["alert_records"])

    @task(multiple_outputs=True, outlets=[RETRAIN_REQUESTED])
    def request_retraining(measured: dict, **context) -> dict:
        from sluice.alerting import Alert
        from sluice.dates import parse_day
        from sluice.retraining import request_retraining as request

        day = parse_day(measured["day"])
        with bad_input_fails_fast():
            found = request(
                warehouse(),
                day,
                [Alert.from_dict(a) for a in measured["alert_records"]],
                thresholds(context["params"]),
                windows(context["params"]),
                computed_at=run_time(context),
            )
        if not found.due:
            raise AirflowSkipException(f"{day}: no retraining request: {found.reason}")
        log.info("%s: %s", day, found.reason)
        extra = found.event_extra(day, settings().model_name, measured["version"])
        context["outlet_events"][RETRAIN_REQUESTED].extra = extra
        return extra

    @task
    def data_docs() -> str:
        """The GX Data Docs index: each validation writes only its own page, the index is rebuilt daily."""
        from sluice.validation import GXRunner

        index = GXRunner(settings().gx_dir).build_index()
        log.info("Data Docs index rebuilt: %s", index)
        return str(index)

    measured = measure(champion())
    notify(measured)
    request_retraining(measured)
    data_docs()


sluice_monitor()
