"""The ingest path at scale: one day of N rows delivered as a CSV file in the landing folder, then
land → validate (both suites) → publish → featurise, each step timed, on PostgreSQL; this tree's
code beside the baseline's (a git worktree of ``--baseline``), on the same data, in the same run.

    python bench/ingest.py [--pg URL] [--rows 1000000] [--history 7] [--baseline REF | --no-baseline]
                           [--slices N] [--slice-rows N] [--profile DIR]

Set-up (not timed): ``--history`` days of 2,000 rows are ingested and featurised before the day
(the entity history the features aggregate), in one database per path, and the day is written
once as a CSV file with faults mixed in (about 0.4 % of the rows held back): values that do not
parse or overflow, values out of range, identifiers repeated, a record cut short at the end. Each
step runs in a process of its own (what an Airflow task is), so each peak RSS is that step's own. The table
gives seconds and peak RSS per step and for the whole day, and checks that both paths held back
the same rows with the same rules and published the same rows. ``--slices N`` validates this
tree's day as the DAG does past ``SLUICE_SLICE_ROWS``: N slice processes (the mapped tasks, one
after the other here) and a judge; its row gives their summed seconds and largest peak. This
tree lands and publishes ``ingest.PIECE_ROWS`` rows at a time and builds features
``--slice-rows`` (``SLUICE_SLICE_ROWS``) at a time, as the DAGs do.
``--profile DIR`` runs this tree's steps under cProfile and prints where each step's seconds
went: GX's import, the seconds under GX's calls, and the rest by library (:func:`report_profiles`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

BENCH_PG = os.environ.get("SLUICE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/sluice_bench")
DAY = dt.date(2026, 3, 1)
AS_OF = dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC)
STEPS = ("land", "validate", "publish", "features")


def step(name: str, url: str, home: str, profile: Path | None = None) -> dict:
    """One step of the day in this process: its seconds and this process's peak RSS. With
    ``profile`` (a folder), the step runs under cProfile into ``<profile>/<step>.prof``; a step
    that validates imports GX first, timed apart (``import_s``), so that the profile is the work."""
    import cProfile

    from benchlib import peak_rss_mb

    from sluice import features, ingest
    from sluice.settings import Settings
    from sluice.sources.landing import LandingSource
    from sluice.warehouse import Warehouse

    try:  # the checks have a module of their own; the baseline's ingest held them
        from sluice import checking
    except ImportError:
        checking = ingest
    warehouse = Warehouse(url)
    source = LandingSource(Path(home) / "landing", max_day_bytes=None)
    gx = Path(home) / "gx"
    started = time.perf_counter()
    imported, profiler = 0.0, cProfile.Profile()
    if profile is not None:
        if name.startswith(VALIDATING):
            import expectations.features
            import expectations.raw_observations  # noqa: F401

            imported = time.perf_counter() - started
        profiler.enable()
    if name.startswith("validate:"):  # one slice of the day, as a mapped validate task
        part, parts = (int(v) for v in name.split(":")[1:])
        found = checking.validate_slice(warehouse, DAY, gx_root=gx, as_of=AS_OF, part=part, parts=parts)
        (Path(home) / f"slice-{part}.json").write_text(json.dumps(found.to_dict()))
        result = f"slice {part + 1} of {parts}: {found.rows} rows"
    elif name == "judge":
        from sluice.slicing import SliceResult

        files = Path(home).glob("slice-*.json")
        found = [SliceResult.from_dict(json.loads(f.read_text())) for f in files]
        _, verdict = checking.judge(warehouse, DAY, found, tolerance=0.05, as_of=AS_OF)
        result = f"{verdict.decision}, {verdict.quarantined_rows} rows held"
    elif name == "land":
        result = ingest.land(warehouse, source, DAY, AS_OF).rows
    elif name == "validate":
        _, verdict = checking.validate(warehouse, DAY, gx_root=gx, tolerance=0.05, as_of=AS_OF)
        result = f"{verdict.decision}, {verdict.quarantined_rows} rows held"
    elif name == "publish":  # this tree: a piece at a time (ingest.PIECE_ROWS), as the DAG does
        result = ingest.publish(warehouse, DAY, as_of=AS_OF)["rows_published"]
    else:  # a piece at a time past SLUICE_SLICE_ROWS, as the DAG does (not in the baseline)
        pieces = "piece_rows" in inspect.signature(features.build_day).parameters
        kwargs = {"piece_rows": Settings.from_env().slice_rows} if pieces else {}
        result = features.build_day(warehouse, DAY, history_days=7, gx_root=gx, as_of=AS_OF, **kwargs).rows
    seconds = time.perf_counter() - started
    if profile is not None:
        profiler.disable()
        profiler.dump_stats(profile / f"{name}.prof")
    return {
        "step": name,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "result": result,
        "import_s": imported,
    }


VALIDATING = ("validate", "features")
"""The steps that run GX (with ``--profile``, their GX import is timed apart from the profile; the
judge does not import it)."""


BASELINE = "d82e4b6"  # main before issue 19: the DataFrame path with per-row COPY


def faulty_day(rows: int) -> pd.DataFrame:
    """The day's delivery: the simulator's rows with faults every few hundred rows (as text)."""
    from sluice.domains.water import DEFAULT_SCENARIO
    from sluice.domains.water.simulator import Scenario, SimulatorConfig, generate_batch

    faults = Scenario.load(DEFAULT_SCENARIO.parent / "faults.yaml")
    frame = generate_batch(SimulatorConfig(seed=2, rows_per_day=rows, scenario=faults), DAY).astype(object)
    n = len(frame)
    frame.loc[frame.index[::997], "ph"] = "7,2"  # does not parse
    frame.loc[frame.index[5::1009], "hardness"] = "1e999"  # parses to infinity
    frame.loc[frame.index[7::1013], "ph"] = "99"  # out of range
    repeat = frame.index[11::2003]
    frame.loc[repeat, "sample_id"] = frame.loc[repeat - 1, "sample_id"].to_numpy()  # identifier repeated
    assert n > 3000, "the faults need a day of a few thousand rows"
    return frame


def prepare(url: str, home: Path, history: int, csv: Path) -> None:
    """A database of ``history`` days ingested and featurised, and the day's CSV in the landing folder."""
    from benchlib import prepare_data

    from sluice.connections import create_database_if_missing
    from sluice.domains.water.simulator import SimulatorConfig
    from sluice.domains.water.source import SimulatedSource
    from sluice.warehouse import Warehouse

    create_database_if_missing(url)
    warehouse = Warehouse(url)
    warehouse.drop_tables()
    warehouse.create_tables()
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
    warehouse.dispose()
    folder = home / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    os.link(csv, folder / "day.csv")


def outcome(url: str) -> dict:
    """What the day ended as: the rows held back (number → rules), the published rows' digest."""
    from sqlalchemy import select

    from sluice.tables import ingest_batches, quarantine_rows
    from sluice.warehouse import Warehouse

    warehouse = Warehouse(url)
    held = warehouse.read_partition(
        quarantine_rows, DAY, columns=["table_name", "row_number", "failed_rules"]
    )
    batch = warehouse.fetch(select(ingest_batches.c.status).where(ingest_batches.c.sample_date == DAY))
    found = {
        "status": batch[0]["status"] if batch else None,
        "held": sorted(
            zip(held["table_name"], held["row_number"].astype(int), held["failed_rules"], strict=True)
        ),
        "observations": warehouse.digest("observations", DAY, exclude=["published_at", "batch_id"]),
        "features": warehouse.digest("features", DAY, exclude=["built_at"]),
    }
    warehouse.dispose()
    return found


def run_path(
    url: str, home: Path, code: Path | None, slices: int = 1, profile: Path | None = None
) -> list[dict]:
    """Each step in a process of its own, with ``code`` (a worktree) in front of the library; with
    ``slices`` above 1, validate as that many slice processes and a judge, reported as one step;
    with ``profile`` (a folder), each under cProfile (:func:`report_profiles`)."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code / "include"), str(code), env.get("PYTHONPATH", "")])
    names = list(STEPS)
    if slices > 1:
        names[1:2] = [*(f"validate:{k}:{slices}" for k in range(slices)), "judge"]
    found = []
    for name in names:
        done = subprocess.run(
            [sys.executable, __file__, "--pg", url, "--step", name, "--home", str(home)]
            + (["--profile", str(profile)] if profile else []),
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"step {name} failed:\n{done.stderr[-4000:]}")
        found.append(json.loads(lines[-1].removeprefix("RESULT ")))
    if profile:
        report_profiles(profile, found)
    if slices > 1:  # the slices and the judge, as the one validate step of the table
        parts = found[1 : slices + 2]
        for part in parts:
            print(f"  {part['step']}: {part['seconds']:.1f} s, peak {part['peak_rss_mb']:.0f} MB")
        validate = {
            "step": "validate",
            "seconds": sum(p["seconds"] for p in parts),
            "peak_rss_mb": max(p["peak_rss_mb"] for p in parts),
            "result": parts[-1]["result"],
        }
        found = [found[0], validate, *found[slices + 2 :]]
    return found


def report_profiles(folder: Path, steps: list[dict]) -> None:
    """Where each step's seconds went, from its profile: GX's import (timed apart), the seconds
    under GX's calls (what GX ran, pandas' work for it included: :func:`benchlib.seconds_under`),
    then the profiled seconds by the library that spent them (:func:`benchlib.seconds_by_library`). The
    profile's own overhead inflates Python-heavy code, so compare shares, not seconds, with the
    unprofiled table. Each step's heaviest functions go to ``<folder>/top.txt``."""
    import pstats

    from benchlib import seconds_by_library, seconds_under, top_functions

    columns = ("GX", "pandas", "pyarrow", "database", "Sluice", "other")
    print(f"\nwhere the seconds go, under cProfile (by the library whose code spent them; {folder})")
    print(f"{'step':<16}{'wall':>7}{'import GX':>10}{'under GX':>9}" + "".join(f"{c:>9}" for c in columns))
    tops = []
    for found in steps:
        stats = pstats.Stats(str(folder / f"{found['step']}.prof"))
        spent, under = seconds_by_library(stats), seconds_under(stats, "great_expectations")
        cells = "".join(f"{spent.get(c, 0.0):>9.1f}" for c in columns)
        print(f"{found['step']:<16}{found['seconds']:>7.1f}{found['import_s']:>10.1f}{under:>9.1f}{cells}")
        tops += [f"{found['step']}:"] + [
            f"  {own:7.2f} s  {where}" for where, own in top_functions(stats, 12)
        ]
    (folder / "top.txt").write_text("\n".join(tops) + "\n")


def worktree(ref: str) -> Path:
    """A detached checkout of ``ref`` beside this one (the run removes it at the end)."""
    where = Path(tempfile.mkdtemp(prefix="sluice-bench-baseline-")) / "tree"
    repo = Path(__file__).resolve().parents[1]
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(where), ref], check=True)
    return where


def history_effect(url: str, copies: int, repeats: int = 3) -> None:
    """Seconds of one day's validation with the Data Docs and results of 1 earlier day, then of
    ``copies`` earlier days (copies of that day's, under other run names): the same within noise
    when nothing Sluice does per ingest walks the history."""
    import shutil
    import statistics

    from benchlib import prepare_data

    from sluice import checking, ingest
    from sluice.connections import create_database_if_missing
    from sluice.domains.water.simulator import SimulatorConfig
    from sluice.domains.water.source import SimulatedSource
    from sluice.warehouse import Warehouse

    home = Path(tempfile.mkdtemp(prefix="sluice-bench-history-"))
    gx = home / "gx"
    create_database_if_missing(url)
    warehouse = Warehouse(url)
    warehouse.drop_tables()
    warehouse.create_tables()
    source = SimulatedSource(SimulatorConfig(seed=1, rows_per_day=2000))
    prepare_data(warehouse, source, DAY - dt.timedelta(days=1), DAY - dt.timedelta(days=1), gx, AS_OF)
    ingest.land(warehouse, source, DAY, AS_OF)

    def timed() -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            checking.validate(warehouse, DAY, gx_root=gx, tolerance=0.05, as_of=AS_OF)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    one = timed()
    stores = gx / "gx" / "uncommitted"
    runs = [
        r
        for top in (stores / "validations", stores / "data_docs" / "local_site" / "validations")
        for r in top.glob("*/*/*")
        if r.is_dir()
    ]
    for run in runs:
        for i in range(copies):
            shutil.copytree(run, run.with_name(f"{run.name}-copy{i:03d}"))
    many = timed()
    print(
        f"validate of one 2,000-row day, median of {repeats}: {one:.2f} s with 1 day of results, "
        f"{many:.2f} s with {copies + 1} days ({len(runs)} result and page folders copied {copies} times)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=BENCH_PG)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE, help="git ref of today's path (default %(default)s)")
    parser.add_argument("--no-baseline", action="store_true", help="this tree's path only (a 10M-row day)")
    parser.add_argument(
        "--history-effect", type=int, metavar="DAYS", help="validate with 1 day of GX history, then DAYS"
    )
    parser.add_argument("--slices", type=int, default=1, help="validate this tree's day in N slices")
    parser.add_argument(
        "--slice-rows", type=int, help="SLUICE_SLICE_ROWS for this tree's features pieces (default 250,000)"
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="run this tree's steps under cProfile into DIR"
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.step:
        print("RESULT " + json.dumps(step(args.step, args.pg, args.home, args.profile)))
        return
    if args.history_effect:
        history_effect(args.pg, args.history_effect)
        return
    if args.slice_rows:  # the step processes inherit it
        os.environ["SLUICE_SLICE_ROWS"] = str(args.slice_rows)
    base = Path(tempfile.mkdtemp(prefix="sluice-bench-ingest-"))
    csv = base / "day.csv"
    faulty_day(args.rows).to_csv(csv, index=False)
    with csv.open("a") as out:
        out.write("cut-short,ST01,2026-03-01T10:00:00Z,7.1\n")  # the writer died mid-record
    size = csv.stat().st_size / 2**20
    paths = {"new": (args.pg, None)}
    if not args.no_baseline:
        paths = {"today": (args.pg + "_baseline", worktree(args.baseline)), **paths}
    results, outcomes = {}, {}
    for label, (url, code) in paths.items():
        home = base / label
        prepare(url, home, args.history, csv)
        profile = args.profile.resolve() if args.profile and label == "new" else None
        if profile:
            profile.mkdir(parents=True, exist_ok=True)
        results[label] = run_path(url, home, code, args.slices if label == "new" else 1, profile)
        outcomes[label] = outcome(url)
    if not args.no_baseline:
        repo = Path(__file__).resolve().parents[1]
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(paths["today"][1])], check=False, cwd=repo
        )
    sliced = f", this tree's validation in {args.slices} slices" if args.slices > 1 else ""
    print(f"ingest of one day of {args.rows:,} rows ({size:.0f} MB of CSV) on PostgreSQL{sliced}")
    header = "".join(f" {label + ' s':>9} {label + ' MB':>9}" for label in paths)
    print(f"{'step':<10}{header}" + ("   speed-up" if len(paths) > 1 else ""))
    totals = {
        label: (sum(r["seconds"] for r in rows), max(r["peak_rss_mb"] for r in rows))
        for label, rows in results.items()
    }
    for i, name in enumerate([*STEPS, "day"]):
        cells = {
            label: totals[label] if name == "day" else (rows[i]["seconds"], rows[i]["peak_rss_mb"])
            for label, rows in results.items()
        }
        line = "".join(f" {sec:>9.1f} {mb:>9.0f}" for sec, mb in cells.values())
        if len(paths) > 1:
            line += f" {cells['today'][0] / cells['new'][0]:>9.1f}×"
        print(f"{name:<10}{line}")
    new = outcomes["new"]
    steps = [r["result"] for r in results["new"]]
    print(f"day: {new['status']}, {len(new['held'])} rows held back; step results: {steps}")
    if len(paths) > 1:
        same = {k: outcomes["today"][k] == new[k] for k in new}
        print(f"same outcome on both paths: {same}")
        if not all(same.values()):
            raise SystemExit("the paths disagree")


if __name__ == "__main__":
    main()
