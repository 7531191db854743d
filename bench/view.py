"""The Sluice view's reads with a year of history: every page and API endpoint, timed.

    python bench/view.py [--pg URL] [--days 365] [--repeat 20]

Seeds ``--days`` days of what the view reads (the test suite's ``seed_view``: delivered and scored
rows, monitoring figures with per-feature drift scores, decisions, a quarantined batch) into a
fresh PostgreSQL database and a SQLite file, then requests each route through the app in process
(FastAPI's TestClient: routing, auth check, queries, SVG and HTML rendering, JSON serialisation;
no network) ``--repeat`` times after one warm-up. Prints median and worst milliseconds per route;
the target is < 300 ms with 365 days.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.factories.seed_view

from scoring import BENCH_PG

ROUTES = (
    "/",
    "/history",
    "/drift?days=365",
    "/quality?days=365",
    "/api/overview",
    "/api/decisions",
    "/api/drift?days=365",
    "/api/quality?days=365",
    "/metrics",
)


def measure(url: str, days: int, repeat: int) -> dict[str, tuple[float, float]]:
    import datetime as dt

    from fastapi.testclient import TestClient

    from sluice.connections import create_database_if_missing
    from sluice.view_config import ViewConfig
    from sluice.warehouse import Warehouse
    from sluice.web import create_app
    from tests.factories import seed_view

    if url.startswith("postgresql"):
        create_database_if_missing(url, admin_database="postgres")
    store = Warehouse(url)
    store.drop_tables()
    store.create_tables()
    written = seed_view(store, days=days, first=dt.date(2025, 3, 1))

    async def authenticate(request):
        return "bench"

    config = ViewConfig(
        warehouse=lambda: store, model_name="water_potability", today=lambda: written["dates"][-1]
    )
    client = TestClient(create_app(config, authenticate))
    out = {}
    for route in ROUTES:
        assert client.get(route).status_code == 200, route
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(route)
            times.append((time.perf_counter() - started) * 1000)
        out[route] = (statistics.median(times), max(times))
    rows = store.count("monitoring_metrics")
    print(f"{url.split(':', maxsplit=1)[0]}: {days} days, {rows:,} monitoring_metrics rows", flush=True)
    store.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=BENCH_PG)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "postgresql": measure(args.pg, args.days, args.repeat),
            "sqlite": measure(f"sqlite:///{tmp}/view.db", args.days, args.repeat),
        }
    print("\n| route | PostgreSQL median ms | worst ms | SQLite median ms | worst ms |")
    print("|---|---:|---:|---:|---:|")
    for route in ROUTES:
        pg, lite = results["postgresql"][route], results["sqlite"][route]
        print(f"| `{route}` | {pg[0]:.1f} | {pg[1]:.1f} | {lite[0]:.1f} | {lite[1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
