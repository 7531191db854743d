"""CBPE against cases whose answer is known: a hand-computed one, the pairwise definition of the
expected ROC AUC, calibrated and miscalibrated scores, covariate shift (where it works) and
concept drift (its blind spot)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from sluice.alerting import MonitoringError
from sluice.estimate import _expected_roc_auc, estimate, fit_calibrator


def _world(n: int, a: float, b: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities drawn from Beta(a, b) and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, n)
    return p, (rng.random(n) < p).astype(int)


def _realised(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return accuracy_score(y, scores >= 0.5), roc_auc_score(y, scores)


def test_a_hand_computed_case():
    found = estimate(np.array([0.9, 0.2]), np.array([0.9, 0.2]))
    assert found.accuracy == pytest.approx((0.9 + 0.8) / 2)
    # pairs (positive, negative) weighted by p_i (1 - p_j); a sample against itself is a tie
    assert found.roc_auc == pytest.approx((0.9 * 0.8 + 0.5 * 0.9 * 0.1 + 0.5 * 0.2 * 0.8) / (1.1 * 0.9))
    assert found.rows == 2


@pytest.mark.parametrize("seed", range(5))
def test_the_expected_curve_is_the_expected_pairwise_ranking(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(60), 1)  # many ties
    p = rng.random(60)
    weights = p[:, None] * (1 - p)[None, :]
    above = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    assert _expected_roc_auc(scores, p) == pytest.approx((weights * above).sum() / (p.sum() * (1 - p).sum()))


def test_calibrated_scores_estimate_what_the_labels_later_show():
    p, y = _world(200_000, 2, 2, seed=1)
    found = estimate(p, p)
    accuracy, roc_auc = _realised(p, y)
    assert found.accuracy == pytest.approx(accuracy, abs=0.005)
    assert found.roc_auc == pytest.approx(roc_auc, abs=0.005)


def test_under_covariate_shift_the_estimate_follows_the_fall():
    """The inputs move towards where the model is unsure; P(label | score) is unchanged."""
    before_p, _ = _world(100_000, 2, 2, seed=2)
    after_p, after_y = _world(100_000, 6, 6, seed=3)
    before, after = estimate(before_p, before_p), estimate(after_p, after_p)
    assert before.accuracy - after.accuracy > 0.05, "a real fall"
    assert after.accuracy == pytest.approx(_realised(after_p, after_y)[0], abs=0.006)
    assert after.roc_auc == pytest.approx(_realised(after_p, after_y)[1], abs=0.006)


def test_miscalibrated_scores_are_calibrated_on_the_labelled_hold_out_first():
    holdout_p, holdout_y = _world(50_000, 2, 2, seed=4)
    day_p, day_y = _world(50_000, 2, 3, seed=5)
    score = lambda p: p**3  # noqa: E731 (a monotone, overconfident-low model score)
    calibrate = fit_calibrator(score(holdout_p), holdout_y)
    found = estimate(score(day_p), calibrate(score(day_p)), threshold=0.5**3)
    accuracy = accuracy_score(day_y, score(day_p) >= 0.5**3)
    assert found.accuracy == pytest.approx(accuracy, abs=0.01)
    assert found.roc_auc == pytest.approx(roc_auc_score(day_y, score(day_p)), abs=0.01)
    naive = estimate(score(day_p), score(day_p), threshold=0.5**3)
    assert abs(naive.accuracy - accuracy) > 0.05, "uncalibrated scores would mislead"


def test_concept_drift_is_its_blind_spot():
    """The same inputs now mean the other label: the scores look as sure as before, the estimate
    does not move while the real accuracy collapses. Labels stay the judge."""
    p, y = _world(50_000, 2, 2, seed=6)
    flipped = 1 - y
    found = estimate(p, p)
    assert found.accuracy == pytest.approx(_realised(p, y)[0], abs=0.01)
    assert _realised(p, flipped)[0] < found.accuracy - 0.3


@pytest.mark.parametrize(
    ("scores", "probability", "message"),
    [
        ([0.1, 0.2], [0.1], "2 scores but 1 probabilities"),
        ([], [], "no scores"),
        ([0.3], [1.2], r"in \[0, 1\]"),
        ([0.3], [float("nan")], r"in \[0, 1\]"),
    ],
)
def test_bad_input_is_refused(scores, probability, message):
    with pytest.raises(MonitoringError, match=message):
        estimate(np.array(scores), np.array(probability))


def test_one_class_gives_no_auc_and_cannot_calibrate():
    assert estimate(np.array([0.9, 0.8]), np.array([1.0, 1.0])).roc_auc is None
    with pytest.raises(MonitoringError, match="both classes"):
        fit_calibrator(np.array([0.2, 0.7]), np.array([1, 1]))


NANNYML_0_13_1 = [
    (0.8398910961013086, 0.7823823899425564),
    (0.698297763958329, 0.7970322926632548),
    (0.6642016549718539, 0.7533531309821211),
]
"""NannyML 0.13.1's CBPE on :func:`_nannyml_case` (``nml.CBPE(problem_type="classification_binary",
metrics=["roc_auc", "accuracy"], chunk_size=1500)`` fitted on the reference, estimated on the three
chunks), run once in a virtualenv of its own: NannyML resolves with Sluice's pins but brings two dozen
packages (xgboost, lightgbm, a CUDA library, cloud storage clients, usage telemetry) for two
functions. Recorded as the oracle this implementation must match."""


def _nannyml_case() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A miscalibrated model's hold-out (2,000 scores, labels drawn from score**1.6) and three
    analysis chunks of 1,500 scores under covariate shift."""
    rng = np.random.default_rng(2013)
    reference = rng.beta(2, 3, 2000)
    labels = (rng.random(2000) < reference**1.6).astype(int)
    chunks = [rng.beta(a, b, 1500) for a, b in ((2, 5), (2, 2), (5, 2))]
    return reference, labels, chunks


def test_the_estimate_is_nannyml_s_cbpe():
    reference, labels, chunks = _nannyml_case()
    calibrate = fit_calibrator(reference, labels)
    for chunk, (accuracy, roc_auc) in zip(chunks, NANNYML_0_13_1, strict=True):
        found = estimate(chunk, calibrate(chunk))
        assert found.accuracy == pytest.approx(accuracy, abs=1e-9)
        assert found.roc_auc == pytest.approx(roc_auc, abs=1e-6)
