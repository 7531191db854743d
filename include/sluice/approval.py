"""A person's answer to a promotion, where a team wants one (``approval: human``).

An evaluation that would change the champion waits for an answer in the Airflow UI
(human-in-the-loop); :class:`Approval` is that answer as the library records it in
``model_decisions``: ``approved`` or ``rejected`` by someone, with their reason, or ``timed_out``
(no answer in time, which refuses). ``auto`` is a decision no one was asked about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.errors import SluiceError

AUTO, APPROVED, REJECTED, TIMED_OUT = "auto", "approved", "rejected", "timed_out"
ANSWERS = (AUTO, APPROVED, REJECTED, TIMED_OUT)
MODES = ("auto", "human")
"""``approval`` settings: ``auto`` applies what the policy decided, ``human`` asks first."""


class ApprovalError(SluiceError, ValueError):
    """An approval setting or answer Sluice cannot use; the message names it."""


@dataclass(frozen=True)
class Approval:
    answer: str
    by: str | None = None
    reason: str = ""
    at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.answer not in ANSWERS:
            raise ApprovalError(f"approval answer {self.answer!r} is not one of {', '.join(ANSWERS)}")

    @property
    def refused(self) -> bool:
        return self.answer in (REJECTED, TIMED_OUT)

    def columns(self) -> dict[str, Any]:
        """The ``model_decisions`` columns that record it."""
        return {
            "approval": self.answer,
            "approved_by": self.by,
            "approval_reason": self.reason.strip() or None,
            "approved_at": self.at,
        }


def changes_champion(decision: Mapping[str, Any]) -> bool:
    """Whether a recorded decision would move the champion (what a person is asked to approve)."""
    return decision["champion_after"] != decision["champion_before"]
