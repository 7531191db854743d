"""The shell environment `make up` and the CLIs share (scripts/env.sh)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV_SH = Path(__file__).resolve().parents[2] / "scripts" / "env.sh"


def sourced(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SLUICE", "MLFLOW"))}
    env |= overrides
    out = subprocess.run(
        ["bash", "-c", f'source "{ENV_SH}" && env -0'], env=env, capture_output=True, check=True
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def test_defaults_put_all_state_under_sluice_home(tmp_path):
    env = sourced(SLUICE_HOME=str(tmp_path))
    assert env["AIRFLOW_HOME"] == f"{tmp_path}/airflow"
    assert env["AIRFLOW_CONN_SLUICE_WAREHOUSE"] == f"sqlite:///{tmp_path}/warehouse.db"
    assert env["SLUICE_MLFLOW_BACKEND"] == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000", "tasks talk to the MLflow server"


def test_moving_the_api_port_moves_the_execution_api_with_it():
    env = sourced(AIRFLOW__API__PORT="8089", MLFLOW_PORT="5009")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8089/execution/"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5009"


def test_what_is_already_set_wins():
    env = sourced(MLFLOW_TRACKING_URI="http://mlflow:5000", AIRFLOW_CONN_SLUICE_WAREHOUSE="postgresql://w")
    assert (env["MLFLOW_TRACKING_URI"], env["AIRFLOW_CONN_SLUICE_WAREHOUSE"]) == (
        "http://mlflow:5000",
        "postgresql://w",
    )
