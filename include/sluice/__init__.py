"""Sluice: the library behind the Airflow DAGs.

Every function here takes its inputs (the day, thresholds, seeds, timestamps) as arguments; nothing
imports Airflow or reads the clock. The DAG layer (``dags/``) is the only place that knows about
Airflow.
"""

from __future__ import annotations

__version__ = "0.1.0"

import logging as _logging

# GX writes 200+ INFO lines while it imports ("Skipping registering function ..."), which made a
# task's log mostly GX's. Airflow's [logging] namespace_levels filters only its own structlog
# loggers, not a library's stdlib ones, so the level is set here, unless logging was configured
# for GX already.
if _logging.getLogger("great_expectations").level == _logging.NOTSET:
    _logging.getLogger("great_expectations").setLevel(_logging.WARNING)
