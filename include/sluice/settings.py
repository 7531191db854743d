"""Configuration from the environment, with defaults that work on one machine.

All local state lives under one folder, ``SLUICE_HOME`` (default: ``.sluice/`` at the repository
root): Airflow home, the SQLite warehouse, the MLflow store, the GX context, reports and the landing
folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sluice.approval import MODES
from sluice.domain import DEFAULT_DOMAIN, Domain
from sluice.errors import SluiceError
from sluice.modelstore import ModelStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def worker_hostname() -> str:
    """The hostname Airflow records for a task (``core.hostname_callable``): ``SLUICE_WORKER_NAME``
    when set (several workers on one machine, ``make stack-local``), else the machine's FQDN."""
    import socket

    return os.environ.get("SLUICE_WORKER_NAME") or socket.getfqdn()


class ConfigError(SluiceError, ValueError):
    """A setting has a value Sluice cannot use; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    """Every setting of one process. Those left empty take the domain's value: the source (its first
    own source), the model's name, the label delay."""

    home: Path
    domain_path: str = DEFAULT_DOMAIN
    source_setting: str | None = None
    landing_dir: Path | None = None
    seed: int = 42
    rows_per_day: int = 3000
    label_delay_setting: int | None = None
    scenario: Path | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_artifacts: Path | None = None
    experiment: str = "sluice"
    model_name_setting: str | None = None
    max_day_mb: int = 256
    approval: str = "auto"
    """``human``: a promotion waits for a person's approval in the Airflow UI (``SLUICE_APPROVAL``)."""
    slice_rows: int = 250_000
    """The most rows one validation task takes: a larger day is validated in slices, as mapped
    tasks (:mod:`sluice.slicing`), and features are built and checked this many rows at a time. At
    this size a slice's validation peaks near 0.75 GB and the features step near 0.9 GB: every
    ingest task fits a 1 GB worker, however large the day (500,000: about 1.2 GB)."""

    def __post_init__(self) -> None:
        if self.approval not in MODES:
            raise ConfigError(f"SLUICE_APPROVAL={self.approval!r}: choose one of {', '.join(MODES)}")
        if self.source_setting is not None and self.source_setting not in self.domain.source_names():
            raise ConfigError(
                f"SLUICE_SOURCE={self.source_setting!r}: domain {self.domain.name!r} has the sources "
                f"{', '.join(self.domain.source_names())}"
            )

    @property
    def domain(self) -> Domain:
        """The domain ``SLUICE_DOMAIN`` names, loaded and checked once per process."""
        from sluice.domain import load_cached

        return load_cached(self.domain_path)

    @property
    def source(self) -> str:
        return self.source_setting or self.domain.source_names()[0]

    @property
    def model_name(self) -> str:
        return self.model_name_setting or self.domain.model_name

    @property
    def label_delay_days(self) -> int:
        return self.domain.label.delay_days if self.label_delay_setting is None else self.label_delay_setting

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("SLUICE_HOME") or REPO_ROOT / ".sluice").expanduser().resolve()
        landing = env.get("SLUICE_LANDING_DIR")
        delay = env.get("SLUICE_LABEL_DELAY_DAYS")
        scenario = env.get("SLUICE_SCENARIO")
        return cls(
            home=home,
            domain_path=env.get("SLUICE_DOMAIN") or DEFAULT_DOMAIN,
            source_setting=env.get("SLUICE_SOURCE") or None,
            landing_dir=Path(landing).expanduser().resolve() if landing else None,
            seed=_int(env, "SLUICE_SEED", 42),
            rows_per_day=_int(env, "SLUICE_ROWS_PER_DAY", 3000, minimum=1),
            label_delay_setting=_int(env, "SLUICE_LABEL_DELAY_DAYS", 0) if delay not in (None, "") else None,
            scenario=Path(scenario).expanduser() if scenario else None,
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI") or None,
            mlflow_artifacts=Path(env["SLUICE_MLFLOW_ARTIFACTS"]).expanduser().resolve()
            if env.get("SLUICE_MLFLOW_ARTIFACTS")
            else None,
            experiment=env.get("SLUICE_MLFLOW_EXPERIMENT") or "sluice",
            model_name_setting=env.get("SLUICE_MODEL_NAME") or None,
            max_day_mb=_int(env, "SLUICE_MAX_DAY_MB", 256, minimum=1),
            slice_rows=_int(env, "SLUICE_SLICE_ROWS", cls.slice_rows, minimum=1),
            approval=env.get("SLUICE_APPROVAL") or cls.approval,
        )

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.home / "landing"

    @property
    def quarantine_dir(self) -> Path:
        """Where delivered files that could not be used are kept (``files/<day>/…``)."""
        return self.home / "quarantine"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def tracking_uri(self) -> str:
        """MLflow's tracking URI: ``MLFLOW_TRACKING_URI`` when set, else SQLite under the state folder."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def artifacts_dir(self) -> Path:
        """Where runs store artifacts when MLflow is used without a tracking server."""
        return self.mlflow_artifacts or self.home / "mlflow" / "artifacts"

    def model_store(self) -> ModelStore:
        """Where MLflow keeps runs and models: the tracking URI, the experiment and, without a
        tracking server, the artifacts folder."""
        return ModelStore(self.tracking_uri, self.experiment, self.artifacts_dir)

    @property
    def default_warehouse_url(self) -> str:
        """The embedded default warehouse: a SQLite file under the state folder."""
        return f"sqlite:///{self.home / 'warehouse.db'}"
