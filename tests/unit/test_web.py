"""The Sluice view's app (FastAPI TestClient) on seeded tables: every endpoint returns what the
tables hold, pages render their charts, unauthenticated requests are refused, /metrics parses."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from sluice.view_config import ViewConfig
from sluice.web import create_app
from tests.factories import seed_view

TOKEN = "Bearer good"
USER = {"authorization": TOKEN}


async def authenticate(request):
    """A stand-in for Airflow's check: one valid token (the plugin's own test uses Airflow's)."""
    if request.headers.get("authorization") != TOKEN:
        raise HTTPException(401, "Not authenticated")
    return "tester"


@pytest.fixture
def seeded(warehouse, tmp_path):
    written = seed_view(warehouse, days=40)
    reports = tmp_path / "reports"
    reports.mkdir()
    last = written["dates"][-1]
    (reports / f"{last}.html").write_text("<html>evidently</html>")
    docs = tmp_path / "docs"
    (docs / "validations").mkdir(parents=True)
    (docs / "validations" / "page.html").write_text("<html>gx</html>")
    (tmp_path / "secret.txt").write_text("not served")
    config = ViewConfig(
        warehouse=lambda: warehouse,
        model_name="water_potability",
        reports_dir=reports,
        data_docs_dir=docs,
        login_url=lambda next_url: f"/auth/login/?next={next_url}",
        metrics_token="scraper-secret",
        dag_runs=lambda: [{"dag_id": "sluice_ingest", "run_id": "r1", "state": "success"}],
        today=lambda: last + dt.timedelta(days=1),
    )
    client = TestClient(create_app(config, authenticate))
    client.app_config = config
    return client, written


def test_unauthenticated_requests_are_refused(seeded):
    client, _ = seeded
    for path in ("/api/overview", "/api/decisions", "/api/drift", "/api/quality", "/metrics"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"authorization": "Bearer forged"}).status_code == 401, path
    assert client.get("/openapi.json").status_code == 401, "the API's schema is behind the login too"
    for path in (
        "/",
        "/history",
        "/drift",
        "/quality",
        "/reports/2026-02-09.html",
        "/data-docs/x.html",
        "/docs",
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/auth/login/?next=" + path, "back to a path, no host"
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(path, headers=USER).status_code == 404, "no other docs page"


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:443", "testserver@evil.example", "x/\\evil.example", "[::1]"]
)
def test_the_logins_way_back_never_comes_from_the_host_header(seeded, host):
    """An open redirect: a page asked for with a forged Host must not send the user there."""
    client, _ = seeded
    answer = client.get("/quality?days=7", headers={"host": host}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/auth/login/?next=/quality?days=7"


def test_the_logins_way_back_is_the_configured_public_url(seeded, warehouse):
    from dataclasses import replace

    client, _ = seeded
    config = replace(client.app_config, public_url="https://airflow.example.org/")
    app = TestClient(create_app(config, authenticate))
    answer = app.get("/drift", headers={"host": "evil.example"}, follow_redirects=False)
    assert answer.headers["location"] == "/auth/login/?next=https://airflow.example.org/drift"


def test_overview_names_the_champion_the_alerts_and_the_newest_day(seeded):
    client, written = seeded
    body = client.get("/api/overview", headers=USER).json()
    onset, last = written["onset"], written["dates"][-1]
    assert body["champion"]["version"] == 3
    assert body["champion"]["promoted_on"] == (onset + dt.timedelta(days=4)).isoformat()
    assert body["champion"]["days_since_promotion"] == (last + dt.timedelta(days=1) - onset).days - 4
    assert body["champion"]["holdout_metrics"]["roc_auc"] == pytest.approx(0.98)
    assert body["last_day"] == {
        "day": last.isoformat(),
        "status": "published",
        "delivered": 1000,
        "published": 1000,
        "quarantined": 0,
        "scored": 1000,
        "scored_by_version": 3,
    }
    # the drift ended 5 days after onset: within the last 7 monitored days only accuracy_drop
    # rows of drifted sample days can alert, and none of those is in the window
    assert all(a["day"] >= (last - dt.timedelta(days=6)).isoformat() for a in body["alerts"])
    assert [r["dag_id"] for r in body["dag_runs"]][:2] == ["sluice_ingest", "sluice_features"]
    assert body["dag_runs"][0]["state"] == "success" and body["dag_runs"][1]["state"] is None


def test_decisions_come_back_oldest_first_with_both_metrics(seeded):
    client, _ = seeded
    body = client.get("/api/decisions", headers=USER).json()
    assert [d["decision"] for d in body] == ["promote", "reject", "promote"]
    assert [d["challenger_version"] for d in body] == [1, 2, 3]
    assert body[1]["champion_metrics"] == {"roc_auc": 0.9, "accuracy": 0.84}
    assert body[2]["gain"] == pytest.approx(0.08)


def test_drift_series_match_the_metrics_table(seeded, warehouse):
    from sqlalchemy import select

    from sluice.tables import monitoring_metrics as m

    client, written = seeded
    body = client.get("/api/drift", params={"days": 40}, headers=USER).json()
    stored = {
        r["metric_date"].isoformat(): r["value"]
        for r in warehouse.fetch(
            select(m.c.metric_date, m.c.value).where(m.c.metric == "drift_share", m.c.span == "day")
        )
    }
    assert {p["day"]: p["value"] for p in body["series"]["drift_share"]} == pytest.approx(stored)
    assert len(body["series"]["accuracy"]) == 37, "the newest three days have no labels yet"
    predicted = warehouse.fetch(select(m.c.value).where(m.c.metric == "prediction_drift", m.c.span == "day"))
    assert sorted(p["value"] for p in body["series"]["prediction_drift"]) == sorted(
        r["value"] for r in predicted
    ), "prediction drift is recorded under the column 'score'"
    assert body["top_features"][0] == "chloramines"
    assert [c["version"] for c in body["champion_changes"]] == [1, 3]
    assert body["first"] == written["dates"][0].isoformat()
    short = client.get("/api/drift", params={"days": 10}, headers=USER).json()
    assert len(short["series"]["drift_share"]) == 10
    assert client.get("/api/drift", params={"days": 0}, headers=USER).status_code == 422


def test_quality_lists_the_quarantined_batch_and_the_reports(seeded):
    client, written = seeded
    body = client.get("/api/quality", params={"days": 40}, headers=USER).json()
    (batch,) = body["quarantined"]
    assert batch["day"] == written["quarantined_day"].isoformat()
    assert batch["quarantined_rows"] == 10
    assert batch["failed_expectations"][0]["column"] == "ph"
    assert body["reports"] == [written["dates"][-1].isoformat()]
    assert sum(d["quarantined"] for d in body["days"]) == 10


def test_pages_render_charts_with_data_points(seeded):
    client, _ = seeded
    drift = client.get("/drift", headers=USER)
    assert drift.status_code == 200
    assert drift.text.count("<svg") == 4
    assert len(re.findall(r'<circle class="point" data-series="drift share"', drift.text)) == 40
    assert 'class="marker-label"' in drift.text, "champion changes are marked"
    history = client.get("/history", headers=USER).text
    assert "better on the hold-out" in history and history.count('class="badge promote"') == 2
    overview = client.get("/", headers=USER).text
    assert ">v3<" in overview
    quality = client.get("/quality", headers=USER).text
    assert "expect_column_values_to_be_between" in quality and "/reports/" in quality


def test_reports_and_data_docs_are_served_without_escaping_their_folder(seeded):
    client, written = seeded
    assert client.get(f"/reports/{written['dates'][-1]}.html", headers=USER).text == "<html>evidently</html>"
    assert client.get("/reports/2020-01-01.html", headers=USER).status_code == 404
    assert client.get("/data-docs/validations/page.html", headers=USER).text == "<html>gx</html>"
    assert client.get("/data-docs/../secret.txt", headers=USER).status_code == 404
    assert client.get("/data-docs/%2E%2E/secret.txt", headers=USER).status_code == 404


def test_metrics_parse_and_take_the_scraper_token(seeded):
    from prometheus_client.parser import text_string_to_metric_families

    client, written = seeded
    text = client.get("/metrics", headers={"authorization": "Bearer scraper-secret"}).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    last = written["dates"][-1].isoformat()
    assert samples[("sluice_champion_version", (("model", "water_potability"),))] == 3
    assert samples[("sluice_rows", (("day", last), ("stage", "quarantined")))] == 0
    assert samples[("sluice_rows", (("day", last), ("stage", "scored")))] == 1000
    assert ("sluice_last_drift_share", (("day", last),)) in samples
    labelled = written["dates"][-4].isoformat()
    assert samples[("sluice_last_accuracy", (("day", labelled),))] == pytest.approx(0.85, abs=0.011)
    assert samples[("sluice_days_since_promotion", (("model", "water_potability"),))] >= 0
    from sluice.alerting import ALERTING_METRICS

    open_alerts = {labels[0][1] for name, labels in samples if name == "sluice_open_alerts"}
    assert open_alerts == set(ALERTING_METRICS), "every figure that can alert, the estimate's included"
    assert client.get("/metrics", headers=USER).status_code == 200, "an Airflow user may read it too"
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    listed = set(re.findall(r"`(sluice_(?:last|champion|days|rows|open|domain)\w*)", readme))
    assert len(listed) >= 8 and listed <= {name for name, _ in samples}, (
        "each figure the README lists has a value"
    )
    assert ("sluice_last_prediction_drift", (("day", last),)) in samples


def test_an_empty_warehouse_renders_without_errors(warehouse):
    config = ViewConfig(warehouse=lambda: warehouse, model_name="m", today=lambda: dt.date(2026, 1, 1))
    client = TestClient(create_app(config, authenticate))
    assert client.get("/api/overview", headers=USER).json()["champion"] is None
    for path in ("/", "/history", "/drift", "/quality"):
        answer = client.get(path, headers=USER)
        assert answer.status_code == 200, path
    assert "no data yet" in client.get("/drift", headers=USER).text
    assert client.get("/metrics", headers=USER).status_code == 200


def test_the_openapi_schema_documents_the_api(seeded):
    client, _ = seeded
    schema = client.get("/openapi.json", headers=USER).json()
    assert {"/api/overview", "/api/decisions", "/api/drift", "/api/quality", "/metrics"} <= set(
        schema["paths"]
    )
    assert "Overview" in schema["components"]["schemas"]


def _gx_cdn_addresses() -> set[str]:
    """Every http(s) address GX's installed Data Docs templates load a script or style from."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    found = set()
    for template in templates.glob("*.j2"):
        text = template.read_text()
        found |= set(re.findall(r"<script[^>]*\ssrc=\"(https?://[^\"]+)\"", text))
        found |= set(re.findall(r"<link[^>]*\shref=\"(https?://[^\"]+)\"", text))
    return found


def test_every_file_gx_data_docs_load_from_a_cdn_is_shipped():
    """A GX upgrade that changes a library version fails here, not in a user's browser offline."""
    from sluice import offline

    addresses = _gx_cdn_addresses()
    assert len(addresses) >= 12, addresses
    missing = {url for url in addresses if offline.local_path(url) is None}
    assert not missing, f"no vendored file for {sorted(missing)}: run scripts/vendor_data_docs.sh"


def test_data_docs_pages_are_served_with_local_assets_and_the_files_are_there(seeded, tmp_path):
    from sluice import offline

    client, _ = seeded
    logo = (
        "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&dataContextId=x"
    )
    tags = "".join(
        f'<script src="{u}"></script>' if u.endswith(".js") or "vega" in u else f"<link href='{u}'/>"
        for u in sorted(_gx_cdn_addresses())
    )
    page = f'<html><head>{tags}</head><img src="{logo}"><a href="https://greatexpectations.io">GX</a></html>'
    (tmp_path / "docs" / "validations" / "cdn.html").write_text(page)
    served = client.get("/data-docs/validations/cdn.html", headers=USER).text
    assert not re.search(r"(?:src|href)=[\"']https?://(?!greatexpectations\.io)", served), served
    assert 'href="https://greatexpectations.io"' in served, "links to GX's site are left alone"
    assert '<img src="/data-docs/static/images/logo-long.png">' in served
    local = re.findall(r"(?:src|href)=[\"'](/vendor/[^\"']+)", served)
    assert len(local) == len(_gx_cdn_addresses())
    for path in local:
        answer = client.get(path)  # public: static third-party files
        assert answer.status_code == 200 and len(answer.content) > 100, path
    css = client.get(
        "/vendor/"
        + offline.CDN["https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/"]
        + "css/all.min.css"
    )
    for font in set(re.findall(r"url\(\.\./(webfonts/[^)]+\.woff2)\)", css.text)):
        assert client.get(f"/vendor/fontawesome-free@6.6.0/{font}").status_code == 200, font
    for bad in ("../offline.py", "%2E%2E/offline.py", "x%00.js", "nothing.js"):
        assert client.get(f"/vendor/{bad}").status_code == 404, bad
    assert client.get("/data-docs/x%00.html", headers=USER).status_code == 404


def test_the_api_docs_page_loads_swagger_ui_from_the_app(seeded):
    client, _ = seeded
    page = client.get("/docs", headers=USER).text
    scripts = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page)
    assert scripts and not [s for s in scripts if s.startswith("http")], scripts
    for path in scripts:
        assert client.get(path).status_code == 200, path


def test_every_response_has_security_headers_and_pages_written_by_other_tools_are_sandboxed(seeded):
    client, written = seeded
    own = ("/", "/history", "/drift", "/quality", "/api/overview", "/metrics")
    foreign = ("/data-docs/validations/page.html", f"/reports/{written['dates'][-1]}.html")
    for path in (*own, *foreign, "/vendor/jquery@3.7.1/jquery.min.js", "/docs"):
        headers = client.get(path, headers=USER).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "SAMEORIGIN", path
    for path in own:
        policy = client.get(path, headers=USER).headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy, path
    for path in foreign:  # delivered values end up in these pages: their scripts get no session
        policy = client.get(path, headers=USER).headers["content-security-policy"]
        assert policy.startswith("sandbox allow-scripts") and "allow-same-origin" not in policy, path
    docs = client.get("/docs", headers=USER)  # Swagger UI: its files, and its one inline script by hash
    policy = docs.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    [inline] = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy


def test_a_report_that_resolves_outside_its_folder_is_not_served(seeded, tmp_path):
    client, _ = seeded
    (tmp_path / "reports" / "2020-01-02.html").symlink_to(tmp_path / "secret.txt")
    assert client.get("/reports/2020-01-02.html", headers=USER).status_code == 404
    (tmp_path / "docs" / "validations" / "out.html").symlink_to(tmp_path / "secret.txt")
    assert client.get("/data-docs/validations/out.html", headers=USER).status_code == 404


def test_the_data_docs_index_is_rebuilt_when_opened_after_new_validations(warehouse, tmp_path):
    import os

    site = tmp_path / "site"
    (site / "validations").mkdir(parents=True)
    rebuilt = []

    def rebuild():
        rebuilt.append(1)
        (site / "index.html").write_text("<html>index</html>")

    config = ViewConfig(
        warehouse=lambda: warehouse,
        model_name="m",
        data_docs_dir=site,
        rebuild_data_docs_index=rebuild,
        today=lambda: dt.date(2026, 1, 1),
    )
    client = TestClient(create_app(config, authenticate))
    assert client.get("/data-docs/index.html", headers=USER).text == "<html>index</html>", (
        "built when missing"
    )
    assert client.get("/data-docs/index.html", headers=USER).status_code == 200 and len(rebuilt) == 1
    page = site / "validations" / "new.html"
    page.write_text("<html>a new result</html>")
    later = (site / "index.html").stat().st_mtime + 5
    os.utime(page, (later, later))
    client.get("/data-docs/index.html", headers=USER)
    client.get("/data-docs/validations/new.html", headers=USER)
    assert len(rebuilt) == 2, "once for the new page, and only for the index"
