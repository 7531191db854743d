"""Monitoring of a large day: ``sluice.monitoring.measure_day`` on a 1M-row PostgreSQL day.

    python bench/monitoring.py [--pg URL] [--rows 1000000] [--sample-rows 20000] [--keep DIR] [--full]

Set-up (not timed) is the scoring benchmark's (``bench/scoring.py``): 24 simulated history days, a
champion trained on them, and a day of N feature rows copied from them; the day is then scored
with the streamed path, so it has N predictions. The measurement runs in a fresh process:
everything the DAG's ``measure`` task does for the day (samples of the day, of the rolling window
and of the champion's training and hold-out days; drift and data-summary reports with the HTML
file; prediction drift; quality; performance) with the model already loaded; wall time, peak RSS.

``--full`` also runs the baseline the issue names: Evidently's ``DataDriftPreset`` on the whole
day (all rows, every feature) against the whole reference, in its own process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from functools import partial

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from benchlib import peak_rss_mb, rss_mb
from scoring import BENCH_DAYS, BENCH_PG, MODEL, SCORED_AT, model_store, set_up


def measured(args: argparse.Namespace) -> dict:
    from pathlib import Path

    from sluice import champion as champions
    from sluice import drift, monitoring
    from sluice.alerting import Thresholds, Windows
    from sluice.sampling import days_between
    from sluice.warehouse import Warehouse

    models = model_store(Path(args.root))
    champion = champions.champion(models, MODEL)
    predict = champions.scorer(models, champion)
    warehouse = Warehouse(args.pg)
    day = dt.date.fromisoformat(args.day)
    before = rss_mb()
    started = time.perf_counter()
    if args.child == "full":
        import pandas as pd

        from sluice.domains.water import DOMAIN

        reference = pd.concat(
            [warehouse.read_partition("features", d) for d in days_between(*champion.train_days)]
        )
        current = warehouse.read_partition("features", day)
        result = drift.data_drift(reference, current, list(DOMAIN.feature_names))
        found = {"drift_share": result.share, "rows": len(current)}
    else:
        report = monitoring.measure_day(
            warehouse,
            day,
            champion,
            predict,
            Thresholds(),
            Windows(sample_rows=args.sample_rows),
            reports_dir=Path(args.root) / "reports",
            holdout_accuracy=partial(champions.holdout_accuracy, models, MODEL),
        )
        found = {"drift_share": report.figure("drift_share"), "rows": report.figure("rows")}
    return found | {
        "seconds": time.perf_counter() - started,
        "rss_before_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg",
        default=BENCH_PG,
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample-rows", type=int, default=20_000)
    parser.add_argument("--history-rows", type=int, default=3000)
    parser.add_argument("--keep", help="state folder to keep and reuse (default: a temporary one)")
    parser.add_argument("--full", action="store_true", help="also the full-data DataDriftPreset baseline")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measured(args)))
        return
    args.pg_rows, args.sqlite_rows = [args.rows], []
    _, version = set_up(args)
    from sluice import scoring
    from sluice.warehouse import Warehouse

    warehouse, day = Warehouse(args.pg), BENCH_DAYS
    pinned = scoring.pin(model_store(), MODEL)
    model = scoring.load(model_store(), pinned)
    scoring.score_day(warehouse, day, pinned, model, scored_at=SCORED_AT, scored_by="bench")
    print(f"{MODEL} v{version}; day {day}: {warehouse.count('features', day):,} feature rows, scored")
    print(f"{'path':<34}{'wall s':>8}{'peak RSS MB':>13}{'drift share':>13}{'rows':>11}")
    for path in ("sampled", *(["full"] if args.full else [])):
        command = [
            sys.executable,
            __file__,
            "--child",
            path,
            "--day",
            day.isoformat(),
            "--root",
            args.root,
            "--pg",
            args.pg,
            "--sample-rows",
            str(args.sample_rows),
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        if out.returncode:
            print(f"{path}: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        title = (
            f"measure_day, samples of {args.sample_rows:,}"
            if path == "sampled"
            else "DataDriftPreset, all rows"
        )
        print(
            f"{title:<34}{r['seconds']:>8.1f}{r['peak_rss_mb']:>13,.0f}{r['drift_share']:>13.3f}{int(r['rows']):>11,}"
        )
    print(f"\nstate: {args.root}")


if __name__ == "__main__":
    main()
