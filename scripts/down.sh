#!/usr/bin/env bash
# Stop what `make up` started, by the PIDs it recorded (each is a process-group leader).
set -uo pipefail
source "$(dirname "$0")/env.sh"
stop_metadata_db() {  # after Airflow, whose processes hold connections to it
  if [ -e "$SLUICE_HOME/pg/postmaster.pid" ]; then python "$(dirname "$0")/metadata_db.py" stop; fi
}
trap stop_metadata_db EXIT
for pidfile in "$SLUICE_HOME"/run/*.pid; do
  [ -e "$pidfile" ] || { echo "nothing to stop"; exit 0; }
  pid=$(cat "$pidfile"); name=$(basename "$pidfile" .pid)
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    echo "stopped $name (pid $pid)"
  else
    echo "$name was not running"
  fi
  rm -f "$pidfile"
done
