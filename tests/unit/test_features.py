"""Feature functions (pure) and building a day's features on a real warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from sluice import checking, features, ingest
from sluice.domains.water import DOMAIN, MEASUREMENTS
from sluice.domains.water import STATIONS as DEFAULT_STATIONS
from sluice.domains.water.simulator import Scenario, SimulatorConfig
from sluice.domains.water.source import SimulatedSource
from sluice.features import FeatureError, build_features, history_window, row_features

FEATURES = DOMAIN.feature_names
FEATURE_VERSION = DOMAIN.features.version
STATIONS = ("station_id",)
STATION_MEANS = tuple(f"{m}_station_mean" for m in MEASUREMENTS)

AS_OF = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
START = dt.date(2026, 1, 1)
SOURCE = SimulatedSource(
    SimulatorConfig(seed=5, rows_per_day=200, label_delay_days=2, scenario=Scenario("stable", START))
)


def day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


def observation_rows(d: dt.date, stations: list[str], ph: list[float | None]) -> pd.DataFrame:
    n = len(stations)
    frame = pd.DataFrame(
        {
            "sample_date": [d] * n,
            "batch_id": "b",
            "sample_id": [f"S{d:%Y%m%d}-{i}" for i in range(n)],
            "station_id": stations,
            "sampled_at": pd.Timestamp(d, tz="UTC") + pd.to_timedelta(np.arange(n), unit="h"),
        }
    )
    for m in MEASUREMENTS:
        frame[m] = 10.0
    frame["ph"] = pd.array(ph, dtype="float64")
    frame["published_at"] = AS_OF
    return frame


# --- pure functions --------------------------------------------------------------------------


def test_row_features_are_computed_per_row_and_keep_missing_values_missing():
    rows = observation_rows(day(3), ["ST01", "ST02", "ST03"], [7.0, 9.5, None])
    rows.loc[2, "sulfate"] = np.nan
    out = row_features(rows, DOMAIN)
    assert out["ph_from_neutral"].tolist()[:2] == [0.0, 2.5]
    assert np.isnan(out.loc[2, "ph_from_neutral"])
    assert np.isnan(out.loc[2, "ph"]), "imputation belongs in the model pipeline, not in the table"
    assert out["missing_measurements"].tolist() == [0.0, 0.0, 2.0]
    assert rows.loc[2, "sulfate"] != rows.loc[2, "sulfate"], "the input frame is not modified"


def test_build_features_joins_each_sample_with_its_own_stations_history():
    rows = observation_rows(day(3), ["ST01", "ST02", "ST07"], [7.0, 8.0, 6.0])
    history = pd.DataFrame(
        {"station_id": ["ST01", "ST02"], "station_history_samples": [10.0, 4.0]}
        | {mean: [1.0, 2.0] for mean in STATION_MEANS}
    ).set_index("station_id")
    out = build_features(rows, {STATIONS: history}, day(3), DOMAIN)
    assert out["entity"].tolist() == ["ST01", "ST02", "ST07"], "the entity key is the station"
    assert list(out.columns) == [
        "sample_date",
        "sample_id",
        "entity",
        "sampled_at",
        "feature_version",
        *FEATURES,
    ]
    assert (out["feature_version"] == FEATURE_VERSION).all()
    assert out["ph_station_mean"].tolist()[:2] == [1.0, 2.0]
    assert out.loc[2, "station_history_samples"] == 0.0, "a station without history has 0 past samples"
    assert np.isnan(out.loc[2, "ph_station_mean"])


def test_build_features_works_without_any_history():
    out = build_features(observation_rows(day(0), ["ST01"], [7.0]), {}, day(0), DOMAIN)
    assert out.loc[0, "station_history_samples"] == 0.0
    assert out[list(STATION_MEANS)].isna().all(axis=None)


def test_build_features_holds_little_more_than_its_result_at_its_peak():
    """A piece of the day is built with its parts and one copy of them in flight: the peak of the
    memory Python traces while building stays under 3.5 times the result's own (2.7 here; a
    concat of the parts copied them two or three times over, 5.4 times)."""
    import tracemalloc

    n = 50_000
    rows = observation_rows(day(3), [DEFAULT_STATIONS[i % 12] for i in range(n)], [7.0] * n)
    history = pd.DataFrame(
        {"station_id": DEFAULT_STATIONS[:6], "station_history_samples": 5.0}
        | {mean: 1.0 for mean in STATION_MEANS}
    ).set_index("station_id")
    rows.index = pd.RangeIndex(7, 7 + n)  # a piece of a larger day: rows are renumbered
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = build_features(rows, {STATIONS: history}, day(3), DOMAIN)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    size = out.memory_usage(index=False, deep=False).sum()
    assert list(out.index) == list(range(n)) and out["sample_id"].tolist() == rows["sample_id"].tolist()
    assert peak < 3.5 * size, f"building {n:,} rows peaked at {peak / size:.1f}× the result's {size >> 20} MB"


def test_build_features_refuses_rows_of_another_day():
    rows = pd.concat([observation_rows(day(3), ["ST01"], [7.0]), observation_rows(day(4), ["ST01"], [7.0])])
    with pytest.raises(
        FeatureError, match=r"features for 2026-01-04: got observations of \['2026-01-04', '2026-01-05'\]"
    ):
        build_features(rows, {}, day(3), DOMAIN)


def test_the_history_window_ends_the_day_before():
    assert history_window(day(10), 7) == (day(3), day(9))
    with pytest.raises(ValueError, match="history_days=0 must be at least 1"):
        history_window(day(10), 0)


# --- on the warehouse ------------------------------------------------------------------------


def publish(warehouse, d: dt.date, frame: pd.DataFrame) -> None:
    with warehouse.transaction() as tx:
        tx.replace_partition("observations", d, frame)


def test_station_history_reads_only_the_days_before_and_averages_what_was_measured(warehouse):
    publish(warehouse, day(1), observation_rows(day(1), ["ST01", "ST01", "ST02"], [6.0, None, 8.0]))
    publish(warehouse, day(2), observation_rows(day(2), ["ST01"], [9.0]))
    publish(warehouse, day(0), observation_rows(day(0), ["ST01"], [100.0]))  # before the window
    publish(warehouse, day(3), observation_rows(day(3), ["ST01"], [100.0]))  # the day itself
    publish(warehouse, day(4), observation_rows(day(4), ["ST01"], [100.0]))  # the future
    stats = features.entity_history(warehouse, day(3), history_days=2)[STATIONS]
    assert stats.loc["ST01", "station_history_samples"] == 3
    assert stats.loc["ST01", "ph_station_mean"] == pytest.approx(7.5)  # (6 + 9) / 2, the missing one skipped
    assert stats.loc["ST02", "ph_station_mean"] == pytest.approx(8.0)


def ingest_days(warehouse, gx_root, days):
    for d in days:
        ingest.land(warehouse, SOURCE, d, AS_OF)
        checking.validate(warehouse, d, gx_root=gx_root, tolerance=0.05, as_of=AS_OF)
        ingest.publish(warehouse, d, as_of=AS_OF)


def test_a_days_features_never_depend_on_later_days(warehouse, tmp_path):
    ingest_days(warehouse, tmp_path, [day(i) for i in range(4)])
    result = features.build_day(warehouse, day(3), history_days=3, gx_root=tmp_path, as_of=AS_OF)
    assert result.verdict.decision == "publish"
    before = warehouse.digest("features", day(3))

    later = observation_rows(day(4), DEFAULT_STATIONS[:4], [13.0] * 4)  # wild values, a day later
    publish(warehouse, day(4), later)
    features.build_day(warehouse, day(3), history_days=3, gx_root=tmp_path, as_of=AS_OF)
    assert warehouse.digest("features", day(3)) == before


def test_build_day_writes_the_day_once_and_records_the_batch(warehouse, tmp_path):
    ingest_days(warehouse, tmp_path, [day(0), day(1)])
    first = features.build_day(warehouse, day(1), history_days=7, gx_root=tmp_path, as_of=AS_OF)
    assert first.summary() == {
        "day": "2026-01-02",
        "feature_version": FEATURE_VERSION,
        "rows": warehouse.count("observations", day(1)),
        "decision": "publish",
    }
    stored = warehouse.read_partition("features", day(1))
    assert len(stored) == first.rows
    assert (stored["station_history_samples"] > 0).all(), "day 0 is every station's history"
    [batch] = warehouse.read_partition("feature_batches", day(1)).to_dict("records")
    assert (batch["status"], batch["row_count"], batch["history_days"]) == ("published", first.rows, 7)
    assert batch["validation_url"].startswith("file://")

    digest = warehouse.digest("features")
    features.build_day(warehouse, day(1), history_days=7, gx_root=tmp_path, as_of=AS_OF)
    assert warehouse.digest("features") == digest, "a re-run replaces the day with the same rows"


def test_features_that_fail_validation_are_quarantined_and_nothing_stale_stays(
    warehouse, tmp_path, monkeypatch
):
    ingest_days(warehouse, tmp_path, [day(0)])
    features.build_day(warehouse, day(0), history_days=7, gx_root=tmp_path, as_of=AS_OF)
    assert warehouse.count("features", day(0)) > 0

    def broken(rows, domain):  # a feature-code bug: a negative count
        out = row_features(rows, domain)
        out["missing_measurements"] = -1.0
        return out

    monkeypatch.setattr(features, "row_features", broken)
    result = features.build_day(warehouse, day(0), history_days=7, gx_root=tmp_path, as_of=AS_OF)
    assert result.verdict.decision == "quarantine"
    assert "expect_column_values_to_be_between(missing_measurements)" in result.verdict.message(
        result.batch_id, day(0), table="features"
    )
    assert warehouse.count("features", day(0)) == 0
    [held] = warehouse.read_partition("quarantine", day(0)).to_dict("records")
    assert (held["table_name"], held["scope"], held["quarantined_rows"]) == ("features", "batch", result.rows)
    assert warehouse.count("quarantine_rows", day(0)) == result.rows
    payload = json.loads(warehouse.read_partition("quarantine_rows", day(0))["payload"].iloc[0])
    assert payload["missing_measurements"] == -1.0, "the rows are kept as built, for the post-mortem"
    assert warehouse.read_partition("feature_batches", day(0))["status"].tolist() == ["quarantined"]


def _built(warehouse) -> dict[str, pd.DataFrame]:
    """The tables building day 1 writes, in a stable order, without the Data Docs pages."""
    tables = {"features": "sample_id", "quarantine_rows": "row_number", "quarantine": "table_name"}
    out = {
        t: warehouse.read_partition(t, day(1)).sort_values(key).reset_index(drop=True)
        for t, key in tables.items()
    }
    out["feature_batches"] = warehouse.read_partition("feature_batches", day(1))
    for frame in out.values():
        frame.drop(columns=["validation_url"], errors="ignore", inplace=True)
    return out


@pytest.mark.parametrize("broken", [False, True], ids=["passes", "fails"])
def test_a_day_built_in_pieces_writes_what_one_pass_writes(warehouse, tmp_path, monkeypatch, broken):
    """Pieces of 64 and 150 rows of a 200-row day: the same features, the same verdict (the
    same failing rows of the same checks when a feature bug breaks some rows), the same
    quarantine; each piece is validated and written on its own, none holds the day."""
    ingest_days(warehouse, tmp_path, [day(0), day(1)])
    if broken:

        def bug(rows, domain):  # a feature-code bug on some rows only: negative counts
            out = row_features(rows, domain)
            out.loc[rows[DOMAIN.id].str.endswith("7").to_numpy(), "missing_measurements"] = -1.0
            return out

        monkeypatch.setattr(features, "row_features", bug)
    whole = features.build_day(warehouse, day(1), history_days=7, gx_root=tmp_path, as_of=AS_OF)
    expected = _built(warehouse)
    assert whole.verdict.decision == ("quarantine" if broken else "publish")
    assert len(expected["quarantine_rows"]) == (whole.rows if broken else 0)

    built = features.build_features
    sizes: list[int] = []
    monkeypatch.setattr(
        features, "build_features", lambda rows, *a: sizes.append(len(rows)) or built(rows, *a)
    )
    for piece_rows in (64, 150):
        sizes.clear()
        result = features.build_day(
            warehouse, day(1), history_days=7, gx_root=tmp_path, as_of=AS_OF, piece_rows=piece_rows
        )
        assert max(sizes) == piece_rows and sum(sizes) == whole.rows * (2 if broken else 1)
        assert (result.rows, result.verdict.decision) == (whole.rows, whole.verdict.decision)
        assert [
            (f.expectation, f.column, f.unexpected_count, f.row_numbers) for f in result.verdict.failures
        ] == [(f.expectation, f.column, f.unexpected_count, f.row_numbers) for f in whole.verdict.failures]
        got = _built(warehouse)
        for table, frame in expected.items():
            pd.testing.assert_frame_equal(got[table], frame, obj=f"{table} in pieces of {piece_rows}")


def test_build_day_without_published_observations_says_so(warehouse, tmp_path):
    with pytest.raises(
        FeatureError, match=r"no published observations for 2026-01-06 \(ingest status: not ingested\)"
    ):
        features.build_day(warehouse, day(5), history_days=7, gx_root=tmp_path, as_of=AS_OF)


def test_unbuilt_days_are_published_days_without_features(warehouse, tmp_path):
    ingest_days(warehouse, tmp_path, [day(0), day(1), day(2), day(3)])
    features.build_day(warehouse, day(1), history_days=7, gx_root=tmp_path, as_of=AS_OF)
    with warehouse.transaction() as tx:  # day 2 was quarantined: nothing to build
        tx.update_partition("ingest_batches", day(2), status="quarantined")
    assert features.unbuilt_days(warehouse, day(3), lookback_days=7) == [day(0), day(3)]
    assert features.unbuilt_days(warehouse, day(3), lookback_days=2) == [day(3)]
    assert features.unbuilt_days(warehouse, day(2), lookback_days=7) == [day(0)], "never after up_to"


def test_a_run_also_builds_days_published_after_its_own(warehouse, tmp_path):
    """Two days published at once: the first day's run builds the second too (its event may have been
    folded into this run), but never a day that was not published."""
    ingest_days(warehouse, tmp_path, [day(0), day(1), day(2)])
    with warehouse.transaction() as tx:
        tx.update_partition("ingest_batches", day(2), status="quarantined")
    assert features.with_unbuilt(warehouse, [day(0)], catch_up_days=7) == [day(0), day(1)]
    assert features.with_unbuilt(warehouse, [day(0)], catch_up_days=0) == [day(0)]


def test_label_rates_count_only_labels_known_the_day_before_and_the_newest_wins(warehouse_url):
    """A history label rate for day D uses the window's samples whose label had arrived by D - 1; a
    corrected label counts once, with its newest value; grouped counts follow their own key."""
    from sluice.domain import COUNT, LABEL_RATE, MEAN, Aggregate, FeatureSet
    from sluice.warehouse import Warehouse
    from tests.factories import shop_domain, write_labels

    shop = shop_domain(
        FeatureSet(
            "t1",
            history=(
                Aggregate("return_rate", MEAN, of=LABEL_RATE),
                Aggregate("labelled", COUNT, of=LABEL_RATE),
                Aggregate("channel_orders", COUNT, by=("channel",)),
            ),
        )
    )
    store = Warehouse(warehouse_url, domain=shop)
    store.drop_tables()
    store.create_tables()

    def orders(d: dt.date, ids: list[str], channel: str = "web") -> None:
        frame = pd.DataFrame(
            {
                "sample_date": d,
                "batch_id": "b",
                "order_id": ids,
                "placed_at": pd.Timestamp(d, tz="UTC"),
                "shop": "north",
                "channel": channel,
                "amount": 1.0,
                "published_at": AS_OF,
            }
        )
        with store.transaction() as tx:
            tx.replace_partition("observations", d, frame)

    orders(day(1), ["a", "b", "c"])
    orders(day(2), ["d"], channel="app")
    write_labels(store, day(1), ["a", "b"], label=1)
    write_labels(store, day(2), ["a"], label=0)  # a correction: a was kept after all
    write_labels(store, day(3), ["c"], label=1)  # arrives on day 3 itself: not known yet
    write_labels(store, day(4), ["d"], label=1)  # later still
    history = features.entity_history(store, day(3), history_days=3)
    north = history[("shop",)].loc["north"]
    assert (north["return_rate"], north["labelled"]) == (0.5, 2.0), "a (now 0) and b (1); not c, not d"
    assert history[("channel",)].loc["web", "channel_orders"] == 3
    assert history[("channel",)].loc["app", "channel_orders"] == 1
    later = features.entity_history(store, day(5), history_days=4)[("shop",)].loc["north"]
    assert (later["return_rate"], later["labelled"]) == (0.75, 4.0), "c and d are known by day 4"
    store.drop_tables()
