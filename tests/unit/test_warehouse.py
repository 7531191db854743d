"""Partition replace is one transaction, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sluice.connections import connection_url
from sluice.tables import WarehouseError
from sluice.warehouse import Warehouse

DAY = dt.date(2026, 1, 10)
AT = dt.datetime(2026, 1, 11, 1, 2, 3, tzinfo=dt.UTC)


def labels(day: dt.date, ids: list[str], label: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"label_date": day, "sample_id": ids, "label": label, "labelled_at": AT})


def test_create_tables_is_idempotent(warehouse):
    warehouse.create_tables()
    warehouse.create_tables()
    assert warehouse.count("observations") == 0


def test_replace_partition_replaces_only_its_day(warehouse):
    other = DAY - dt.timedelta(days=1)
    warehouse.replace_partition("labels", other, labels(other, ["x1", "x2"]))
    warehouse.replace_partition("labels", DAY, labels(DAY, ["a", "b", "c"]))
    warehouse.replace_partition("labels", DAY, labels(DAY, ["a", "d"], label=0))
    assert warehouse.count("labels", DAY) == 2
    assert warehouse.count("labels", other) == 2
    frame = warehouse.read_partition("labels", DAY, order_by=["sample_id"])
    assert list(frame["sample_id"]) == ["a", "d"]
    assert list(frame["label"]) == [0, 0]
    assert frame["labelled_at"].iloc[0] == pd.Timestamp(AT)


def test_rerunning_a_replace_gives_the_same_table(warehouse):
    warehouse.replace_partition("labels", DAY, labels(DAY, ["a", "b"]))
    first = warehouse.digest("labels")
    warehouse.replace_partition("labels", DAY, labels(DAY, ["a", "b"]))
    assert warehouse.digest("labels") == first


def test_a_failed_replace_leaves_the_previous_partition(warehouse):
    warehouse.replace_partition("labels", DAY, labels(DAY, ["a", "b"]))
    before = warehouse.digest("labels")
    duplicate = labels(DAY, ["c", "c"])  # violates the unique (label_date, sample_id) constraint
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        warehouse.replace_partition("labels", DAY, duplicate)
    assert warehouse.digest("labels") == before


def test_a_transaction_spanning_tables_commits_together_or_not_at_all(warehouse):
    def killed_halfway():
        with warehouse.transaction() as tx:
            tx.replace_partition("labels", DAY, labels(DAY, ["a"]))
            raise RuntimeError("task killed halfway")

    with pytest.raises(RuntimeError, match="killed"):
        killed_halfway()
    assert warehouse.count("labels") == 0


def test_rows_must_belong_to_the_partition(warehouse):
    with pytest.raises(WarehouseError, match="must all have label_date=2026-01-10"):
        warehouse.replace_partition("labels", DAY, labels(DAY + dt.timedelta(days=1), ["a"]))


def test_frames_must_match_the_table(warehouse):
    with pytest.raises(WarehouseError, match=r"missing required columns \['label'\]"):
        warehouse.replace_partition("labels", DAY, labels(DAY, ["a"]).drop(columns=["label"]))
    with pytest.raises(WarehouseError, match="unknown table 'nope'"):
        warehouse.count("nope")


def test_nulls_floats_and_timestamps_round_trip(warehouse):
    rows = pd.DataFrame(
        {
            "sample_date": DAY,
            "batch_id": "b",
            "sample_id": ["s1", "s2"],
            "station_id": "ST01",
            "sampled_at": [AT, AT + dt.timedelta(seconds=1)],
            **{c.name: [0.1, None] for c in warehouse.observations.c if c.type.python_type is float},
            "published_at": AT,
        }
    )
    warehouse.replace_partition("observations", DAY, rows)
    back = warehouse.read_partition("observations", DAY, order_by=["sample_id"])
    assert back["ph"].tolist()[0] == 0.1
    assert pd.isna(back["ph"].tolist()[1])
    assert back["sampled_at"].tolist() == [pd.Timestamp(AT), pd.Timestamp(AT + dt.timedelta(seconds=1))]
    assert back["sample_date"].tolist() == [DAY, DAY]


# Text a bulk writer can get wrong: CSV's own characters, COPY's markers, empty against NULL,
# every plane of Unicode, and length.
HARD_TEXT = [
    "",
    " ",
    ",",
    '"',
    '""',
    "a,b\nc",
    "line\r\nbreak",
    "\\.",
    "\\N",
    "NULL",
    "tab\there",
    "back\\slash",
    "ünïcödé",
    "مرحبا",
    "🐟" * 3,
    "e\u0301",
    "\ufeffbom",
    "x" * 10_000,
    None,
]
HARD_FLOATS = [0.0, -0.0, 0.1, 0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -123456.789, None]


def test_every_class_of_value_round_trips_exactly(warehouse):
    """What the bulk path writes is what was given: text byte for byte (empty is not NULL),
    floats bit for bit, integers, dates and microsecond timestamps."""
    n = len(HARD_TEXT)
    source_rows = [2**31 - 1, -(2**31), 0, *range(n - 4), None]
    raw = pd.DataFrame(
        {
            "sample_date": DAY,
            "batch_id": "b",
            "row_number": range(n),
            **{
                c.name: HARD_TEXT
                for c in warehouse.raw_observations.c
                if c.name in ("sample_id", "ph", "defect")
            },
            "source_row": source_rows,
            "ingested_at": [AT + dt.timedelta(microseconds=i * 999_999) for i in range(n)],
        }
    )
    warehouse.replace_partition("raw_observations", DAY, raw)
    back = warehouse.read_partition("raw_observations", DAY, order_by=["row_number"])
    for name in ("sample_id", "ph", "defect"):
        assert back[name].tolist() == HARD_TEXT, name
    assert [None if pd.isna(v) else int(v) for v in back["source_row"]] == source_rows
    assert back["ingested_at"].tolist() == [pd.Timestamp(t) for t in raw["ingested_at"]]
    assert back["sample_date"].tolist() == [DAY] * n
    assert back["row_number"].tolist() == list(range(n)) and back["row_number"].dtype == "int64"

    m = len(HARD_FLOATS)
    rows = pd.DataFrame(
        {
            "sample_date": DAY,
            "batch_id": "b",
            "sample_id": [f"s{i}" for i in range(m)],
            "station_id": "ST01",
            "sampled_at": AT,
            "ph": HARD_FLOATS,
            "published_at": AT,
        }
    )
    warehouse.replace_partition("observations", DAY, rows)
    got = warehouse.read_partition("observations", DAY, order_by=["sample_id"])["ph"].tolist()
    assert [None if pd.isna(v) else v for v in got[:-1]] == HARD_FLOATS[:-1]
    assert pd.isna(got[-1])
    assert str(got[1]) == "-0.0" or warehouse.dialect == "sqlite"  # SQLite keeps no sign of zero


def hard_raw(ph: list[str | None]) -> pd.DataFrame:
    """``raw_observations`` rows of :data:`HARD_TEXT` identifiers, ``ph`` as given, one missing
    ``source_row`` and microsecond timestamps."""
    n = len(HARD_TEXT)
    return pd.DataFrame(
        {
            "sample_date": DAY,
            "batch_id": "b",
            "row_number": range(n),
            "sample_id": HARD_TEXT,
            "ph": ph,
            "source_row": [*range(n - 1), None],
            "ingested_at": [AT + dt.timedelta(microseconds=i) for i in range(n)],
        }
    )


def test_an_insert_turns_a_chunk_of_rows_into_values_at_a_time_and_writes_each_row_once(
    warehouse, monkeypatch
):
    """The memory an insert holds beside its frame is a chunk's values, and the chunks add up to
    the frame: every row once, in order, missing values and all."""
    from sluice import transaction

    monkeypatch.setattr(transaction, "INSERT_CHUNK_ROWS", 3)
    built: list[int] = []
    original = transaction.column_values
    monkeypatch.setattr(transaction, "column_values", lambda s, c: built.append(len(s)) or original(s, c))
    raw = hard_raw(ph=list(reversed(HARD_TEXT)))
    n = len(raw)
    assert n > 3 * 3
    assert warehouse.replace_partition("raw_observations", DAY, raw) == n
    assert max(built) == 3 and sum(built) == n * 7, built
    back = warehouse.read_partition("raw_observations", DAY, order_by=["row_number"])
    assert back["sample_id"].tolist() == HARD_TEXT
    assert back["ph"].tolist() == list(reversed(HARD_TEXT))
    assert [None if pd.isna(v) else int(v) for v in back["source_row"]] == [*range(n - 1), None]
    assert back["ingested_at"].tolist() == [pd.Timestamp(t) for t in raw["ingested_at"]]


@pytest.mark.postgres
def test_a_partition_reads_the_same_through_arrow_as_through_rows(pg_url):
    """On PostgreSQL ``read_partition`` comes through ADBC's Arrow and ``iter_partition`` through
    SQLAlchemy rows: the same values with the same dtypes either way."""
    warehouse = Warehouse(pg_url)
    warehouse.create_tables()
    warehouse.replace_partition("raw_observations", DAY, hard_raw(ph=HARD_TEXT))
    warehouse.replace_partition("labels", DAY, labels(DAY, ["a", "b"]))
    for table, key in (("raw_observations", "row_number"), ("labels", "sample_id")):
        arrow = warehouse.read_partition(table, DAY, order_by=[key])
        rows = pd.concat(list(warehouse.iter_partition(table, DAY, order_by=[key])), ignore_index=True)
        pd.testing.assert_frame_equal(arrow, rows, check_dtype=True)


def test_large_partitions_stream_in_chunks(warehouse):
    warehouse.replace_partition("labels", DAY, labels(DAY, [f"s{i}" for i in range(2500)]))
    chunks = list(warehouse.iter_partition("labels", DAY, chunksize=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 500]


@pytest.mark.postgres
def test_postgres_writes_use_binary_copy(pg_url, monkeypatch):
    from sluice.transaction import Transaction

    warehouse = Warehouse(pg_url)
    warehouse.create_tables()
    used = []
    monkeypatch.setattr(Transaction, "_executemany", lambda *a: used.append("executemany"))
    original = Transaction._copy
    monkeypatch.setattr(Transaction, "_copy", lambda *a: (used.append("copy"), original(*a)))
    warehouse.replace_partition("labels", DAY, labels(DAY, ["a"]))
    assert used == ["copy"]


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"conn_type": "sqlite", "schema": "/tmp/w.db"}, "sqlite:////tmp/w.db"),
        ({"conn_type": "sqlite", "host": "/tmp/w.db"}, "sqlite:////tmp/w.db"),
        (
            {
                "conn_type": "postgres",
                "host": "db",
                "login": "u",
                "password": "p@ss",
                "port": 5432,
                "schema": "wh",
            },
            "postgresql+psycopg://u:p%40ss@db:5432/wh",
        ),
        ({"conn_type": "http", "extra": {"sqlalchemy_url": "sqlite:///x.db"}}, "sqlite:///x.db"),
    ],
)
def test_connection_url(fields, url):
    conn_type = fields.pop("conn_type")
    assert connection_url(conn_type, **fields) == url


def test_connection_url_rejects_other_databases():
    with pytest.raises(WarehouseError, match="connection type 'mysql' is not supported"):
        connection_url("mysql", host="h")


@pytest.mark.postgres
def test_create_database_if_missing(pg_url, tmp_path):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sluice.connections import create_database_if_missing

    fresh = make_url(pg_url).set(database="sluice_test_created").render_as_string(hide_password=False)
    admin = create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    exists = text("SELECT count(*) FROM pg_database WHERE datname = 'sluice_test_created'")
    try:
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "sluice_test_created"'))
        create_database_if_missing(fresh)
        create_database_if_missing(fresh)  # a second call finds it and does nothing
        with admin.connect() as conn:
            assert conn.execute(exists).scalar() == 1
            conn.execute(text('DROP DATABASE "sluice_test_created"'))
    finally:
        admin.dispose()
    sqlite = f"sqlite:///{tmp_path / 'w.db'}"
    create_database_if_missing(sqlite)  # nothing to do: SQLite creates its file on first use
    assert not (tmp_path / "w.db").exists()


def test_arrow_chunks_stream_a_partition_in_chunks_of_the_asked_size(warehouse):
    from tests.factories import day, publish_features

    ids = publish_features(warehouse, day(0), 1050)
    publish_features(warehouse, day(1), 10)
    chunks = list(warehouse.arrow_chunks("features", day(0), ["sample_id", "ph"], chunk_size=500))
    assert [c.num_rows for c in chunks] == [500, 500, 50]
    assert chunks[0].column_names == ["sample_id", "ph"]
    assert sorted(v for c in chunks for v in c.column("sample_id").to_pylist()) == sorted(ids)
    expected = warehouse.read_partition("features", day(0)).set_index("sample_id")["ph"]
    got = pd.concat(c.to_pandas() for c in chunks).set_index("sample_id")["ph"]
    pd.testing.assert_series_equal(got.loc[expected.index], expected, check_names=False)
    assert list(warehouse.arrow_chunks("features", day(5), ["sample_id"])) == []
    with pytest.raises(WarehouseError, match="no columns \\['nope'\\]"):
        list(warehouse.arrow_chunks("features", day(0), ["nope"]))
