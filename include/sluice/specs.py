"""What a user may set per run, declared once: a field of the library's spec (a frozen dataclass)
made with :func:`knob` carries its default, title, description and bounds, and the DAGs build
their Params from it (``dags/sluice_common.py``, ``params_of``), so a default cannot differ between
the library, the form in the Airflow UI and the README's table."""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any

KNOB = "sluice.knob"


def knob(
    default: Any,
    title: str,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    """A spec field a run may set: its default and what the form shows about it."""
    about = {"title": title, "description": description, "minimum": minimum, "maximum": maximum}
    return field(default=default, metadata={KNOB: about})


def knobs(spec: type) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The spec's knobs, in declaration order: name → (default, title/description/bounds)."""
    found: dict[str, tuple[Any, dict[str, Any]]] = {}
    for f in fields(spec):
        about = f.metadata.get(KNOB)
        if about is not None:
            found[f.name] = (f.default, dict(about))
    return found
