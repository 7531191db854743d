"""What the benchmarks measure with: the profile's seconds by library (``bench/benchlib.py``), which
the ingest benchmark's ``--profile`` table and the README's "where the time goes" rest on."""

from __future__ import annotations

import cProfile
import importlib.util
import pstats
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def benchlib():
    spec = importlib.util.spec_from_file_location("sluice_benchlib", BENCH / "benchlib.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Profile:
    """A profile as ``pstats.Stats`` holds it: function → (calls, calls, own s, cumulative s, callers)."""

    def __init__(self, stats: dict) -> None:
        self.stats = stats


GX = ("/venv/lib/python3.11/site-packages/great_expectations/metrics/regex.py", 10, "_pandas")
PANDAS = ("/venv/lib/python3.11/site-packages/pandas/core/strings/object_array.py", 46, "_str_map")
SLUICE = ("/repo/include/sluice/checking.py", 238, "validate_slice")
STDLIB = ("/usr/lib/python3.11/json/decoder.py", 343, "decode")
SEARCH = ("~", 0, "<method 'search' of 're.Pattern' objects>")
COPY = ("~", 0, "<method 'copy' of 'numpy.ndarray' objects>")
LOOP = ("~", 0, "<built-in method builtins.exec>")


def test_a_builtin_is_charged_to_its_callers_in_proportion_and_the_columns_add_up(benchlib):
    profile = Profile(
        {
            GX: (1, 1, 1.0, 9.0, {SLUICE: (1, 1, 1.0, 9.0)}),
            PANDAS: (1, 1, 2.0, 5.0, {GX: (1, 1, 2.0, 5.0)}),
            SLUICE: (1, 1, 0.5, 10.0, {}),
            STDLIB: (1, 1, 0.25, 0.25, {SLUICE: (1, 1, 0.25, 0.25)}),
            # a regex: 2 s of it under GX, 1 s under pandas
            SEARCH: (3, 3, 3.0, 3.0, {GX: (2, 2, 2.0, 2.0), PANDAS: (1, 1, 1.0, 1.0)}),
            # a built-in called only by a built-in: charged through it to the Python code above
            COPY: (1, 1, 0.6, 0.6, {SEARCH: (1, 1, 0.6, 0.6)}),
            # built-ins calling each other in a cycle with no Python caller: counted, as other
            LOOP: (1, 1, 0.4, 0.4, {LOOP: (1, 1, 0.4, 0.4)}),
        }
    )
    spent = benchlib.seconds_by_library(profile)
    assert spent == pytest.approx(
        {"GX": 1.0 + 2.0 + 0.4, "pandas": 2.0 + 1.0 + 0.2, "Sluice": 0.5, "other": 0.25 + 0.4}
    )
    assert sum(spent.values()) == pytest.approx(sum(v[2] for v in profile.stats.values()))


def test_a_real_profile_is_divided_without_losing_a_second(benchlib, tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"v": [f"{i}.5" for i in range(20_000)]})
    pattern = re.compile(r"^[0-9]+\.[0-9]$")
    profiler = cProfile.Profile()
    profiler.enable()
    frame["v"].map(lambda v: bool(pattern.search(v)))
    pd.to_numeric(frame["v"])
    profiler.disable()
    profiler.dump_stats(tmp_path / "p.prof")
    stats = pstats.Stats(str(tmp_path / "p.prof"))
    spent = benchlib.seconds_by_library(stats)
    assert sum(spent.values()) == pytest.approx(stats.total_tt)
    assert spent["pandas"] > 0 and set(spent) <= {"pandas", "other"}
    top = benchlib.top_functions(stats, 3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]


def test_the_seconds_under_gx_are_its_calls_from_sluice_with_what_they_called(benchlib):
    inner = ("/venv/lib/python3.11/site-packages/great_expectations/engine.py", 5, "resolve")
    profile = Profile(
        {
            SLUICE: (1, 1, 0.5, 10.0, {}),
            # entered twice from Sluice: 6 s and 1.5 s with all they called
            GX: (2, 2, 1.0, 7.5, {SLUICE: (2, 2, 1.0, 7.5)}),
            # GX calling GX is inside the entries already
            inner: (1, 1, 0.5, 4.0, {GX: (1, 1, 0.5, 4.0)}),
            PANDAS: (1, 1, 2.0, 3.5, {inner: (1, 1, 2.0, 3.5)}),
            STDLIB: (1, 1, 0.25, 0.25, {SLUICE: (1, 1, 0.25, 0.25)}),
        }
    )
    assert benchlib.seconds_under(profile, "great_expectations") == pytest.approx(7.5)
    assert benchlib.seconds_under(profile, "pandas") == 0.0  # never called from Sluice itself
