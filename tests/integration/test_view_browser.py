"""A real browser against a running ``airflow standalone`` with the Sluice plugin: log in through
Airflow's login form, open "Sluice" in the navigation, and see the charts drawn; open GX Data Docs
and the API docs through the view. The browser has no internet (every host but localhost fails to
resolve), as where Sluice is often deployed: everything a page needs must come from the server.
Screenshots go to ``test-artifacts/`` (Debian's ``chromium`` and ``chromium-driver``; ``.ci/run``
installs them)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.factories import seed_view

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """``airflow standalone`` on a free port, its own home and a seeded warehouse; stopped after."""
    from sluice.warehouse import Warehouse

    home = tmp_path_factory.mktemp("standalone")
    url = f"sqlite:///{home / 'warehouse.db'}"
    store = Warehouse(url)
    store.create_tables()
    seed_view(store, days=60)
    store.dispose()
    _data_docs(home / "gx")
    port = free_port()
    venv_bin = Path(sys.executable).parent  # standalone starts its components as `airflow …`
    env = os.environ | {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "SLUICE_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW_CONN_SLUICE_WAREHOUSE": url,
    }
    log = (home / "standalone.log").open("w")
    airflow = venv_bin / "airflow"
    server = subprocess.Popen(
        [str(airflow), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://localhost:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (home / "standalone.log").read_text()[-3000:]
                time.sleep(2)
        else:
            pytest.fail(
                "airflow standalone did not answer in 6 min:\n"
                + (home / "standalone.log").read_text()[-3000:]
            )
        passwords = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        yield base, json.loads(passwords.read_text())["admin"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=60)
        # standalone's components share its process group; one may outlive it on SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


def _data_docs(root: Path) -> None:
    """Real GX Data Docs: a validation that passes and one that fails, and the index."""
    import datetime as dt

    from expectations import raw_observations as raw_suites
    from sluice.domains.water import DOMAIN
    from sluice.domains.water.simulator import SimulatorConfig, generate_batch
    from sluice.validation import GXRunner

    runner = GXRunner(root)
    day = dt.date(2026, 1, 10)
    frame = generate_batch(SimulatorConfig(seed=4, rows_per_day=50), day).astype(object)
    frame = frame.where(frame.notna(), None).map(lambda v: None if v is None else str(v))
    for name, batch in (("good", frame), ("broken", frame.drop(columns=[frame.columns[-1]]))):
        runner.validate(
            raw_suites.delivered_suite(DOMAIN),
            batch,
            run_name=name,
            run_time=dt.datetime(2026, 1, 11, tzinfo=dt.UTC),
            parameters={"published_elsewhere": []},
        )
    runner.build_index()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver

    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "install Debian's chromium and chromium-driver (.ci/run does)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1440,1100",
        # no internet: only localhost resolves, so a page that needs a CDN shows it
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, condition, seconds=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def test_log_in_open_the_sluice_view_and_see_the_charts(standalone, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    base, password = standalone
    ARTIFACTS.mkdir(exist_ok=True)
    _log_in(browser, base, password)  # Airflow's login form (simple auth manager)
    # "Sluice" in the navigation opens the view
    browser.get(f"{base}/plugin/sluice")
    frame = _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
    assert frame.get_attribute("src").endswith("/sluice/")
    browser.switch_to.frame(frame)
    _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".card .big")))
    assert browser.find_element(By.CSS_SELECTOR, ".card .big").text == "v3"
    browser.switch_to.default_content()
    time.sleep(1)  # let the navigation's icons settle for the picture
    browser.save_screenshot(str(ARTIFACTS / "sluice-overview.png"))
    pages = {"Drift & performance": 4, "Model history": 1, "Data quality": 1}
    for link, charts in pages.items():
        browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe"))
        browser.find_element(By.LINK_TEXT, link).click()
        _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "svg.chart")))
        svgs = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
        assert len(svgs) == charts, link
        points = browser.find_elements(By.CSS_SELECTOR, "svg.chart circle.point")
        assert len(points) >= 3, f"{link}: no data points drawn"
        assert all(p.is_displayed() for p in points[:20])
        browser.switch_to.default_content()
        name = link.lower().replace(" & ", "-").replace(" ", "-")
        browser.save_screenshot(str(ARTIFACTS / f"sluice-{name}.png"))


def _log_in(browser, base: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    browser.get(f"{base}/plugin/sluice")
    user = _wait(browser, ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name='username']")))
    user.send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[type='password']").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    _wait(browser, lambda d: "/auth/login" not in d.current_url)


def _loaded_from(browser) -> set[str]:
    """The origins of every script, style, font and image the page loaded."""
    names = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return {"/".join(name.split("/")[:3]) for name in names}


def test_data_docs_and_api_docs_render_with_no_internet(standalone, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    base, password = standalone
    ARTIFACTS.mkdir(exist_ok=True)
    blocked = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('https://cdn.jsdelivr.net/npm/vega@5', {mode: 'no-cors'})"
        ".then(() => done('reached'), () => done('blocked'))"
    )
    assert blocked == "blocked", "the test browser must have no internet"
    _log_in(browser, base, password)

    browser.get(f"{base}/sluice/data-docs/index.html")
    # bootstrap-table fills the index's lists from script: empty lists meant its files did not load
    rows = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table tbody tr td a"))
    assert len(rows) >= 2, "both validations listed"
    state = browser.execute_script(
        "return {jquery: !!window.jQuery, table: !!(window.jQuery && jQuery.fn.bootstrapTable),"
        " vega: typeof vegaEmbed === 'function',"
        " navbar: getComputedStyle(document.querySelector('nav.navbar')).display,"
        " icons: document.fonts.check('900 16px \"Font Awesome 6 Free\"')}"
    )
    assert state == {"jquery": True, "table": True, "vega": True, "navbar": "flex", "icons": True}, state
    assert _loaded_from(browser) == {base}, "everything came from the server"
    browser.save_screenshot(str(ARTIFACTS / "data-docs-index-offline.png"))

    import re

    results = re.findall(r"validations/[^\"']+?\.html", browser.page_source)
    assert len(set(results)) == 2, "the index lists both validation results"
    browser.get(f"{base}/sluice/data-docs/{sorted(results)[0]}")
    _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".card")))
    assert "Validation" in browser.page_source
    # the page runs sandboxed (an opaque origin: no Airflow session), so its style sheets are
    # cross-origin to it and can only be seen through what they do: Bootstrap's look
    styled = browser.execute_script(
        "return [getComputedStyle(document.querySelector('nav.navbar')).display,"
        " getComputedStyle(document.querySelector('table')).borderCollapse, window.origin]"
    )
    assert styled == ["flex", "collapse", "null"], styled
    assert browser.execute_script("return !!(window.jQuery && jQuery.fn.bootstrapTable)")
    assert _loaded_from(browser) == {base}
    browser.save_screenshot(str(ARTIFACTS / "data-docs-validation-offline.png"))

    browser.get(f"{base}/sluice/docs")
    title = _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
    assert title.text.startswith("Sluice")
    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    assert any("/api/overview" in o.text for o in operations)
    assert _loaded_from(browser) == {base}
    browser.save_screenshot(str(ARTIFACTS / "api-docs-offline.png"))
