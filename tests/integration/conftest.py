"""An Airflow metadata DB (SQLite, in the session's state folder) for real DAG runs."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def airflow_db():
    from airflow.utils import db

    db.resetdb(skip_init=False)
    return True


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    """The DAGs parsed afresh for each test file: a run with a conf (dag.test) can leave its values
    on the parsed DAG's params, and a later file must see the DAG as declared."""
    from airflow.dag_processing.dagbag import BundleDagBag

    from tests.conftest import REPO

    bag = BundleDagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags", bundle_name="dags-folder")
    assert bag.import_errors == {}
    return bag
