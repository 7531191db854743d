"""Sluice: the library behind the Airflow DAGs.

Every function here takes its inputs (the day, thresholds, seeds, timestamps) as arguments; nothing
imports Airflow or reads the clock. The DAG layer (``dags/``) is the only place that knows about
Airflow.
"""

from __future__ import annotations

__version__ = "0.1.0"
