#!/usr/bin/env bash
# Run once by the postgres image on an empty data volume: one database and one role each for the
# Airflow metadata, the Sluice warehouse and MLflow's backend store. Passwords come from .env.
set -euo pipefail
create() {  # role, password, database
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$1" -v password="$2" -v db="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
SQL
}
create airflow "$AIRFLOW_DB_PASSWORD" airflow
create sluice "$WAREHOUSE_DB_PASSWORD" warehouse
create mlflow "$MLFLOW_DB_PASSWORD" mlflow
