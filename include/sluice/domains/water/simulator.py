"""A deterministic stream of drinking-water samples with delayed lab labels.

``(seed, day)`` always gives the same batch. Marginals and missing shares follow the public Water
Potability data set (ph 7.08 ± 1.59 with 15% missing, sulfate 334 ± 41 with 24% missing,
trihalomethanes 66 ± 16 with 5% missing, …). Potability depends on the true measurements through
a non-linear score plus noise, so a good model is right roughly 85% of the time and none can be
right every time (:func:`bayes_accuracy`). A scenario (YAML) schedules events by day: covariate
drift, concept drift, one station's sensor fault, a schema break, an empty or late delivery, a
batch with hostile values.

Nothing downstream may depend on the data being simulated: the simulator only *delivers* frames,
exactly as a real source would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sluice.domains.water import DOMAIN, MEASUREMENTS, STATIONS
from sluice.sources import SourceError

SOURCE_COLUMNS = DOMAIN.delivered_names
DEFAULT_STATIONS = STATIONS


@dataclass(frozen=True)
class Marginal:
    mean: float
    std: float
    missing: float = 0.0
    low: float = 0.0
    high: float = float("inf")
    skewed: bool = False


# The public Water Potability data set's column statistics (3276 samples).
MARGINALS: dict[str, Marginal] = {
    "ph": Marginal(7.08, 1.59, missing=0.150, high=14.0),
    "hardness": Marginal(196.37, 32.88),
    "solids": Marginal(22014.09, 8768.57, skewed=True),
    "chloramines": Marginal(7.12, 1.58),
    "sulfate": Marginal(333.78, 41.42, missing=0.238),
    "conductivity": Marginal(426.21, 80.82),
    "organic_carbon": Marginal(14.28, 3.31),
    "trihalomethanes": Marginal(66.40, 16.18, missing=0.050),
    "turbidity": Marginal(3.97, 0.78),
}

# Potability score on standardised measurements: a quadratic penalty for ph away from neutral,
# linear penalties for disinfection by-products and cloudiness, one interaction. Positive = potable.
BASE_CONCEPT: dict[str, float] = {
    "intercept": -0.25,
    "ph_sq": -0.85,
    "chloramines": -0.55,
    "trihalomethanes": -0.75,
    "turbidity": -0.65,
    "sulfate": -0.45,
    "organic_carbon": -0.35,
    "solids": -0.30,
    "hardness_x_conductivity": -0.40,
    "sharpness": 2.4,
}

N_STATIONS = len(DEFAULT_STATIONS)


class ScenarioError(SourceError):
    """The scenario file is invalid; the message names the event and the field."""


EVENT_KINDS = (
    "covariate_drift",
    "concept_drift",
    "sensor_fault",
    "schema_break",
    "empty_delivery",
    "late_delivery",
    "hostile_values",
)

PERSISTENT = ("covariate_drift", "concept_drift")


@dataclass(frozen=True)
class Event:
    kind: str
    first: dt.date
    last: dt.date | None
    params: Mapping[str, Any]

    def active(self, day: dt.date) -> bool:
        return self.first <= day and (self.last is None or day <= self.last)


@dataclass(frozen=True)
class Scenario:
    name: str
    start: dt.date
    events: tuple[Event, ...] = ()

    def active(self, day: dt.date, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind and e.active(day)]

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ScenarioError(f"scenario file {path} does not exist") from None
        return cls.from_dict(doc or {}, where=str(path))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "scenario") -> Scenario:
        try:
            start = _as_date(doc["start"])
        except (KeyError, ValueError, TypeError):
            raise ScenarioError(f"{where}: 'start' must be a date (YYYY-MM-DD)") from None
        events = []
        for i, raw in enumerate(doc.get("events") or []):
            label = f"{where}: events[{i}]"
            kind = raw.get("kind")
            if kind not in EVENT_KINDS:
                raise ScenarioError(f"{label}: kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
            if "day" not in raw:
                raise ScenarioError(f"{label} ({kind}): 'day' (offset from start, or a date) is required")
            first = _event_day(raw["day"], start, label)
            last = _event_day(raw["until"], start, label) if raw.get("until") is not None else None
            if raw.get("until") is None and kind not in PERSISTENT:
                last = first  # without `until`, only drifts persist; every other event lasts one day
            params = {k: v for k, v in raw.items() if k not in ("kind", "day", "until")}
            events.append(Event(kind, first, last, params))
        return cls(name=str(doc.get("name", where)), start=start, events=tuple(events))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _event_day(value: Any, start: dt.date, label: str) -> dt.date:
    if isinstance(value, int):
        return start + dt.timedelta(days=value)
    try:
        return _as_date(value)
    except ValueError:
        raise ScenarioError(f"{label}: day {value!r} is neither an offset nor a date") from None


@dataclass(frozen=True)
class SimulatorConfig:
    seed: int = 42
    rows_per_day: int = 3000
    label_delay_days: int = 3
    scenario: Scenario = field(default_factory=lambda: Scenario("stable", dt.date(2026, 1, 1)))


def station_ids() -> tuple[str, ...]:
    return DEFAULT_STATIONS


def _rng(seed: int, day: dt.date, stream: str) -> np.random.Generator:
    tag = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:4], "little")
    return np.random.default_rng([seed, day.toordinal(), tag])


def _station_effects(seed: int) -> pd.DataFrame:
    """Per-station offsets (in standard deviations), fixed for a seed: stations differ a little."""
    rng = np.random.default_rng([seed, 7919])
    effects = rng.normal(0.0, 0.25, size=(N_STATIONS, len(MEASUREMENTS)))
    return pd.DataFrame(
        effects - effects.mean(axis=0),  # centred: the network as a whole keeps the marginals
        index=list(station_ids()),
        columns=list(MEASUREMENTS),
    )


def _rows_for(config: SimulatorConfig, day: dt.date) -> int:
    # ±10% day-to-day variation in volume
    rng = _rng(config.seed, day, "volume")
    return max(1, round(config.rows_per_day * rng.uniform(0.9, 1.1)))


def true_measurements(config: SimulatorConfig, day: dt.date) -> pd.DataFrame:
    """The day's samples before any delivery problem: ids, stations, times and true values."""
    n = _rows_for(config, day)
    rng = _rng(config.seed, day, "samples")
    stations = np.array(station_ids())[rng.integers(0, N_STATIONS, n)]
    seconds = np.sort(rng.integers(0, 86_400, n))
    start = pd.Timestamp(day)
    frame = pd.DataFrame(
        {
            "sample_id": [f"S{day:%Y%m%d}-{i:07d}" for i in range(n)],
            "station_id": stations,
            "sampled_at": (start + pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    effects = _station_effects(config.seed).loc[stations].to_numpy()
    shift = {c: (0.0, 1.0) for c in MEASUREMENTS}
    for event in config.scenario.active(day, "covariate_drift"):
        for column, spec in (event.params.get("columns") or {}).items():
            if column not in MARGINALS:
                raise ScenarioError(f"covariate_drift on {day}: unknown column {column!r}")
            mean, scale = shift[column]
            shift[column] = (mean + float(spec.get("shift", 0.0)), scale * float(spec.get("scale", 1.0)))
    for j, column in enumerate(MEASUREMENTS):
        m = MARGINALS[column]
        z = rng.standard_normal(n) + effects[:, j]
        mean_shift, scale = shift[column]
        z = z * scale + mean_shift
        if m.skewed:  # a right-skewed gamma with the same mean and std
            k = (m.mean / m.std) ** 2
            u = _normal_cdf(z)
            values = _gamma_ppf(u, k) * (m.std**2 / m.mean)
        else:
            values = m.mean + m.std * z
        frame[column] = np.clip(values, m.low, m.high)
    for event in config.scenario.active(day, "sensor_fault"):
        _apply_sensor_fault(frame, event, day)
    return frame


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(z)


def _gamma_ppf(u: np.ndarray, k: float) -> np.ndarray:
    from scipy.special import gammaincinv

    return gammaincinv(k, np.clip(u, 1e-12, 1 - 1e-12))


def _apply_sensor_fault(frame: pd.DataFrame, event: Event, day: dt.date) -> None:
    station = event.params.get("station")
    column = event.params.get("column")
    if column not in MARGINALS:
        raise ScenarioError(f"sensor_fault on {day}: 'column' must be one of {', '.join(MEASUREMENTS)}")
    mask = frame["station_id"] == station
    mode = event.params.get("mode", "stuck")
    if mode == "stuck":  # the sensor repeats one plausible reading
        frame.loc[mask, column] = float(event.params.get("value", MARGINALS[column].mean))
    elif mode == "offset":  # the sensor reads consistently off by N standard deviations
        frame.loc[mask, column] = (
            frame.loc[mask, column] + float(event.params.get("sd", 3.0)) * MARGINALS[column].std
        )
    else:
        raise ScenarioError(f"sensor_fault on {day}: mode {mode!r} is not 'stuck' or 'offset'")


def concept(config: SimulatorConfig, day: dt.date) -> dict[str, float]:
    """The potability score's coefficients in force on ``day`` (concept drift changes them)."""
    coefficients = dict(BASE_CONCEPT)
    for event in config.scenario.active(day, "concept_drift"):
        for name, value in (event.params.get("coefficients") or {}).items():
            if name not in coefficients:
                raise ScenarioError(f"concept_drift on {day}: unknown coefficient {name!r}")
            coefficients[name] = float(value)
    return coefficients


def potable_probability(measurements: pd.DataFrame, coefficients: Mapping[str, float]) -> np.ndarray:
    """P(potable | true measurements) under a concept."""

    def z(column: str) -> np.ndarray:
        m = MARGINALS[column]
        return (measurements[column].to_numpy(dtype=float) - m.mean) / m.std

    score = (
        coefficients["intercept"]
        + coefficients["ph_sq"] * (z("ph") ** 2 - 1.0)
        + coefficients["hardness_x_conductivity"] * z("hardness") * z("conductivity")
        + sum(coefficients[c] * z(c) for c in MEASUREMENTS if c in coefficients)
    )
    return 1.0 / (1.0 + np.exp(-coefficients["sharpness"] * score))


def bayes_accuracy(probability: np.ndarray) -> float:
    """The best accuracy any model can reach on these labels (it would know the true probability)."""
    return float(np.mean(np.maximum(probability, 1.0 - probability)))


def _labelled(config: SimulatorConfig, day: dt.date) -> tuple[pd.DataFrame, np.ndarray]:
    truth = true_measurements(config, day)
    p = potable_probability(truth, concept(config, day))
    rng = _rng(config.seed, day, "labels")
    return truth, (rng.random(len(truth)) < p).astype("int8")


def generate_batch(config: SimulatorConfig, day: dt.date) -> pd.DataFrame:
    """The batch the source delivers for ``day``: missing values, and any scheduled problem."""
    if config.scenario.active(day, "empty_delivery"):
        return pd.DataFrame(columns=list(SOURCE_COLUMNS))
    frame = true_measurements(config, day)
    rng = _rng(config.seed, day, "missing")
    for column in MEASUREMENTS:
        share = MARGINALS[column].missing
        if share:
            frame.loc[rng.random(len(frame)) < share, column] = np.nan
    for event in config.scenario.active(day, "hostile_values"):
        frame = _hostile(frame, float(event.params.get("share", 0.01)), _rng(config.seed, day, "hostile"))
    for event in config.scenario.active(day, "schema_break"):
        frame = _schema_break(frame, event)
    return frame


def _hostile(frame: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.DataFrame:
    """Out-of-range, unparsable and injected values in a share of the rows (delivered as text)."""
    frame = frame.astype({c: object for c in MEASUREMENTS})
    n = len(frame)
    rows = rng.choice(n, size=max(1, round(n * share)), replace=False)
    tricks: list[tuple[str, Any]] = [
        ("ph", 99.0),
        ("ph", -3.0),
        ("solids", -1.0),
        ("turbidity", "1e308"),
        ("chloramines", "inf"),
        ("sulfate", "n/a"),
        ("hardness", "12,5"),
        ("station_id", "'; DROP TABLE observations; --"),
        ("station_id", "ST99"),
        ("sampled_at", "2999-01-01T00:00:00"),
    ]
    for i, row in enumerate(rows):
        column, value = tricks[i % len(tricks)]
        frame.iat[row, frame.columns.get_loc(column)] = value
    return frame


def _schema_break(frame: pd.DataFrame, event: Event) -> pd.DataFrame:
    """An upstream release renames columns and switches some to decimal commas."""
    for column in event.params.get("decimal_comma") or []:
        frame[column] = frame[column].map(lambda v: None if pd.isna(v) else f"{v:.4f}".replace(".", ","))
    for column in event.params.get("drop") or []:
        frame = frame.drop(columns=[column])
    return frame.rename(columns=dict(event.params.get("rename") or {}))


def delivered_at(config: SimulatorConfig, day: dt.date) -> dt.datetime:
    """When the day's batch becomes available: the end of the day, later on a late delivery."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    for event in config.scenario.active(day, "late_delivery"):
        end += dt.timedelta(hours=float(event.params.get("hours", 24)))
    return end


def generate_labels(config: SimulatorConfig, day: dt.date) -> pd.DataFrame:
    """Lab results that arrive on ``day``: those for the samples taken ``label_delay_days`` earlier."""
    sampled = day - dt.timedelta(days=config.label_delay_days)
    if sampled < config.scenario.start or config.scenario.active(sampled, "empty_delivery"):
        return pd.DataFrame({"sample_id": [], "label": [], "labelled_at": []})
    truth, label = _labelled(config, sampled)
    rng = _rng(config.seed, day, "lab")
    labelled_at = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(
        rng.integers(6 * 3600, 18 * 3600, len(truth)), unit="s"
    )
    return pd.DataFrame({"sample_id": truth["sample_id"], "label": label, "labelled_at": labelled_at})
