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

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "default.yaml"
SOURCES = ("simulated", "landing")
DEFAULT_STATIONS = tuple(f"ST{i:02d}" for i in range(1, 13))
"""The monitoring network's stations; override with SLUICE_STATIONS=ST01,ST02,…"""


def worker_hostname() -> str:
    """The hostname Airflow records for a task (``core.hostname_callable``): ``SLUICE_WORKER_NAME``
    when set (several workers on one machine, ``make stack-local``), else the machine's FQDN."""
    import socket

    return os.environ.get("SLUICE_WORKER_NAME") or socket.getfqdn()


class ConfigError(ValueError):
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
    home: Path
    source: str = "simulated"
    landing_dir: Path | None = None
    seed: int = 42
    rows_per_day: int = 3000
    label_delay_days: int = 3
    scenario: Path = DEFAULT_SCENARIO
    stations: tuple[str, ...] = DEFAULT_STATIONS
    mlflow_tracking_uri: str | None = None
    mlflow_artifacts: Path | None = None
    experiment: str = "sluice"
    model_name: str = "water_potability"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"SLUICE_SOURCE={self.source!r}: expected one of {', '.join(SOURCES)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("SLUICE_HOME") or REPO_ROOT / ".sluice").expanduser().resolve()
        landing = env.get("SLUICE_LANDING_DIR")
        stations = tuple(s.strip() for s in env.get("SLUICE_STATIONS", "").split(",") if s.strip())
        return cls(
            home=home,
            source=env.get("SLUICE_SOURCE") or "simulated",
            landing_dir=Path(landing).expanduser().resolve() if landing else None,
            seed=_int(env, "SLUICE_SEED", 42),
            rows_per_day=_int(env, "SLUICE_ROWS_PER_DAY", 3000, minimum=1),
            label_delay_days=_int(env, "SLUICE_LABEL_DELAY_DAYS", 3),
            scenario=Path(env.get("SLUICE_SCENARIO") or DEFAULT_SCENARIO).expanduser(),
            stations=stations or DEFAULT_STATIONS,
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI") or None,
            mlflow_artifacts=Path(env["SLUICE_MLFLOW_ARTIFACTS"]).expanduser().resolve()
            if env.get("SLUICE_MLFLOW_ARTIFACTS")
            else None,
            experiment=env.get("SLUICE_MLFLOW_EXPERIMENT") or "sluice",
            model_name=env.get("SLUICE_MODEL_NAME") or "water_potability",
        )

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.home / "landing"

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

    @property
    def default_warehouse_url(self) -> str:
        """The embedded default warehouse: a SQLite file under the state folder."""
        return f"sqlite:///{self.home / 'warehouse.db'}"
