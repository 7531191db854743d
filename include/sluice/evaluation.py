"""Champion vs challenger on the same labelled hold-out, and the decision whether to promote.

:func:`decide` is pure: it takes both models' metrics on the same rows, the bootstrap interval of
the primary metric's gain and the per-entity comparison (the domain's entity key), and returns
``promote`` or ``reject`` with the reason in words. Everything it looks at is recorded in ``model_decisions``.

The hold-out is the newest labelled days that *neither* model trained on (a champion trained
later than the challenger would otherwise be judged on its own training data).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from sluice.specs import LOWER_IS_BETTER, EvaluationError, Policy
from sluice.training import holdout_metrics, labelled_between, metric_value
from sluice.warehouse import Warehouse

PROMOTE, REJECT, FORCED, ROLLBACK = "promote", "reject", "forced", "rollback"


def gain(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is (positive = better, whichever direction the metric runs)."""
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion


@dataclass(frozen=True)
class Interval:
    """Paired bootstrap interval of the primary metric's gain (challenger over champion)."""

    metric: str
    estimate: float
    low: float
    high: float
    confidence: float
    resamples: int


@dataclass(frozen=True)
class SliceResult:
    """One entity's primary metric for both models."""

    entity: str
    rows: int
    champion: float | None
    challenger: float | None


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str

    @property
    def promotes(self) -> bool:
        return self.decision in (PROMOTE, FORCED, ROLLBACK)


def _fmt(value: float) -> str:
    return f"{value:+.4f}"


def decide(
    policy: Policy,
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    interval: Interval | None = None,
    slices: Sequence[SliceResult] = (),
) -> Decision:
    """Promote or reject the challenger (pure). Every rule that fails is named in the reason."""
    m = policy.primary_metric
    if champion is None:
        return Decision(
            PROMOTE, f"no champion yet: the challenger becomes champion ({m} {challenger[m]:.4f})"
        )
    if interval is None:
        raise EvaluationError("a comparison with a champion needs the bootstrap interval")
    problems = []
    delta = gain(m, challenger[m], champion[m])
    head = f"{m} {challenger[m]:.4f} vs champion {champion[m]:.4f} (gain {_fmt(delta)})"
    if delta < policy.margin:
        problems.append(f"the gain in {m} {_fmt(delta)} is below the margin {policy.margin:.4f}")
    if interval.low <= 0:
        problems.append(
            f"the {interval.confidence:.0%} bootstrap interval of the gain "
            f"[{_fmt(interval.low)}, {_fmt(interval.high)}] does not exclude zero"
        )
    for metric, tolerance in policy.guardrails.items():
        worse = -gain(metric, challenger[metric], champion[metric])
        if worse > tolerance:
            problems.append(
                f"guardrail {metric} gets worse by {worse:.4f} ({champion[metric]:.4f} → "
                f"{challenger[metric]:.4f}), over its tolerance {tolerance:.4f}"
            )
    for s in slices:
        if s.rows < policy.min_slice_rows or s.champion is None or s.challenger is None:
            continue
        worse = -gain(m, s.challenger, s.champion)
        if worse > policy.slice_tolerance:
            problems.append(
                f"entity {s.entity}: {m} gets worse by {worse:.4f} ({s.champion:.4f} → {s.challenger:.4f}, "
                f"{s.rows} rows), over the slice tolerance {policy.slice_tolerance:.4f}"
            )
    if problems:
        return Decision(REJECT, f"{head}; rejected: " + "; ".join(problems))
    return Decision(
        PROMOTE,
        f"{head}; {interval.confidence:.0%} interval [{_fmt(interval.low)}, {_fmt(interval.high)}] "
        "above zero, gain over the margin, no guardrail or entity worse beyond its tolerance",
    )


# --- metrics on the hold-out -----------------------------------------------------------------


def paired_bootstrap(
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    metric: str,
    *,
    n: int,
    confidence: float,
    seed: int,
) -> Interval:
    """Percentile interval of the challenger's gain, resampling the same rows for both models."""

    def metric_of(labels: np.ndarray, score: np.ndarray) -> float:
        return metric_value(metric, labels, score)

    estimate = gain(metric, metric_of(y, challenger), metric_of(y, champion))
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():  # one class only: AUC undefined, skip the resample
            continue
        gains.append(gain(metric, metric_of(y[idx], challenger[idx]), metric_of(y[idx], champion[idx])))
    if len(gains) < n // 2:
        raise EvaluationError(f"the hold-out has too few rows of each class for a bootstrap of {metric}")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(gains, [alpha, 1 - alpha])
    return Interval(metric, float(estimate), float(low), float(high), confidence, len(gains))


def slice_results(
    frame: pd.DataFrame, champion: np.ndarray, challenger: np.ndarray, metric: str
) -> list[SliceResult]:
    """The primary metric per entity for both models (None where an entity has one class only)."""
    out = []
    y = frame["label"].to_numpy()
    for entity, idx in frame.groupby("entity").indices.items():
        both = len(set(y[idx])) == 2
        out.append(
            SliceResult(
                str(entity),
                len(idx),
                metric_value(metric, y[idx], champion[idx]) if both else None,
                metric_value(metric, y[idx], challenger[idx]) if both else None,
            )
        )
    return sorted(out, key=lambda s: s.entity)


def holdout_days_for(
    labelled_days: Sequence[dt.date], trained_until: Sequence[dt.date | None], holdout_days: int
) -> list[dt.date]:
    """The newest ``holdout_days`` of ``labelled_days`` that come after every model's training days."""
    known = [d for d in trained_until if d is not None]
    after = max(known) if known else dt.date.min
    days = sorted(d for d in set(labelled_days) if d > after)
    if not days:
        raise EvaluationError(
            f"no labelled day after {after}, the last day a model trained on: wait for newer labels, "
            "or use force_promote with a reason"
        )
    return days[-holdout_days:]


@dataclass
class Comparison:
    """Both models scored on the same hold-out rows."""

    days: list[dt.date]
    rows: int
    challenger: dict[str, float]
    champion: dict[str, float] | None
    interval: Interval | None
    slices: list[SliceResult]

    def record(self) -> dict[str, Any]:
        return {
            "holdout_first_day": self.days[0].isoformat(),
            "holdout_last_day": self.days[-1].isoformat(),
            "holdout_rows": self.rows,
            "challenger_metrics": self.challenger,
            "champion_metrics": self.champion,
            "interval": asdict(self.interval) if self.interval else None,
            "slices": [asdict(s) for s in self.slices],
        }


def compare(
    frame: pd.DataFrame, features: Sequence[str], challenger: Any, champion: Any | None, policy: Policy
) -> Comparison:
    """Score both models (fitted scikit-learn pipelines) on the same labelled rows."""
    X, y = frame[list(features)], frame["label"].to_numpy()
    challenger_score = challenger.predict_proba(X)[:, 1]
    days = sorted(set(frame["sample_date"]))
    if champion is None:
        return Comparison(days, len(frame), holdout_metrics(y, challenger_score), None, None, [])
    champion_score = champion.predict_proba(X)[:, 1]
    interval = paired_bootstrap(
        y,
        champion_score,
        challenger_score,
        policy.primary_metric,
        n=policy.n_bootstrap,
        confidence=policy.confidence,
        seed=policy.seed,
    )
    return Comparison(
        days,
        len(frame),
        holdout_metrics(y, challenger_score),
        holdout_metrics(y, champion_score),
        interval,
        slice_results(frame, champion_score, challenger_score, policy.primary_metric),
    )


def load_holdout(
    warehouse: Warehouse,
    as_of: dt.date,
    label_cutoff_days: int,
    holdout_days: int,
    trained_until: Sequence[dt.date | None],
    feature_version: str,
    lookback_days: int = 90,
) -> pd.DataFrame:
    """The labelled rows of the newest ``holdout_days`` days that no model trained on."""
    last = as_of - dt.timedelta(days=label_cutoff_days)
    known = [d for d in trained_until if d is not None]
    first = max(known) + dt.timedelta(days=1) if known else last - dt.timedelta(days=lookback_days)
    if first > last:
        raise EvaluationError(
            f"no labelled day after {first - dt.timedelta(days=1)} (the last day a model trained on) and "
            f"up to {last} (as of {as_of}, minus a {label_cutoff_days}-day label cut-off): wait for newer "
            "labels, or use force_promote with a reason"
        )
    frame = labelled_between(warehouse, first, last, as_of, feature_version)
    keep = holdout_days_for(frame["sample_date"], trained_until, holdout_days)
    return frame[frame["sample_date"].isin(keep)].reset_index(drop=True)


def finite(metrics: Mapping[str, float] | None) -> dict[str, float | None] | None:
    """Metrics with NaN as None, for JSON."""
    if metrics is None:
        return None
    return {k: (None if v is None or math.isnan(v) else float(v)) for k, v in metrics.items()}
