"""Water: drinking-water samples from a network of monitoring stations (the default domain, simulated).

Each sample is measured for the nine properties of the public Water Potability data set; a lab
confirms whether it is potable three days later. The source is a deterministic simulator
(:mod:`sluice.domains.water.simulator`) with scenario files that schedule drift, sensor faults,
schema breaks, late and empty deliveries; the landing folder works too.

This module is the full example of a domain: every part of :class:`sluice.domain.Domain` is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.domain import (
    COUNT,
    ENTITY,
    EVENT_TIME,
    ID,
    LABEL,
    MEAN,
    NUMERIC,
    Aggregate,
    Column,
    Derived,
    Domain,
    FeatureSet,
    Label,
)

if TYPE_CHECKING:
    import pandas as pd

    from sluice.settings import Settings
    from sluice.sources import Source

MEASUREMENTS: tuple[str, ...] = (
    "ph",
    "hardness",
    "solids",
    "chloramines",
    "sulfate",
    "conductivity",
    "organic_carbon",
    "trihalomethanes",
    "turbidity",
)

STATIONS: tuple[str, ...] = tuple(f"ST{i:02d}" for i in range(1, 13))
"""The simulated network's stations. Validation accepts ``SLUICE_STATIONS=ST01,ST02,…`` instead."""

# Physically plausible ranges for drinking water (units as in the Water Potability data set).
RANGES: Mapping[str, tuple[float, float]] = {
    "ph": (0.0, 14.0),
    "hardness": (0.0, 1_000.0),  # mg/L
    "solids": (0.0, 100_000.0),  # ppm
    "chloramines": (0.0, 20.0),  # ppm
    "sulfate": (0.0, 2_000.0),  # mg/L
    "conductivity": (0.0, 5_000.0),  # μS/cm
    "organic_carbon": (0.0, 100.0),  # ppm
    "trihalomethanes": (0.0, 500.0),  # μg/L
    "turbidity": (0.0, 100.0),  # NTU
}

# Largest tolerated share of missing values per column; the usual shares are 15% (ph),
# 24% (sulfate) and 5% (trihalomethanes), so these leave room for a bad day, not a dead sensor.
MAX_NULL_SHARE: Mapping[str, float] = {
    "ph": 0.30,
    "sulfate": 0.40,
    "trihalomethanes": 0.15,
} | {c: 0.05 for c in MEASUREMENTS if c not in ("ph", "sulfate", "trihalomethanes")}

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "default.yaml"


def known_stations(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    override = tuple(s.strip() for s in env.get("SLUICE_STATIONS", "").split(",") if s.strip())
    return override or STATIONS


def ph_from_neutral(rows: pd.DataFrame) -> pd.Series:
    """Distance from neutral: drinking water is judged by how far its pH is from 7."""
    return (rows["ph"].astype("float64") - 7.0).abs()


def missing_measurements(rows: pd.DataFrame) -> pd.Series:
    """How many of the nine readings are missing (a struggling sensor or lab)."""
    return rows[list(MEASUREMENTS)].isna().sum(axis=1).astype("float64")


def simulated(settings: Settings, domain: Domain) -> Source:
    from sluice.domains.water.source import SimulatedSource

    return SimulatedSource.from_settings(settings, domain)


DOMAIN = Domain(
    name="water",
    title="Drinking-water potability",
    description="P(potable) per drinking-water sample, from nine lab measurements and its station's history",
    columns=(
        Column("sample_id", ID),
        Column("station_id", ENTITY, categories=known_stations()),
        Column("sampled_at", EVENT_TIME),
        *(Column(m, NUMERIC, range=RANGES[m], max_null_share=MAX_NULL_SHARE[m]) for m in MEASUREMENTS),
        Column("label", LABEL),
    ),
    label=Label("label", positive="potable", negative="not potable", delay_days=3),
    features=FeatureSet(
        version="v1",
        derived=(
            Derived("ph_from_neutral", ph_from_neutral, range=(0.0, 7.0)),
            Derived(
                "missing_measurements", missing_measurements, range=(0, len(MEASUREMENTS)), not_null=True
            ),
        ),
        history=(
            Aggregate("station_history_samples", COUNT, range=(0, None)),
            *(Aggregate(f"{m}_station_mean", MEAN, of=m, range=RANGES[m]) for m in MEASUREMENTS),
        ),
        history_days=7,
    ),
    model_name="water_potability",
    entity_title="station",
    sources={"simulated": simulated},
)
