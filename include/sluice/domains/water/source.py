"""The water domain's source: the deterministic simulator, delivered as a real feed would be."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from sluice.domain import Domain
from sluice.domains.water import DEFAULT_SCENARIO
from sluice.domains.water.simulator import (
    Scenario,
    SimulatorConfig,
    delivered_at,
    generate_batch,
    generate_labels,
)
from sluice.settings import Settings
from sluice.sources import DeliveryNotReady


@dataclass(frozen=True)
class SimulatedSource:
    config: SimulatorConfig
    name: str = "simulated"

    @classmethod
    def from_settings(cls, settings: Settings, domain: Domain | None = None) -> SimulatedSource:
        return cls(
            SimulatorConfig(
                seed=settings.seed,
                rows_per_day=settings.rows_per_day,
                label_delay_days=settings.label_delay_days,
                scenario=Scenario.load(settings.scenario or DEFAULT_SCENARIO),
            )
        )

    def fetch(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        ready = delivered_at(self.config, day)
        if as_of < ready:
            raise DeliveryNotReady(
                f"simulated batch for {day} is delivered at {ready:%Y-%m-%d %H:%M} UTC, not yet"
            )
        return generate_batch(self.config, day)

    def fetch_labels(self, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
        return generate_labels(self.config, day)
