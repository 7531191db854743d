#!/usr/bin/env bash
# Initialise the local state and start `airflow standalone` and the MLflow UI in the background.
# PIDs go to $SLUICE_HOME/run/; `make down` stops exactly those process groups.
set -euo pipefail
source "$(dirname "$0")/env.sh"
run="$SLUICE_HOME/run"
# The quickstart lives in today: on the first `make up` the simulated water stream is set to start
# 30 days ago (the default scenario, its start moved), so "the last 30 days" are its stable days,
# the daily schedule carries on from yesterday, and the scenario's drift arrives with today's data.
if [[ -z "$SLUICE_SCENARIO" && "$SLUICE_DOMAIN" == "sluice.domains.water" ]]; then
  SLUICE_SCENARIO="$SLUICE_HOME/scenario.yaml"
  if [ ! -f "$SLUICE_SCENARIO" ]; then
    mkdir -p "$SLUICE_HOME"
    sed "s/^start: .*/start: $(date -u -d '30 days ago' +%F)/" \
      "$(dirname "$0")/../include/sluice/domains/water/scenarios/default.yaml" >"$SLUICE_SCENARIO"
  fi
fi
mkdir -p "$run" "$SLUICE_HOME/logs" "$(dirname "${SLUICE_MLFLOW_BACKEND#sqlite:///}")" "$SLUICE_MLFLOW_ARTIFACTS"
{ echo "# written by make up: source this file to use the airflow and sluice CLIs on this deployment"; \
  sed -n 's/^export \([A-Z_]*\)=.*/\1/p' "$(dirname "$0")/env.sh" | while read -r v; do printf 'export %s=%q\n' "$v" "${!v}"; done; } > "$SLUICE_HOME/env"

sluice init
if [[ "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" == *"host=$SLUICE_HOME/pg" ]]; then
  python "$(dirname "$0")/metadata_db.py" start
fi
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
wait_for() {  # name, URL, seconds: poll the URL until it answers, or give up pointing at the log
  local name=$1 url=$2 seconds=$3
  printf 'waiting for %s' "$name"
  for _ in $(seq 1 $((seconds / 2))); do
    if curl -fs "$url" >/dev/null 2>&1; then echo; return; fi
    printf '.'; sleep 2
  done
  echo; echo "$name did not answer at $url within $seconds s; see $SLUICE_HOME/logs/"; exit 1
}
wait_for "the MLflow server" "http://127.0.0.1:$MLFLOW_PORT/health" 120  # tasks log to it
start airflow airflow standalone
wait_for "the Airflow API server" "http://localhost:$AIRFLOW__API__PORT/api/v2/monitor/health" 240
password_file="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
cat <<TXT

Sluice is running.
  Airflow UI   http://localhost:$AIRFLOW__API__PORT   user admin, password: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$password_file" 2>/dev/null || echo "see $password_file")
  MLflow UI    http://localhost:$MLFLOW_PORT
  Sluice view  http://localhost:$AIRFLOW__API__PORT/plugin/sluice    (API docs: /sluice/docs)
  Data Docs    http://localhost:$AIRFLOW__API__PORT/sluice/data-docs/index.html
  Warehouse    $AIRFLOW_CONN_SLUICE_WAREHOUSE
To use the CLIs:  source $SLUICE_HOME/env     Stop everything:  make down
TXT
