"""What the Sluice view needs from its deployment (:class:`ViewConfig`) and the domain's words it
speaks (:class:`Words`). Light: the Airflow plugin builds them when the API server starts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluice.domain import Domain
    from sluice.warehouse import Warehouse

DEFAULT_DAYS = 90

DAG_IDS = (
    "sluice_ingest",
    "sluice_features",
    "sluice_score",
    "sluice_train",
    "sluice_evaluate",
    "sluice_monitor",
)


@dataclass(frozen=True)
class Words:
    """The domain's words the view speaks (``Words.of(domain)``)."""

    domain: str = ""
    title: str = "Sluice"
    positive: str = "class 1"
    negative: str = "class 0"
    entity: str = "entity"

    @classmethod
    def of(cls, domain: Domain) -> Words:
        return cls(
            domain.name, domain.title, domain.label.positive, domain.label.negative, domain.entity_title
        )


@dataclass
class ViewConfig:
    """What the view needs from its deployment."""

    warehouse: Callable[[], Warehouse]
    model_name: str
    today: Callable[[], dt.date]
    """The clock (days since the promotion, the range when the warehouse is empty)."""
    reports_dir: Path | None = None
    data_docs_dir: Path | None = None
    rebuild_data_docs_index: Callable[[], None] | None = None
    """Rebuilds the Data Docs index (in another process: GX is heavy); called when the index is
    opened and a validation page is newer than it (validations write only their own pages)."""
    mlflow_url: str | None = None
    airflow_url: str = ""
    login_url: Callable[[str], str] | None = None
    """The login page's URL that returns to the given URL."""
    public_url: str | None = None
    """Where users reach the API server (Airflow's ``[api] base_url``): the login's way back is
    built from it, never from the request's Host header. None: a path on the same server."""
    metrics_token: str | None = None
    dag_runs: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])
    words: Words = field(default_factory=Words)
