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
# Airflow's metadata database: PostgreSQL from the venv (scripts/metadata_db.py), on a socket in
# $SLUICE_HOME/pg. SQLite locks under a backfill's parallel tasks on a busy machine.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-postgresql+psycopg://postgres@/airflow?host=$SLUICE_HOME/pg}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC:-${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN/postgresql+psycopg:/postgresql+psycopg_async:}}"
# What runs at once on this machine: at most 4 task processes in all (backfills included), and at
# most 4 runs of a DAG. A task of a 2-core laptop's day is CPU-bound: more only queues.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG:-4}"
# Task processes report to the API server's execution API; its URL follows the port.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://localhost:$AIRFLOW__API__PORT/execution/}"
export AIRFLOW_CONN_SLUICE_WAREHOUSE="${AIRFLOW_CONN_SLUICE_WAREHOUSE:-sqlite:///$SLUICE_HOME/warehouse.db}"
export MLFLOW_PORT="${MLFLOW_PORT:-5000}"
# The MLflow server (make up) keeps runs in SQLite and artifacts in a folder; Airflow's tasks and
# the CLIs talk to the server, so it is the only process writing that SQLite file.
export SLUICE_MLFLOW_BACKEND="${SLUICE_MLFLOW_BACKEND:-sqlite:///$SLUICE_HOME/mlflow/mlflow.db}"
export SLUICE_MLFLOW_ARTIFACTS="${SLUICE_MLFLOW_ARTIFACTS:-$SLUICE_HOME/mlflow/artifacts}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-http://127.0.0.1:$MLFLOW_PORT}"
export GX_ANALYTICS_ENABLED=False
# The domain every process serves (a dotted module path); put a team's own domain module on PYTHONPATH.
export SLUICE_DOMAIN="${SLUICE_DOMAIN:-sluice.domains.water}"
# The water simulator's scenario; empty: make up writes $SLUICE_HOME/scenario.yaml (starts 30 days ago)
export SLUICE_SCENARIO="${SLUICE_SCENARIO:-}"
export PYTHONPATH="${PYTHONPATH:-}"
export PATH="$repo/.venv/bin:$PATH"
