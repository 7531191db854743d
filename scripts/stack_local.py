"""The production topology as processes on this machine: ``make stack-local`` / ``make stack-local-down``.

Starts, against the PostgreSQL and Redis on 127.0.0.1, what docker-compose.yaml runs: the Airflow
API server, scheduler, dag-processor, triggerer and two Celery workers, and ``mlflow server``
with its PostgreSQL store and served artifacts. The configuration is the compose file's own
(``x-airflow-common.environment``) with ``.env``'s values, the service names rewritten to this
machine's addresses: one configuration feeds both. Each worker records its name
(``SLUICE_WORKER_NAME``) as the task instances' hostname, so runs show which worker ran what.

    python scripts/stack_local.py start [--env-file .env] [--state .sluice/stack] [--port 8080]
    python scripts/stack_local.py stop  [--state .sluice/stack]

PIDs go to ``<state>/run/``; ``stop`` ends exactly those process groups.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from sluice.deployment import HOW_TO, placeholder_secrets, read_env_file

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
WORKERS = ("worker-1", "worker-2")
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}``."""

    def one(match: re.Match) -> str:
        name, kind, rest = match.groups()
        value = values.get(name, "")
        if value:
            return value
        if kind == "?":
            raise SystemExit(f"{name} is not set in the env file: {rest}")
        return rest or ""

    return VARIABLE.sub(one, text)


def configuration(env_file: Path, state: Path, port: int, mlflow_port: int) -> dict[str, str]:
    """The Airflow services' environment from docker-compose.yaml and ``env_file``, for this machine."""
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    values = read_env_file(env_file)
    local = {
        "@postgres/": "@127.0.0.1:5432/",
        "redis://redis:6379": "redis://127.0.0.1:6379",
        "http://airflow-apiserver:8080": f"http://localhost:{port}",
        "http://mlflow:5000": f"http://127.0.0.1:{mlflow_port}",
        "statsd-exporter": "127.0.0.1",
    }
    env = {}
    for key, raw in compose["x-airflow-common"]["environment"].items():
        value = interpolate(str(raw), values)
        for service, address in local.items():
            value = value.replace(service, address)
        env[key] = value
    env |= {
        "AIRFLOW_HOME": str(state / "airflow"),
        "SLUICE_HOME": str(state),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__METRICS__STATSD_ON": "false",  # no exporter here
        # the team's domain folder on this machine instead of the containers' mount point
        "PYTHONPATH": values.get("SLUICE_DOMAIN_PATH") or os.environ.get("PYTHONPATH", ""),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return env


def _mlflow_store(env_file: Path) -> str:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    values = read_env_file(env_file)
    for arg in compose["services"]["mlflow"]["command"]:
        if arg.startswith("--backend-store-uri="):
            return interpolate(arg.split("=", 1)[1], values).replace("@postgres/", "@127.0.0.1:5432/")
    raise SystemExit("docker-compose.yaml: the mlflow service has no --backend-store-uri")


def create_databases(env_file: Path, admin_url: str) -> None:
    """What deploy/postgres/init-databases.sh does in the postgres container, made idempotent."""
    from sqlalchemy import create_engine, text

    values = read_env_file(env_file)
    script = (REPO / "deploy" / "postgres" / "init-databases.sh").read_text()
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for role, variable, database in re.findall(r'^create (\w+) "\$(\w+)" (\w+)$', script, re.M):
            password = values.get(variable) or ""
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            verb = "ALTER" if exists else "CREATE"
            quoted = password.replace("'", "''")  # a SQL literal: DDL takes no bind parameters
            conn.exec_driver_sql(f"{verb} ROLE \"{role}\" LOGIN PASSWORD '{quoted}'")
            if not conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
            ).first():
                conn.execute(text(f'CREATE DATABASE "{database}" OWNER "{role}"'))
    engine.dispose()


def _wait(url: str, seconds: int, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{what} did not answer at {url} in {seconds} s; see {log}")


def start(args: argparse.Namespace) -> None:
    state, env_file = Path(args.state).resolve(), Path(args.env_file).resolve()
    problems = placeholder_secrets(read_env_file(env_file))
    if problems:  # what the compose stack's airflow-init refuses too (sluice check-secrets)
        raise SystemExit(f"{env_file}: refusing to start: {'; '.join(problems)}. {HOW_TO}")
    (state / "run").mkdir(parents=True, exist_ok=True)
    (state / "logs").mkdir(exist_ok=True)
    env = os.environ | configuration(env_file, state, args.port, args.mlflow_port)
    create_databases(env_file, args.pg_admin)
    for step in (["airflow", "db", "migrate"], ["sluice", "init"]):
        with (state / "logs" / "init.log").open("a") as log:
            subprocess.run(step, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)

    def launch(name: str, command: list[str], extra: dict[str, str] | None = None) -> None:
        pid_file = state / "run" / f"{name}.pid"
        if pid_file.exists() and _alive(int(pid_file.read_text())):
            print(f"{name} already running (pid {pid_file.read_text()})")
            return
        with (state / "logs" / f"{name}.log").open("w") as log:
            process = subprocess.Popen(
                command, env=env | (extra or {}), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        pid_file.write_text(str(process.pid))
        print(f"started {name} (pid {process.pid}, log {state / 'logs' / (name + '.log')})")

    launch(
        "mlflow",
        [
            "mlflow",
            "server",
            "--host=127.0.0.1",
            f"--port={args.mlflow_port}",
            f"--backend-store-uri={_mlflow_store(env_file)}",
            f"--artifacts-destination={state / 'mlflow-artifacts'}",
            "--workers=1",
        ],
    )
    launch("apiserver", ["airflow", "api-server", "--port", str(args.port)])
    launch("scheduler", ["airflow", "scheduler"])
    launch("dag-processor", ["airflow", "dag-processor"])
    launch("triggerer", ["airflow", "triggerer"])
    for i, name in enumerate(WORKERS):
        launch(
            name,
            ["airflow", "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1"],
            {
                "SLUICE_WORKER_NAME": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "sluice.settings.worker_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(8793 + 10 + i),
            },
        )
    _wait(f"http://127.0.0.1:{args.mlflow_port}/health", 120, "MLflow", state / "logs" / "mlflow.log")
    _wait(f"http://localhost:{args.port}/api/v2/monitor/health", 180, "the API server", state / "logs")
    print(f"stack up: Airflow http://localhost:{args.port}, MLflow http://127.0.0.1:{args.mlflow_port}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def stop(args: argparse.Namespace, grace: float = 30.0) -> None:
    """SIGTERM every process group at once, so they shut down side by side (one after the other,
    each waiting on its own shutdown, took about 30 s); a group still up after ``grace`` seconds,
    and every child a leader left behind (Celery pool, log server, task runners), gets SIGKILL."""
    run = Path(args.state).resolve() / "run"
    leaders = {}
    for pid_file in sorted(run.glob("*.pid")) if run.exists() else []:
        pid = int(pid_file.read_text())
        if not _alive(pid):
            pid_file.unlink()
            continue
        leaders[pid_file] = pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(pid) for pid in leaders.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid_file, pid in leaders.items():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        print(f"stopped {pid_file.stem} (pid {pid})")
        pid_file.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--env-file", default=str(REPO / ".env"))
    parser.add_argument("--state", default=str(REPO / ".sluice" / "stack"))
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--pg-admin", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    start(args) if args.action == "start" else stop(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
