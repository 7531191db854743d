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


class _OneTable:
    """A schema of one table, for writing a table of every column type through a transaction."""

    def __init__(self, table) -> None:
        self._table = table

    def table(self, _name):
        return self._table


def _every_type_table():
    from sqlalchemy import Column, Date, DateTime, Float, Integer, MetaData, SmallInteger, Table, Text

    return Table(
        "copy_classes",
        MetaData(),
        Column("k", Integer, nullable=False),
        Column("t", Text),
        Column("f", Float),
        Column("i", Integer),
        Column("s", SmallInteger),
        Column("ts", DateTime(timezone=True)),
        Column("d", Date),
    )


def _classes_of_values(n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of every class of value per type, about one in five missing, shuffled by ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def pick(values: list, missing=None) -> list:
        chosen = [values[i] for i in rng.integers(0, len(values), n)]
        return [missing if rng.random() < 0.2 else v for v in chosen]

    # 1700 to 2200, down to the nanosecond (nanoseconds since 1970)
    stamps = pd.to_datetime(rng.integers(-8_500_000_000_000_000_000, 7_250_000_000_000_000_000, n), utc=True)
    floats = [
        *(f for f in HARD_FLOATS if f is not None),
        float("inf"),
        float("-inf"),
        *rng.normal(0, 1e6, 20),
    ]
    return pd.DataFrame(
        {
            "k": range(n),
            "t": pick(
                [
                    *(t for t in HARD_TEXT if t is not None),
                    *(chr(int(c)) for c in rng.integers(1, 0xD7FF, 20)),
                ]
            ),
            "f": pick(floats, float("nan")),
            "i": pick([2**31 - 1, -(2**31), 0, -1, *rng.integers(-(2**31), 2**31, 20)]),
            "s": pick([32767, -32768, 0, 1]),
            "ts": pd.Series(stamps).where(rng.random(n) > 0.2),
            "d": pick(
                [dt.date(1, 1, 1), dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(9999, 12, 31), DAY]
            ),
        }
    )


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_copy_stores_every_class_of_value_of_every_column_type_exactly(pg_url, seed):
    """Random rows of every class of value per column type, about one in five missing, through
    the binary ``COPY`` and back through SQLAlchemy's rows: each cell as ``frames.column_values``
    made it. Text byte for byte, floats bit for bit (-0.0, infinities), integers to their widths'
    bounds, timestamps to the microsecond (a finer one is cut, as ``datetime`` cuts it) either side
    of 1970 and 2000, dates from year 1 to 9999."""
    import struct

    from sqlalchemy import create_engine, select

    from sluice.frames import column_values
    from sluice.transaction import Transaction

    table = _every_type_table()
    frame = _classes_of_values(2_000, seed)
    engine = create_engine(pg_url)
    table.metadata.drop_all(engine)
    table.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            Transaction(conn, _OneTable(table)).insert(table, frame)
        with engine.connect() as conn:
            back = [tuple(row) for row in conn.execute(select(table).order_by(table.c.k))]
    finally:
        table.metadata.drop_all(engine)
        engine.dispose()
    expected = list(zip(*(column_values(frame[c.name], c) for c in table.c), strict=True))

    def exact(v):
        return ("float", struct.pack(">d", v)) if isinstance(v, float) else v

    assert len(back) == len(expected) == len(frame)
    for got, want in zip(back, expected, strict=True):
        assert [exact(v) for v in got] == [exact(v) for v in want], (got, want)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("i", 2**31, r"copy_classes\.i: 2147483648 \(row 1\) does not fit the column's type \(INTEGER\)"),
        ("s", -32769, r"copy_classes\.s: -32769 \(row 1\) does not fit the column's type \(SMALLINT\)"),
        ("t", 7, r"copy_classes\.t: 7 \(row 1\) does not fit the column's type \(TEXT\)"),
        (
            "d",
            "2026-01-01",
            r"copy_classes\.d: '2026-01-01' \(row 1\) does not fit the column's type \(DATE\)",
        ),
    ],
)
def test_a_write_refuses_a_value_its_column_cannot_hold_and_writes_nothing(
    warehouse_url, column, value, message
):
    """A value the column's type cannot hold is refused by name and row, on both backends: the
    binary ``COPY`` stored an int4 of 2**31 as -2**31 and an int2 of -32769 as 32767, silently."""
    from sqlalchemy import create_engine, func, select

    from sluice.transaction import Transaction

    table = _every_type_table()
    frame = _classes_of_values(3, seed=4)
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    engine = create_engine(warehouse_url)
    table.metadata.drop_all(engine)
    table.metadata.create_all(engine)
    try:
        with pytest.raises(WarehouseError, match=message), engine.begin() as conn:
            Transaction(conn, _OneTable(table)).insert(table, frame)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0
    finally:
        table.metadata.drop_all(engine)
        engine.dispose()
