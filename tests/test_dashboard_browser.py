"""The dashboard in a real browser: ``cst dashboard`` on loopback, every page opened in
headless Chromium (Debian's chromium and chromium-driver, driven by Selenium), charts and text
waited for, screenshots saved (to ``$CST_SCREENSHOTS`` too when set: docs/img is made so)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from cryptosmarttrader.runtime.engine_demo import run_engine_demo
from tests.conftest import service_missing
from tests.test_cli import CST

pytestmark = pytest.mark.slow

# (query slug, header text, a text the page shows, Plotly charts expected)
PAGES = (
    ("overview", "Overview", "Kill switch active", 2),
    ("risk-guard", "Risk Guard", "Latest decisions", 3),
    ("execution", "Execution", "Approval rate", 2),
    ("data", "Data", "none is reachable", 0),
    ("signals", "Signals", "Latest signal per symbol", 1),
    ("alerts", "Alerts & observability", "need Prometheus or a running engine", 0),
    ("ci-quality", "CI / quality", "From the reports", 0),
    ("recommendations", "Recommendations", "The kill switch is on", 0),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    # Debian's chromium here; GitHub's runners have Google Chrome and its driver preinstalled.
    chromium = next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        service_missing("chromium and chromium-driver (Debian packages) are not installed")
    assert chromium is not None
    assert driver_path is not None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "engine"
    run_engine_demo(home, loops=30, pace_s=0)
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CST_HOME": str(home),
        "CST_DASHBOARD__API_URL": "http://127.0.0.1:9",
        "CST_DASHBOARD__PORT": str(port),
        **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
    }
    log = (tmp_path / "dashboard.log").open("wb")
    process = subprocess.Popen([CST, "dashboard"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        pause = threading.Event()
        while True:
            assert process.poll() is None, (tmp_path / "dashboard.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:  # noqa: S310
                    if answer.read() == b"ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not start"
            pause.wait(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def charts_rendered(driver: webdriver.Chrome, *, at_least: int) -> bool:
    return len(driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= at_least


def test_every_page_renders_in_chromium(
    browser: webdriver.Chrome, dashboard_url: str, tmp_path: Path
) -> None:
    wait = WebDriverWait(browser, 60)
    shots = Path(os.environ["CST_SCREENSHOTS"]) if os.environ.get("CST_SCREENSHOTS") else None
    for slug, header, text, charts in PAGES:
        browser.get(f"{dashboard_url}/?page={slug}")
        wait.until(
            expected_conditions.presence_of_element_located(
                (By.XPATH, f"//h2[contains(normalize-space(.), '{header}')]")
            )
        )
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), text))
        if charts:
            wait.until(partial(charts_rendered, at_least=charts))
        # Streamlit finishes a run by hiding its "running" indicator.
        wait.until(
            lambda driver: (
                not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
            )
        )
        assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text
        path = tmp_path / f"dashboard-{slug}.png"
        assert browser.save_screenshot(str(path))
        assert path.stat().st_size > 10_000
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, shots / path.name)
