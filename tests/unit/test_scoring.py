"""Batch scoring without Airflow or MLflow: the signature check, the day plan, the pipeline, and
score_day on SQLite and PostgreSQL with a model fitted here."""

from __future__ import annotations

import datetime as dt
import threading
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from sluice import scoring, scoring_days, streams
from sluice.families import FAMILIES
from sluice.scoring import Pinned, ScoringError
from sluice.tables import prediction_batches, predictions
from tests.factories import FEATURES, day, publish_features, synthetic

AT = dt.datetime(2026, 1, 20, 1, tzinfo=dt.UTC)


def pinned(version: int = 1, inputs=None, feature_version: str | None = "v1") -> Pinned:
    inputs = inputs if inputs is not None else tuple((f, "double", True) for f in FEATURES)
    return Pinned("water_potability", version, inputs, feature_version)


@pytest.fixture(scope="module")
def model():
    frame = synthetic(10)
    return FAMILIES["logistic_regression"].build(0).fit(frame[list(FEATURES)], frame["label"])


def score(warehouse, d, model, version=1, **kw):
    kw.setdefault("chunk_size", 1000)
    return scoring.score_day(
        warehouse, d, pinned(version), model, scored_at=AT, scored_by="sluice_score/test", **kw
    )


def rows(warehouse, d, version=None) -> pd.DataFrame:
    query = select(predictions).where(predictions.c.sample_date == d)
    if version is not None:
        query = query.where(predictions.c.model_version == version)
    return pd.DataFrame(warehouse.fetch(query.order_by(predictions.c.sample_id)))


# --- the signature check ---------------------------------------------------------------------


def test_a_model_whose_signature_matches_the_features_passes():
    scoring.check_inputs(pinned())


def test_missing_and_mistyped_columns_are_named():
    inputs = (
        ("ph", "double", True),
        ("ph_squared", "double", True),
        ("turbidity", "string", True),
        ("entity", "double", True),
        ("gappy_extra", "double", False),  # optional in MLflow's sense: values had gaps
    )
    with pytest.raises(ScoringError) as err:
        scoring.check_inputs(pinned(inputs=inputs))
    message = str(err.value)
    assert "columns missing from features: ph_squared, gappy_extra" in message
    assert "turbidity (model expects string" in message
    assert "entity (model expects double" in message
    assert "water_potability version 1" in message


def test_pinned_survives_xcom():
    original = pinned(7)
    assert Pinned.from_dict(original.to_dict()) == original
    # XCom turns tuples into lists
    as_json = original.to_dict() | {"inputs": [list(i) for i in original.inputs]}
    assert Pinned.from_dict(as_json) == original


# --- which days ------------------------------------------------------------------------------


def test_days_asked_for_are_the_published_ones_in_the_range(warehouse):
    for offset in (0, 1, 3):
        publish_features(warehouse, day(offset), 5)
    assert scoring_days.plan_days(
        warehouse, first=day(0), last=day(3), feature_days=[], champion_changed=False
    ) == [day(0), day(1), day(3)]
    with pytest.raises(ScoringError, match="no published features for 2026-01-03"):
        scoring_days.plan_days(warehouse, first=day(2), last=None, feature_days=[], champion_changed=False)
    with pytest.raises(ScoringError, match="fill in 'day' too"):
        scoring_days.plan_days(warehouse, first=None, last=day(3), feature_days=[], champion_changed=False)
    with pytest.raises(ScoringError, match="before the first"):
        scoring_days.days_to_score(warehouse, day(3), day(1))


def test_a_new_champion_rescores_the_newest_day_only(warehouse):
    assert (
        scoring_days.plan_days(warehouse, first=None, last=None, feature_days=[], champion_changed=True) == []
    )
    for offset in (0, 1, 2):
        publish_features(warehouse, day(offset), 5)
    assert scoring_days.plan_days(
        warehouse, first=None, last=None, feature_days=[], champion_changed=True
    ) == [day(2)]
    both = scoring_days.plan_days(
        warehouse, first=None, last=None, feature_days=[day(0)], champion_changed=True, fallback=day(9)
    )
    assert both == [day(0), day(2)]
    assert scoring_days.plan_days(
        warehouse, first=None, last=None, feature_days=[], champion_changed=False, fallback=day(1)
    ) == [day(1)]


def test_days_a_lost_event_left_unscored_are_caught_up_once_serving_began(warehouse, model):
    for offset in range(6):
        publish_features(warehouse, day(offset), 5)
    assert scoring_days.unscored_days(warehouse, 30) == [], "no day served yet: nothing is owed"
    for offset in (1, 2, 4):
        score(warehouse, day(offset), model)
    # day 0 was featurised before serving began; days 3 and 5 had their events lost
    assert scoring_days.unscored_days(warehouse, 30) == [day(3), day(5)]
    assert scoring_days.unscored_days(warehouse, 1) == [day(5)], "only the last catch-up days"
    assert scoring_days.unscored_days(warehouse, 0) == []
    planned = scoring_days.plan_days(
        warehouse, first=None, last=None, feature_days=[day(5)], champion_changed=False, catch_up_days=30
    )
    assert planned == [day(3), day(5)]
    assert scoring_days.plan_days(
        warehouse,
        first=None,
        last=None,
        feature_days=[],
        champion_changed=False,
        fallback=day(4),
        catch_up_days=30,
    ) == [day(4)], "a run of its own day (a manual run) does only that day"
    with warehouse.transaction() as tx:  # a quarantined features day is not owed a score
        tx.update_partition("feature_batches", day(3), status="quarantined")
    assert scoring_days.unscored_days(warehouse, 30) == [day(5)]


def test_a_range_with_a_day_published_without_features_is_refused_and_names_it(warehouse):
    import json

    for offset in (0, 1, 2, 3):
        status = "quarantined" if offset == 2 else "published"
        batch = {
            "sample_date": day(offset),
            "batch_id": f"b{offset}",
            "source": "t",
            "columns": json.dumps([]),
        }
        batch |= {"row_count": 5, "landed_at": dt.datetime(2026, 2, 1, tzinfo=dt.UTC), "status": status}
        with warehouse.transaction() as tx:
            tx.replace_partition("ingest_batches", day(offset), pd.DataFrame([batch]))
    publish_features(warehouse, day(0), 5)
    publish_features(warehouse, day(3), 5)
    with pytest.raises(ScoringError, match=r"1 day\(s\) .* no features: 2026-01-02\. Build them first"):
        scoring_days.days_to_score(warehouse, day(0), day(3))
    publish_features(warehouse, day(1), 5)
    assert scoring_days.days_to_score(warehouse, day(0), day(3)) == [day(0), day(1), day(3)], (
        "a quarantined day has nothing to score and is no error"
    )


# --- the pipeline ----------------------------------------------------------------------------


def test_prefetch_keeps_order_and_raises_the_workers_error():
    assert list(streams.prefetch(range(50), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("broken chunk 2")

    out = streams.prefetch(failing())
    assert next(out) == 1
    with pytest.raises(ValueError, match="broken chunk 2"):
        next(out)


def test_a_consumer_that_stops_early_stops_the_worker_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    out = streams.prefetch(source(), depth=2)
    assert next(out) == 0
    out.close()
    assert closed.wait(2)
    assert not any(t.name == "sluice-prefetch" and t.is_alive() for t in threading.enumerate())


def test_parallel_map_keeps_order_and_bounds_what_is_in_flight():
    pulled = []

    def source():
        for i in range(40):
            pulled.append(i)
            yield i

    def slow(i):
        time.sleep(0.002 * ((i * 7) % 5))  # out of order finishing
        return i * i

    consumed = 0
    for i, value in enumerate(streams.parallel_map(slow, source(), workers=2, depth=2)):
        assert value == i * i
        consumed += 1
        assert len(pulled) - consumed <= 2 + 2  # never more than workers + depth ahead
    assert consumed == 40


def test_parallel_map_raises_the_first_failure():
    def boom(i):
        if i == 3:
            raise RuntimeError("chunk 3 failed")
        return i

    with pytest.raises(RuntimeError, match="chunk 3 failed"):
        list(streams.parallel_map(boom, range(10), workers=2))


# --- score_day, on both backends ---------------------------------------------------------------


def test_every_feature_row_gets_one_prediction_with_the_version(warehouse, model):
    ids = publish_features(warehouse, day(0), 2500)
    result = score(warehouse, day(0), model, version=3)
    assert (result.rows, result.chunks) == (2500, 3)
    got = rows(warehouse, day(0))
    assert sorted(got["sample_id"]) == sorted(ids)
    assert set(got["model_version"]) == {3}
    assert set(got["model_name"]) == {"water_potability"}
    frame = warehouse.read_partition("features", day(0)).set_index("sample_id").loc[got["sample_id"]]
    expected = model.predict_proba(frame[list(FEATURES)])[:, 1]
    np.testing.assert_allclose(got["score"].to_numpy(), expected, rtol=1e-12)
    assert (got["predicted"].to_numpy() == (expected >= 0.5)).all()
    batch = warehouse.fetch(select(prediction_batches))
    assert [(b["model_version"], b["row_count"], b["feature_version"]) for b in batch] == [(3, 2500, "v1")]


def test_chunking_does_not_change_the_predictions(warehouse, model):
    publish_features(warehouse, day(0), 2500)
    score(warehouse, day(0), model, version=1, chunk_size=100_000)
    one_chunk = rows(warehouse, day(0))
    score(warehouse, day(0), model, version=1, chunk_size=1000, workers=1)
    assert rows(warehouse, day(0)).equals(one_chunk)


def test_a_rerun_replaces_and_other_versions_stay(warehouse, model):
    publish_features(warehouse, day(0), 1200)
    score(warehouse, day(0), model, version=1)
    served = warehouse.digest("predictions", day(0))
    score(warehouse, day(0), model, version=1)
    assert warehouse.digest("predictions", day(0)) == served
    score(warehouse, day(0), model, version=2)
    assert len(rows(warehouse, day(0), version=1)) == len(rows(warehouse, day(0), version=2)) == 1200
    assert warehouse.count("prediction_batches", day(0)) == 2


def test_a_failure_half_way_leaves_the_previous_predictions(warehouse, model):
    publish_features(warehouse, day(0), 3000)
    score(warehouse, day(0), model)
    before = warehouse.digest("predictions", day(0))

    class Breaks:
        classes_ = model.classes_
        calls = 0

        def predict_proba(self, frame):
            Breaks.calls += 1
            if Breaks.calls == 2:
                raise RuntimeError("the model fell over on chunk 2")
            return model.predict_proba(frame)

    with pytest.raises(RuntimeError, match="chunk 2"):
        score(warehouse, day(0), Breaks(), workers=1)
    assert warehouse.digest("predictions", day(0)) == before


def test_scores_outside_zero_one_are_refused_with_sample_ids(warehouse, model):
    publish_features(warehouse, day(0), 10)

    class Broken:
        classes_ = np.array([0, 1])

        def predict_proba(self, frame):
            return np.full((len(frame), 2), np.nan)

    with pytest.raises(ScoringError, match=r"outside \[0, 1\].*S20260101-0000000"):
        score(warehouse, day(0), Broken())
    assert warehouse.count("predictions") == 0


def test_nothing_to_score_and_feature_set_mismatch_are_clear(warehouse, model):
    with pytest.raises(ScoringError, match="features of 2026-01-01 are not built"):
        score(warehouse, day(0), model)
    publish_features(warehouse, day(0), 10, feature_version="v2")
    with pytest.raises(ScoringError, match="trained on feature set v1, but the features of 2026-01-01 are"):
        score(warehouse, day(0), model)
    assert warehouse.count("predictions") == 0


def test_an_empty_published_day_writes_an_empty_batch(warehouse, model):
    publish_features(warehouse, day(0), 0)
    assert score(warehouse, day(0), model).rows == 0
    assert [b["row_count"] for b in warehouse.fetch(select(prediction_batches))] == [0]


def test_summary_names_the_version_days_and_rows():
    results = [
        scoring.ScoreResult(day(1), "m", 4, 10, 1, 0.1),
        scoring.ScoreResult(day(0), "m", 4, 5, 1, 0.1),
    ]
    assert scoring.summary(results) == {
        "model_name": "m",
        "version": 4,
        "day": "2026-01-02",
        "days": ["2026-01-02", "2026-01-01"],
        "rows": 15,
        "rows_by_day": {"2026-01-02": 10, "2026-01-01": 5},
    }
