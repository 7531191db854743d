"""The promotion decision (pure), the paired bootstrap, entity slices and the hold-out days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sluice.evaluation import (
    EvaluationError,
    Interval,
    Policy,
    SliceResult,
    compare,
    decide,
    holdout_days_for,
    paired_bootstrap,
    slice_results,
)

POLICY = Policy(margin=0.005, slice_tolerance=0.05, min_slice_rows=100)
CHAMPION = {"roc_auc": 0.900, "f1": 0.80, "accuracy": 0.82, "log_loss": 0.40, "brier": 0.13}


def metrics(**changes: float) -> dict[str, float]:
    return CHAMPION | changes


def interval(low: float, high: float, estimate: float | None = None) -> Interval:
    return Interval("roc_auc", (low + high) / 2 if estimate is None else estimate, low, high, 0.95, 1000)


SLICES_OK = [SliceResult("ST01", 400, 0.90, 0.92), SliceResult("ST02", 400, 0.88, 0.90)]


@pytest.mark.parametrize(
    ("challenger", "champion", "ci", "slices", "decision", "reason"),
    [
        pytest.param(metrics(roc_auc=0.70), None, None, [], "promote", "no champion yet", id="no-champion"),
        pytest.param(
            metrics(roc_auc=0.930, log_loss=0.36, brier=0.12, accuracy=0.85),
            CHAMPION,
            interval(0.020, 0.040),
            SLICES_OK,
            "promote",
            "interval [+0.0200, +0.0400] above zero",
            id="clearly-better",
        ),
        pytest.param(
            metrics(roc_auc=0.910),
            CHAMPION,
            interval(-0.004, 0.024, estimate=0.010),
            SLICES_OK,
            "reject",
            "bootstrap interval of the gain [-0.0040, +0.0240] does not exclude zero",
            id="better-but-ci-crosses-zero",
        ),
        pytest.param(
            metrics(roc_auc=0.930),
            CHAMPION,
            interval(0.020, 0.040),
            [SliceResult("ST01", 400, 0.90, 0.93), SliceResult("ST07", 350, 0.91, 0.80)],
            "reject",
            "entity ST07: roc_auc gets worse by 0.1100",
            id="better-overall-but-a-station-much-worse",
        ),
        pytest.param(
            metrics(roc_auc=0.880),
            CHAMPION,
            interval(-0.030, -0.010),
            SLICES_OK,
            "reject",
            "gain in roc_auc -0.0200 is below the margin 0.0050",
            id="worse",
        ),
        pytest.param(
            metrics(),
            CHAMPION,
            interval(-0.008, 0.008, estimate=0.0),
            SLICES_OK,
            "reject",
            "gain in roc_auc +0.0000 is below the margin",
            id="equal",
        ),
        pytest.param(
            metrics(roc_auc=0.930, log_loss=0.45),
            CHAMPION,
            interval(0.020, 0.040),
            SLICES_OK,
            "reject",
            "guardrail log_loss gets worse by 0.0500 (0.4000 → 0.4500), over its tolerance 0.0200",
            id="better-but-a-guardrail-worse",
        ),
        pytest.param(
            metrics(roc_auc=0.930),
            CHAMPION,
            interval(0.020, 0.040),
            [SliceResult("ST09", 40, 0.95, 0.60)],
            "promote",
            "above zero",
            id="a-tiny-station-is-not-judged",
        ),
    ],
)
def test_decide(challenger, champion, ci, slices, decision, reason):
    verdict = decide(POLICY, challenger, champion, ci, slices)
    assert verdict.decision == decision
    assert reason in verdict.reason


def test_a_rejection_names_every_rule_that_failed():
    verdict = decide(POLICY, metrics(roc_auc=0.899, brier=0.2), CHAMPION, interval(-0.01, 0.01))
    assert verdict.reason.count("; ") >= 3
    assert "margin" in verdict.reason and "interval" in verdict.reason and "brier" in verdict.reason


def test_lower_is_better_metrics_as_primary():
    policy = Policy(primary_metric="log_loss", guardrails={})
    better = decide(
        policy, metrics(log_loss=0.35), CHAMPION, Interval("log_loss", 0.05, 0.03, 0.07, 0.95, 1000)
    )
    assert better.decision == "promote"
    assert "gain +0.0500" in better.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"primary_metric": "auc"}, "unknown metric"),
        ({"margin": -0.1}, "must not be negative"),
        ({"confidence": 0.3}, "confidence=0.3"),
        ({"n_bootstrap": 10}, "at least 100 resamples"),
    ],
)
def test_a_bad_policy_is_refused(kwargs, message):
    with pytest.raises(EvaluationError, match=message):
        Policy(**kwargs)


def scores(n: int, seed: int, quality: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(quality * y + (1 - quality) * rng.random(n), 0, 1)


def test_the_bootstrap_is_paired_seeded_and_brackets_the_estimate():
    y, good = scores(2000, 1, 0.5)
    weak = np.clip(0.1 * y + 0.9 * np.random.default_rng(3).random(2000), 0, 1)
    a = paired_bootstrap(y, weak, good, "roc_auc", n=300, confidence=0.95, seed=7)
    assert a == paired_bootstrap(y, weak, good, "roc_auc", n=300, confidence=0.95, seed=7)
    assert 0 < a.low < a.estimate < a.high
    same = paired_bootstrap(y, good, good, "roc_auc", n=200, confidence=0.95, seed=7)
    assert same.low == same.high == same.estimate == 0.0, "paired: identical models never differ"


def test_slices_per_entity_skip_one_class_entities():
    frame = pd.DataFrame({"entity": ["A"] * 4 + ["B"] * 2, "label": [0, 1, 0, 1, 1, 1]})
    champion = np.array([0.2, 0.8, 0.6, 0.4, 0.9, 0.9])
    challenger = np.array([0.2, 0.8, 0.3, 0.7, 0.9, 0.9])
    a, b = slice_results(frame, champion, challenger, "roc_auc")
    assert (a.entity, a.rows, a.champion, a.challenger) == ("A", 4, 0.75, 1.0)
    assert (b.entity, b.rows, b.champion, b.challenger) == ("B", 2, None, None)


def test_compare_scores_both_models_on_the_same_rows():
    class Fixed:
        def __init__(self, score):
            self.score = score

        def predict_proba(self, X):
            return np.column_stack([1 - self.score[: len(X)], self.score[: len(X)]])

    y, good = scores(600, 1, 0.6)
    frame = pd.DataFrame({"x": 0.0, "label": y, "entity": "ST01", "sample_date": dt.date(2026, 1, 5)})
    result = compare(frame, ["x"], Fixed(good), Fixed(1 - good), Policy(n_bootstrap=200))
    assert result.rows == 600 and result.days == [dt.date(2026, 1, 5)]
    assert result.challenger["roc_auc"] == pytest.approx(1 - result.champion["roc_auc"])
    assert result.interval.low > 0
    first = compare(frame, ["x"], Fixed(good), None, Policy(n_bootstrap=200))
    assert first.champion is None and first.interval is None


def test_the_holdout_is_the_newest_days_after_both_models_training():
    days = [dt.date(2026, 1, d) for d in range(1, 21)]
    assert holdout_days_for(days, [dt.date(2026, 1, 10), dt.date(2026, 1, 14)], 3) == [
        dt.date(2026, 1, 18),
        dt.date(2026, 1, 19),
        dt.date(2026, 1, 20),
    ]
    assert holdout_days_for(days, [dt.date(2026, 1, 18), None], 7) == [
        dt.date(2026, 1, 19),
        dt.date(2026, 1, 20),
    ]
    with pytest.raises(EvaluationError, match="no labelled day after 2026-01-20"):
        holdout_days_for(days, [dt.date(2026, 1, 20)], 7)
