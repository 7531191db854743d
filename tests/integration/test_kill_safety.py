"""Kill safety: the process of a task is SIGKILLed in the middle of writing a day (publish, scoring),
on SQLite and on PostgreSQL. The day's previous partition must be intact (the write was one
transaction that never committed), and the retry must complete with the same tables an
uninterrupted run gives.

The child process runs the real library step on a day large enough to take a while to write; it
touches a marker file once the write transaction has begun (publish: the day's old rows deleted;
scoring: the first chunks predicted and streaming into the table), and the test kills it then.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import joblib
import pytest

from sluice import checking, ingest, scoring
from sluice.domains.water.simulator import SimulatorConfig
from sluice.domains.water.source import SimulatedSource
from sluice.families import FAMILIES
from sluice.warehouse import Warehouse
from tests.conftest import REPO
from tests.factories import FEATURES, publish_features, synthetic

pytestmark = pytest.mark.slow

DAY = dt.date(2026, 1, 5)
AS_OF = dt.datetime(2026, 1, 6, 1, tzinfo=dt.UTC)
BIG = 40_000

PUBLISH = textwrap.dedent(
    """
    import datetime as dt, sys
    from pathlib import Path
    from sqlalchemy import event
    from sluice import ingest
    from sluice.warehouse import Warehouse

    url, marker = sys.argv[1], Path(sys.argv[2])
    warehouse = Warehouse(url)

    @event.listens_for(warehouse.engine, "after_cursor_execute")
    def begun(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE FROM OBSERVATIONS"):
            marker.touch()  # the old rows are deleted, the new ones about to be written

    ingest.publish(warehouse, dt.date(2026, 1, 5), as_of=dt.datetime(2026, 1, 6, 1, tzinfo=dt.UTC))
    """
)

SCORE = textwrap.dedent(
    """
    import datetime as dt, sys
    from pathlib import Path
    import joblib
    from sluice import scoring
    from sluice.warehouse import Warehouse

    url, marker, model_file = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    model, pinned = joblib.load(model_file)
    calls = []

    class Marking:
        def predict_proba(self, frame):
            calls.append(1)
            if len(calls) == 4:  # a few chunks in: the write is streaming into the table
                marker.touch()
            return model.predict_proba(frame)

    scoring.score_day(
        Warehouse(url), dt.date(2026, 1, 5), pinned, Marking(), scored_at=dt.datetime(2026, 1, 6, 1,
        tzinfo=dt.UTC), scored_by="kill-test", chunk_size=2000, workers=1,
    )
    """
)


def kill_midway(script: str, *args: str, tmp_path: Path) -> None:
    """Run ``script`` in a child process and SIGKILL it once it touches the marker."""
    marker = tmp_path / "begun"
    marker.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args[:1], str(marker), *args[1:]],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        if child.poll() is not None:
            pytest.fail(f"the child ended before its write began: {child.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the child never began its write")
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "killed mid-write, not after it finished"


def land_and_validate(warehouse: Warehouse, source, gx: Path) -> None:
    ingest.land(warehouse, source, DAY, AS_OF)
    _, verdict = checking.validate(warehouse, DAY, gx_root=gx, tolerance=0.05, as_of=AS_OF)
    assert verdict.decision != "quarantine", verdict.reason


def test_a_publish_killed_midway_leaves_the_previous_day_and_the_retry_gives_the_uninterrupted_result(
    warehouse, warehouse_url, tmp_path
):
    small = SimulatedSource(SimulatorConfig(seed=1, rows_per_day=200))
    big = SimulatedSource(SimulatorConfig(seed=2, rows_per_day=BIG))
    gx = tmp_path / "gx"

    def state():
        return warehouse.digest("observations"), warehouse.digest("ingest_batches")

    # the uninterrupted result of publishing the big delivery over the small one
    land_and_validate(warehouse, small, gx)
    ingest.publish(warehouse, DAY, as_of=AS_OF)
    land_and_validate(warehouse, big, gx)
    ingest.publish(warehouse, DAY, as_of=AS_OF)
    uninterrupted = warehouse.digest("observations")
    # back to the small day published, the big one landed and validated; then a publish is killed
    land_and_validate(warehouse, small, gx)
    ingest.publish(warehouse, DAY, as_of=AS_OF)
    previous_observations = warehouse.digest("observations")
    land_and_validate(warehouse, big, gx)
    before = state()
    assert before[0] == previous_observations
    kill_midway(PUBLISH, warehouse_url, tmp_path=tmp_path)
    assert state() == before, "the killed publish left nothing behind"
    assert warehouse.count("observations", DAY) < BIG / 10, "the previous (small) day is still published"
    ingest.publish(warehouse, DAY, as_of=AS_OF)  # the retry
    assert warehouse.digest("observations") == uninterrupted


def test_scoring_killed_midway_leaves_the_previous_predictions_and_the_retry_gives_the_uninterrupted_result(
    warehouse, warehouse_url, tmp_path
):
    publish_features(warehouse, DAY, 60_000)
    train = synthetic(8)
    first = FAMILIES["logistic_regression"].build(0).fit(train[list(FEATURES)], train["label"])
    other = synthetic(8, seed=7)
    second = FAMILIES["logistic_regression"].build(0).fit(other[list(FEATURES)], 1 - other["label"])
    pinned = scoring.Pinned("m", 1, tuple((f, "double", True) for f in FEATURES), "v1")

    def score(model):
        return scoring.score_day(
            warehouse, DAY, pinned, model, scored_at=AS_OF, scored_by="kill-test", chunk_size=2000, workers=1
        )

    def state():
        return warehouse.digest("predictions"), warehouse.digest("prediction_batches")

    score(second)
    uninterrupted = state()
    score(first)
    previous = state()
    assert previous != uninterrupted, "the two models score differently"
    joblib.dump((second, pinned), tmp_path / "model.joblib")
    kill_midway(SCORE, warehouse_url, str(tmp_path / "model.joblib"), tmp_path=tmp_path)
    assert state() == previous, "the killed scoring left the previous predictions whole"
    score(second)  # the retry
    assert state() == uninterrupted
