"""A day delivered as one CSV of several hundred MB: landed and validated in bounded memory, because
a file over the day's size limit (``SLUICE_MAX_DAY_MB``, default 256) is held back as a file, with
an error naming the limit, without being read. The peak RSS of the process that lands and
validates the day is measured against the file's size."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO

FILE_MB = 320

SCRIPT = textwrap.dedent(
    """
    import datetime as dt, json, sys
    from pathlib import Path
    from sluice import checking, ingest
    from sluice.settings import Settings
    from sluice.sources import make_source
    from sluice.warehouse import Warehouse

    home = Path(sys.argv[1])
    settings = Settings.from_env({"SLUICE_HOME": str(home), "SLUICE_SOURCE": "landing"})
    warehouse = Warehouse(settings.default_warehouse_url, domain=settings.domain)
    warehouse.create_tables()
    day, as_of = dt.date(2026, 1, 5), dt.datetime(2026, 1, 6, 1, tzinfo=dt.UTC)
    landed = ingest.land(warehouse, make_source(settings, "landing"), day, as_of)
    _, verdict = checking.validate(warehouse, day, gx_root=settings.gx_dir, tolerance=0.05, as_of=as_of)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec from the parent
    status = open("/proc/self/status").read().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    print(json.dumps({
        "peak_rss_mb": peak,
        "rows": landed.rows,
        "held": landed.held_files,
        "decision": verdict.decision,
        "reason": verdict.reason,
    }))
    """
)


@pytest.mark.slow
def test_a_day_of_several_hundred_mb_is_refused_by_name_in_bounded_memory(tmp_path):
    from sluice.domains.water.simulator import SimulatorConfig, generate_batch

    folder = tmp_path / "landing" / "2026-01-05"
    folder.mkdir(parents=True)
    rows = generate_batch(SimulatorConfig(seed=1, rows_per_day=50), __import__("datetime").date(2026, 1, 5))
    rows.to_csv(folder / "a-small.csv", index=False)
    header, *lines = rows.to_csv(index=False).splitlines()
    block = ("\n".join(lines) + "\n").encode()
    with open(folder / "b-huge.csv", "wb") as out:
        out.write((header + "\n").encode())
        while out.tell() < FILE_MB * 2**20:
            out.write(block)
    size_mb = (folder / "b-huge.csv").stat().st_size / 2**20
    small = tmp_path / "small"
    (small / "landing" / "2026-01-05").mkdir(parents=True)
    (small / "landing" / "2026-01-05" / "a-small.csv").hardlink_to(folder / "a-small.csv")
    baseline = _land_and_validate(small)["peak_rss_mb"]
    result = _land_and_validate(tmp_path)
    print(f"file {size_mb:.0f} MB: peak RSS {result['peak_rss_mb']:.0f} MB, without it {baseline:.0f} MB")
    assert result["held"] == ["b-huge.csv"]
    assert result["rows"] == len(rows), "the small file beside it is landed"
    assert result["decision"] == "partial"
    assert "b-huge.csv (over the day's size limit" in result["reason"]
    assert "SLUICE_MAX_DAY_MB" in result["reason"]
    assert result["peak_rss_mb"] - baseline < 64, "the big file was never held in memory"


def _land_and_validate(home) -> dict:
    """Land and validate the day under ``home`` in a process of its own; what it reports."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(home)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
