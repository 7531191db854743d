"""
### Champion vs challenger: compare on the same hold-out, promote by alias, audit — or roll back

Runs when `sluice_train` registers a challenger (the `sluice.challenger` asset), and from the UI.

* **resolve** reads the `champion` and `challenger` versions once (the challenger: the form's
  version, else the triggering event's, else the alias).
* **decide** scores both on the same labelled hold-out (the newest *hold-out* days that neither
  model trained on), computes ROC AUC, F1, accuracy, log loss and Brier overall and per entity
  (the domain's entity key),
  a paired bootstrap interval of the primary metric's gain, and decides: promote when there is no
  champion, or when the gain is over the margin, the interval's lower end is above zero, and no
  guardrail metric or entity gets worse beyond its tolerance. Else reject, with the reason. The
  decision is written to `model_decisions` (pending).
* **approve** asks a person, when the form's **Approval** is `human` (default: `SLUICE_APPROVAL`)
  and the decision would change the champion: Airflow's human-in-the-loop task waits under
  *Required Actions* for Approve or Reject with a reason; no answer by the **deadline** rejects.
  With `auto`, or a decision that keeps the champion, no one is asked.
* **apply** moves the `champion` alias (and tags the versions), removes the judged version's
  `challenger` alias, then marks the row applied, with the approval (who, why, when). A refused
  promotion is marked declined and nothing moves. If the champion moved meanwhile, nothing moves
  and the row is marked aborted.
* **announce** emits `sluice.champion` with the new version, only when the champion changed.

From the form: **Force promote** promotes the challenger without the comparison; **Roll back to
version** makes an earlier version champion again. Both need a **reason** and are audited like any
decision. One evaluation runs at a time.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from sluice.approval import MODES as APPROVAL_MODES
from sluice.specs import Policy
from sluice_approval import PromotionApproval
from sluice_common import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_ARGS,
    START_DATE,
    approval_of,
    as_of_day,
    as_of_param,
    bad_input_fails_fast,
    domain,
    event_extras,
    label_cutoff,
    label_cutoff_param,
    model_store,
    params_of,
    run_key,
    run_time,
    settings,
    spec_from,
    tags,
    triggered_by,
    warehouse,
)


@dag(
    schedule=[CHALLENGER],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # evaluations are serialised; apply also checks the champion did not move
    default_args=DEFAULT_ARGS,
    tags=tags("models"),
    doc_md=__doc__,
    params={
        "challenger_version": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Challenger version",
            description="The version to judge. Empty: the version in the triggering event, else the "
            "version with the 'challenger' alias.",
        ),
        "as_of": as_of_param("the challenger's training day"),
        "holdout_days": Param(
            7,
            type="integer",
            minimum=1,
            maximum=60,
            title="Hold-out (days)",
            description="How many of the newest labelled days, after both models' training days, "
            "the two are compared on.",
        ),
        "label_cutoff_days": label_cutoff_param(),
        **params_of(Policy, entity=domain().entity_title, Entity=domain().entity_title.capitalize()),
        "force_promote": Param(
            False,
            type="boolean",
            title="Force promote",
            description="Promote the challenger without the comparison. Needs a reason.",
        ),
        "rollback_to_version": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Roll back to version",
            description="Make this earlier version the champion again. Needs a reason.",
        ),
        "reason": Param(
            "",
            type="string",
            maxLength=2000,
            title="Reason",
            description="Why the evaluation is overridden (force promote, roll back); kept in "
            "model_decisions.",
        ),
        "approval": Param(
            settings().approval,
            type="string",
            enum=list(APPROVAL_MODES),
            title="Approval",
            description="human: a decision that would change the champion waits for a person to "
            "approve it under Required Actions (who and why are kept in model_decisions); auto: "
            "it is applied at once. Default: SLUICE_APPROVAL.",
        ),
        "approval_timeout_hours": Param(
            24,
            type="number",
            minimum=0.01,
            maximum=720,
            title="Approval deadline (hours)",
            description="With human approval: no answer by then rejects the promotion.",
        ),
    },
)
def sluice_evaluate():
    # Modularize code by importing functions from the include folder: each task is one call.

    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        from sluice.registry import request
        from sluice.registry import resolve as resolve_versions

        params = context["params"]
        events = [e for e in event_extras(context) if e.get("version")]
        with bad_input_fails_fast():
            mode, asked = request(
                force_promote=params["force_promote"],
                rollback_to_version=params["rollback_to_version"],
                reason=params["reason"],
                challenger=params["challenger_version"] or (events[-1]["version"] if events else None),
            )
            versions = resolve_versions(model_store(), settings().model_name, asked)
        what = {
            "rollback": f"rollback to version {asked}",
            "forced": f"force_promote of version {versions['challenger']}",
            "evaluate": f"sluice.challenger event for version {asked}" if events else "evaluation",
        }[mode]
        return versions | {
            "mode": mode,
            "as_of": as_of_day(context).isoformat(),
            "triggered_by": triggered_by(context, what),
        }

    @task(multiple_outputs=True)
    def decide(resolved: dict, **context) -> dict:
        from sluice import registry
        from sluice.dates import parse_day

        params = context["params"]
        with bad_input_fails_fast():
            row = registry.decide_request(
                warehouse(),
                model_store(),
                settings().model_name,
                resolved,
                mode=resolved["mode"],
                policy=spec_from(Policy, params),
                label_cutoff_days=label_cutoff(params),
                holdout_days=params["holdout_days"],
                reason=params["reason"],
                decision_id=run_key(context),
                as_of=parse_day(resolved["as_of"], where="as_of"),
                triggered_by=resolved["triggered_by"],
                decided_at=run_time(context),
            )
        keep = ("decision_id", "decision", "reason", "champion_before", "champion_after")
        return {k: row[k] for k in keep} | {
            "approval": params["approval"],
            "approval_timeout_hours": params["approval_timeout_hours"],
        }

    @task(multiple_outputs=True)
    def apply(decision: dict, answer: dict | None, **context) -> dict:
        from sluice import registry

        with bad_input_fails_fast():
            row = registry.apply(
                warehouse(),
                model_store(),
                settings().model_name,
                decision["decision_id"],
                approval=approval_of(answer),
            )
        keep = (
            "decision",
            "status",
            "reason",
            "champion_before",
            "champion_after",
            "approval",
            "approved_by",
        )
        return {k: row[k] for k in keep}

    @task(multiple_outputs=True, outlets=[CHAMPION])
    def announce(applied: dict, **context) -> dict:
        if applied["status"] != "applied" or applied["champion_after"] == applied["champion_before"]:
            raise AirflowSkipException(f"the champion did not change: {applied['reason']}")
        extra = {
            "model_name": settings().model_name,
            "version": applied["champion_after"],
            "previous": applied["champion_before"],
            "decision": applied["decision"],
        }
        context["outlet_events"][CHAMPION].extra = extra
        return extra

    decided = decide(resolve())
    approve = PromotionApproval(task_id="approve", decision_task="decide")
    decided >> approve
    announce(apply(decided, approve.output))


sluice_evaluate()
