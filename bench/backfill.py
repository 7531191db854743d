"""The first hour's backfill, timed per task: ``make up`` in a fresh folder, a champion registered,
the chain unpaused, then ``airflow backfill create`` over ``--days`` days with up to four at once.

    python bench/backfill.py [--days 20] [--keep]

Prints, per DAG and task: how many ran, the median, mean and worst seconds a run took, and the
mean seconds it waited queued; the most tasks running at once; the wall time from the backfill to
the last day scored. Stops what it started (``--keep`` leaves the deployment up to look at).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port
from tests.deployment import Deployment, days, most_at_once, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    from sqlalchemy import select

    from sluice.tables import prediction_batches
    from sluice.warehouse import Warehouse

    home = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    deployment = Deployment(home, free_port(), free_port())
    today = dt.datetime.now(dt.UTC).date()
    wanted = days(today - dt.timedelta(days=args.days + 2), args.days)
    try:
        started = time.monotonic()
        deployment.up()
        print(f"make up: {time.monotonic() - started:.0f} s ({home})")
        version = deployment.register_champion()
        deployment.unpause("sluice_ingest", "sluice_features", "sluice_score")
        started = time.monotonic()
        created = deployment.shell(
            f"airflow backfill create --dag-id sluice_ingest --from-date {wanted[0]} --to-date {wanted[-1]} "
            "--max-active-runs 4"
        )
        if created.returncode:
            raise SystemExit(created.stdout[-3000:] + created.stderr[-3000:])
        warehouse = Warehouse(deployment.warehouse_url)

        def all_scored() -> bool:
            query = select(prediction_batches.c.sample_date).where(
                prediction_batches.c.model_version == version
            )
            return set(wanted) <= {row["sample_date"] for row in warehouse.fetch(query)}

        done = deployment.wait(all_scored, timeout=3600, every=2)
        wall = time.monotonic() - started
        instances = deployment.task_instances(("sluice_ingest", "sluice_features", "sluice_score"))
        report(instances, wall, done, args.days)
    finally:
        if not args.keep:
            deployment.down()


def report(instances: list[dict], wall: float, done: bool, count: int) -> None:
    took, waited = defaultdict(list), defaultdict(list)
    for t in instances:
        if t["state"] != "success":
            continue
        key = (t["dag_id"], t["task_id"])
        took[key].append(seconds(t))
        if t.get("queued_when"):
            waited[key].append(seconds(t, "queued_when") - seconds(t))
    print(f"\n{count}-day backfill: {'every day scored' if done else 'NOT every day scored'} in {wall:.0f} s")
    print(f"most tasks running at once: {most_at_once(instances)}\n")
    print("| DAG | task | runs | median s | mean s | max s | mean queued s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (dag_id, task_id), values in sorted(took.items()):
        queued = waited.get((dag_id, task_id)) or [0.0]
        print(
            f"| {dag_id} | {task_id} | {len(values)} | {statistics.median(values):.1f} | "
            f"{statistics.mean(values):.1f} | {max(values):.1f} | {statistics.mean(queued):.1f} |"
        )
    other = sorted({(t["dag_id"], t["task_id"], t["state"]) for t in instances if t["state"] != "success"})
    if other:
        print(f"\nnot successful: {other}")


if __name__ == "__main__":
    main()
