"""The ingest path at scale: one day of N rows delivered as a CSV file in the landing folder, then
land → validate (both suites) → publish → featurise, each step timed, on PostgreSQL.

    python bench/ingest.py [--pg URL] [--rows 1000000] [--history 7]

Set-up (not timed): ``--history`` days of 2,000 rows are ingested and featurised before the day
(the entity history the features aggregate), and the day is written as one CSV file. Each step
runs in a process of its own (what an Airflow task is), so each peak RSS is that step's own. The
table gives seconds and peak RSS per step and for the whole day.

This is today's path, the baseline issue 19 names; the new path goes beside it in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

BENCH_PG = os.environ.get("SLUICE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/sluice_bench")
DAY = dt.date(2026, 3, 1)
AS_OF = dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC)
STEPS = ("land", "validate", "publish", "features")


def step(name: str, url: str, home: str) -> dict:
    """One step of the day in this process: its seconds and this process's peak RSS."""
    from benchlib import peak_rss_mb

    from sluice import features, ingest
    from sluice.sources.landing import LandingSource
    from sluice.warehouse import Warehouse

    warehouse = Warehouse(url)
    source = LandingSource(Path(home) / "landing", max_day_bytes=None)
    gx = Path(home) / "gx"
    started = time.perf_counter()
    if name == "land":
        result = ingest.land(warehouse, source, DAY, AS_OF).rows
    elif name == "validate":
        _, verdict = ingest.validate(warehouse, DAY, gx_root=gx, tolerance=0.05, as_of=AS_OF)
        result = f"{verdict.decision}, {verdict.quarantined_rows} rows held"
    elif name == "publish":
        result = ingest.publish(warehouse, DAY, as_of=AS_OF)["rows_published"]
    else:
        result = features.build_day(warehouse, DAY, history_days=7, gx_root=gx, as_of=AS_OF).rows
    return {
        "step": name,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
        "result": result,
    }


def prepare(url: str, home: Path, rows: int, history: int) -> float:
    """The history days (ingested and featurised) and the day's CSV; the CSV's size in MB."""
    from benchlib import prepare_data

    from sluice.domains.water import DEFAULT_SCENARIO
    from sluice.domains.water.simulator import Scenario, SimulatorConfig, generate_batch
    from sluice.domains.water.source import SimulatedSource
    from sluice.warehouse import Warehouse, create_database_if_missing

    create_database_if_missing(url)
    warehouse = Warehouse(url)
    warehouse.drop_tables()
    warehouse.create_tables()
    faults = Scenario.load(DEFAULT_SCENARIO.parent / "faults.yaml")
    source = SimulatedSource(SimulatorConfig(seed=1, rows_per_day=2000))
    if history:
        prepare_data(
            warehouse,
            source,
            DAY - dt.timedelta(days=history),
            DAY - dt.timedelta(days=1),
            home / "gx",
            AS_OF,
        )
    folder = home / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    frame = generate_batch(SimulatorConfig(seed=2, rows_per_day=rows, scenario=faults), DAY)
    frame.to_csv(folder / "day.csv", index=False)
    return (folder / "day.csv").stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=BENCH_PG)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=7)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print("RESULT " + json.dumps(step(args.step, args.pg, args.home)))
        return
    home = Path(tempfile.mkdtemp(prefix="sluice-bench-ingest-"))
    size = prepare(args.pg, home, args.rows, args.history)
    print(f"ingest of one day of {args.rows:,} rows ({size:.0f} MB of CSV) on PostgreSQL, today's path")
    print(f"{'step':<10} {'seconds':>8} {'peak RSS MB':>12}  result")
    total, peak = 0.0, 0.0
    for name in STEPS:
        done = subprocess.run(
            [sys.executable, __file__, "--pg", args.pg, "--step", name, "--home", str(home)],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"step {name} failed:\n{done.stderr[-4000:]}")
        row = json.loads(lines[-1].removeprefix("RESULT "))
        total += row["seconds"]
        peak = max(peak, row["peak_rss_mb"])
        print(f"{name:<10} {row['seconds']:>8.1f} {row['peak_rss_mb']:>12.0f}  {row['result']}")
    print(f"{'day':<10} {total:>8.1f} {peak:>12.0f}")


if __name__ == "__main__":
    main()
