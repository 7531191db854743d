"""Validation at scale: GX on the DataFrame vs GX in the database, same suites, same batch.

    python bench/validation.py [--rows 1000000] [--pg URL]

Lands one simulated day of ``--rows`` rows in PostgreSQL's ``raw_observations`` (the real land
step), then validates it in a fresh process per path so that peak RSS is each path's own:

* ``dataframe`` — what ``sluice.ingest.validate`` does: read the raw partition, type it in pandas,
  run both suites on the frames (Data Docs included).
* ``sql`` — the same expectations through a GX PostgreSQL data source over a query asset of the
  raw partition (text cast to numbers in SQL); the database does the work.

Both paths report rows that fail (``unexpected_index_list``), as quarantining needs that.
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

from benchlib import peak_rss_mb

DAY = dt.date(2026, 1, 4)  # the faults scenario's hostile day: 1% of rows fail
AS_OF = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def prepare(url: str, rows: int) -> dict:
    from sluice import ingest
    from sluice.domains.water import DEFAULT_SCENARIO
    from sluice.domains.water.simulator import Scenario, SimulatorConfig
    from sluice.sources.simulated import SimulatedSource
    from sluice.warehouse import Warehouse

    warehouse = Warehouse(url)
    warehouse.create_tables()
    source = SimulatedSource(
        SimulatorConfig(
            seed=1, rows_per_day=rows, scenario=Scenario.load(DEFAULT_SCENARIO.parent / "faults.yaml")
        )
    )
    t = time.perf_counter()
    batch = ingest.land(warehouse, source, DAY, AS_OF)
    return {"rows": batch.rows, "land_s": time.perf_counter() - t}


def run_dataframe(url: str, gx_root: Path) -> dict:
    from sluice import ingest
    from sluice.warehouse import Warehouse

    t = time.perf_counter()
    _, verdict = ingest.validate(Warehouse(url), DAY, gx_root=gx_root, tolerance=0.05, as_of=AS_OF)
    return {
        "seconds": time.perf_counter() - t,
        "bad_rows": len(verdict.bad_rows),
        "decision": verdict.decision,
    }


def run_sql(url: str, gx_root: Path) -> dict:
    import great_expectations as gx

    from expectations import raw_observations as suites
    from sluice.dates import day_bounds
    from sluice.domains.water import DOMAIN, MEASUREMENTS
    from sluice.validation import _failures, decide

    t = time.perf_counter()
    context = gx.get_context(mode="file", project_root_dir=gx_root)
    source = context.data_sources.add_or_update_postgres("bench_pg", connection_string=url)
    number = suites.NUMBER.replace("\\", "\\\\")
    casts = ", ".join(
        f"CASE WHEN {c} ~ E'{number}' THEN CAST({c} AS double precision) END AS {c}" for c in MEASUREMENTS
    )
    typed = (
        "SELECT row_number, sample_id, station_id, "
        "CASE WHEN sampled_at ~ '^[0-9]{4}-' THEN CAST(sampled_at AS timestamptz) END AS sampled_at, "
        f"{casts} FROM raw_observations WHERE sample_date = DATE '{DAY.isoformat()}'"
    )
    raw = (
        "SELECT row_number, sample_id, station_id, sampled_at, "
        f"{', '.join(MEASUREMENTS)} FROM raw_observations WHERE sample_date = DATE '{DAY.isoformat()}'"
    )
    config = DOMAIN
    start, end = day_bounds(DAY)
    failures = []
    rows = None
    for suite, query, params in (
        # an empty list would render as `NOT IN ()`, which is not SQL
        (suites.delivered_suite(config), raw, {"published_elsewhere": ["-"]}),
        (suites.values_suite(config), typed, {"day_start": start, "day_end": end}),
    ):
        asset = source.add_query_asset(name=suite.name, query=query)
        batch = asset.add_batch_definition_whole_table("whole")
        result = batch.get_batch().validate(
            context.suites.add_or_update(suite),
            expectation_parameters=params,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["row_number"],
                "partial_unexpected_count": 5,
                "return_unexpected_index_query": False,
            },
        )
        failures += _failures(suite.name, result)
        rows = rows or next(
            (
                r.result.get("observed_value")
                for r in result.results
                if "row_count" in r.expectation_config.type
            ),
            None,
        )
    verdict = decide(int(rows or 0), failures, 0.05)
    return {
        "seconds": time.perf_counter() - t,
        "bad_rows": len(verdict.bad_rows),
        "decision": verdict.decision,
    }


def child(path: str, url: str) -> None:
    gx_root = Path(tempfile.mkdtemp(prefix=f"bench-gx-{path}-"))
    result = (run_dataframe if path == "dataframe" else run_sql)(url, gx_root)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "SLUICE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/sluice_bench"
        ),
    )
    parser.add_argument("--child", choices=["dataframe", "sql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.pg)
        return
    from sluice.warehouse import create_database_if_missing

    create_database_if_missing(args.pg)
    prepared = prepare(args.pg, args.rows)
    print(f"landed {prepared['rows']:,} rows in {prepared['land_s']:.1f} s (binary COPY)")
    print(f"{'path':<11}{'seconds':>9}{'rows/s':>11}{'peak RSS MB':>13}{'bad rows':>10}  decision")
    for path in ("dataframe", "sql"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", path, "--pg", args.pg],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            print(f"{path:<11} failed:\n{out.stderr[-3000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{path:<11}{r['seconds']:>9.1f}{prepared['rows'] / r['seconds']:>11,.0f}"
            f"{r['peak_rss_mb']:>13,.0f}{r['bad_rows']:>10}  {r['decision']}"
        )


if __name__ == "__main__":
    main()
