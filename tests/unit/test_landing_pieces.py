"""A day lands in pieces: each file is read through once to judge it, then read again a bounded
piece at a time, turned into text and written inside the day's one transaction. These tests hold
the pieces to one whole read: the same records, in file order, with the same record numbers and
defects, on generated files with every kind of record anywhere (quoted delimiters and line breaks,
empty fields, records with too few or too many fields, first, last and in runs), and the same
``raw_observations`` rows on both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random

import pandas as pd
import pytest
from sqlalchemy import select

from sluice import ingest
from sluice.sources import DeliveryNotReady
from sluice.sources import landing as landing_module
from sluice.sources.landing import LandingSource, read_file
from sluice.tables import ingest_batches
from sluice.transaction import Transaction
from tests.unit.test_hostile_inputs import AS_OF, DAY, csv_text, good_rows

NAMES = ["id", "text", "number"]


def random_csv(seed: int, records: int) -> tuple[str, list[tuple[list[str], bool]]]:
    """A CSV file of ``records`` records and, for each, its fields and whether it is well formed."""
    rng = random.Random(seed)
    values = ["plain", "", "with, comma", 'with "quotes"', "two\nlines", "ünïcode", "  spaced  "]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(NAMES)
    expected = []
    run = 0
    for i in range(records):
        if run == 0 and rng.random() < 0.15:
            run = rng.choice([1, 1, 2, 5])
        width = len(NAMES)
        if run:
            run -= 1
            width = rng.choice([1, 2, 4, 5])
        fields = [f"r{i}"] + [rng.choice(values) for _ in range(width - 1)]
        if width != len(NAMES):  # a malformed record: no line breaks, so its text is one line
            fields = [f.replace("\n", " ") for f in fields]
        writer.writerow(fields)
        expected.append((fields, width == len(NAMES)))
    return out.getvalue(), expected


def pieces(path, rows):
    file, part = read_file(path, keep=None, budget=None)
    assert file.problem is None, file.problem
    return file, list(part.chunks(rows))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("rows", [1, 3, 50, None])
def test_a_file_read_in_pieces_gives_every_record_once_in_file_order(tmp_path, monkeypatch, seed, rows):
    """Whatever the piece and parser block size, the pieces hold every record once, in order,
    numbered as in the file, well-formed ones with their values and malformed ones with their
    defect: what one whole read gives."""
    monkeypatch.setattr(landing_module, "BLOCK_BYTES", 64 + seed * 40)  # batches of a few records
    text, expected = random_csv(seed, records=200 + seed * 17)
    if seed % 4 == 0:
        text = text.rstrip("\n")  # the last record without its line break
    path = tmp_path / "day.csv"
    path.write_text(text, encoding="utf-8", newline="")

    file, parts = pieces(path, rows)
    assert file.rows == len(expected)
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    numbers = [n for p in parts for n in p.source_rows]
    defects = [d for p in parts for d in p.defects]
    assert numbers == list(range(1, len(expected) + 1)), "every record once, in file order"
    assert list(frame.columns) == NAMES
    for (fields, well_formed), row, defect in zip(
        expected, frame.itertuples(index=False), defects, strict=True
    ):
        if well_formed:
            assert defect is None
            assert list(row) == [f if f != "" else None for f in fields]
        else:
            assert defect.startswith(f"{len(fields)} fields where the header has 3"), defect
            assert row[0] == fields[0]
    if rows is not None:
        assert all(sum(d is None for d in p.defects) < rows + 64 for p in parts), "a piece is bounded"
        whole = pd.concat([p.frame for p in pieces(path, None)[1]], ignore_index=True)
        pd.testing.assert_frame_equal(frame, whole)


@pytest.mark.parametrize("content", ["header", "only-malformed", "parquet"])
def test_files_without_good_records_and_parquet_files_read_in_pieces(tmp_path, content):
    if content == "parquet":
        frame = pd.DataFrame({"id": [f"p{i}" for i in range(25)], "number": range(25)})
        path = tmp_path / "day.parquet"
        frame.to_parquet(path, row_group_size=4)
        _, parts = pieces(path, 6)
        assert [p.source_rows[0] for p in parts] == [1, 7, 13, 19, 25]
        got = pd.concat([p.frame for p in parts], ignore_index=True)
        pd.testing.assert_frame_equal(got, frame)
        return
    path = tmp_path / "day.csv"
    path.write_text("id,text,number\n" + ("a,b\nc\nd,e,f,g\n" if content == "only-malformed" else ""))
    file, parts = pieces(path, 1)
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    assert list(frame.columns) == NAMES
    assert file.rows == len(frame) == (3 if content == "only-malformed" else 0)
    assert all(d is not None for p in parts for d in p.defects)


def raw_of(warehouse) -> pd.DataFrame:
    raw = warehouse.read_partition(warehouse.raw_observations, DAY, order_by=["row_number"])
    return raw.drop(columns=["ingested_at"]).reset_index(drop=True)


def test_a_day_lands_in_pieces_as_it_lands_whole(warehouse, tmp_path, monkeypatch):
    """Two CSV files (malformed records among them) and a Parquet file: landed a few rows at a
    time, the raw rows are those of one whole landing, and no insert holds more than a piece."""
    a, b, c = (
        good_rows(40, seed=1, prefix="a"),
        good_rows(30, seed=2, prefix="b"),
        good_rows(20, seed=3, prefix="c"),
    )
    lines = csv_text(a).splitlines()
    lines[5] = lines[5].rsplit(",", 3)[0]  # a record cut short
    lines[17] += ",a stray field"
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("\n".join(lines) + "\n")
    (folder / "b.csv").write_text(csv_text(b))
    c.to_parquet(folder / "c.parquet", row_group_size=7)
    source = LandingSource(tmp_path / "landing", keep=tmp_path / "kept")

    whole = ingest.land(warehouse, source, DAY, AS_OF)
    expected = raw_of(warehouse)
    assert whole.rows == len(expected) == 90

    sizes = []
    insert = Transaction.insert

    def counted(self, table, frame):
        if getattr(table, "name", table) == "raw_observations":
            sizes.append(len(frame))
        return insert(self, table, frame)

    monkeypatch.setattr(Transaction, "insert", counted)
    monkeypatch.setattr(ingest, "PIECE_ROWS", 8)
    monkeypatch.setattr(landing_module, "BLOCK_BYTES", 512)
    monkeypatch.setattr(landing_module, "PARQUET_BATCH_ROWS", 3)
    pieces_landed = ingest.land(warehouse, source, DAY, AS_OF)
    assert pieces_landed == whole
    assert len(sizes) > 6 and max(sizes) < 8 + 20, sizes
    pd.testing.assert_frame_equal(raw_of(warehouse), expected)
    assert raw_of(warehouse)["row_number"].tolist() == list(range(90))


CHANGES = {
    "appended": (
        lambda text: text + csv_text(good_rows(3, seed=3, prefix="late")).split("\n", 1)[1],
        "12 records .* 15 ",
    ),
    "rewritten": (lambda text: text.replace("ST0", "ST9"), "12 records when it was checked, 12 "),
    "cut inside a quote": (lambda text: text[:40] + '"never closed', "it no longer reads"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_file_that_changes_while_it_lands_leaves_the_day_as_it_was(
    warehouse, tmp_path, monkeypatch, change
):
    """A file changed between its check and its reading (an upload still under way) stops the
    landing with an error that names it and asks for a retry; the day's earlier landing stays."""
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    path = folder / "day.csv"
    path.write_text(csv_text(good_rows(10)))
    source = LandingSource(tmp_path / "landing", keep=tmp_path / "kept")
    first = ingest.land(warehouse, source, DAY, AS_OF)
    before = raw_of(warehouse)

    path.write_text(csv_text(good_rows(12, seed=2)))
    scan = landing_module.scan_csv
    edit, said = CHANGES[change]

    def scan_then_change(found):
        result = scan(found)
        text = found.read_text()
        found.write_text(edit(text))
        stat = found.stat()
        os.utime(found, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a coarse clock still moves
        return result

    monkeypatch.setattr(landing_module, "scan_csv", scan_then_change)
    with pytest.raises(DeliveryNotReady, match=rf"day\.csv changed while it was being landed \({said}"):
        ingest.land(warehouse, source, DAY, AS_OF + dt.timedelta(hours=1))
    pd.testing.assert_frame_equal(raw_of(warehouse), before)
    [batch] = warehouse.fetch(select(ingest_batches).where(ingest_batches.c.sample_date == DAY))
    assert batch["batch_id"] == first.batch_id and batch["row_count"] == 10
