"""The promotion approval task of ``sluice_evaluate``: Airflow's human-in-the-loop operator, asked
only when the run's ``approval`` Param is ``human`` and the decision would move the champion.

Its answer (the XCom ``chosen_options``, ``params_input``, ``responded_by_user``) is turned into
the library's :class:`sluice.approval.Approval` by ``sluice_common.approval_of``. No answer by the
deadline picks the default, ``Reject``: a promotion no one approved does not happen.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param

APPROVE, REJECT = "Approve", "Reject"


class PromotionApproval(HITLOperator):
    """Asks a person to approve the promotion ``decision_task`` recorded; returns None when no one
    is asked (its ``approval`` is ``auto``, or the champion would not change). The mode and the
    deadline come from that task's XCom: a HITL task's own params are the approver's form."""

    def __init__(self, *, decision_task: str, params: Any = None, **kwargs: Any) -> None:
        # ``params`` (the DAG's, passed on by Airflow) are dropped: a HITL task's params are the
        # approver's form, and HITLOperator keeps only task-level ones
        del params
        pull = f"ti.xcom_pull(task_ids='{decision_task}')"
        super().__init__(
            subject=f"Sluice: make version {{{{ {pull}['champion_after'] }}}} the champion?",
            body=f"{{{{ {pull}['reason'] }}}}\n\nChampion now: version {{{{ {pull}['champion_before'] }}}}. "
            "No answer by the deadline rejects the promotion.",
            options=[APPROVE, REJECT],
            defaults=[REJECT],
            params={
                "reason": Param(
                    "",
                    type="string",
                    maxLength=2000,
                    title="Reason",
                    description="Why you approve or reject the promotion (kept in model_decisions).",
                )
            },
            **kwargs,
        )
        self.decision_task = decision_task

    def execute(self, context: Any) -> Any:
        from sluice.approval import changes_champion

        decided = context["ti"].xcom_pull(task_ids=self.decision_task)
        if decided["approval"] != "human" or not changes_champion(decided):
            return None
        self.response_timeout = dt.timedelta(hours=decided["approval_timeout_hours"])
        return super().execute(context)
