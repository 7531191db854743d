"""The domain contract: declarations are checked at load with one message naming the module and every
problem; the water domain is one such declaration; a warehouse knows the domain it was built for."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from sqlalchemy import inspect, text

from sluice.domain import (
    NUMERIC,
    Column,
    DomainError,
    load,
)
from sluice.domains.water import DOMAIN as WATER
from sluice.domains.water import MEASUREMENTS
from sluice.warehouse import DomainMismatch, Warehouse, WarehouseSetupError
from tests.factories import shop_domain

HEADER = """
from sluice.domain import *  # noqa: F403
from sluice.domain import Aggregate, Column, Derived, Domain, FeatureSet, Label
"""

GOOD_COLUMNS = """
    Column("order_id", ID),
    Column("placed_at", EVENT_TIME),
    Column("shop", ENTITY),
    Column("amount", NUMERIC),
    Column("returned", LABEL),
"""


def domain_source(
    columns: str = GOOD_COLUMNS,
    label: str = 'Label("returned", "returned", "kept")',
    features: str = 'FeatureSet("f1")',
) -> str:
    """A domain module's text with these parts (Python expressions)."""
    return (
        HEADER
        + "DOMAIN = Domain(\n"
        + '    name="shop",\n'
        + '    title="Shop returns",\n'
        + f"    columns=({columns}),\n"
        + f"    label={label},\n"
        + f"    features={features},\n"
        + '    model_name="shop_returns",\n'
        + ")\n"
    )


@pytest.fixture
def write_module(tmp_path, monkeypatch):
    """Write a module into a folder outside the package, on sys.path; its dotted name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(source)
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_a_good_domain_in_a_module_outside_the_package_loads(write_module):
    module = write_module("shop_ok", domain_source())
    domain = load(module)
    assert (domain.name, domain.module, domain.id, domain.entity) == ("shop", "shop_ok", "order_id", "shop")
    assert domain.label_columns == ("order_id", "returned", "labelled_at")
    assert domain.delivered_names == ("order_id", "placed_at", "shop", "amount"), "the label comes later"
    assert domain.source_names() == ("landing",)


BROKEN = [
    pytest.param("raise ImportError('no such package: acme_sdk')", "cannot be imported", id="import-error"),
    pytest.param("DOMAIN = (", "cannot be imported (SyntaxError", id="syntax-error"),
    pytest.param("X = 1", "defines no DOMAIN = sluice.domain.Domain", id="no-domain"),
    pytest.param("DOMAIN = {'name': 'shop'}", "(found dict)", id="domain-not-a-domain"),
    pytest.param(
        domain_source(GOOD_COLUMNS + '    Column("ref", ID),\n'),
        "role 'id' is declared twice: order_id, ref",
        id="role-twice",
    ),
    pytest.param(
        domain_source(label='Label("came_back", "returned", "kept")'),
        "label column 'came_back' is missing from the columns",
        id="label-column-missing",
    ),
    pytest.param(
        domain_source(GOOD_COLUMNS + '    Column("kind", CATEGORICAL),\n', label='Label("kind", "a", "b")'),
        "label column 'kind' must have the role 'label'",
        id="label-of-another-role",
    ),
    pytest.param(
        domain_source(
            GOOD_COLUMNS.replace('Column("amount", NUMERIC)', 'Column("amount", NUMERIC, type="money")')
        ),
        "column 'amount': unknown type 'money'",
        id="unknown-type",
    ),
    pytest.param(
        domain_source(GOOD_COLUMNS.replace('Column("amount", NUMERIC)', 'Column("amount", "measure")')),
        "column 'amount': unknown role 'measure'",
        id="unknown-role",
    ),
    pytest.param(
        domain_source(
            GOOD_COLUMNS.replace('Column("amount", NUMERIC)', 'Column("amount", NUMERIC, type=TEXT)')
        ),
        "column 'amount': a numeric column is float or integer, not text",
        id="type-wrong-for-role",
    ),
    pytest.param(
        domain_source(GOOD_COLUMNS + '    Column("row_number", NUMERIC),\n'),
        "column 'row_number': the name is reserved by Sluice",
        id="reserved-column",
    ),
    pytest.param(
        domain_source(GOOD_COLUMNS + '    Column("amount", NUMERIC),\n'),
        "column 'amount' is declared more than once",
        id="column-twice",
    ),
    pytest.param(
        domain_source(GOOD_COLUMNS.replace('Column("shop", ENTITY)', 'Column("shop", CATEGORICAL)')),
        "no column has the role 'entity'",
        id="no-entity",
    ),
    pytest.param(
        domain_source(GOOD_COLUMNS.replace('    Column("amount", NUMERIC),\n', "")),
        "no model inputs",
        id="no-inputs",
    ),
    pytest.param(
        domain_source(features='FeatureSet("f1", derived=(Derived("amount", lambda rows: rows["amount"]),))'),
        "feature 'amount' is declared more than once (or shadows an input column)",
        id="feature-shadows-input",
    ),
    pytest.param(
        domain_source(features='FeatureSet("f1", history=(Aggregate("m", MEAN, of="shop"),))'),
        "history feature 'm': of='shop' is not a numeric column",
        id="mean-of-text",
    ),
    pytest.param(
        domain_source(features='FeatureSet("f1", history=(Aggregate("n", COUNT, by=("amount",)),))'),
        "history feature 'n': by='amount' is not a categorical column",
        id="grouped-by-a-number",
    ),
    pytest.param(
        domain_source(features='FeatureSet("f1", history=(Aggregate("n", "median", of="amount"),))'),
        "how='median' is not one of count, mean",
        id="unknown-aggregation",
    ),
    pytest.param(
        domain_source(features='FeatureSet("f1", derived=(Derived("entity", lambda rows: rows["amount"]),))'),
        "feature 'entity': the name is reserved by Sluice",
        id="reserved-feature",
    ),
    pytest.param(
        domain_source(features='FeatureSet("")'),
        "the feature set needs a version",
        id="no-feature-version",
    ),
    pytest.param(
        domain_source().replace(
            'model_name="shop_returns",', 'model_name="shop_returns", timezone="Mars/Olympus",'
        ),
        "timezone 'Mars/Olympus' is not an IANA time zone name",
        id="unknown-timezone",
    ),
    pytest.param(
        domain_source(GOOD_COLUMNS + '    Column("note", INFO, range=(0, 1)),\n'),
        "column 'note': only numeric columns take a range",
        id="range-on-text",
    ),
    pytest.param(
        domain_source(label='Label("returned", "returned", "kept", delay_days=-1)'),
        "label delay_days=-1 is negative",
        id="negative-delay",
    ),
]


@pytest.mark.parametrize(("source", "problem"), BROKEN)
def test_a_broken_domain_fails_at_load_naming_the_module_and_the_problem(
    write_module, source, problem, request
):
    name = f"broken_{request.node.callspec.id.replace('-', '_')}"
    module = write_module(name, source)
    with pytest.raises(DomainError) as caught:
        load(module)
    message = str(caught.value)
    assert module in message, "the message names the module"
    assert problem in message


def test_every_problem_is_reported_at_once(write_module):
    columns = GOOD_COLUMNS.replace('Column("amount", NUMERIC)', 'Column("amount", NUMERIC, type="money")')
    module = write_module("broken_many", domain_source(columns, label='Label("x", "a", "b")'))
    with pytest.raises(DomainError) as caught:
        load(module)
    assert "unknown type 'money'" in str(caught.value)
    assert "label column 'x' is missing" in str(caught.value)


def test_a_missing_domain_module_is_named():
    with pytest.raises(DomainError, match=r"SLUICE_DOMAIN='no_such_domain_here' cannot be imported"):
        load("no_such_domain_here")


def test_settings_name_the_broken_domain(write_module, tmp_path):
    from sluice.settings import Settings

    module = write_module("broken_for_settings", "X = 1")
    settings = Settings.from_env({"SLUICE_HOME": str(tmp_path), "SLUICE_DOMAIN": module})
    with pytest.raises(DomainError, match="broken_for_settings"):
        settings.model_name  # noqa: B018 - the domain is loaded on first use


# --- the water domain ------------------------------------------------------------------------

WATER_FEATURES = (
    *MEASUREMENTS,
    "ph_from_neutral",
    "missing_measurements",
    "station_history_samples",
    *(f"{m}_station_mean" for m in MEASUREMENTS),
)


def test_water_declares_what_sluice_hard_coded_before():
    assert WATER.problems() == []
    assert WATER.feature_names == WATER_FEATURES, "same inputs in the same order: the same models"
    assert WATER.delivered_names == ("sample_id", "station_id", "sampled_at", *MEASUREMENTS)
    assert (WATER.id, WATER.entity, WATER.event_time) == ("sample_id", "station_id", "sampled_at")
    assert WATER.categorical_features == ()
    assert WATER.row_features == (*MEASUREMENTS, "ph_from_neutral", "missing_measurements")
    assert (WATER.model_name, WATER.label.positive, WATER.label.delay_days) == (
        "water_potability",
        "potable",
        3,
    )
    assert WATER.source_names() == ("simulated", "landing")


def test_the_fingerprint_follows_the_shape_not_the_words():
    import dataclasses

    renamed = dataclasses.replace(WATER, title="Another title", entity_title="site")
    assert renamed.fingerprint == WATER.fingerprint
    more = dataclasses.replace(WATER, columns=(*WATER.columns, Column("lead", NUMERIC)))
    assert more.fingerprint != WATER.fingerprint
    bumped = dataclasses.replace(WATER, features=dataclasses.replace(WATER.features, version="v2"))
    assert bumped.fingerprint != WATER.fingerprint


# --- a warehouse knows its domain ------------------------------------------------------------

OTHER = shop_domain()


def test_a_warehouse_built_for_one_domain_refuses_another(warehouse, warehouse_url):
    assert warehouse.domain is WATER
    warehouse.check_domain()
    other = Warehouse(warehouse_url, domain=OTHER)
    with pytest.raises(DomainMismatch) as caught:
        other.check_domain()
    message = str(caught.value)
    assert "table raw_observations holds domain 'water'" in message
    assert "give this domain a warehouse of its own" in message
    with pytest.raises(DomainMismatch):
        other.create_tables()  # refused before anything is created
    assert "channel" not in {c["name"] for c in inspect(warehouse.engine).get_columns("observations")}


def test_a_changed_declaration_is_refused_with_what_changed(warehouse, warehouse_url):
    import dataclasses

    changed = dataclasses.replace(WATER, columns=(*WATER.columns, Column("lead", NUMERIC)))
    with pytest.raises(DomainMismatch, match=r"another declaration of domain 'water'.*changes: \+lead"):
        Warehouse(warehouse_url, domain=changed).check_domain()


def test_a_warehouse_without_tables_says_to_run_init(warehouse_url):
    store = Warehouse(warehouse_url)
    store.drop_tables()
    with pytest.raises(WarehouseSetupError, match="run `sluice init`"):
        store.check_domain()


def test_a_warehouse_from_before_domains_is_migrated_and_keeps_its_rows(warehouse):
    """The shape an older Sluice left: no migration record, no domain record, ``features.station_id``."""
    from sluice import migrations
    from tests.factories import publish_features

    ids = publish_features(warehouse, dt.date(2026, 1, 5), 3)
    with warehouse.engine.begin() as conn:
        conn.execute(text(f'DROP TABLE "{migrations.VERSION_TABLE}"'))
        conn.execute(text("DROP TABLE sluice_domain"))
        conn.execute(text("ALTER TABLE features RENAME COLUMN entity TO station_id"))
    with pytest.raises(WarehouseSetupError, match="sluice init"):
        warehouse.check_domain()
    warehouse.create_tables()  # what `sluice init` does
    warehouse.check_domain()
    kept = warehouse.read_partition("features", dt.date(2026, 1, 5))
    assert sorted(kept["sample_id"]) == sorted(ids)
    assert kept["entity"].notna().all(), "the station column became the entity key"
    with warehouse.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()


def test_migrations_from_scratch_give_the_tables_the_code_declares(warehouse_url):
    """Upgrading an empty database revision by revision ends where ``create_all`` starts: nothing
    of the lifecycle's tables differs (what Alembic's autogenerate would find)."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from sluice import migrations
    from sluice.tables import DOMAIN_TABLES, metadata

    store = Warehouse(warehouse_url)
    store.drop_tables()
    with store.engine.begin() as conn:
        command.upgrade(migrations.config(conn), "head")
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda obj, name, type_, *_: (
                    not (type_ == "table" and name in DOMAIN_TABLES)
                ),
                "version_table": migrations.VERSION_TABLE,
            },
        )
        differences = compare_metadata(context, metadata)
    assert differences == []
    store.drop_tables()


def test_the_readmes_smallest_domain_is_a_complete_domain(write_module):
    """The example under "Your own data" is what a user copies: it must load as it is written."""
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Your own data", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    domain = load(write_module("readme_shop_returns", example))
    assert domain.feature_names == (
        "amount",
        "items",
        "channel",
        "per_item",
        "shop_orders",
        "shop_return_rate",
        "channel_amount",
    )
    assert domain.categorical_features == ("channel",)
