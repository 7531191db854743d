"""Training without Airflow: the spec, the data window, the time split, folds, search, selection."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sluice import training
from sluice.families import FAMILIES
from sluice.specs import MODEL_FAMILIES, TrainingError, TrainingSpec
from sluice.training import (
    day_folds,
    holdout_metrics,
    load_labelled,
    search,
    select_best,
    time_split,
)
from tests.factories import FEATURES, day, synthetic, write_day, write_labels

# --- spec ------------------------------------------------------------------------------------


def test_the_offered_families_are_the_implemented_ones():
    assert set(MODEL_FAMILIES) == set(FAMILIES)


def test_the_window_ends_at_the_label_cutoff():
    spec = TrainingSpec(as_of=day(40), window_days=28, label_cutoff_days=3)
    assert spec.window == (day(10), day(37))
    params = spec.params()
    assert (params["window_first_day"], params["window_last_day"]) == ("2026-01-11", "2026-02-07")
    assert params["families"] == "logistic_regression,random_forest,hist_gradient_boosting"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"families": ()}, "choose at least one model family"),
        ({"families": ("svm",)}, "families: unknown 'svm'"),
        ({"selection_metric": "precision"}, "selection_metric 'precision' is not one of"),
        ({"budget": 0}, "budget=0: at least one candidate"),
        ({"window_days": 8, "holdout_days": 7}, "window_days=8 leaves too few training days"),
        ({"cv_folds": 0}, "cv_folds=0: at least 1"),
        ({"importance_rows": -1}, "importance_rows=-1: not negative"),
    ],
)
def test_a_bad_spec_names_the_field(kwargs, message):
    with pytest.raises(TrainingError, match=message):
        TrainingSpec(as_of=day(40), **kwargs)


# --- split and folds -------------------------------------------------------------------------


def test_the_holdout_is_the_newest_days_and_no_holdout_day_is_trained_on():
    split = time_split(synthetic(10), holdout_days=3)
    assert split.holdout_days == [day(7), day(8), day(9)]
    assert split.train_days == [day(i) for i in range(7)]
    assert not set(split.train["sample_date"]) & set(split.holdout["sample_date"])
    assert not set(split.train["sample_id"]) & set(split.holdout["sample_id"])


def test_a_split_without_enough_days_or_classes_is_refused():
    with pytest.raises(
        TrainingError, match=r"only 3 labelled day\(s\).*need 3 for the hold-out and at least 2"
    ):
        time_split(synthetic(3), holdout_days=3, min_train_days=2)
    one_class = synthetic(5).assign(label=1)
    with pytest.raises(TrainingError, match="the training days hold only one class"):
        time_split(one_class, holdout_days=2)


def test_folds_are_whole_days_and_validate_only_on_later_days():
    frame = synthetic(8, rows_per_day=5)
    folds = day_folds(frame["sample_date"], n_splits=3)
    assert len(folds) == 3
    for train_idx, valid_idx in folds:
        train_days = set(frame["sample_date"].iloc[train_idx])
        valid_days = set(frame["sample_date"].iloc[valid_idx])
        assert max(train_days) < min(valid_days), "validation days come after the training days"
        for d in valid_days:  # a day is never split between fitting and validation
            assert (frame["sample_date"].iloc[valid_idx] == d).sum() == (frame["sample_date"] == d).sum()
    assert day_folds(frame["sample_date"], 3)[-1][1].max() == len(frame) - 1, (
        "the last fold ends at the newest day"
    )
    with pytest.raises(TrainingError, match=r"3 training day\(s\) cannot make 3 time-ordered folds"):
        day_folds(frame["sample_date"][frame["sample_date"] < day(3)], 3)
    two_days = frame["sample_date"][frame["sample_date"] < day(2)]
    ((fit, valid),) = day_folds(two_days, 1)  # one split: the first day tunes, the second validates
    assert set(two_days.iloc[fit]) == {day(0)} and set(two_days.iloc[valid]) == {day(1)}
    with pytest.raises(TrainingError, match=r"1 training day\(s\) cannot make 1 time-ordered folds"):
        day_folds(frame["sample_date"][frame["sample_date"] < day(1)], 1)


# --- search, metrics, selection --------------------------------------------------------------


@pytest.mark.parametrize("family_name", list(FAMILIES))
def test_the_search_tries_exactly_its_budget(family_name):
    spec = TrainingSpec(
        as_of=day(20), window_days=10, holdout_days=2, budget=3, cv_folds=2, families=(family_name,)
    )
    split = time_split(synthetic(8, rows_per_day=40), holdout_days=2)
    result = search(spec, family_name, split.train)
    assert result.candidates == 3
    assert len(result.cv_results) == 3
    assert {"split0_test_score", "split1_test_score"} <= set(result.cv_results.columns)
    assert "split2_test_score" not in result.cv_results.columns
    assert result.model.predict_proba(split.holdout[list(FEATURES)]).shape == (len(split.holdout), 2)


@pytest.mark.parametrize("family_name", list(FAMILIES))
def test_skops_trusts_exactly_the_types_each_fitted_pipeline_needs(family_name):
    import skops.io

    spec = TrainingSpec(as_of=day(20), window_days=10, holdout_days=2, budget=1, cv_folds=2)
    split = time_split(synthetic(6, rows_per_day=30), holdout_days=2)
    model = search(spec, family_name, split.train).model
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    assert sorted(untrusted) == sorted(FAMILIES[family_name].trusted_types)


@pytest.mark.parametrize("family_name", list(FAMILIES))
def test_every_family_takes_categorical_inputs_and_skops_trusts_what_they_need(family_name):
    import skops.io

    frame = synthetic(6, rows_per_day=200)
    rng = np.random.default_rng(1)
    frame["channel"] = rng.choice(["web", "app", "phone", None], len(frame)).astype(object)
    # class 1 is much likelier by phone: an encoder that drops the column loses this signal
    frame["label"] = np.where(frame["channel"] == "phone", 1, frame["label"])
    features = (*FEATURES, "channel")
    spec = TrainingSpec(
        as_of=day(20),
        window_days=10,
        holdout_days=2,
        budget=1,
        cv_folds=2,
        features=features,
        categorical=("channel",),
        feature_version="v1",
    )
    split = time_split(frame, holdout_days=2)
    model = search(spec, family_name, split.train).model
    unseen = split.holdout[list(features)].head(5).copy()
    unseen["channel"] = ["fax", None, "web", "phone", "app"]  # a category training never saw
    assert model.predict_proba(unseen).shape == (5, 2)
    by_phone = split.holdout[list(features)].assign(channel="phone")
    by_web = split.holdout[list(features)].assign(channel="web")
    assert model.predict_proba(by_phone)[:, 1].mean() > model.predict_proba(by_web)[:, 1].mean()
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    assert sorted(untrusted) == sorted(FAMILIES[family_name].trusted(spec.categorical))


def test_training_is_reproducible_for_the_same_seed_and_data():
    split = time_split(synthetic(8, rows_per_day=40), holdout_days=2)
    X, y = split.holdout[list(FEATURES)], split.holdout["label"].to_numpy()

    def metrics(seed: int) -> dict:
        spec = TrainingSpec(as_of=day(20), window_days=10, holdout_days=2, budget=2, cv_folds=2, seed=seed)
        return holdout_metrics(y, search(spec, "random_forest", split.train).model.predict_proba(X)[:, 1])

    assert metrics(7) == metrics(7)
    assert metrics(7) != metrics(8)


def test_holdout_metrics_on_known_scores():
    y = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.6, 0.4, 0.9])
    m = holdout_metrics(y, score)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))


RESULTS = {
    "logistic_regression": {"roc_auc": 0.90, "log_loss": 0.40, "brier": 0.13},
    "random_forest": {"roc_auc": 0.88, "log_loss": 0.38, "brier": 0.13},
    "hist_gradient_boosting": {"roc_auc": 0.90, "log_loss": 0.45, "brier": 0.12},
}


@pytest.mark.parametrize(
    ("metric", "best"),
    [
        ("roc_auc", "logistic_regression"),  # tied with hist_gradient_boosting: the first listed wins
        ("log_loss", "random_forest"),  # lower is better
        ("brier", "hist_gradient_boosting"),
    ],
)
def test_selection_picks_the_best_holdout_metric(metric, best):
    assert select_best(RESULTS, metric) == best


def test_selection_errors():
    with pytest.raises(TrainingError, match="no family finished training"):
        select_best({}, "roc_auc")
    with pytest.raises(TrainingError, match="families without a hold-out f1: logistic_regression"):
        select_best({"logistic_regression": {"roc_auc": 0.9}}, "f1")
    with pytest.raises(TrainingError, match="selection metric 'auc' is not one of"):
        select_best(RESULTS, "auc")


# --- the data window, on a real warehouse ----------------------------------------------------


def test_only_labels_that_had_arrived_by_as_of_within_the_window_are_used(warehouse):
    for i in range(10):
        write_day(warehouse, day(i))
    write_labels(warehouse, day(9), [f"S{day(i):%Y%m%d}-0" for i in range(7)])  # in time
    write_labels(warehouse, day(11), [f"S{day(i):%Y%m%d}-1" for i in range(7)])  # after as_of
    write_labels(warehouse, day(8), ["S20260102-0"], label=0)  # an earlier, superseded result
    spec = TrainingSpec(as_of=day(10), window_days=6, holdout_days=1, cv_folds=2, label_cutoff_days=3)
    assert spec.window == (day(2), day(7))
    frame = load_labelled(warehouse, spec)
    assert sorted(set(frame["sample_date"])) == [day(i) for i in range(2, 7)]  # day 7 has no label yet
    assert set(frame["sample_id"].str[-1]) == {"0"}, "labels that arrive after as_of are not used"
    assert list(frame.columns) == ["sample_date", "sample_id", "entity", "sampled_at", *FEATURES, "label"]
    assert frame["sampled_at"].is_monotonic_increasing

    early = TrainingSpec(as_of=day(10), window_days=9, holdout_days=1, cv_folds=2, label_cutoff_days=3)
    twice = load_labelled(warehouse, early).set_index("sample_id")
    assert twice.loc["S20260102-0", "label"] == 1, "a sample labelled twice keeps its newest result"


def test_a_window_without_labels_says_what_to_do(warehouse):
    write_day(warehouse, day(0))
    spec = TrainingSpec(as_of=day(10), window_days=6, holdout_days=1, cv_folds=2)
    with pytest.raises(
        TrainingError,
        match=r"feature version v1 between 2026-01-03 and 2026-01-08 \(labels up to 2026-01-11\)",
    ):
        load_labelled(warehouse, spec)


def test_the_feature_version_is_part_of_the_query(warehouse, monkeypatch):
    write_day(warehouse, day(3))
    write_labels(warehouse, day(4), [f"S{day(3):%Y%m%d}-{i}" for i in range(4)])
    spec = TrainingSpec(as_of=day(6), window_days=6, holdout_days=1, cv_folds=2, label_cutoff_days=0)
    assert len(load_labelled(warehouse, spec)) == 4
    other = TrainingSpec(**{**spec.__dict__, "feature_version": "v2"})
    with pytest.raises(TrainingError, match="feature version v2"):
        load_labelled(warehouse, other)
    assert training.dataset_digest(load_labelled(warehouse, spec)) == training.dataset_digest(
        load_labelled(warehouse, spec).iloc[::-1]
    ), "the digest does not depend on row order"


def test_training_since_a_change_learns_only_from_its_days_with_a_hold_out_that_fits():
    from sluice.specs import TrainingError, TrainingSpec, since_change

    spec = TrainingSpec(as_of=dt.date(2026, 2, 6), label_cutoff_days=3)  # window 01-07..02-03
    assert since_change(spec, dt.date(2026, 1, 1)) == spec  # before the window: nothing changes
    short = since_change(spec, dt.date(2026, 1, 31))  # 01-31..02-03: 4 days
    assert short.window == (dt.date(2026, 1, 31), dt.date(2026, 2, 3))
    assert (short.holdout_days, short.cv_folds) == (1, 2)
    longer = since_change(spec, dt.date(2026, 1, 20))  # 15 days
    assert (longer.window[0], longer.holdout_days, longer.cv_folds) == (dt.date(2026, 1, 20), 3, 3)
    shortest = since_change(spec, dt.date(2026, 2, 1))  # 3 days: one hold-out day, one split
    assert (shortest.holdout_days, shortest.cv_folds) == (1, 1)
    with pytest.raises(TrainingError, match="only 2 sample days from 2026-02-02"):
        since_change(spec, dt.date(2026, 2, 2))
