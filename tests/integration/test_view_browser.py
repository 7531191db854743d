"""A real browser against a running ``airflow standalone`` with the Sluice plugin: log in through
Airflow's login form, open "Sluice" in the navigation, and see the charts drawn. Screenshots go to
``test-artifacts/`` (Debian's ``chromium`` and ``chromium-driver``; ``.ci/run`` installs them)."""

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
    browser.get(f"{base}/plugin/sluice")
    # Airflow's login form (simple auth manager)
    user = _wait(browser, ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name='username']")))
    user.send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[type='password']").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    _wait(browser, lambda d: "/auth/login" not in d.current_url)
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
