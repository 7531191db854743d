"""Hostile and broken deliveries, class by class, on both backends: what a careless exporter and an
attacker put in a landing folder. Every test delivers a day through the real landing folder and
runs the real steps (land → validate → publish), then checks, row by row and file by file:

* every valid row is published, exactly as delivered;
* every bad row is quarantined, named by batch, file, record in the file and rule (with the column);
* every file that cannot be used is held back as a file, named, with its bytes kept;
* nothing is lost: landed rows = published + quarantined, and no delivered value became NULL.

The tolerance is 1.0 (any share of bad rows is held back row by row) unless a test is about the
tolerance: these tests judge rows, not days.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from sluice import checking, ingest, parsing
from sluice.domain import RESERVED
from sluice.domains.water import RANGES
from sluice.domains.water.simulator import SimulatorConfig, generate_batch
from sluice.sources.landing import LandingSource
from sluice.tables import ingest_batches, quarantine, quarantine_rows
from sluice.warehouse import Warehouse, WarehouseSetupError

DAY = dt.date(2026, 1, 5)
AS_OF = dt.datetime(2026, 1, 6, 1, tzinfo=dt.UTC)
COLUMNS = list(generate_batch(SimulatorConfig(seed=1, rows_per_day=1), DAY).columns)


def good_rows(n: int, seed: int = 1, day: dt.date = DAY, prefix: str = "") -> pd.DataFrame:
    """``n`` valid rows of the water domain as the text an exporter writes (every value present)."""
    frame = generate_batch(SimulatorConfig(seed=seed, rows_per_day=n), day)
    frame = frame.fillna({c: (low + high) / 2 for c, (low, high) in RANGES.items()})
    frame["sample_id"] = [f"{prefix}{i}" for i in frame["sample_id"]]
    return frame.astype(str)


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


class Landing:
    """A landing folder, its kept files, a GX context: a day delivered file by file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.source = LandingSource(root / "landing", keep=root / "kept")
        self.gx = root / "gx"

    def deliver(self, files: dict[str, str | bytes], day: dt.date = DAY) -> Path:
        folder = self.root / "landing" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = folder / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8", newline="")
        return folder

    def ingest(self, warehouse: Warehouse, day: dt.date = DAY, as_of: dt.datetime = AS_OF, tolerance=1.0):
        landed = ingest.land(warehouse, self.source, day, as_of)
        _, verdict = checking.validate(warehouse, day, gx_root=self.gx, tolerance=tolerance, as_of=as_of)
        published = None
        if verdict.decision != "quarantine":
            published = ingest.publish(warehouse, day, as_of=as_of)
        return landed, verdict, published


@pytest.fixture
def landing(tmp_path) -> Landing:
    return Landing(tmp_path)


def held(warehouse: Warehouse, day: dt.date = DAY, table: str = "raw_observations") -> pd.DataFrame:
    rows = warehouse.read_partition(quarantine_rows, day)
    return rows[rows["table_name"] == table].set_index("sample_id", drop=False)


def published(warehouse: Warehouse, day: dt.date = DAY) -> pd.DataFrame:
    return warehouse.read_partition(warehouse.observations, day).set_index("sample_id", drop=False)


def files_of(warehouse: Warehouse, day: dt.date = DAY) -> dict[str, dict]:
    [batch] = warehouse.fetch(select(ingest_batches).where(ingest_batches.c.sample_date == day))
    return {f["name"]: f for f in json.loads(batch["files"] or "[]")}


def assert_accounted(warehouse: Warehouse, landed, verdict, day: dt.date = DAY) -> None:
    """Nothing lost, nothing published twice, no delivered value turned into NULL."""
    out, kept = published(warehouse, day), held(warehouse, day)
    assert len(out) + len(kept) == landed.rows, "every landed row is published or quarantined"
    assert not set(out.index) & set(kept["sample_id"].dropna()), "a row is published or held, not both"
    assert verdict.quarantined_rows == len(kept)
    assert set(kept["batch_id"]) <= {landed.batch_id}
    raw = warehouse.read_partition(warehouse.raw_observations, day).set_index("sample_id", drop=False)
    for column in COLUMNS:
        delivered = raw.loc[out.index, column]
        assert not (delivered.notna() & out[column].isna()).any(), f"a delivered {column} became NULL"


def assert_held(kept: pd.DataFrame, sample_id: str, file: str, row: int, rule: str) -> None:
    """The row is quarantined, named by its file, its record in the file and the rule it broke."""
    assert sample_id in kept.index, f"{sample_id!r} is not in the quarantine"
    record = kept.loc[sample_id]
    assert (record["source_file"], int(record["source_row"])) == (file, row), record.to_dict()
    assert rule in record["failed_rules"], record["failed_rules"]


def assert_file_held(warehouse, landing: Landing, name: str, problem: str, day: dt.date = DAY) -> None:
    """A file that could not be used: named with its problem, its bytes kept as delivered."""
    file = files_of(warehouse, day)[name]
    assert problem in file["problem"], file["problem"]
    delivered = landing.root / "landing" / day.isoformat() / name
    if delivered.is_file() and not delivered.is_symlink():
        assert Path(file["kept"]).read_bytes() == delivered.read_bytes()
    [record] = warehouse.read_partition(quarantine, day).to_dict("records")
    failed = json.loads(record["failed_expectations"])
    assert any(f["file"] == name and problem in (f["details"] or "") for f in failed), failed


# --- 1. internal names -----------------------------------------------------------------------

INTERNAL = [*sorted(RESERVED), "index", "level_0"]
"""Every name Sluice keeps beside a domain's columns, and pandas' names for an index."""


def test_a_delivered_column_never_takes_the_place_of_one_of_sluices(warehouse, landing):
    """Each file carries one of Sluice's own column names with values that point at other rows; a
    clean file beside them has one out-of-range row. The clean file is judged on its own, the
    others are held back as files, and the counts match the tables."""
    files = {}
    for i, name in enumerate(INTERNAL):
        rows = good_rows(4, seed=10 + i, prefix=f"{name}-")
        rows.insert(0, name, ["0", "1", "0", "1"] if name != "extra" else ['{"ph": "99"}'] * 4)
        rows.loc[0, "ph"] = "99"  # out of range: must not be published through a row_number mix-up
        files[f"{i:02d}-{name}.csv"] = csv_text(rows)
    clean = good_rows(10, seed=3, prefix="clean-")
    clean.loc[4, "ph"] = "99"
    files["zz-clean.csv"] = csv_text(clean)
    landing.deliver(files)
    landed, verdict, _ = landing.ingest(warehouse)
    for i, name in enumerate(INTERNAL):
        assert_file_held(warehouse, landing, f"{i:02d}-{name}.csv", f"unexpected '{name}'")
    out, kept = published(warehouse), held(warehouse)
    assert set(out.index) == set(clean["sample_id"]) - {clean.loc[4, "sample_id"]}
    assert_held(kept, clean.loc[4, "sample_id"], "zz-clean.csv", 5, "expect_column_values_to_be_between(ph)")
    assert (out["ph"].astype(float) <= 14).all()
    assert_accounted(warehouse, landed, verdict)


class FrameSource:
    """A domain's own source that returns a frame (no files): here with a ``row_number`` column."""

    name = "frames"

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def fetch(self, day, as_of):
        return self.frame

    def fetch_labels(self, day, as_of):
        return pd.DataFrame({"sample_id": [], "label": [], "labelled_at": []})


@pytest.mark.parametrize("name", ["row_number", "extra", "defect"])
def test_a_frame_sources_column_named_like_sluices_is_caught_by_the_schema_check(warehouse, tmp_path, name):
    rows = good_rows(6, seed=5)
    rows.insert(0, name, ["5", "5", "5", "5", "5", "5"])
    rows.loc[2, "ph"] = "99"
    landed = ingest.land(warehouse, FrameSource(rows), DAY, AS_OF)
    _, verdict = checking.validate(warehouse, DAY, gx_root=tmp_path / "gx", tolerance=1.0, as_of=AS_OF)
    assert verdict.decision == "quarantine"
    assert "expect_table_columns_to_match_set" in verdict.reason
    kept = held(warehouse)
    assert sorted(kept["row_number"]) == list(range(6)), "held rows keep their own positions"
    assert all(json.loads(p)[name] == "5" for p in kept["payload"]), "the delivered column is kept as it was"
    assert warehouse.count("observations", DAY) == 0 and landed.rows == 6


# --- 2. short and truncated rows -------------------------------------------------------------


def test_short_long_and_cut_rows_are_quarantined_as_rows(warehouse, landing):
    rows = good_rows(12, seed=7)
    lines = csv_text(rows).splitlines()
    ids = list(rows["sample_id"])
    lines[3] = ",".join(lines[3].split(",")[:5])  # a short row (record 3)
    lines[6] = lines[6] + ",surplus"  # a long row (record 6)
    lines[8] = ids[7][:2]  # a 2-character fragment (record 8)
    lines[10] = '"' + lines[10]  # a quote opened and never closed: swallows the rest of the file
    text = "\n".join(lines[:10]) + "\n" + lines[10] + "\n" + lines[11][:9]  # cut mid-row, no newline
    landing.deliver({"day.csv": text})
    landed, verdict, _ = landing.ingest(warehouse)
    kept = held(warehouse)
    for record in (3, 6):
        assert_held(kept, ids[record - 1], "day.csv", record, "expect_row_to_be_well_formed")
    fragment = kept[kept["source_row"] == 8]
    assert len(fragment) == 1 and "expect_row_to_be_well_formed" in fragment["failed_rules"].iloc[0]
    out = published(warehouse)
    assert set(out.index) == {ids[i] for i in (0, 1, 3, 4, 6, 8)}, "only the well-formed rows"
    assert landed.rows == len(out) + len(kept)
    assert all(int(r) in (3, 6, 8, 10) for r in kept["source_row"])
    assert_accounted(warehouse, landed, verdict)


def test_a_row_of_empty_fields_is_well_formed_and_fails_the_rules(warehouse, landing):
    rows = good_rows(5, seed=8)
    text = csv_text(rows) + ",,,,,,,,,,,\n\r\n"
    landing.deliver({"day.csv": text})
    landed, verdict, _ = landing.ingest(warehouse)
    kept = held(warehouse)
    assert len(kept) == 1 and "expect_column_values_to_not_be_null(sample_id)" in kept["failed_rules"].iloc[0]
    assert int(kept["source_row"].iloc[0]) == 6
    assert_accounted(warehouse, landed, verdict)


@pytest.mark.parametrize(
    ("encoding", "newline"),
    [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("utf-8", "\r")],
    ids=["lf", "bom-crlf", "cr"],
)
def test_ordinary_exporter_variants_are_read_whole(warehouse, landing, encoding, newline):
    rows = good_rows(8, seed=9)
    landing.deliver({"day.csv": rows.to_csv(index=False, lineterminator=newline).encode(encoding)})
    landed, verdict, _ = landing.ingest(warehouse)
    assert verdict.decision == "publish", verdict.message(landed.batch_id, DAY)
    assert set(published(warehouse).index) == set(rows["sample_id"])


# --- 3. a day of several files ---------------------------------------------------------------


def test_each_file_is_checked_on_its_own(warehouse, landing):
    good = good_rows(5, seed=11, prefix="good-")
    reordered = good_rows(5, seed=12, prefix="reordered-")[list(reversed(COLUMNS))]
    missing = good_rows(5, seed=13, prefix="missing-").drop(columns=["sulfate"])
    renamed = good_rows(5, seed=14, prefix="renamed-").rename(columns={"sulfate": "Sulfate"})
    spaced = good_rows(5, seed=15, prefix="spaced-").rename(columns={"ph": " ph"})
    extra = good_rows(5, seed=16, prefix="extra-").assign(comment="x")
    twice = csv_text(good_rows(5, seed=17, prefix="twice-")).replace("turbidity\n", "ph\n", 1)
    semicolons = csv_text(good_rows(5, seed=18, prefix="semi-")).replace(",", ";")
    header_only = ",".join(COLUMNS) + "\n"
    parquet = io.BytesIO()
    good_rows(5, seed=19, prefix="pq-").drop(columns=["ph"]).to_parquet(parquet)
    landing.deliver(
        {
            "a-good.csv": csv_text(good),
            "b-reordered.csv": csv_text(reordered),
            "c-missing.csv": csv_text(missing),
            "d-renamed.csv": csv_text(renamed),
            "e-spaced.csv": csv_text(spaced),
            "f-extra.csv": csv_text(extra),
            "g-twice.csv": twice,
            "h-semicolons.csv": semicolons,
            "i-header-only.csv": header_only,
            "j-missing.parquet": parquet.getvalue(),
        }
    )
    landed, verdict, _ = landing.ingest(warehouse)
    assert verdict.decision == "partial"
    assert set(published(warehouse).index) == set(good["sample_id"]) | set(reordered["sample_id"])
    assert_file_held(warehouse, landing, "c-missing.csv", "missing 'sulfate'")
    assert_file_held(warehouse, landing, "d-renamed.csv", "missing 'sulfate'; unexpected 'Sulfate'")
    assert_file_held(warehouse, landing, "e-spaced.csv", "unexpected ' ph'")
    assert_file_held(warehouse, landing, "f-extra.csv", "unexpected 'comment'")
    assert_file_held(warehouse, landing, "g-twice.csv", "names 'ph' more than once")
    assert_file_held(warehouse, landing, "h-semicolons.csv", "its columns are not the declared ones")
    assert_file_held(warehouse, landing, "j-missing.parquet", "missing 'ph'")
    assert files_of(warehouse)["i-header-only.csv"]["problem"] is None
    assert files_of(warehouse)["c-missing.csv"]["rows"] == 5, "a held file's rows are counted"
    assert_accounted(warehouse, landed, verdict)


def test_a_day_whose_only_file_is_unusable_is_quarantined_and_says_why(warehouse, landing):
    landing.deliver({"day.csv": csv_text(good_rows(5).drop(columns=["ph"]))})
    landed, verdict, _ = landing.ingest(warehouse)
    assert verdict.decision == "quarantine" and landed.rows == 0
    assert "day.csv" in verdict.reason and "missing 'ph'" in verdict.reason
    assert_file_held(warehouse, landing, "day.csv", "missing 'ph'")


# --- 4. text that looks like a number but does not parse --------------------------------------

UNPARSABLE_NUMBERS = [
    "1e999",  # overflows to infinity
    "-1e400",
    "1" * 400,  # 400 digits: infinity as a float
    "١٢",  # Arabic-Indic digits: \d matches them, float() does not
    "１２",  # full-width digits
    "७",  # Devanagari
    "NaN",
    "inf",
    "-Infinity",
    "0x1A",
    "1_000",
    "7,5",
    "   ",
    "+",
    ".",
    "7.0.1",
    "1e",
]
UNPARSABLE_TIMES = [
    "2026-01-05T25:00:00",
    "2026-01-05T10:61:00",
    "2026-02-30T10:00:00",
    "２０２６-01-05T10:00:00",
    "2026-01-05T10:00:00+99:99",
    "2026-01-05",
    "0000-01-05T10:00:00",
]


def test_values_that_do_not_parse_are_quarantined_never_published_as_null(warehouse, landing):
    rows = good_rows(len(UNPARSABLE_NUMBERS) + len(UNPARSABLE_TIMES) + 5, seed=21)
    for i, value in enumerate(UNPARSABLE_NUMBERS):
        rows.loc[i, "ph" if i % 2 else "hardness"] = value
    for j, value in enumerate(UNPARSABLE_TIMES, start=len(UNPARSABLE_NUMBERS)):
        rows.loc[j, "sampled_at"] = value
    landing.deliver({"day.csv": csv_text(rows)})
    landed, verdict, _ = landing.ingest(warehouse)
    kept, out = held(warehouse), published(warehouse)
    for i in range(len(UNPARSABLE_NUMBERS) + len(UNPARSABLE_TIMES)):
        sid = rows.loc[i, "sample_id"]
        column = "sampled_at" if i >= len(UNPARSABLE_NUMBERS) else ("ph" if i % 2 else "hardness")
        assert sid not in out.index, f"{rows.loc[i, column]!r} in {column} was published"
        assert_held(kept, sid, "day.csv", i + 1, f"({column})")
    assert set(out.index) == set(rows["sample_id"].iloc[len(UNPARSABLE_NUMBERS) + len(UNPARSABLE_TIMES) :])
    assert_accounted(warehouse, landed, verdict)


def test_the_parse_guard_catches_what_the_patterns_let_through():
    """The patterns are the first line (and what Data Docs show); the parse is the last: a value
    that passes the pattern and still does not parse is held back by :func:`parse_failures`."""
    from sluice.domains.water import DOMAIN

    delivered = pd.DataFrame(
        {c: ["1"] * 4 for c in COLUMNS} | {"ph": ["1e999", "7", "9" * 20, None], "sampled_at": ["x"] * 4},
        index=[10, 11, 12, 13],
    )
    typed = parsing.to_typed(delivered, DOMAIN)
    failures = {f.column: f for f in checking.parse_failures(delivered, typed, DOMAIN)}
    assert failures["ph"].row_numbers == (10,), "infinite; a missing value is not a parse failure"
    assert failures["sampled_at"].row_numbers == (10, 11, 12, 13)


# --- 5. identifiers that would not fit an index --------------------------------------------


def test_identifier_length_is_bounded_by_validation_and_the_rest_of_the_day_publishes(warehouse, landing):
    rows = good_rows(8, seed=23)
    lengths = {0: 256, 1: 257, 2: 3000, 3: 100_000}
    for i, length in lengths.items():
        rows.loc[i, "sample_id"] = (f"id{i}-" + "é" * length)[:length]
    landing.deliver({"day.csv": csv_text(rows)})
    landed, verdict, summary = landing.ingest(warehouse)
    out, kept = published(warehouse), held(warehouse)
    assert rows.loc[0, "sample_id"] in out.index, "256 characters is within the bound"
    for i in (1, 2, 3):
        assert_held(
            kept, rows.loc[i, "sample_id"], "day.csv", i + 1, "expect_column_value_lengths_to_be_between"
        )
    assert summary["rows_published"] == len(rows) - 3
    assert_accounted(warehouse, landed, verdict)


# --- 6 and 7. hostile strings, one link per suite ------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "</td><svg onload=alert(1)>",
    "{{7*7}}",
]


def test_hostile_strings_are_held_escaped_in_the_view_and_sandboxed_in_data_docs(
    warehouse, landing, tmp_path
):
    from fastapi import HTTPException
    from fastapi.testclient import TestClient

    from sluice.view_config import ViewConfig
    from sluice.web import FOREIGN_POLICY, create_app

    rows = good_rows(len(HOSTILE) + 4, seed=25)
    for i, value in enumerate(HOSTILE):
        rows.loc[i, "station_id"] = value
    rows.loc[len(HOSTILE), "ph"] = "99"  # the values suite fails too: two Data Docs pages
    evil_name = "<img src=x onerror=alert(2)>.csv"
    landing.deliver({"day.csv": csv_text(rows), evil_name: "not,the,columns\n1,2,3\n"})
    landed, verdict, _ = landing.ingest(warehouse)
    kept = held(warehouse)
    for i in range(len(HOSTILE)):
        assert_held(
            kept, rows.loc[i, "sample_id"], "day.csv", i + 1, "expect_column_values_to_be_in_set(station_id)"
        )

    async def authenticate(request):
        if request.headers.get("authorization") != "Bearer t":
            raise HTTPException(401)

    docs = landing.gx / "gx" / "uncommitted" / "data_docs" / "local_site"
    config = ViewConfig(warehouse=lambda: warehouse, model_name="m", data_docs_dir=docs, today=lambda: DAY)
    client = TestClient(create_app(config, authenticate), headers={"authorization": "Bearer t"})
    page = client.get("/quality", params={"days": 3})
    assert page.status_code == 200
    for value in [*HOSTILE, evil_name]:
        assert value not in page.text or value in ("javascript:alert(1)", "{{7*7}}"), value
    assert "&lt;img src=x onerror=alert(2)&gt;.csv" in page.text, "the file is named, escaped"
    assert "49" not in page.text.split("Quarantined batches", 1)[1].split("Days", 1)[0]
    api = client.get("/api/quality", params={"days": 3})
    [batch] = api.json()["quarantined"]
    assert len(batch["validation_urls"]) == 2, "one link per suite, each a URL of its own"
    assert batch["validation_url"] == batch["validation_urls"][0]
    assert "file:" not in api.text and str(tmp_path) not in api.text, "no path of the machine"
    for url in batch["validation_urls"]:
        assert url.startswith("/data-docs/validations/") and " " not in url
        answer = client.get(url)
        assert answer.status_code == 200
        assert answer.headers["content-security-policy"] == FOREIGN_POLICY
    assert_accounted(warehouse, landed, verdict)


# --- 9. set-up errors ------------------------------------------------------------------------


def test_a_warehouse_that_was_never_set_up_fails_at_once_saying_what_to_do(warehouse_url, landing):
    from sluice import features

    store = Warehouse(warehouse_url)
    store.drop_tables()
    landing.deliver({"day.csv": csv_text(good_rows(3))})
    steps = {
        "land": lambda: ingest.land(store, landing.source, DAY, AS_OF),
        "validate": lambda: checking.validate(store, DAY, gx_root=landing.gx, tolerance=0.1, as_of=AS_OF),
        "publish": lambda: ingest.publish(store, DAY, as_of=AS_OF),
        "labels": lambda: ingest.ingest_labels(
            store, landing.source, DAY, gx_root=landing.gx, tolerance=0.1, as_of=AS_OF
        ),
        "features": lambda: features.build_day(store, DAY, gx_root=landing.gx, history_days=7, as_of=AS_OF),
    }
    for name, step in steps.items():
        with pytest.raises(WarehouseSetupError, match="run `sluice init`"):
            step()
        print(name, "refused")


# --- 10. identifiers shared by two days --------------------------------------------------------


@pytest.mark.parametrize(
    ("at_once", "piece_rows"),
    [(False, None), (True, None), (True, 3)],
    ids=["one-after-the-other", "at-once", "at-once-in-pieces-of-3"],
)
def test_two_days_that_share_identifiers_publish_each_id_once_and_quarantine_the_replay(
    warehouse, landing, at_once, piece_rows
):
    first, second = DAY, DAY + dt.timedelta(days=1)
    a = good_rows(8, seed=31, day=first)
    b = good_rows(8, seed=32, day=second)
    b.loc[:2, "sample_id"] = a.loc[:2, "sample_id"].to_numpy()  # three replayed ids
    landing.deliver({"a.csv": csv_text(a)}, day=first)
    landing.deliver({"b.csv": csv_text(b)}, day=second)
    as_of = AS_OF + dt.timedelta(days=1)
    for day in (first, second):  # both validated before either publishes: neither sees the other
        ingest.land(warehouse, landing.source, day, as_of)
        checking.validate(warehouse, day, gx_root=landing.gx, tolerance=1.0, as_of=as_of)
    results, errors = {}, []

    def publish(day):
        try:
            results[day] = ingest.publish(warehouse, day, as_of=as_of, piece_rows=piece_rows)
        except Exception as exc:  # collected: the test fails naming it
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(day,)) for day in (first, second)]
    for t in threads:
        t.start()
        if not at_once:
            t.join()
    for t in threads:
        t.join()
    assert errors == []
    both = pd.concat([published(warehouse, first), published(warehouse, second)])
    assert both.index.is_unique and len(both) == len(a) + len(b) - 3
    replayed = set(a.loc[:2, "sample_id"])
    late = second if results[second]["rows_quarantined"] else first
    kept = held(warehouse, late)
    assert set(kept.index) == replayed and all(
        "replayed" in r or "not_be_in_set" in r for r in kept["failed_rules"]
    )
    [record] = warehouse.read_partition(quarantine, late).to_dict("records")
    assert "replayed samples" in record["reason"] and record["quarantined_rows"] == 3
    # named in the order of the delivery, whichever slices the rows were published from
    [failure] = json.loads(record["failed_expectations"])
    ordered = kept.sort_values("row_number")
    assert list(ordered["row_number"]) == [0, 1, 2]
    assert failure["examples"] == list(a.loc[:2, "sample_id"])
    assert failure["where"] == [
        f"{f}:{int(r)}" for f, r in zip(ordered["source_file"], ordered["source_row"], strict=True)
    ]
    statuses = {r["sample_date"]: r["status"] for r in warehouse.fetch(select(ingest_batches))}
    assert set(statuses.values()) == {"published"}
    # a re-run of the late day's publish changes nothing
    before = warehouse.digest("observations"), warehouse.digest("quarantine_rows")
    ingest.publish(warehouse, late, as_of=as_of)
    assert (warehouse.digest("observations"), warehouse.digest("quarantine_rows")) == before


# --- 11. files that cannot be read -------------------------------------------------------------


def test_unreadable_files_are_held_as_files_and_the_good_file_lands(warehouse, landing, tmp_path):
    good = good_rows(6, seed=41)
    parquet = io.BytesIO()
    good_rows(4, seed=42, prefix="pq-").to_parquet(parquet)
    outside = tmp_path / "secret.csv"
    outside.write_text(csv_text(good_rows(2, seed=43, prefix="secret-")))
    folder = landing.deliver(
        {
            "good.csv": csv_text(good),
            "empty.csv": b"",
            "latin1.csv": csv_text(good_rows(3, seed=44, prefix="é-")).encode("latin-1"),
            "utf16.csv": csv_text(good_rows(3, seed=45, prefix="u16-")).encode("utf-16"),
            "garbage.csv": bytes(range(256)) * 4,
            "cut.parquet": parquet.getvalue()[: len(parquet.getvalue()) // 2],
            "day.xlsx": b"PK\x03\x04 not really",
            "day.csv.gz": b"\x1f\x8b\x08 not really",
            "blank-lines.csv": b"\n\n\n",
        }
    )
    (folder / "more").mkdir()
    (folder / "link.csv").symlink_to(outside)
    landed, verdict, _ = landing.ingest(warehouse)
    assert verdict.decision == "partial"
    assert set(published(warehouse).index) == set(good["sample_id"])
    assert_file_held(warehouse, landing, "empty.csv", "an empty file (0 bytes)")
    assert_file_held(warehouse, landing, "latin1.csv", "UTF-8")
    assert_file_held(warehouse, landing, "utf16.csv", "UTF-8")
    assert_file_held(warehouse, landing, "garbage.csv", "UTF-8")
    assert_file_held(warehouse, landing, "cut.parquet", "cannot be read as PARQUET")
    assert_file_held(warehouse, landing, "day.xlsx", "not a CSV or Parquet file")
    assert_file_held(warehouse, landing, "day.csv.gz", "not a CSV or Parquet file")
    assert_file_held(warehouse, landing, "blank-lines.csv", "no header row")
    assert_file_held(warehouse, landing, "more", "a folder")
    assert_file_held(warehouse, landing, "link.csv", "a symbolic link")
    assert files_of(warehouse)["link.csv"]["kept"] is None, "a link's target is not ours to keep"
    everything = json.dumps(warehouse.fetch(select(quarantine_rows))) + json.dumps(files_of(warehouse))
    assert "secret-" not in everything, "nothing was read through the link"
    assert_accounted(warehouse, landed, verdict)


def test_a_file_over_the_days_size_limit_is_held_without_being_read(warehouse, landing, tmp_path):
    landing.source = LandingSource(landing.root / "landing", keep=landing.root / "kept", max_day_bytes=4096)
    small, big = good_rows(3, seed=51, prefix="small-"), good_rows(40, seed=52, prefix="big-")
    landing.deliver({"a.csv": csv_text(small), "b.csv": csv_text(big)})
    landed, verdict, _ = landing.ingest(warehouse)
    assert set(published(warehouse).index) == set(small["sample_id"])
    assert_file_held(warehouse, landing, "b.csv", "over the day's size limit")
    assert "SLUICE_MAX_DAY_MB" in files_of(warehouse)["b.csv"]["problem"]
    assert files_of(warehouse)["b.csv"]["rows"] is None, "not read"
    assert_accounted(warehouse, landed, verdict)


# --- 13. times in the future ------------------------------------------------------------------


def test_events_and_labels_after_the_runs_time_are_quarantined(warehouse, landing):
    as_of = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)  # a run in the middle of the day
    rows = good_rows(6, seed=61)
    rows["sampled_at"] = [f"2026-01-05T{h:02d}:00:00" for h in (1, 2, 11, 12, 13, 23)]
    landing.deliver({"day.csv": csv_text(rows)})
    landed, verdict, _ = landing.ingest(warehouse, as_of=as_of)
    kept = held(warehouse)
    for i in (4, 5):
        assert_held(
            kept, rows.loc[i, "sample_id"], "day.csv", i + 1, "expect_column_values_to_be_between(sampled_at)"
        )
    assert set(published(warehouse).index) == set(rows["sample_id"].iloc[:4])
    assert_accounted(warehouse, landed, verdict)
    labels = landing.root / "landing" / "labels" / DAY.isoformat()
    labels.mkdir(parents=True)
    ids = list(rows["sample_id"].iloc[:3])
    (labels / "lab.csv").write_text(
        "sample_id,label,labelled_at\n"
        f"{ids[0]},1,2026-01-05T11:00:00\n{ids[1]},0,2026-01-05T12:30:00\n{ids[2]},1,2026-02-30T00:00:00\n"
    )
    summary, label_verdict = ingest.ingest_labels(
        warehouse, landing.source, DAY, gx_root=landing.gx, tolerance=1.0, as_of=as_of
    )
    assert summary["labels"] == 1 and summary["rows_quarantined"] == 2
    assert label_verdict.decision == "partial"
    kept = held(warehouse, table="labels")
    assert "expect_column_values_to_be_between(labelled_at)" in kept.loc[ids[1], "failed_rules"]
    assert "expect_column_values_to_parse(labelled_at)" in kept.loc[ids[2], "failed_rules"]


def test_malformed_label_rows_and_files_are_held_and_the_rest_stored(warehouse, landing):
    folder = landing.root / "landing" / "labels" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("sample_id,label,labelled_at\nx1,1,2026-01-05T10:00:00\nx2,0\n")
    (folder / "b.csv").write_text("row_number,sample_id,label,labelled_at\n0,x3,1,2026-01-05T10:00:00\n")
    summary, verdict = ingest.ingest_labels(
        warehouse, landing.source, DAY, gx_root=landing.gx, tolerance=1.0, as_of=AS_OF
    )
    assert summary["labels"] == 1 and summary["held_files"] == ["b.csv"]
    assert verdict.decision == "partial" and "b.csv" in verdict.reason
    kept = held(warehouse, table="labels")
    assert_held(kept, "x2", "a.csv", 2, "expect_row_to_be_well_formed")


# --- 8. serving files ----------------------------------------------------------------------------

ESCAPES = [
    "../secret.txt",
    "..%2fsecret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "validations/../../secret.txt",
    "validations/%2e%2e/%2e%2e/secret.txt",
    "..\\secret.txt",
    "%2fetc%2fpasswd",
    "//etc/passwd",
    "validations/out-link.html",  # a link inside the folder to a file outside it
    "validations/dir-link/secret.txt",  # a link to a folder outside
    "validations/page.html%00.txt",
    "%00",
    "validations/./../../secret.txt",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_file_routes_never_serve_what_lies_outside_their_folder(tmp_path, path):
    from fastapi import HTTPException
    from fastapi.testclient import TestClient

    from sluice.view_config import ViewConfig
    from sluice.web import create_app

    async def authenticate(request):
        if request.headers.get("authorization") != "Bearer t":
            raise HTTPException(401)

    (tmp_path / "secret.txt").write_text("TOP SECRET")
    docs, reports = tmp_path / "docs", tmp_path / "reports"
    (docs / "validations").mkdir(parents=True)
    reports.mkdir()
    (docs / "validations" / "page.html").write_text("<html>page</html>")
    (docs / "validations" / "out-link.html").symlink_to(tmp_path / "secret.txt")
    (docs / "validations" / "dir-link").symlink_to(tmp_path)
    (reports / "2026-01-05.html").symlink_to(tmp_path / "secret.txt")
    config = ViewConfig(
        warehouse=lambda: None, model_name="m", data_docs_dir=docs, reports_dir=reports, today=lambda: DAY
    )
    client = TestClient(create_app(config, authenticate), headers={"authorization": "Bearer t"})
    assert client.get("/data-docs/validations/page.html").status_code == 200, "its own files are served"
    for prefix in ("/data-docs/", "/vendor/", "/reports/"):
        answer = client.get(prefix + path)
        assert answer.status_code in (404, 422), (prefix + path, answer.status_code)
        assert "TOP SECRET" not in answer.text
    answer = client.get("/reports/2026-01-05.html")
    assert answer.status_code == 404 and "TOP SECRET" not in answer.text, "a report that links out"
