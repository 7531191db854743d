#!/usr/bin/env bash
# Initialise the local state and start `airflow standalone` and the MLflow UI in the background.
# PIDs go to $SLUICE_HOME/run/; `make down` stops exactly those process groups.
set -euo pipefail
source "$(dirname "$0")/env.sh"
run="$SLUICE_HOME/run"
mkdir -p "$run" "$SLUICE_HOME/logs" "$(dirname "${SLUICE_MLFLOW_BACKEND#sqlite:///}")" "$SLUICE_MLFLOW_ARTIFACTS"
{ echo "# written by make up: source this file to use the airflow and sluice CLIs on this deployment"; \
  sed -n 's/^export \([A-Z_]*\)=.*/\1/p' "$(dirname "$0")/env.sh" | while read -r v; do printf 'export %s=%q\n' "$v" "${!v}"; done; } > "$SLUICE_HOME/env"

sluice init
airflow db migrate >"$SLUICE_HOME/logs/db-migrate.log" 2>&1 || { tail -20 "$SLUICE_HOME/logs/db-migrate.log"; exit 1; }

start() {  # name, command...: start in its own session (so the whole group can be stopped), record PID
  local name=$1; shift
  if [ -f "$run/$name.pid" ] && kill -0 "$(cat "$run/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$run/$name.pid"))"; return
  fi
  setsid nohup "$@" >"$SLUICE_HOME/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$run/$name.pid"
  echo "started $name (pid $!, log $SLUICE_HOME/logs/$name.log)"
}
start mlflow mlflow server --backend-store-uri "$SLUICE_MLFLOW_BACKEND" --artifacts-destination "$SLUICE_MLFLOW_ARTIFACTS" \
  --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1
printf 'waiting for the MLflow server'
for _ in $(seq 1 60); do
  if curl -fs "http://127.0.0.1:$MLFLOW_PORT/health" >/dev/null 2>&1; then break; fi
  printf '.'; sleep 2
done
echo
curl -fs "http://127.0.0.1:$MLFLOW_PORT/health" >/dev/null || {
  echo "MLflow did not come up in 2 minutes; see $SLUICE_HOME/logs/mlflow.log"; exit 1; }
start airflow airflow standalone

printf 'waiting for the Airflow API server'
for _ in $(seq 1 120); do
  if curl -fs "http://localhost:$AIRFLOW__API__PORT/api/v2/monitor/health" >/dev/null 2>&1; then break; fi
  printf '.'; sleep 2
done
echo
curl -fs "http://localhost:$AIRFLOW__API__PORT/api/v2/monitor/health" >/dev/null || {
  echo "Airflow did not come up in 4 minutes; see $SLUICE_HOME/logs/airflow.log"; exit 1; }
password_file="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
cat <<TXT

Sluice is running.
  Airflow UI   http://localhost:$AIRFLOW__API__PORT   user admin, password: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$password_file" 2>/dev/null || echo "see $password_file")
  MLflow UI    http://localhost:$MLFLOW_PORT
  Data Docs    file://$SLUICE_HOME/gx/gx/uncommitted/data_docs/local_site/index.html
  Warehouse    $AIRFLOW_CONN_SLUICE_WAREHOUSE
To use the CLIs:  source $SLUICE_HOME/env     Stop everything:  make down
TXT
