"""Batch scoring at scale: the streamed scoring path against the naive pandas path, same rows, same model.

    python bench/scoring.py [--pg URL] [--pg-rows 1000000,10000000] [--sqlite-rows 100000,1000000]
                            [--chunk-size 100000] [--naive-max-rows N] [--keep DIR]

Set-up (not timed): simulates and featurises 24 days of the default scenario with the library,
trains the histogram-gradient-boosting family with sluice_train's defaults, registers the best
candidate in a throw-away MLflow store and gives it the ``champion`` alias. Then, for each size N,
a day of N feature rows is made from those rows (copied, with new sample ids) in the warehouse.

Each measurement runs in a fresh process, so peak RSS is that path's own:

* ``streamed`` — ``sluice.scoring.score_day`` with the pinned champion: what the DAG task runs.
* ``naive`` — ``pandas.read_sql`` of the whole day, ``model.predict_proba``, ``DataFrame.to_sql``.

Both write the same rows into the same ``predictions`` table (emptied before each run). The
table gives wall time (reading, predicting and writing; not the interpreter start or the model
load), rows/s, peak RSS, how busy the whole machine was (the database included), and the ratios.
``--stages`` (on by default) also times each stage of the streamed path alone on the first
PostgreSQL size, which shows where the time goes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from benchlib import CpuMeter, peak_rss_mb, prepare_data, rss_mb

MODEL = "bench_water_potability"
BENCH_PG = os.environ.get("SLUICE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/sluice_bench")
"""The benchmarks' PostgreSQL database (created when missing)."""
HISTORY_FIRST, HISTORY_LAST = dt.date(2026, 1, 1), dt.date(2026, 1, 24)
BENCH_DAYS = dt.date(2026, 6, 1)  # the N-row days: one per size, from here on
SCORED_AT = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)


def _sizes(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v.strip()]


# --- set-up ----------------------------------------------------------------------------------


def train_champion(warehouse, root: Path, rows_per_day: int) -> int:
    """Simulate, featurise, train and register the bench's champion; its version."""
    from sluice import tracking
    from sluice.domains.water import DEFAULT_SCENARIO
    from sluice.domains.water.simulator import Scenario, SimulatorConfig
    from sluice.domains.water.source import SimulatedSource
    from sluice.specs import TrainingSpec

    config = SimulatorConfig(seed=42, rows_per_day=rows_per_day, scenario=Scenario.load(DEFAULT_SCENARIO))
    as_of = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    seconds = prepare_data(
        warehouse, SimulatedSource(config), HISTORY_FIRST, HISTORY_LAST, root / "gx", as_of
    )
    print(
        f"history: {HISTORY_FIRST} .. {HISTORY_LAST}, {rows_per_day} rows/day, featurised in {seconds:.0f} s"
    )
    spec = TrainingSpec(
        as_of=HISTORY_LAST, window_days=21, holdout_days=5, families=("hist_gradient_boosting",)
    )
    models = model_store(root)
    prepared = tracking.prepare(warehouse, models, spec, run_key="bench-scoring")
    candidate = tracking.train(
        warehouse,
        models,
        spec,
        "hist_gradient_boosting",
        parent_run_id=prepared["parent_run_id"],
        run_key="bench-scoring",
    )
    registered = tracking.register_challenger(
        models, MODEL, [candidate], spec, parent_run_id=prepared["parent_run_id"]
    )
    models.client().set_registered_model_alias(MODEL, "champion", str(registered["version"]))
    return registered["version"]


def model_store(root: Path | None = None):
    """The bench's MLflow store under ``root`` (in a measured child: the parent's, from
    ``SLUICE_BENCH_ROOT``)."""
    from sluice.modelstore import ModelStore

    root = root or Path(os.environ["SLUICE_BENCH_ROOT"])
    return ModelStore(f"sqlite:///{root / 'mlflow.db'}", "bench", root / "artifacts")


def describe_model(version: int) -> str:
    from sluice import registry

    model = registry.load(model_store(), MODEL, version)
    est = model[-1]
    if hasattr(est, "_predictors"):
        trees = sum(len(p) for p in est._predictors)
        leaves = sum(int(t.nodes["is_leaf"].sum()) for p in est._predictors for t in p) / trees
        depth = max(int(t.nodes["depth"].max()) for p in est._predictors for t in p)
        return f"{type(est).__name__}: {trees} trees, {leaves:.1f} leaves on average, depth ≤ {depth}"
    return type(est).__name__


def make_day(warehouse, day: dt.date, rows: int) -> None:
    """``rows`` feature rows for ``day``, copied from the history's rows with new sample ids."""
    from sqlalchemy import delete, func, select, text

    from sluice.domains.water import DOMAIN
    from sluice.tables import feature_batches

    features = warehouse.features
    if warehouse.count(features, day) == rows:
        return
    in_history = features.c.sample_date.between(HISTORY_FIRST, HISTORY_LAST)
    template = int(warehouse.scalar(select(func.count()).select_from(features).where(in_history)))
    copies = -(-rows // template)
    measured = ", ".join(f'"{c}"' for c in DOMAIN.feature_names)
    started = time.perf_counter()
    with warehouse.transaction() as tx:
        tx.delete_partition(features, day)
        tx.conn.execute(delete(feature_batches).where(feature_batches.c.sample_date == day))
        tx.conn.execute(
            text(
                f"INSERT INTO features (sample_date, sample_id, entity, sampled_at, feature_version, "
                f"{measured}, built_at) "
                "WITH RECURSIVE copy(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM copy WHERE i < :copies) "
                "SELECT :day, f.sample_id || '/' || :tag || '/' || copy.i, f.entity, f.sampled_at, "
                "f.feature_version, "
                f"{', '.join('f.' + c for c in measured.split(', '))}, f.built_at "
                "FROM features f CROSS JOIN copy WHERE f.sample_date BETWEEN :first AND :last LIMIT :rows"
            ),
            {
                "copies": copies,
                "day": day,
                "tag": day.strftime("%m%d"),
                "first": HISTORY_FIRST,
                "last": HISTORY_LAST,
                "rows": rows,
            },
        )
        tx.conn.execute(
            feature_batches.insert().values(
                sample_date=day,
                feature_version="v1",
                history_days=7,
                row_count=rows,
                status="published",
                built_at=SCORED_AT,
            )
        )
    seconds = time.perf_counter() - started
    print(f"  {warehouse.dialect}: {rows:,} feature rows for {day} made in {seconds:.0f} s")


def copy_history(source, target) -> None:
    """The history's features and batches from one warehouse into another (the SQLite one)."""
    from sluice.tables import feature_batches

    day = HISTORY_FIRST
    while day <= HISTORY_LAST:
        for table in ("features", feature_batches):
            target.replace_partition(table, day, source.read_partition(table, day))
        day += dt.timedelta(days=1)


# --- the measured paths (each in its own process) --------------------------------------------


def run_streamed(url: str, day: dt.date, version: int, chunk_size: int) -> dict:
    from sluice import scoring
    from sluice.warehouse import Warehouse

    pinned = scoring.pin(model_store(), MODEL)
    if pinned is None or pinned.version != version:
        raise RuntimeError(f"the champion is not version {version} any more: {pinned}")
    model = scoring.load(model_store(), pinned)
    warehouse = Warehouse(url)
    before = rss_mb()
    with CpuMeter() as cpu:
        result = scoring.score_day(
            warehouse, day, pinned, model, scored_at=SCORED_AT, scored_by="bench", chunk_size=chunk_size
        )
    return {"rows": result.rows, "chunks": result.chunks, "rss_before_mb": before} | _cpu(cpu)


def run_naive(url: str, day: dt.date, version: int, chunk_size: int) -> dict:
    import pandas as pd
    from sqlalchemy import select

    from sluice import registry
    from sluice.warehouse import Warehouse

    model = registry.load(model_store(), MODEL, version)
    inputs = list(model.feature_names_in_)
    store = Warehouse(url)
    engine, features = store.engine, store.features
    before = rss_mb()
    with CpuMeter() as cpu:
        frame = pd.read_sql(select(features).where(features.c.sample_date == day), engine)
        score = model.predict_proba(frame[inputs])[:, 1]
        out = pd.DataFrame(
            {
                "sample_date": day,
                "sample_id": frame["sample_id"],
                "model_name": MODEL,
                "model_version": version,
                "score": score,
                "predicted": (score >= 0.5).astype("int16"),
                "scored_at": SCORED_AT,
            }
        )
        out.to_sql("predictions", engine, if_exists="append", index=False)
    return {"rows": len(out), "chunks": 1, "rss_before_mb": before} | _cpu(cpu)


def run_stages(url: str, day: dt.date, version: int, chunk_size: int) -> dict:
    """Each stage of the streamed path alone, one after the other, on the same day."""
    from threadpoolctl import threadpool_limits

    from sluice import scoring
    from sluice.warehouse import Warehouse

    pinned = scoring.pin(model_store(), MODEL, version)
    model = scoring.load(model_store(), pinned)
    warehouse = Warehouse(url)
    predictor = scoring._Predictor(model, pinned, day, SCORED_AT)
    out = {}
    with CpuMeter() as cpu:
        chunks = list(scoring.read_chunks(warehouse, day, ["sample_id", *pinned.input_names], chunk_size))
    out["read"] = _cpu(cpu)
    for threads in (1, None):
        with threadpool_limits(limits=threads), CpuMeter() as cpu:
            batches = [predictor(chunk) for chunk in chunks]
        out[f"predict ({threads or os.cpu_count()} thread{'s' if threads != 1 else ''})"] = _cpu(cpu)
    del chunks
    batch = {
        "sample_date": day,
        "model_name": MODEL,
        "model_version": version,
        "feature_version": "v1",
        "threshold": pinned.threshold,
        "scored_by": "bench",
        "scored_at": SCORED_AT,
    }
    with CpuMeter() as cpu:
        scoring.write_predictions(warehouse, batch, batches)
    out["write"] = _cpu(cpu)
    return out


def _cpu(cpu: CpuMeter) -> dict:
    return {"seconds": cpu.wall, "machine_busy": cpu.machine_busy, "own_cpu_s": cpu.own_cpu_s}


PATHS = {"streamed": run_streamed, "naive": run_naive, "stages": run_stages}


def child(args: argparse.Namespace) -> None:
    # A path that would need more than the cap fails with MemoryError instead of waking the
    # kernel's out-of-memory killer, which might pick the database server.
    cap = int(args.memory_cap_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os.environ["SLUICE_BENCH_ROOT"] = args.root
    result = PATHS[args.child](args.url, dt.date.fromisoformat(args.day), args.version, args.chunk_size)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(path: str, url: str, day: dt.date, version: int, args: argparse.Namespace) -> dict | None:
    from sqlalchemy import text

    from sluice.warehouse import Warehouse

    warehouse = Warehouse(url)
    with warehouse.transaction() as tx:  # every path writes into empty tables
        for table in ("predictions", "prediction_batches"):
            tx.conn.execute(text(f"DELETE FROM {table}"))
    if warehouse.dialect == "postgresql":
        with warehouse.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE predictions"))
    warehouse.dispose()
    command = [sys.executable, __file__, "--child", path, "--url", url, "--day", day.isoformat()]
    command += ["--version", str(version), "--chunk-size", str(args.chunk_size), "--root", args.root]
    command += ["--memory-cap-gb", str(args.memory_cap_gb)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode < 0:  # a signal: SIGKILL is the kernel's out-of-memory killer (see dmesg)
        name = signal.Signals(-out.returncode).name
        return {"failed": f"killed by {name}" + (" (out of memory)" if name == "SIGKILL" else "")}
    if out.returncode and "MemoryError" in out.stderr:
        return {"failed": f"MemoryError: needs more than the {args.memory_cap_gb:g} GB cap"}
    if out.returncode:
        print(f"{path} on {url.split(':', maxsplit=1)[0]} failed:\n{out.stderr[-3000:]}")
        return {"failed": f"exit status {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def set_up(args: argparse.Namespace) -> tuple[list[tuple], int]:
    """The champion (trained once per state folder) and the N-row days: ``(plan, version)``."""
    from sluice import registry
    from sluice.connections import create_database_if_missing
    from sluice.warehouse import Warehouse

    root = Path(args.keep or tempfile.mkdtemp(prefix="sluice-bench-scoring-"))
    root.mkdir(parents=True, exist_ok=True)
    args.root = str(root)
    create_database_if_missing(args.pg)
    pg = Warehouse(args.pg)
    sqlite = Warehouse(f"sqlite:///{root / 'warehouse.db'}")
    os.environ["SLUICE_BENCH_ROOT"] = str(root)
    version = registry.alias_version(model_store(root), MODEL, "champion")
    if version is None:
        for warehouse in (pg, sqlite):
            warehouse.drop_tables()
            warehouse.create_tables()
        version = train_champion(pg, root, args.history_rows)
    for warehouse in (pg, sqlite):
        warehouse.create_tables()  # tables added since the state folder was made
    print(f"model: {MODEL} version {version} (champion), {describe_model(version)}")
    if args.sqlite_rows and not sqlite.count("features"):
        copy_history(pg, sqlite)
    plan = [(pg, args.pg, n) for n in args.pg_rows]
    plan += [(sqlite, sqlite.url.render_as_string(), n) for n in args.sqlite_rows]
    for i, (warehouse, _, n) in enumerate(plan):
        make_day(warehouse, BENCH_DAYS + dt.timedelta(days=i), n)
    return plan, version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg",
        default=BENCH_PG,
    )
    parser.add_argument("--pg-rows", type=_sizes, default=[1_000_000, 10_000_000])
    parser.add_argument("--sqlite-rows", type=_sizes, default=[100_000, 1_000_000])
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--naive-max-rows", type=int, default=None, help="skip the naive path above N rows")
    parser.add_argument("--history-rows", type=int, default=3000, help="simulated samples per history day")
    parser.add_argument("--no-stages", dest="stages", action="store_false")
    parser.add_argument(
        "--memory-cap-gb", type=float, default=16, help="address-space cap of each measured process (16)"
    )
    parser.add_argument("--keep", help="state folder to keep and reuse (default: a temporary one)")
    parser.add_argument("--child", choices=sorted(PATHS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--version", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    plan, version = set_up(args)
    results = []
    for i, (warehouse, url, n) in enumerate(plan):
        day = BENCH_DAYS + dt.timedelta(days=i)
        for path in ("streamed", "naive"):
            if path == "naive" and args.naive_max_rows and n > args.naive_max_rows:
                continue
            print(f"  {warehouse.dialect} {n:>11,} rows  {path} …", flush=True)
            r = measure(path, url, day, version, args)
            results.append({"backend": warehouse.dialect, "rows": n, "path": path} | r)
    print_table(results)
    if args.stages and args.pg_rows:
        r = measure("stages", args.pg, BENCH_DAYS, version, args)
        if "failed" not in r:
            print_stages(r, args.pg_rows[0])
    print(f"\nstate: {args.root}" + ("" if args.keep else " (temporary)"))


def print_table(results: list[dict]) -> None:
    measured = [r for r in results if "failed" not in r]
    naive = {(r["backend"], r["rows"]): r for r in measured if r["path"] == "naive"}
    smallest = {}
    for r in sorted(measured, key=lambda r: r["rows"]):
        smallest.setdefault((r["backend"], r["path"]), r)
    print(
        "\n| backend | rows | path | wall s | rows/s | peak RSS MB | machine busy | × naive speed "
        "| RSS ÷ naive | RSS ÷ smallest N |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "failed" in r:
            print(f"| {r['backend']} | {r['rows']:,} | {r['path']} | {r['failed']} | | | | | | |")
            continue
        base = naive.get((r["backend"], r["rows"]))
        speed = f"{base['seconds'] / r['seconds']:.1f}" if base and r["path"] != "naive" else ""
        rss = f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}" if base and r["path"] != "naive" else ""
        first = smallest[(r["backend"], r["path"])]
        growth = f"{r['peak_rss_mb'] / first['peak_rss_mb']:.2f}" if first is not r else "1.00"
        rate = r["rows"] / r["seconds"]
        print(
            f"| {r['backend']} | {r['rows']:,} | {r['path']} | {r['seconds']:.1f} | {rate:,.0f} "
            f"| {r['peak_rss_mb']:,.0f} | {r['machine_busy']:.0%} | {speed} | {rss} | {growth} |"
        )


def print_stages(stages: dict, rows: int) -> None:
    print(f"\nStages of the streamed path alone, PostgreSQL, {rows:,} rows (one after the other):\n")
    print("| stage | wall s | rows/s | this process's CPU s | machine busy |")
    print("|---|---:|---:|---:|---:|")
    for name, r in stages.items():
        if isinstance(r, dict):
            print(
                f"| {name} | {r['seconds']:.2f} | {rows / r['seconds']:,.0f} | {r['own_cpu_s']:.2f} "
                f"| {r['machine_busy']:.0%} |"
            )


if __name__ == "__main__":
    main()
