"""A team's own domain, in one file outside the package, runs the whole loop with no library change.

The domain below is written into a temporary folder, put on ``PYTHONPATH`` and named by
``SLUICE_DOMAIN``; ``tests/integration/domain_loop.py`` then runs ingest → features → train →
evaluate → score → monitor through ``dag.test()`` in a process of its own (the domain is chosen
once per process, as in a deployment), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from tests.integration.domain_loop import run_loop, separate_warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ACME = '''
"""Acme returns: will an order come back? Two numeric inputs, one categorical, the shop as entity,
a binary label one day later, and its own source: a minimal Sluice domain in one file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sluice.domain import (
    CATEGORICAL, COUNT, ENTITY, EVENT_TIME, ID, INTEGER, LABEL, LABEL_RATE, MEAN, NUMERIC,
    Aggregate, Column, Derived, Domain, FeatureSet, Label,
)

SHOPS = ("north", "south", "east", "west")
CHANNELS = ("web", "app", "phone")


def per_item(rows):
    return rows["amount"] / rows["items"]


@dataclass(frozen=True)
class Orders:
    """A day's orders, the same for the same day; returns are known the next day."""

    rows: int = 300
    name: str = "orders"

    def _day(self, day):
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(day.toordinal())
        n = self.rows
        shop, channel = rng.choice(SHOPS, n), rng.choice(CHANNELS, n)
        items = rng.integers(1, 8, n)
        amount = np.round(rng.gamma(2.0, 40.0, n) * items, 2)
        logit = -1.0 + 1.5 * (channel == "phone") - 1.0 * (channel == "app") + 0.01 * amount / items
        returned = (rng.random(n) < 1 / (1 + np.exp(-(logit + 0.8 * (shop == "east"))))).astype(int)
        seconds = np.sort(rng.integers(0, 86_400, n))
        placed = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")
        frame = pd.DataFrame(
            {
                "order_id": [f"A{day:%Y%m%d}-{i:04d}" for i in range(n)],
                "placed_at": placed.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "shop": shop,
                "channel": channel,
                "amount": amount.astype(str),
                "items": items.astype(str),
            }
        )
        return frame, returned

    def fetch(self, day, as_of):
        return self._day(day)[0]

    def fetch_labels(self, day, as_of):
        import pandas as pd

        frame, returned = self._day(day - dt.timedelta(days=1))
        labelled_at = f"{day}T12:00:00Z"
        return pd.DataFrame(
            {"order_id": frame["order_id"], "returned": returned.astype(str), "labelled_at": labelled_at}
        )


def orders(settings, domain):
    return Orders(rows=settings.rows_per_day)


def at_most_fifty_items():
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeBetween(
            column="items", max_value=50, meta={"scope": "row", "why": "bulk order"}
        )
    ]


DOMAIN = Domain(
    name="acme_returns",
    title="Acme order returns",
    columns=(
        Column("order_id", ID),
        Column("placed_at", EVENT_TIME),
        Column("shop", ENTITY, categories=SHOPS, input=True),
        Column("channel", CATEGORICAL, categories=CHANNELS),
        Column("amount", NUMERIC, range=(0, 100_000)),
        Column("items", NUMERIC, type=INTEGER, range=(1, None)),
        Column("returned", LABEL),
    ),
    label=Label("returned", positive="returned", negative="kept", delay_days=1),
    features=FeatureSet(
        version="r1",
        derived=(Derived("per_item", per_item, range=(0, None)),),
        history=(
            Aggregate("shop_orders", COUNT),
            Aggregate("shop_return_rate", MEAN, of=LABEL_RATE, range=(0, 1)),
            Aggregate("channel_mean_amount", MEAN, of="amount", by=("channel",)),
        ),
        history_days=3,
    ),
    model_name="acme_returns",
    entity_title="shop",
    sources={"orders": orders},
    value_expectations=at_most_fifty_items,
)
'''


@pytest.fixture(scope="module")
def domain_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team-repo")
    (folder / "acme_returns.py").write_text(textwrap.dedent(ACME))
    return folder


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def acme_warehouse(request, tmp_path) -> str:
    return separate_warehouse(request, tmp_path, "sluice_test_acme")


def test_a_domain_in_one_file_runs_the_whole_loop(domain_folder, acme_warehouse, tmp_path):
    found = run_loop(
        "acme_returns", dt.date(2026, 3, 1), 8, tmp_path / "home", acme_warehouse, [domain_folder]
    )
    assert found["domain"] == "acme_returns"
    assert found["model_name"] == "acme_returns"
    assert found["champion_version"] == 1, "the first challenger is promoted: a champion exists"
    assert found["model_description"] == "Acme order returns (Sluice): P(returned) per sample"
    assert found["observations"] == found["features"] == found["predictions"] == 300
    assert found["feature_columns"][:5] == [
        "sample_date",
        "sample_id",
        "entity",
        "sampled_at",
        "feature_version",
    ]
    expected = ["amount", "items", "shop", "channel", "per_item", "shop_orders", "shop_return_rate"]
    assert found["feature_columns"][5:-2] == expected
    assert found["feature_columns"][-2:] == ["channel_mean_amount", "built_at"]
    assert found["categorical_values"] == ["east", "north", "south", "west"], "categories stay text"
    assert found["labels"] > 0
    assert found["monitoring_rows"] > 0
    assert {"amount", "channel", "shop", "per_item"} <= set(found["monitored_columns"])
    assert found["overview"]["domain"] == {
        "domain": "acme_returns",
        "title": "Acme order returns",
        "positive": "returned",
        "negative": "kept",
        "entity": "shop",
    }
    assert found["overview"]["model_name"] == "acme_returns"
    assert found["overview"]["champion"]["version"] == 1
    assert 'sluice_domain_info{domain="acme_returns"' in found["metrics"]
    assert 'positive="returned"' in found["metrics"]
    assert 'sluice_champion_version{model="acme_returns"} 1.0' in found["metrics"]
