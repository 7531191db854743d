"""Scoring a day many times larger than the chunk size keeps memory flat.

Measured in a fresh process per case, on PostgreSQL (the path large days take): the process first
scores a small day (libraries, driver and thread pools are loaded), resets its peak-RSS counter,
then scores a day of DAY_ROWS rows. What the second scoring adds to the peak is compared with a
bound; the same day in a single chunk must go over that bound, so the bound can tell the two apart.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.conftest import REPO
from tests.factories import FEATURES, day, publish_features

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

DAY_ROWS = 400_000
CHUNK = 20_000  # the day is 20 chunks
BOUND_MB = 120
"""What streaming a 400k-row day in 20k-row chunks may add to the process's peak RSS."""

WARM, BIG = day(0), day(1)


def _child(url: str, chunk_size: int) -> dict:
    """Runs in the fresh process: warm up, reset the peak, score the big day; the figures."""
    from pathlib import Path

    from sluice import scoring
    from sluice.families import FAMILIES
    from sluice.warehouse import Warehouse
    from tests.factories import synthetic

    def status(field: str) -> float:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field))
        return int(line.split()[1]) / 1024

    frame = synthetic(10)
    model = FAMILIES["hist_gradient_boosting"].build(0).fit(frame[list(FEATURES)], frame["label"])
    pinned = scoring.Pinned("m", 1, tuple((f, "double", True) for f in FEATURES), "v1")
    warehouse = Warehouse(url)
    at = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    scoring.score_day(warehouse, WARM, pinned, model, scored_at=at, scored_by="warm-up", chunk_size=CHUNK)
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
    before = status("VmRSS:")
    result = scoring.score_day(
        warehouse, BIG, pinned, model, scored_at=at, scored_by="memory", chunk_size=chunk_size
    )
    return {"rows": result.rows, "chunks": result.chunks, "added_mb": status("VmHWM:") - before}


def measure(url: str, chunk_size: int) -> dict:
    code = (
        "import json, sys; from tests.integration.test_scoring_memory import _child; "
        f"print(json.dumps(_child({url!r}, {chunk_size})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def big_day(pg_url):
    from sluice.tables import metadata
    from sluice.warehouse import Warehouse

    warehouse = Warehouse(pg_url)
    metadata.drop_all(warehouse.engine)
    warehouse.create_tables()
    publish_features(warehouse, WARM, 2_000)
    publish_features(warehouse, BIG, 2_000)
    copies = DAY_ROWS // 2_000
    measured = ", ".join(f'"{c}"' for c in FEATURES)
    with warehouse.transaction() as tx:  # the big day: the 2,000 rows copied with new ids, in SQL
        tx.conn.execute(
            text(
                "INSERT INTO features (sample_date, sample_id, entity, sampled_at, feature_version, "
                f"{measured}, built_at) SELECT sample_date, sample_id || '/' || g, entity, sampled_at, "
                f"feature_version, {measured}, built_at FROM features, generate_series(2, :copies) g "
                "WHERE sample_date = :day"
            ),
            {"copies": copies, "day": BIG},
        )
        tx.conn.execute(
            text("UPDATE feature_batches SET row_count = :n WHERE sample_date = :day"),
            {"n": DAY_ROWS, "day": BIG},
        )
    assert warehouse.count("features", BIG) == DAY_ROWS
    yield pg_url
    warehouse.dispose()


def test_streaming_a_large_day_keeps_the_peak_rss_under_the_bound(big_day):
    streamed = measure(big_day, CHUNK)
    assert (streamed["rows"], streamed["chunks"]) == (DAY_ROWS, DAY_ROWS // CHUNK)
    assert streamed["added_mb"] < BOUND_MB, streamed

    whole = measure(big_day, DAY_ROWS)  # the same day in one chunk: the bound tells them apart
    assert whole["chunks"] == 1
    assert whole["added_mb"] > BOUND_MB, whole
