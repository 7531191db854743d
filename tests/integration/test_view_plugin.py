"""The Sluice plugin inside Airflow's own API server app: mounted at /sluice, listed as an external
view, and guarded by Airflow's JWT validation (the UI's session cookie or a bearer token)."""

from __future__ import annotations

import sys

import pytest

from tests.factories import seed_view

pytestmark = pytest.mark.integration


@pytest.fixture
def api(airflow_db, tmp_path, monkeypatch):
    from airflow.api_fastapi.app import create_app, get_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from sluice.warehouse import Warehouse

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    store = Warehouse(url)
    store.create_tables()
    written = seed_view(store, days=30)
    monkeypatch.setenv("AIRFLOW_CONN_SLUICE_WAREHOUSE", url)
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-secret")
    monkeypatch.setenv("SLUICE_METRICS_TOKEN", "scraper-secret")
    purge_cached_app()
    app = create_app("core")
    plugin = sys.modules["sluice_view"]
    plugin.build.cache_clear()  # built from this test's environment on the first request
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="ADMIN"))
    yield TestClient(app), token, written["dates"]
    plugin.build.cache_clear()
    purge_cached_app()


def test_the_view_is_listed_in_the_navigation(api):
    client, token, _ = api
    plugins = client.get("/api/v2/plugins", headers={"authorization": f"Bearer {token}"}).json()["plugins"]
    (sluice,) = [p for p in plugins if p["name"] == "sluice"]
    assert sluice["fastapi_apps"][0]["url_prefix"] == "/sluice"
    (view,) = sluice["external_views"]
    assert (view["name"], view["href"], view["destination"]) == ("Sluice", "/sluice/", "nav")


def test_airflow_users_get_in_others_do_not(api):
    client, token, _ = api
    assert client.get("/sluice/api/overview").status_code == 401
    assert (
        client.get("/sluice/api/overview", headers={"authorization": "Bearer not-a-jwt"}).status_code == 403
    )
    by_bearer = client.get("/sluice/api/overview", headers={"authorization": f"Bearer {token}"})
    assert by_bearer.status_code == 200 and by_bearer.json()["champion"]["version"] == 3
    client.cookies.set("_token", token)  # what the UI's session carries
    page = client.get("/sluice/drift")
    assert page.status_code == 200 and page.text.count("<svg") == 4
    assert 'href="/sluice/history"' in page.text, "links stay under the mount point"
    client.cookies.clear()
    login = client.get("/sluice/drift", follow_redirects=False)
    assert login.status_code == 303 and "/auth/login" in login.headers["location"]


def test_metrics_take_the_scraper_token(api):
    client, _, _ = api
    assert client.get("/sluice/metrics").status_code == 401
    text = client.get("/sluice/metrics", headers={"authorization": "Bearer scraper-secret"}).text
    assert 'sluice_champion_version{model="water_potability"} 3.0' in text
