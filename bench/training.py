"""A training with the default settings on the default scenario: hold-out quality and time per family.

    python bench/training.py [--as-of 2026-02-01] [--rows 3000] [--warehouse URL] [--keep DIR]

Ingests and featurises the default scenario's days up to ``--as-of`` with the library (the calls
the DAG tasks make), then trains every family with ``TrainingSpec``'s defaults (28-day window,
7 hold-out days, a 3-day label cut-off, 6 candidates per family, 3 time-ordered folds, seed 42)
against a throw-away MLflow store, and prints per family the hold-out metrics and the time spent.

For reference it prints what the labels allow at best on the same hold-out samples: the
simulator's true potability probability, computed from the *true* measurements (before values
go missing), used as a score. No model that sees the delivered data can beat it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from benchlib import prepare_data


def oracle(config, days: list[dt.date], sample_ids) -> dict[str, float]:
    """Metrics of the true probability as a score, on the given samples of ``days``."""
    import numpy as np
    import pandas as pd

    from sluice.domains.water import simulator
    from sluice.training import holdout_metrics

    frames = []
    for day in days:
        truth = simulator.true_measurements(config, day)
        truth["p"] = simulator.potable_probability(truth, simulator.concept(config, day))
        labels = simulator.generate_labels(config, day + dt.timedelta(days=config.label_delay_days))
        frames.append(truth[["sample_id", "p"]].merge(labels[["sample_id", "label"]], on="sample_id"))
    frame = pd.concat(frames)
    frame = frame[frame["sample_id"].isin(set(sample_ids))]
    metrics = holdout_metrics(frame["label"].to_numpy(), frame["p"].to_numpy())
    metrics["bayes_accuracy"] = simulator.bayes_accuracy(np.asarray(frame["p"]))
    return metrics


def _row(m: dict[str, float]) -> str:
    return " | ".join(f"{m[k]:.4f}" for k in ("roc_auc", "accuracy", "f1", "log_loss", "brier")) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--as-of", default="2026-02-01", help="train as of this day (default: day 31)")
    parser.add_argument("--rows", type=int, default=3000, help="samples per day (default 3000)")
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--keep", help="state folder to keep (default: a temp folder, removed)")
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="keep the warehouse of an earlier run in --keep (train only)",
    )
    args = parser.parse_args()

    from sluice.connections import create_database_if_missing
    from sluice.domains.water import DEFAULT_SCENARIO
    from sluice.domains.water.simulator import Scenario, SimulatorConfig
    from sluice.domains.water.source import SimulatedSource
    from sluice.specs import TrainingSpec
    from sluice.warehouse import Warehouse

    root = Path(args.keep or tempfile.mkdtemp(prefix="sluice-bench-training-"))
    url = args.warehouse or f"sqlite:///{root / 'warehouse.db'}"
    create_database_if_missing(url)
    warehouse = Warehouse(url)
    if not args.reuse_data:
        warehouse.drop_tables()
    warehouse.create_tables()
    scenario = Scenario.load(DEFAULT_SCENARIO)
    config = SimulatorConfig(seed=42, rows_per_day=args.rows, label_delay_days=3, scenario=scenario)
    spec = TrainingSpec(as_of=dt.date.fromisoformat(args.as_of))
    first_day = max(scenario.start, spec.window[0] - dt.timedelta(days=7))  # + the features' history
    if not (args.reuse_data and warehouse.count("features")):
        source = SimulatedSource(config)
        as_of = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
        data_s = prepare_data(warehouse, source, first_day, spec.as_of, root / "gx", as_of)
        print(
            f"data: {first_day} .. {spec.as_of}, ~{args.rows} rows/day, ingested+featurised in {data_s:.0f} s"
        )
    train_all(warehouse, spec, config, root)
    print(f"state: {root}" + ("" if args.keep else " (temporary)"))


def train_all(warehouse, spec, config, root: Path) -> None:
    from sluice import tracking
    from sluice.modelstore import ModelStore
    from sluice.training import load_labelled, time_split

    mlflow_db = root / "mlflow.db"
    mlflow_db.unlink(missing_ok=True)
    models = ModelStore(f"sqlite:///{mlflow_db}", "bench", root / "artifacts")
    started = time.perf_counter()
    prepared = tracking.prepare(warehouse, models, spec, run_key="bench")
    print(f"window {spec.window[0]} .. {spec.window[1]}; prepare {time.perf_counter() - started:.1f} s")
    print(f"  train {prepared['train_days']}: {prepared['train_rows']} rows")
    print(f"  hold-out {prepared['holdout_days']}: {prepared['holdout_rows']} rows")
    candidates = []
    print("\n| family | search+refit s | task s | ROC AUC | accuracy | F1 | log loss | Brier |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for family_name in spec.families:
        started = time.perf_counter()
        c = tracking.train(
            warehouse, models, spec, family_name, parent_run_id=prepared["parent_run_id"], run_key="bench"
        )
        candidates.append(c)
        print(
            f"| {family_name} | {c.train_seconds:.1f} | {time.perf_counter() - started:.1f} | "
            + _row(c.metrics)
        )
    split = time_split(load_labelled(warehouse, spec), spec.holdout_days)
    best = oracle(config, split.holdout_days, split.holdout["sample_id"])
    print("| *true probability (oracle)* | | | " + _row(best))
    print(f"\nBayes accuracy on the hold-out (the oracle's expected accuracy): {best['bayes_accuracy']:.4f}")
    registered = tracking.register_challenger(
        models, "bench_model", candidates, spec, parent_run_id=prepared["parent_run_id"]
    )
    print(f"registered: {registered['family']} as version {registered['version']} (alias challenger)")


if __name__ == "__main__":
    main()
