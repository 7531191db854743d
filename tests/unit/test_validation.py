"""The GX suites pass on good batches and fail, with the right scope, on each kind of bad one."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from expectations import labels as label_suites
from expectations import raw_observations as raw_suites
from sluice.dates import day_bounds
from sluice.domains.water import DOMAIN
from sluice.domains.water.simulator import SimulatorConfig, generate_batch
from sluice.parsing import to_typed
from sluice.validation import GXRunner
from sluice.verdict import PARTIAL, PUBLISH, QUARANTINE, Failure, decide

SOURCE_COLUMNS = DOMAIN.delivered_names

DAY = dt.date(2026, 1, 10)
CONFIG = DOMAIN


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> GXRunner:
    return GXRunner(tmp_path_factory.mktemp("gx"))


def good_batch(rows: int = 300) -> pd.DataFrame:
    """A delivered batch as the validate step sees it: text values, indexed by row number."""
    frame = generate_batch(SimulatorConfig(seed=4, rows_per_day=rows), DAY)
    frame = frame.astype(object).where(frame.notna(), None)
    for column in frame.columns:
        frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    return frame.reset_index(drop=True)


def run(runner: GXRunner, frame: pd.DataFrame, published_elsewhere=()) -> list[Failure]:
    failures, url = runner.validate(
        raw_suites.delivered_suite(CONFIG),
        frame,
        run_name="test",
        run_time=dt.datetime(2026, 1, 11, tzinfo=dt.UTC),
        parameters={"published_elsewhere": list(published_elsewhere)},
    )
    assert url and url.endswith(".html")
    if any(f.scope == "batch" for f in failures):
        return failures
    start, end = day_bounds(DAY)
    more, _ = runner.validate(
        raw_suites.values_suite(CONFIG),
        to_typed(frame, DOMAIN),
        run_name="test",
        run_time=dt.datetime(2026, 1, 11, tzinfo=dt.UTC),
        parameters={"day_start": start, "day_end": end, "run_time": dt.datetime(2026, 1, 11, tzinfo=dt.UTC)},
    )
    return failures + more


def rules(failures: list[Failure]) -> set[tuple[str, str | None, str]]:
    return {(f.expectation, f.column, f.scope) for f in failures}


def test_a_good_batch_passes(runner):
    frame = good_batch()
    failures = run(runner, frame)
    assert failures == []
    assert decide(len(frame), failures, 0.05).decision == PUBLISH


def test_each_validation_writes_its_own_page_and_the_index_is_built_on_demand(tmp_path):
    runner = GXRunner(tmp_path / "gx")
    site = runner.data_docs_index().parent
    run(runner, good_batch(50))
    pages = list((site / "validations").rglob("*.html"))
    assert len(pages) == 2, "each suite's result has its own page"
    assert not runner.data_docs_index().exists(), "the index (every result) is not rebuilt per validation"
    before = {
        p: p.stat().st_mtime_ns
        for p in (tmp_path / "gx" / "gx").rglob("*.json")
        if "validations" not in p.parts
    }
    run(runner, good_batch(50))
    after = {
        p: p.stat().st_mtime_ns
        for p in (tmp_path / "gx" / "gx").rglob("*.json")
        if "validations" not in p.parts
    }
    assert before == after, "an unchanged suite is not stored again"
    assert runner.build_index() == runner.data_docs_index()
    index = runner.data_docs_index().read_text()
    assert all(str(page.relative_to(site)) in index for page in pages), "the index lists every result"


def test_a_validation_renders_its_page_without_walking_the_stored_results(tmp_path, monkeypatch):
    """GX's site builder lists every stored result before it renders the one asked for; after a
    year of days that walk cost more than the validation. Sluice's section renders the asked one."""
    from great_expectations.data_context.store.validation_results_store import ValidationResultsStore

    runner = GXRunner(tmp_path / "gx")
    run(runner, good_batch(50))  # the context and suites exist
    site = runner.data_docs_index().parent
    for page in (site / "validations").rglob("*.html"):
        page.unlink()

    def walk(self):
        raise AssertionError("the validation results store was listed")

    monkeypatch.setattr(ValidationResultsStore, "list_keys", walk)
    run(runner, good_batch(50))
    assert len(list((site / "validations").rglob("*.html"))) == 2, "each suite's page is rendered"
    monkeypatch.undo()
    assert runner.build_index() == runner.data_docs_index(), "the index still lists the results"
    index = runner.data_docs_index().read_text()
    pages = list((site / "validations").rglob("*.html"))
    assert all(str(page.relative_to(site)) in index for page in pages)


def test_a_batch_is_not_hashed_value_by_value(tmp_path):
    """GX's fingerprint of an in-memory batch hashes every value (seconds at 1M rows) for metadata
    nothing reads: Sluice turns it off."""
    runner = GXRunner(tmp_path / "gx")
    run(runner, good_batch(50))
    results = list((tmp_path / "gx" / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert results and all("pandas_data_fingerprint" not in r.read_text() for r in results)
    assert all('"batch_markers"' in r.read_text() for r in results), "the markers are still written"


def set_cell(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[row, column] = value
    return frame


ROW_LEVEL = [
    ("ph out of range", lambda f: set_cell(f, 3, "ph", "14.5"), ("expect_column_values_to_be_between", "ph")),
    (
        "negative measure",
        lambda f: set_cell(f, 3, "solids", "-1"),
        ("expect_column_values_to_be_between", "solids"),
    ),
    (
        "unparsable number",
        lambda f: set_cell(f, 3, "hardness", "12,5"),
        ("expect_column_values_to_match_regex", "hardness"),
    ),
    (
        "infinity",
        lambda f: set_cell(f, 3, "chloramines", "inf"),
        ("expect_column_values_to_match_regex", "chloramines"),
    ),
    (
        "unknown station",
        lambda f: set_cell(f, 3, "station_id", "ST99"),
        ("expect_column_values_to_be_in_set", "station_id"),
    ),
    (
        "missing station",
        lambda f: set_cell(f, 3, "station_id", None),
        ("expect_column_values_to_not_be_null", "station_id"),
    ),
    (
        "duplicate id",
        lambda f: set_cell(f, 3, "sample_id", f.loc[4, "sample_id"]),
        ("expect_column_values_to_be_unique", "sample_id"),
    ),
    (
        "missing id",
        lambda f: set_cell(f, 3, "sample_id", None),
        ("expect_column_values_to_not_be_null", "sample_id"),
    ),
    (
        "sampled another day",
        lambda f: set_cell(f, 3, "sampled_at", "2026-01-09T23:59:59"),
        ("expect_column_values_to_be_between", "sampled_at"),
    ),
    (
        "time beyond storage",
        lambda f: set_cell(f, 3, "sampled_at", "2999-01-01T00:00:00"),
        ("expect_column_values_to_not_be_null", "sampled_at"),
    ),
    (
        "time not a time",
        lambda f: set_cell(f, 3, "sampled_at", "yesterday"),
        ("expect_column_values_to_match_regex", "sampled_at"),
    ),
]


@pytest.mark.parametrize(("case", "corrupt", "rule"), ROW_LEVEL, ids=[c[0] for c in ROW_LEVEL])
def test_row_level_failures_name_the_rows(runner, case, corrupt, rule):
    frame = corrupt(good_batch())
    failures = run(runner, frame)
    failed = {(f.expectation, f.column): f for f in failures}
    assert rule in failed, f"{case}: expected {rule} among {sorted(failed)}"
    assert failed[rule].scope == "row"
    assert 3 in failed[rule].row_numbers
    verdict = decide(len(frame), failures, 0.05)
    assert verdict.decision == PARTIAL
    assert 3 in verdict.bad_rows
    assert verdict.published_rows >= len(frame) - 2


def test_ids_published_on_another_day_are_rejected(runner):
    frame = good_batch()
    failures = run(runner, frame, published_elsewhere=[frame.loc[7, "sample_id"]])
    [failure] = failures
    assert (failure.expectation, failure.column, failure.row_numbers) == (
        "expect_column_values_to_not_be_in_set",
        "sample_id",
        (7,),
    )


BATCH_LEVEL = [
    (
        "renamed column",
        lambda f: f.rename(columns={"sulfate": "Sulfate"}),
        "expect_table_columns_to_match_set",
    ),
    ("missing column", lambda f: f.drop(columns=["turbidity"]), "expect_table_columns_to_match_set"),
    ("extra column", lambda f: f.assign(lead=None), "expect_table_columns_to_match_set"),
    ("empty delivery", lambda f: f.iloc[0:0], "expect_table_row_count_to_be_between"),
    (
        "dead sensor",
        lambda f: f.assign(turbidity=None),
        "expect_column_proportion_of_non_null_values_to_be_between",
    ),
]


@pytest.mark.parametrize(("case", "corrupt", "expectation"), BATCH_LEVEL, ids=[c[0] for c in BATCH_LEVEL])
def test_structural_failures_hold_back_the_whole_batch(runner, case, corrupt, expectation):
    frame = corrupt(good_batch())
    failures = run(runner, frame)
    assert expectation in {f.expectation for f in failures if f.scope == "batch"}, case
    verdict = decide(len(frame), failures, 0.05)
    assert verdict.decision == QUARANTINE
    assert verdict.quarantined_rows == len(frame)


def test_the_failure_message_names_batch_expectations_columns_and_counts(runner):
    frame = good_batch().rename(columns={"sulfate": "Sulfate"})
    frame = set_cell(frame, 1, "ph", "7,1")
    verdict = decide(len(frame), run(runner, frame), 0.05)
    message = verdict.message("sim-20260110-abc", DAY)
    assert "batch sim-20260110-abc (raw_observations, 2026-01-10) quarantined" in message
    assert "expect_table_columns_to_match_set" in message
    assert "'unexpected': ['Sulfate']" in message
    assert "'missing': ['sulfate']" in message
    assert "expect_column_values_to_match_regex(ph)" in message
    assert "1 unexpected" in message


def test_labels_suite(runner):
    frame = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", None],
            "label": ["1", "0", "2", "1"],
            "labelled_at": ["2026-01-10T10:00:00", "2026-01-10T11:00:00", "2026-01-10T12:00:00", "x"],
        }
    )
    failures, _ = runner.validate(
        label_suites.labels_suite(DOMAIN),
        frame,
        run_name="labels",
        run_time=dt.datetime(2026, 1, 11, tzinfo=dt.UTC),
    )
    assert rules(failures) == {
        ("expect_column_values_to_be_in_set", "label", "row"),
        ("expect_column_values_to_not_be_null", "sample_id", "row"),
        ("expect_column_values_to_match_regex", "labelled_at", "row"),
    }
    assert decide(4, failures, 0.05).decision == QUARANTINE  # 2 of 4 rows: over the tolerance


def failure(scope: str, rows: tuple[int, ...] = ()) -> Failure:
    return Failure("s", "expect_x", "c", scope, "why", unexpected_count=len(rows), row_numbers=rows)


@pytest.mark.parametrize(
    ("rows", "failures", "tolerance", "decision", "quarantined"),
    [
        (100, [], 0.05, PUBLISH, 0),
        (100, [failure("row", (1, 2))], 0.05, PARTIAL, 2),
        (100, [failure("row", (1, 2)), failure("row", (2, 3))], 0.05, PARTIAL, 3),  # a row counts once
        (100, [failure("row", tuple(range(6)))], 0.05, QUARANTINE, 100),  # over the tolerance
        (100, [failure("row", tuple(range(5)))], 0.05, PARTIAL, 5),  # at the tolerance
        (100, [failure("row", (1,))], 0.0, QUARANTINE, 100),
        (100, [failure("batch")], 0.05, QUARANTINE, 100),
        (0, [], 0.05, QUARANTINE, 0),
    ],
)
def test_decide(rows, failures, tolerance, decision, quarantined):
    verdict = decide(rows, failures, tolerance)
    assert (verdict.decision, verdict.quarantined_rows) == (decision, quarantined)
    assert verdict.published_rows == rows - quarantined


def test_decide_rejects_a_tolerance_that_is_not_a_share():
    with pytest.raises(ValueError, match="tolerance=1.5"):
        decide(10, [], 1.5)


def test_suites_expect_exactly_the_source_columns():
    [columns] = [
        e
        for e in raw_suites.delivered_suite(CONFIG).expectations
        if e.expectation_type == "expect_table_columns_to_match_set"
    ]
    assert set(columns.column_set) == set(SOURCE_COLUMNS), "nothing of Sluice's own beside them"


def test_runners_that_loaded_the_context_before_each_other_write_never_drop_each_others_assets(tmp_path):
    """Two task processes of a backfill each hold a context read before the other added its data
    asset; the one that writes second must not write back a configuration without the first's."""
    root = tmp_path / "gx"
    first, second = GXRunner(root), GXRunner(root)
    assert first.context and second.context  # both read the context before either validated
    frame = good_batch(40)
    start, end = day_bounds(DAY)
    at = dt.datetime(2026, 1, 11, tzinfo=dt.UTC)
    first.validate(
        raw_suites.delivered_suite(CONFIG),
        frame,
        run_name="a",
        run_time=at,
        parameters={"published_elsewhere": []},
    )
    second.validate(
        raw_suites.values_suite(CONFIG),
        to_typed(frame, DOMAIN),
        run_name="b",
        run_time=at,
        parameters={"day_start": start, "day_end": end, "run_time": at},
    )
    third = GXRunner(root)  # a later task: both checkpoints must still resolve
    assert run(third, frame) == []


def test_gx_says_nothing_at_info_level_when_sluice_validates():
    """A task log says what Sluice did: GX's import-time INFO lines stay out at an INFO root level."""
    import subprocess
    import sys

    code = (
        "import logging; logging.basicConfig(level=logging.INFO);"
        "import sluice.validation, great_expectations, great_expectations.expectations;"
        "logging.getLogger('sluice').info('sluice speaks')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert "sluice speaks" in out.stderr
    assert "great_expectations" not in out.stderr, out.stderr[:2000]


def _stricter_fails(runner: GXRunner, frame: pd.DataFrame) -> list[str]:
    """Validate ``frame`` against a stricter declaration of the delivered suite (a row count of
    1,000 at least); the expectations that failed."""
    import great_expectations.expectations as gxe

    stricter = raw_suites.delivered_suite(CONFIG)
    stricter.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=1000))
    at = dt.datetime(2026, 1, 11, tzinfo=dt.UTC)
    failures, _ = runner.validate(
        stricter, frame, run_name="stricter", run_time=at, parameters={"published_elsewhere": []}
    )
    return [f.expectation for f in failures]


def test_a_runner_validating_pieces_reads_the_context_once_until_the_stored_suite_changes(
    tmp_path, monkeypatch
):
    """A day's pieces run one suite many times in one runner: the context is read once, not per
    piece (each read left a context behind). When the stored declaration is no longer the one the
    runner holds (another task stored another; the runner is given another), it reads the stores
    again and validates against the declaration it was given."""
    root = tmp_path / "gx"
    runner = GXRunner(root)
    loads = []
    load = GXRunner._load
    monkeypatch.setattr(GXRunner, "_load", lambda self: loads.append(self) or load(self))
    frame = good_batch(40)
    for _ in range(3):
        assert run(runner, frame) == []
    assert len(loads) == 2, "one read for each of the two suites' first piece, none after"

    marker = root / "sluice-suites" / f"{raw_suites.delivered_suite(CONFIG).name}.sha256"
    marker.write_text("another task's declaration")
    loads.clear()
    assert run(runner, frame) == []
    assert len(loads) == 1, "the stored declaration changed: read again (and stored its own)"

    assert _stricter_fails(runner, frame) == ["expect_table_row_count_to_be_between"]
    assert run(runner, frame) == [], "the first declaration again: stored again, and it passes"


def test_a_suite_stored_anew_by_another_runner_in_the_process_validates_as_stored(tmp_path):
    """Another runner of the same process (a second context) stores a stricter declaration of a
    suite the first has validated: it validates against it, and the first runner's own
    declaration is stored again and passes (a walk of the data source's assets left the asset
    without its data source there: MissingDataContextError)."""
    root = tmp_path / "gx"
    runner, frame = GXRunner(root), good_batch(40)
    assert run(runner, frame) == []
    assert _stricter_fails(GXRunner(root), frame) == ["expect_table_row_count_to_be_between"]
    assert run(runner, frame) == []
