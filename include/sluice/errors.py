"""The errors Sluice raises on purpose, under one base, so a caller decides by kind, not by name.

Every one is a :class:`SluiceError`. Its ``retry`` says whether running the same step again later
can succeed: a delivery that is not there yet can (:class:`NotReady`); bad input, a wrong
setting, a warehouse that was never initialised cannot, and a task fails at once on them instead
of waiting out its retries (``dags/sluice_common.py``, ``bad_input_fails_fast``). Each keeps the
built-in base it had (``ValueError`` for bad values, ``RuntimeError`` for a state that does not
allow the step), so code that caught those still does.
"""

from __future__ import annotations

from typing import ClassVar


class SluiceError(Exception):
    """An error Sluice raised on purpose; the message says what was wrong, where, and what to do."""

    retry: ClassVar[bool] = False
    """Whether the same step, run again later, can succeed."""


class NotReady(SluiceError):
    """Something the step needs is not there yet (a delivery, a day's labels): try again later."""

    retry = True
