#!/usr/bin/env bash
# The environment every Sluice process runs with (the Makefile's targets, and you: `source .sluice/env`).
# Anything already set in your environment wins, so AIRFLOW_CONN_SLUICE_WAREHOUSE can point the
# warehouse at PostgreSQL, SLUICE_HOME can move all state elsewhere, and so on.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLUICE_HOME="${SLUICE_HOME:-$repo/.sluice}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$SLUICE_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$repo/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$repo/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW_CONN_SLUICE_WAREHOUSE="${AIRFLOW_CONN_SLUICE_WAREHOUSE:-sqlite:///$SLUICE_HOME/warehouse.db}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$SLUICE_HOME/mlflow/mlflow.db}"
export SLUICE_MLFLOW_ARTIFACTS="${SLUICE_MLFLOW_ARTIFACTS:-$SLUICE_HOME/mlflow/artifacts}"
export MLFLOW_PORT="${MLFLOW_PORT:-5000}"
export GX_ANALYTICS_ENABLED=False
export PATH="$repo/.venv/bin:$PATH"
