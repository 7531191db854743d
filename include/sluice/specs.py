"""What a user may set per run, declared once, and the vocabulary those settings use.

A field of a library spec (a frozen dataclass) made with :func:`knob` carries its default, title,
description, bounds and choices; the DAGs build their Params from it (``dags/sluice_common.py``,
``params_of``), so a default cannot differ between the library, the form in the Airflow UI and the
README's table. :class:`TrainingSpec` (``sluice_train``) and :class:`Policy` (``sluice_evaluate``)
live here, light (no pandas, no scikit-learn), because the dag-processor reads them when it parses
the DAGs; :class:`sluice.alerting.Thresholds` (``sluice_monitor``) is declared the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sluice.errors import SluiceError

KNOB = "sluice.knob"

MODEL_FAMILIES: dict[str, str] = {
    "logistic_regression": "Logistic regression",
    "random_forest": "Random forest",
    "hist_gradient_boosting": "Histogram gradient boosting",
}
"""The model families training offers (see sluice.families.FAMILIES), with their display names."""

METRICS: tuple[str, ...] = ("roc_auc", "f1", "accuracy", "log_loss", "brier")
"""Hold-out metrics of a binary classifier's scores; log loss and Brier are better when lower."""

LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


def knob(
    default: Any,
    title: str,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[str] | Mapping[str, str] | None = None,
) -> Any:
    """A spec field a run may set: its default and what the form shows about it. ``choices`` are
    the values allowed (a mapping gives each a display name); a tuple default picks several.
    ``{entity}``/``{Entity}`` in the title or description become the domain's word for an entity."""
    about = {
        "title": title,
        "description": description,
        "minimum": minimum,
        "maximum": maximum,
        "choices": choices,
    }
    return field(default=default, metadata={KNOB: about})


def knobs(spec: type) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The spec's knobs, in declaration order: name → (default, title/description/bounds/choices)."""
    found: dict[str, tuple[Any, dict[str, Any]]] = {}
    for f in fields(spec):
        about = f.metadata.get(KNOB)
        if about is not None:
            found[f.name] = (f.default, dict(about))
    return found


# --- training --------------------------------------------------------------------------------


class TrainingError(SluiceError, ValueError):
    """Training cannot run with these inputs; the message says which and why."""


@dataclass(frozen=True)
class TrainingSpec:
    """What one training run uses. ``as_of`` is the newest day whose lab results may be used."""

    as_of: dt.date
    window_days: int = knob(
        28,
        "Training window (days)",
        "How many sample days to learn from, hold-out included, ending at the label cut-off.",
        minimum=5,
        maximum=365,
    )
    holdout_days: int = knob(
        7,
        "Hold-out (days)",
        "The newest labelled days of the window, kept out of fitting and tuning; the candidates are "
        "compared on them.",
        minimum=1,
        maximum=90,
    )
    label_cutoff_days: int = 3
    """Not a knob: the form's cut-off defaults to the domain's label delay (``sluice_common``)."""
    families: tuple[str, ...] = knob(
        tuple(MODEL_FAMILIES),
        "Model families",
        "One candidate per family, each trained in its own mapped task.",
        choices=MODEL_FAMILIES,
    )
    budget: int = knob(
        6,
        "Search budget per family",
        "Hyper-parameter settings tried per family (randomised search), each cross-validated on "
        "time-ordered folds.",
        minimum=1,
        maximum=200,
    )
    cv_folds: int = knob(
        3,
        "Time-ordered CV folds",
        "Expanding-window folds over whole days: each validation block follows its training days.",
        minimum=2,
        maximum=10,
    )
    seed: int = knob(
        42,
        "Random seed",
        "Same seed, day and data give the same models and hold-out metrics.",
        minimum=0,
    )
    selection_metric: str = knob(
        "roc_auc",
        "Selection metric",
        "Hold-out metric that picks the family to register (log loss and Brier: lower is better). "
        "Also the search's scoring.",
        choices=METRICS,
    )
    importance_rows: int = knob(
        5_000,
        "Permutation importance sample (rows)",
        "Hold-out rows each candidate's permutation importance is computed on (5 shuffles per "
        "feature; its cost grows with the rows). 0: no importance table.",
        minimum=0,
        maximum=1_000_000,
    )
    feature_version: str = ""
    n_jobs: int = 1
    features: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    """Which of ``features`` are categorical (text); the rest are numbers."""

    def __post_init__(self) -> None:
        if not self.features:  # the active domain's feature set (SLUICE_DOMAIN)
            from sluice.domain import active

            domain = active()
            object.__setattr__(self, "features", domain.feature_names)
            object.__setattr__(self, "categorical", domain.categorical_features)
            object.__setattr__(self, "feature_version", self.feature_version or domain.features.version)
        problems = []
        if not self.families:
            problems.append("families: choose at least one model family")
        problems += [f"families: unknown {f!r}" for f in self.families if f not in MODEL_FAMILIES]
        if self.selection_metric not in METRICS:
            problems.append(f"selection_metric {self.selection_metric!r} is not one of {', '.join(METRICS)}")
        if self.budget < 1:
            problems.append(f"budget={self.budget}: at least one candidate per family")
        if self.cv_folds < 1:
            problems.append(f"cv_folds={self.cv_folds}: at least 1")
        if self.importance_rows < 0:
            problems.append(f"importance_rows={self.importance_rows}: not negative (0 skips it)")
        if self.holdout_days < 1:
            problems.append(f"holdout_days={self.holdout_days}: at least 1")
        if self.label_cutoff_days < 0:
            problems.append(f"label_cutoff_days={self.label_cutoff_days}: not negative")
        if not self.feature_version:
            problems.append("feature_version: name the feature set the models train on")
        unknown = [c for c in self.categorical if c not in self.features]
        if unknown:
            problems.append(f"categorical: {unknown} are not among the features")
        if self.window_days < self.holdout_days + self.cv_folds + 1:
            problems.append(
                f"window_days={self.window_days} leaves too few training days for {self.cv_folds} "
                f"time-ordered folds after a {self.holdout_days}-day hold-out "
                f"(at least {self.holdout_days + self.cv_folds + 1})"
            )
        if problems:
            raise TrainingError("invalid training spec: " + "; ".join(problems))

    @property
    def window(self) -> tuple[dt.date, dt.date]:
        """First and last sample day used (the newest ``label_cutoff_days`` days are left out)."""
        last = self.as_of - dt.timedelta(days=self.label_cutoff_days)
        return last - dt.timedelta(days=self.window_days - 1), last

    def params(self) -> dict[str, Any]:
        """The spec as MLflow params (flat, strings where needed)."""
        first, last = self.window
        out = {k: v for k, v in asdict(self).items() if k not in ("families", "features", "categorical")}
        out |= {
            "as_of": self.as_of.isoformat(),
            "families": ",".join(self.families),
            "window_first_day": first.isoformat(),
            "window_last_day": last.isoformat(),
            "n_features": len(self.features),
            "n_categorical": len(self.categorical),
        }
        return out


MIN_DAYS_SINCE_CHANGE = 3
"""A hold-out day, and two training days for one time-ordered validation split."""
"""The fewest sample days a training since a change can be split into: a hold-out day and two
time-ordered folds of at least one day each, plus one."""


def since_change(spec: TrainingSpec, since: dt.date) -> TrainingSpec:
    """The spec that learns only from the sample days from ``since`` on, when the data changed
    then (a drift the monitor saw): days before a change teach the old regime.

    The window starts at ``since`` (it never grows), and the hold-out and the folds shrink to fit
    a short window: a quarter of its days for the hold-out (at least one), then as many folds as
    the training days allow (three days: one hold-out day, and one split that tunes on the first
    training day and validates on the second). Fewer than three labelled days since the change
    cannot be split; the error says so.
    """
    first, last = spec.window
    if since <= first:
        return spec
    days = (last - since).days + 1
    holdout = max(1, min(spec.holdout_days, days // 4))
    folds = max(1, min(spec.cv_folds, days - holdout - 1))
    if days < holdout + folds + 1:
        raise TrainingError(
            f"only {max(days, 0)} sample days from {since} (the change) to {last} (as of {spec.as_of}, "
            f"minus the {spec.label_cutoff_days}-day label cut-off): at least {holdout + folds + 1} "
            "are needed for a hold-out and time-ordered folds; wait for more labels"
        )
    return replace(spec, window_days=days, holdout_days=holdout, cv_folds=folds)


# --- evaluation ------------------------------------------------------------------------------


class EvaluationError(SluiceError, ValueError):
    """The evaluation cannot be made with these inputs; the message says why."""


@dataclass(frozen=True)
class Policy:
    """When a challenger may replace the champion (the evaluate DAG's Params)."""

    primary_metric: str = knob(
        "roc_auc",
        "Primary metric",
        "The metric the challenger must beat the champion on.",
        choices=METRICS,
    )
    margin: float = knob(
        0.005,
        "Promotion margin",
        "Smallest gain on the primary metric worth a promotion.",
        minimum=0,
        maximum=1,
    )
    confidence: float = knob(
        0.95,
        "Confidence",
        "Level of the paired bootstrap interval of the gain; its lower end must be above zero.",
        minimum=0.5,
        maximum=0.999,
    )
    n_bootstrap: int = 1000
    seed: int = 0
    guardrails: Mapping[str, float] = field(
        default_factory=lambda: {"log_loss": 0.02, "brier": 0.01, "accuracy": 0.01}
    )
    """Other metrics and how much worse than the champion's each may get."""
    slice_tolerance: float = knob(
        0.05,
        "{Entity} tolerance",
        "How much worse than the champion the primary metric may get on any {entity} (with at "
        "least 100 hold-out rows).",
        minimum=0,
        maximum=1,
    )
    min_slice_rows: int = 100
    """Entities with fewer hold-out rows are reported but not judged (too noisy)."""

    def __post_init__(self) -> None:
        unknown = [m for m in (self.primary_metric, *self.guardrails) if m not in METRICS]
        if unknown:
            raise EvaluationError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
        if self.margin < 0 or self.slice_tolerance < 0 or any(t < 0 for t in self.guardrails.values()):
            raise EvaluationError("margin, slice tolerance and guardrail tolerances must not be negative")
        if not 0.5 <= self.confidence < 1:
            raise EvaluationError(f"confidence={self.confidence} must be in [0.5, 1)")
        if self.n_bootstrap < 100:
            raise EvaluationError(f"n_bootstrap={self.n_bootstrap}: use at least 100 resamples")
