"""What the benchmarks share: preparing simulated days with the library, and measuring a process."""

from __future__ import annotations

import datetime as dt
import resource
import time
from pathlib import Path


def prepare_data(
    warehouse, source, first: dt.date, last: dt.date, gx_root: Path, as_of: dt.datetime
) -> float:
    """Ingest, validate, publish and featurise ``first``..``last`` (the calls the DAG tasks make);
    the seconds it took."""
    from sluice import checking, features, ingest

    started = time.perf_counter()
    day = first
    while day <= last:
        ingest.land(warehouse, source, day, as_of)
        _, verdict = checking.validate(warehouse, day, gx_root=gx_root, tolerance=0.05, as_of=as_of)
        if verdict.decision != "quarantine":
            ingest.publish(warehouse, day, as_of=as_of)
            features.build_day(warehouse, day, history_days=7, gx_root=gx_root, as_of=as_of)
        ingest.ingest_labels(warehouse, source, day, gx_root=gx_root, tolerance=0.05, as_of=as_of)
        day += dt.timedelta(days=1)
    return time.perf_counter() - started


def missing_days(warehouse, first: dt.date, last: dt.date) -> list[dt.date]:
    """The days of ``first``..``last`` the warehouse has no features for."""
    from sqlalchemy import select

    have = {
        row["sample_date"] for row in warehouse.fetch(select(warehouse.features.c.sample_date).distinct())
    }
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [d for d in days if d not in have]


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux carries that over fork+exec from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CpuMeter:
    """How busy the whole machine (every process: the database too) and this process were."""

    def __enter__(self) -> CpuMeter:
        self._machine, self._own, self._wall = self._stat(), self._cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        total, idle = (a - b for a, b in zip(self._stat(), self._machine, strict=True))
        self.wall = time.perf_counter() - self._wall
        self.machine_busy = 1 - idle / total if total else float("nan")
        self.own_cpu_s = self._cpu() - self._own

    @staticmethod
    def _stat() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # idle + iowait

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


LIBRARIES = {
    "great_expectations": "GX",
    "pandas": "pandas",
    "numpy": "pandas",
    "scipy": "pandas",
    "sqlalchemy": "database",
    "psycopg": "database",
    "adbc_driver_manager": "database",
    "adbc_driver_postgresql": "database",
    "pyarrow": "pyarrow",
    "sluice": "Sluice",
    "expectations": "Sluice",
}
"""The package a profiled function's file belongs to → the column it counts in (else ``other``)."""


def _package(filename: str) -> str | None:
    """The top-level package of a profiled function's file (``None``: a built-in, a C call)."""
    if filename == "~":
        return None
    parts = Path(filename).parts
    for anchor in ("site-packages", "include"):
        if anchor in parts[:-1]:
            return parts[parts.index(anchor) + 1].removesuffix(".py")
    return parts[-2] if len(parts) > 1 and parts[-2] in LIBRARIES else "python"


def seconds_by_library(stats, libraries: dict[str, str] = LIBRARIES) -> dict[str, float]:
    """A cProfile's seconds by the library whose code spent them, summing to the profile's total.

    A Python function's own time counts for the package of its file. A built-in's (a regex, a
    numpy kernel, a wait on the database's socket, a COPY) counts for the package of the function
    that called it, split by what each caller spent in it: ``re.Pattern.search`` called by GX is
    GX's time, a socket read under psycopg is the database's. ``stats``: a ``pstats.Stats``."""
    raw = stats.stats
    memo: dict[tuple, dict[str, float]] = {}

    def shares(func: tuple, seen: frozenset = frozenset()) -> dict[str, float]:
        """How a built-in's time divides among packages (its callers'), as fractions."""
        if func in memo:
            return memo[func]
        package = _package(func[0])
        if package is not None:
            return {libraries.get(package, "other"): 1.0}
        callers = {c: edge[2] for c, edge in raw[func][4].items() if c not in seen}
        total = sum(callers.values())
        found: dict[str, float] = {}
        for caller, spent in callers.items():
            for label, part in shares(caller, seen | {func}).items():
                found[label] = found.get(label, 0.0) + part * (spent / total if total else 1 / len(callers))
        memo[func] = found or {"other": 1.0}
        return memo[func]

    totals: dict[str, float] = {}
    for func, (_, _, own, _, _) in raw.items():
        for label, part in shares(func).items():
            totals[label] = totals.get(label, 0.0) + own * part
    return totals


def seconds_under(stats, package: str, entered_from: tuple[str, ...] = ("sluice", "expectations")) -> float:
    """The seconds a profile spent in ``package`` and everything it called (pandas' work for GX
    included): the cumulative time of each call into it from ``entered_from``'s code. Exact when
    the package never calls back into that code (GX does not call Sluice)."""
    return sum(
        edge[3]
        for func, (_, _, _, _, callers) in stats.stats.items()
        if _package(func[0]) == package
        for caller, edge in callers.items()
        if _package(caller[0]) in entered_from
    )


def top_functions(stats, n: int = 8) -> list[tuple[str, float]]:
    """The ``n`` functions with the most own time in a profile (a built-in's included): (which, s)."""
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:n]
    return [
        (name if filename == "~" else f"{_package(filename)}/{Path(filename).name}:{line} {name}", own)
        for (filename, line, name), (_, _, own, _, _) in rows
    ]
