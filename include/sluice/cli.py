"""``sluice``: set up and inspect the local state without Airflow.

    sluice init                 check the domain, migrate and create the warehouse tables for it,
                                create the GX context (idempotent)
    sluice domain               the domain SLUICE_DOMAIN names, as the warehouse records it (JSON)
    sluice status [--days N]    what the warehouse holds for the last N delivered days: rows
                                delivered, published, quarantined, and scored (by which version)

The warehouse URL comes from ``--warehouse``, else ``AIRFLOW_CONN_SLUICE_WAREHOUSE`` (a SQLAlchemy
URL, as ``make up`` sets it), else the embedded SQLite file under ``SLUICE_HOME``.
"""

from __future__ import annotations

import argparse
import os
import sys

from sluice.settings import Settings


def _warehouse_url(args: argparse.Namespace, settings: Settings) -> str:
    return args.warehouse or os.environ.get("AIRFLOW_CONN_SLUICE_WAREHOUSE") or settings.default_warehouse_url


def init(args: argparse.Namespace, settings: Settings) -> int:
    from sluice.validation import GXRunner
    from sluice.warehouse import Warehouse

    domain = settings.domain  # a broken domain module fails here, before anything is created
    warehouse = Warehouse(_warehouse_url(args, settings), domain=domain)
    warehouse.create_tables()
    GXRunner(settings.gx_dir).build_index()  # creates the File data context and the Data Docs site
    for folder in (settings.landing, settings.reports_dir):
        folder.mkdir(parents=True, exist_ok=True)
    print(f"domain: {domain.name} ({domain.module}, features {domain.features.version})")
    print(f"warehouse ready: {warehouse}")
    print(f"GX context: {settings.gx_dir}")
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from sluice.tables import ingest_batches, prediction_batches
    from sluice.warehouse import Warehouse

    warehouse = Warehouse(_warehouse_url(args, settings), domain=settings.domain)
    rows = warehouse.fetch(
        select(ingest_batches).order_by(ingest_batches.c.sample_date.desc()).limit(args.days)
    )
    if not rows:
        print("no day has been ingested yet")
        return 0
    # per day, the newest scoring: the version that serves the day now
    scored = {
        batch["sample_date"]: f"{batch['row_count']} by v{batch['model_version']}"
        for batch in warehouse.fetch(
            select(prediction_batches)
            .where(prediction_batches.c.sample_date >= rows[-1]["sample_date"])
            .order_by(prediction_batches.c.scored_at, prediction_batches.c.model_version)
        )
    }
    print(
        f"{'day':<12}{'status':<13}{'delivered':>10}{'published':>10}{'quarantined':>12}{'scored':>16}  batch"
    )
    for row in reversed(rows):
        published = "-" if row["published_rows"] is None else row["published_rows"]
        quarantined = "-" if row["quarantined_rows"] is None else row["quarantined_rows"]
        print(
            f"{row['sample_date']!s:<12}{row['status']:<13}{row['row_count']:>10}"
            f"{published:>10}{quarantined:>12}{scored.get(row['sample_date'], '-'):>16}  {row['batch_id']}"
        )
    return 0


def data_docs(args: argparse.Namespace, settings: Settings) -> int:
    from sluice.validation import GXRunner

    print(f"Data Docs index rebuilt: {GXRunner(settings.gx_dir).build_index()}")
    return 0


def show_domain(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from sluice.domain import describe

    print(json.dumps(describe(settings.domain), indent=2))
    return 0


def check_secrets(args: argparse.Namespace) -> int:
    """Refuse a deployment whose secrets are placeholders (``.env.example``'s) or too weak."""
    from pathlib import Path

    from sluice.deployment import HOW_TO, placeholder_secrets, read_env_file

    values = read_env_file(Path(args.env_file)) if args.env_file else dict(os.environ)
    problems = placeholder_secrets(values)
    if problems:
        where = args.env_file or "the environment"
        print(f"sluice check-secrets: refusing to start; in {where}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(HOW_TO, file=sys.stderr)
        return 2
    print("sluice check-secrets: every secret is set and none is a placeholder")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", help="SQLAlchemy URL of the warehouse")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the warehouse tables and the GX context")
    commands.add_parser("domain", help="the domain SLUICE_DOMAIN names (JSON)")
    commands.add_parser(
        "data-docs", help="rebuild the GX Data Docs index now (each validation writes only its own page)"
    )
    show = commands.add_parser("status", help="what the warehouse holds for recent days")
    show.add_argument("--days", type=int, default=10)
    secrets = commands.add_parser(
        "check-secrets", help="refuse placeholder or weak secrets (the stack's; from the environment)"
    )
    secrets.add_argument("--env-file", help="read NAME=value lines from this file instead")
    args = parser.parse_args(argv)
    if args.command == "check-secrets":
        return check_secrets(args)
    from sluice.domain import DomainError
    from sluice.settings import ConfigError
    from sluice.tables import WarehouseError

    try:
        settings = Settings.from_env()
        return {"init": init, "domain": show_domain, "status": status, "data-docs": data_docs}[args.command](
            args, settings
        )
    except (DomainError, ConfigError, WarehouseError) as exc:
        print(f"sluice {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
