"""A day validated in slices is judged exactly as one pass over the whole day judges it.

The comparison runs the one-pass path (one slice) and the sliced path on the same landed day, on
both backends, for days with mixed faults: rows that are malformed, unparsable, out of range,
repeated, replayed from another day, on the wrong day or in the future; a file that cannot be used;
shares of missing values that fail (or pass) only when the slices are added up; a day over the
tolerance; a day whose columns are wrong. Same published rows, same quarantined rows with the same
rules, same quarantine record, same decision; the sliced path publishes a slice at a time too.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from sluice import checking, ingest, slicing
from sluice.tables import ingest_batches, quarantine, quarantine_rows
from tests.unit.test_hostile_inputs import AS_OF, DAY, Landing, csv_text, good_rows

OTHER_DAY = DAY - dt.timedelta(days=1)


def faulty_rows(n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of the water domain with a fault in about one row in twelve, of every kind."""
    rows = good_rows(n, seed=seed).astype(object)
    rng = np.random.default_rng(seed)
    at = rng.choice(np.arange(2, n), size=max(14, n // 12), replace=False)
    rows.loc[at[0], "ph"] = "7,2"  # does not match the pattern of a number
    rows.loc[at[1], "hardness"] = "1e999"  # matches, and parses to infinity
    rows.loc[at[2], "ph"] = "99"  # out of the declared range
    rows.loc[at[3], "sample_id"] = rows.loc[at[4], "sample_id"]  # one identifier twice
    rows.loc[at[5], "sample_id"] = None
    rows.loc[at[6], "station_id"] = "ST99"  # not a known station
    rows.loc[at[7], "sampled_at"] = "2026-01-07T10:00:00"  # another day, and after the check
    rows.loc[at[8], "sampled_at"] = "2026-01-05 25:00"  # no such time
    rows.loc[at[9], "turbidity"] = "  4.5\u00a0"  # surrounding spaces: published
    rows.loc[at[10], "sample_id"] = "x" * 300  # longer than an identifier may be
    rows.loc[at[11], "station_id"] = "ST0\x001"  # a NUL: malformed
    rows.loc[at[12:], "ph"] = rng.choice(["", "6.5", "abc", "-1"], size=len(at) - 12)
    return rows


def with_missing(rows: pd.DataFrame, column: str, share: float, seed: int) -> pd.DataFrame:
    rows = rows.copy()
    at = np.random.default_rng(seed).choice(len(rows), size=round(share * len(rows)), replace=False)
    rows.loc[rows.index[at], column] = ""
    return rows


def outcome(warehouse, verdict) -> dict:
    """Everything a day's validation and publish leave behind, in comparable form."""

    def table(t, sort):
        frame = warehouse.read_partition(t, DAY).drop(columns=["validation_url"], errors="ignore")
        frame = frame.sort_values(sort, ignore_index=True)
        return frame.astype(object).where(frame.notna(), None).to_dict("records")  # NaN != NaN

    [batch] = warehouse.fetch(select(ingest_batches).where(ingest_batches.c.sample_date == DAY))
    batch.pop("validation_url")
    return {
        "decision": verdict.decision,
        "reason": verdict.reason,
        "bad_rows": dict(verdict.bad_rows),
        "failures": [f.record() for f in verdict.failures],
        "batch": batch,
        "quarantine": table(quarantine, ["table_name"]),
        "held": table(quarantine_rows, ["table_name", "row_number"]),
        "published": table(warehouse.observations, ["sample_id"]),
    }


def run(warehouse, landing: Landing, slices: int, tolerance: float):
    """Validate the day in ``slices`` slices, and publish it in as many pieces."""
    _, verdict = checking.validate(
        warehouse, DAY, gx_root=landing.gx, tolerance=tolerance, as_of=AS_OF, slices=slices
    )
    if verdict.decision != "quarantine":
        [batch] = warehouse.fetch(
            select(ingest_batches.c.row_count).where(ingest_batches.c.sample_date == DAY)
        )
        piece_rows = -(-batch["row_count"] // slices)  # ceil: `slices` pieces of the landed rows
        read: list = []
        with pytest.MonkeyPatch.context() as patch:
            original = ingest.delivered_pieces
            pieces = lambda *a: (read.append(len(p[0])) or p for p in original(*a))  # noqa: E731
            patch.setattr(ingest, "delivered_pieces", pieces)
            ingest.publish(warehouse, DAY, as_of=AS_OF, piece_rows=piece_rows if slices > 1 else None)
        assert sum(read) == batch["row_count"], read
        assert len(read) == -(-batch["row_count"] // piece_rows), "one read per piece, none of the day"
        assert max(read) <= piece_rows, read
    return outcome(warehouse, verdict), verdict


def assert_same_in_slices(warehouse, landing: Landing, tolerance: float = 0.2, slices=(4,)) -> dict:
    """Validate and publish the landed day in one pass, then in ``slices`` slices: the same tables."""
    whole, verdict = run(warehouse, landing, 1, tolerance)
    for n in slices:
        sliced, _ = run(warehouse, landing, n, tolerance)
        for part in whole:
            assert sliced[part] == whole[part], f"{part} differs in {n} slices"
    return {"outcome": whole, "verdict": verdict}


@pytest.fixture
def landing(tmp_path) -> Landing:
    return Landing(tmp_path)


def published_before(warehouse, landing: Landing, ids: list[str]) -> None:
    """Another day published rows with these identifiers (the day replays them)."""
    other = good_rows(len(ids), seed=9, day=OTHER_DAY)
    other["sample_id"] = ids
    landing.deliver({"a.csv": csv_text(other)}, day=OTHER_DAY)
    landing.ingest(warehouse, day=OTHER_DAY)


def test_a_day_with_mixed_faults_is_judged_the_same_in_slices(warehouse, landing):
    a, b = faulty_rows(160, 1), faulty_rows(140, 11)
    b["sample_id"] = [f"b{i}" if isinstance(i, str) and len(i) < 256 else i for i in b["sample_id"]]
    b.loc[3, "sample_id"] = a.loc[5, "sample_id"]  # one identifier in two files
    published_before(warehouse, landing, [a.loc[7, "sample_id"], b.loc[9, "sample_id"]])
    short = csv_text(b).rstrip("\n") + "\nS-short,ST01,2026-01-05T10:00:00,7.0\n"  # a record cut short
    landing.deliver(
        {
            "a.csv": csv_text(a),
            "b.csv": short,
            "c.csv": csv_text(a.head(3).rename(columns={"ph": "pH"})),  # a file that cannot be used
        }
    )
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    result = assert_same_in_slices(warehouse, landing, slices=(2, 5))
    verdict = result["verdict"]
    assert verdict.decision == "partial"
    rules = {f.rule for f in verdict.failures}
    for rule in (
        "expect_file_to_be_usable(c.csv)",
        "expect_row_to_be_well_formed",
        "expect_column_values_to_be_unique(sample_id)",
        "expect_column_values_to_not_be_in_set(sample_id)",
        "expect_column_values_to_parse(hardness)",
        "expect_column_values_to_match_regex(ph)",
        "expect_column_values_to_be_between(ph)",
        "expect_column_values_to_be_in_set(station_id)",
        "expect_column_value_lengths_to_be_between(sample_id)",
    ):
        assert rule in rules, rule
    assert len(result["outcome"]["held"]) == verdict.quarantined_rows > 20


@pytest.mark.parametrize(
    ("share", "decision"),
    [(0.08, "quarantine"), (0.04, "publish")],
    ids=["fails-when-added-up", "passes-when-added-up"],
)
def test_a_share_of_missing_values_is_judged_on_the_whole_day(warehouse, landing, share, decision):
    """hardness may be missing in 5 % of the rows: 8 % fails and 4 % passes although a slice
    alone may be on the other side of 5 %."""
    rows = with_missing(good_rows(400, seed=3), "hardness", share, seed=4)
    landing.deliver({"a.csv": csv_text(rows)})
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    shares = []
    for k in range(7):
        _, part, _ = checking.delivered_frame(warehouse, DAY, part=(k, 7))
        shares.append(part["hardness"].isna().mean())
    assert min(shares) < 0.05 < max(shares), "the test needs slices on both sides of the limit"
    result = assert_same_in_slices(warehouse, landing, slices=(7,))
    assert result["verdict"].decision == decision


def test_a_day_over_the_tolerance_and_a_day_with_wrong_columns_are_held_whole_in_slices(warehouse, landing):
    landing.deliver({"a.csv": csv_text(faulty_rows(200, 5))})
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    assert assert_same_in_slices(warehouse, landing, tolerance=0.02)["verdict"].decision == "quarantine"

    (landing.root / "landing" / DAY.isoformat() / "a.csv").unlink()
    landing.deliver({"b.csv": csv_text(good_rows(50).drop(columns=["turbidity"]))})
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    whole = assert_same_in_slices(warehouse, landing)
    assert whole["verdict"].decision == "quarantine"
    assert "expect_table_columns_to_match_set" in whole["verdict"].reason


def test_every_row_is_in_exactly_one_slice_and_an_identifier_in_one_slice(warehouse, landing):
    rows = good_rows(300, seed=6).head(300).reset_index(drop=True)  # the simulator varies the count
    rows.loc[150:, "sample_id"] = rows.loc[:149, "sample_id"].to_numpy()  # every id twice
    landing.deliver({"a.csv": csv_text(rows)})
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    for n in (1, 2, 5):
        parts = [checking.delivered_frame(warehouse, DAY, part=(k, n))[1] for k in range(n)]
        numbers = [i for p in parts for i in p.index]
        assert sorted(numbers) == list(range(300))
        for a in range(n):
            for b in range(a + 1, n):
                assert not set(parts[a]["sample_id"]) & set(parts[b]["sample_id"])
    with pytest.raises(Exception, match="slice 5 of 5 does not exist"):
        checking.delivered_frame(warehouse, DAY, part=(5, 5))


def test_the_judge_refuses_missing_or_repeated_slices_and_a_day_landed_again(warehouse, landing):
    landing.deliver({"a.csv": csv_text(good_rows(60))})
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    parts = [
        checking.validate_slice(warehouse, DAY, gx_root=landing.gx, as_of=AS_OF, part=k, parts=3)
        for k in range(3)
    ]
    for wrong in (parts[:2], [parts[0], parts[0], parts[2]]):
        with pytest.raises(ingest.IngestError, match="each must be, once"):
            checking.judge(warehouse, DAY, wrong, tolerance=0.05, as_of=AS_OF)
    landing.deliver({"b.csv": csv_text(good_rows(5, seed=8, prefix="b"))})
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    with pytest.raises(ingest.IngestError, match="landed again"):
        checking.judge(warehouse, DAY, parts, tolerance=0.05, as_of=AS_OF)
    # what a mapped task hands to the judge survives JSON
    back = [slicing.SliceResult.from_dict(json.loads(json.dumps(p.to_dict()))) for p in parts]
    assert back == parts


JUDGE = """
import json, sys
from sluice import checking, slicing
from sluice.warehouse import Warehouse
from tests.unit.test_hostile_inputs import AS_OF, DAY

parts = [slicing.SliceResult.from_dict(p) for p in json.loads(sys.stdin.read())]
_, verdict = checking.judge(Warehouse(sys.argv[1]), DAY, parts, tolerance=0.05, as_of=AS_OF)
imported = sorted({m.split(".")[0] for m in sys.modules} & {"great_expectations", "sklearn", "mlflow"})
print(json.dumps([verdict.decision, sorted(verdict.bad_rows), imported]))
"""


def test_the_judge_task_decides_from_what_the_slices_found_without_importing_gx(warehouse, landing):
    """The judge is a task process of its own: it names the suites and adds up the findings, and
    importing GX for that was 3–4 s of its 4.5 s on a 1M-row day."""
    import subprocess
    import sys

    from tests.conftest import REPO

    landing.deliver({"a.csv": csv_text(faulty_rows(300, seed=5))})
    ingest.land(warehouse, landing.source, DAY, AS_OF)
    parts = [
        checking.validate_slice(warehouse, DAY, gx_root=landing.gx, as_of=AS_OF, part=k, parts=2)
        for k in range(2)
    ]
    done = subprocess.run(
        [sys.executable, "-c", JUDGE, warehouse.url.render_as_string(hide_password=False)],
        input=json.dumps([p.to_dict() for p in parts]),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    decision, held, imported = json.loads(done.stdout.splitlines()[-1])
    _, one_pass = checking.validate(warehouse, DAY, gx_root=landing.gx, tolerance=0.05, as_of=AS_OF)
    assert (decision, held) == (one_pass.decision, sorted(one_pass.bad_rows)) and held
    assert imported == []


def test_a_check_that_cannot_be_added_up_from_slices_is_refused_before_anything_runs():
    import great_expectations as gx
    import great_expectations.expectations as gxe

    mean = gx.ExpectationSuite(
        "s", expectations=[gxe.ExpectColumnMeanToBeBetween(column="x", min_value=0, max_value=1)]
    )
    with pytest.raises(slicing.SlicingError, match="expect_column_mean_to_be_between"):
        slicing.check_sliceable(mean, first=False)
    mostly = gx.ExpectationSuite(
        "s", expectations=[gxe.ExpectColumnValuesToBeBetween(column="x", max_value=1, mostly=0.9)]
    )
    slicing.check_sliceable(mostly, first=False)  # a later suite: its share is added up
    with pytest.raises(slicing.SlicingError, match="mostly=0.9"):
        slicing.check_sliceable(mostly, first=True)
    assert slicing.slices_for(0, 500_000) == 1 and slicing.slices_for(1_000_001, 500_000) == 3


def test_slices_added_up_match_one_pass_for_shares_bounds_and_counts(tmp_path):
    """The combination rules against GX itself: random frames, a suite of every kind of check
    Sluice combines (a ``mostly`` share with batch and row scope, a share of missing values, a row
    count, the columns, uniqueness), the whole frame against its slices added up."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from sluice.validation import GXRunner

    expectations = lambda: [  # noqa: E731
        gxe.ExpectTableColumnsToMatchSet(column_set=["id", "x", "y"], meta={"scope": "batch"}),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=1000, meta={"scope": "batch"}),
        gxe.ExpectColumnValuesToBeUnique(column="id", meta={"scope": "row"}),
        gxe.ExpectColumnValuesToNotBeNull(column="id", meta={"scope": "row"}),
        gxe.ExpectColumnValuesToBeBetween(column="x", max_value=0.8, mostly=0.75, meta={"scope": "batch"}),
        gxe.ExpectColumnValuesToBeBetween(column="y", min_value=0.1, mostly=0.9, meta={"scope": "row"}),
        gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
            column="x", min_value=0.85, max_value=1.0, meta={"scope": "batch"}
        ),
    ]

    def findings(frame: pd.DataFrame, name: str) -> list:
        # a suite and a runner per run, as a task has: a GX suite object, once stored, is bound to
        # the context that stored it, and another context cannot run it
        suite = gx.ExpectationSuite("combined", expectations=expectations())
        return GXRunner(tmp_path / "gx").findings(suite, frame, run_name=name, run_time=at)[0]

    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    decided = set()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(40, 200))
        frame = pd.DataFrame(
            {
                "id": rng.integers(0, n, size=n).astype(str).astype(object),
                "x": np.where(rng.random(n) < 0.13, np.nan, rng.random(n)),
                "y": rng.random(n),
            }
        )
        frame.loc[rng.random(n) < 0.03, "id"] = None
        whole = findings(frame, f"w{seed}")
        keys = slicing.slice_keys(frame["id"])
        parts = []
        for k in range(4):
            part = frame[keys % 4 == k]
            if len(part):
                parts += findings(part, f"p{seed}-{k}")
        failed = slicing.combine(parts, totals={})
        expected = [f for f in whole if not f.success]
        assert [f.key for f in failed] == [f.key for f in expected]
        for got, want in zip(failed, expected, strict=True):
            assert got.failure.record() == want.failure.record(), want.failure.expectation
            assert got.failure.row_numbers == want.failure.row_numbers
        decided |= {(f.key, f.success) for f in whole}
    assert len(decided) > len(expectations()), "the frames should both pass and fail the checks"
