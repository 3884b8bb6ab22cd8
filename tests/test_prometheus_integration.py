"""A real Prometheus scraping the app and a real Alertmanager: the kill switch, activated over
the API, fires KillSwitchActivated, which reaches a webhook. Everything waits by polling."""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from cryptosmarttrader.api.app import ApiContext, create_app
from cryptosmarttrader.api.server import BackgroundApi
from tests.conftest import service_missing
from tests.systems import open_system

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARD = (
    Path(__file__).resolve().parents[1] / "src" / "cryptosmarttrader" / "dashboard" / "app.py"
)
TOKEN = "integration-token-0123456789"
DEADLINE_S = 60.0
T = TypeVar("T")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def poll(what: str, probe: Callable[[], T | None], process: subprocess.Popen[bytes]) -> T:
    name = Path(str(process.args[0] if isinstance(process.args, list) else process.args)).name
    """``probe()`` until it returns something, checking that ``process`` still runs."""
    deadline = time.monotonic() + DEADLINE_S
    pause = threading.Event()
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{name} exited while waiting for {what}"
        try:
            found = probe()
        except OSError:
            found = None
        if found is not None:
            return found
        pause.wait(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Webhook:
    """Alertmanager's receiver: every POSTed notification lands in ``received``."""

    def __init__(self) -> None:
        received: queue.Queue[dict[str, Any]] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def dashboard_page(
    monkeypatch: pytest.MonkeyPatch, home: Path, api_url: str, prometheus_url: str
) -> AppTest:
    """The Alerts page; the environment stays set for the test's later reruns."""
    monkeypatch.setenv("CST_HOME", str(home))
    monkeypatch.setenv("CST_DATABASE_URL", f"sqlite:///{home / 'cst.sqlite'}")
    monkeypatch.setenv("CST_DASHBOARD__API_URL", api_url)
    monkeypatch.setenv("CST_DASHBOARD__PROMETHEUS_URL", prometheus_url)
    app = AppTest.from_file(str(DASHBOARD), default_timeout=60)
    app.query_params["page"] = "alerts"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def started(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def binaries() -> tuple[str, str]:
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if prometheus is None or alertmanager is None:
        service_missing("prometheus / alertmanager not installed (Debian packages)")
    assert prometheus is not None
    assert alertmanager is not None
    return prometheus, alertmanager


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    with open_system(tmp_path, f"sqlite:///{tmp_path / 'cst.sqlite'}") as system:
        app = create_app(ApiContext(system, SecretStr(TOKEN)))
        with BackgroundApi(app, "127.0.0.1", 0) as server:
            yield server.url


def test_kill_switch_over_the_api_fires_an_alert_delivered_to_a_webhook(
    binaries: tuple[str, str], api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prometheus_bin, alertmanager_bin = binaries
    with Webhook() as webhook:
        # The shipped configs, pointed at this test's ports and made fast.
        am_config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
        am_config["receivers"][0]["webhook_configs"][0]["url"] = webhook.url
        for route in (am_config["route"], *am_config["route"]["routes"]):
            route.update(group_wait="0s", group_interval="1s")
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
        am_port = free_port()
        alertmanager = started(
            [
                alertmanager_bin,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
        )
        config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(DEPLOY / "prometheus" / "rules.yml")]
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
            f"127.0.0.1:{am_port}"
        ]
        config["scrape_configs"][0]["static_configs"][0]["targets"] = [
            api_url.removeprefix("http://")
        ]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_port = free_port()
        prometheus = started(
            [
                prometheus_bin,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp_path / "prometheus.log",
        )
        prom = f"http://127.0.0.1:{prom_port}"
        try:
            poll(
                "Alertmanager to be ready",
                lambda: get_json(f"http://127.0.0.1:{am_port}/api/v2/status") or None,
                alertmanager,
            )

            def scraped_up() -> bool | None:
                targets = get_json(f"{prom}/api/v1/targets")["data"]["activeTargets"]
                return True if targets and targets[0]["health"] == "up" else None

            poll("Prometheus to scrape the app", scraped_up, prometheus)

            def firing(name: str) -> list[dict[str, Any]]:
                alerts = get_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
                return [a for a in alerts if a["labels"]["alertname"] == name]

            assert firing("KillSwitchActivated") == []
            request = urllib.request.Request(  # noqa: S310 - loopback
                f"{api_url}/api/v1/kill-switch",
                data=json.dumps({"action": "activate", "reason": "alerting drill"}).encode(),
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                assert json.loads(response.read())["active"] is True

            alert = poll(
                "KillSwitchActivated to fire in Prometheus",
                lambda: next(
                    (a for a in firing("KillSwitchActivated") if a["state"] == "firing"), None
                ),
                prometheus,
            )
            assert alert["labels"]["severity"] == "critical"

            def delivered() -> dict[str, Any] | None:
                try:
                    note = webhook.received.get(timeout=0.5)
                except queue.Empty:
                    return None
                names = {a["labels"]["alertname"] for a in note["alerts"]}
                return note if "KillSwitchActivated" in names else None

            note = poll("the webhook to receive the alert", delivered, alertmanager)
            assert note["status"] == "firing"
            (sent,) = [
                a for a in note["alerts"] if a["labels"]["alertname"] == "KillSwitchActivated"
            ]
            assert sent["annotations"]["runbook"] == "docs/runbooks.md#killswitchactivated"
            # The dashboard's Alerts page reads the same alert, and metric history, from it.
            dashboard = dashboard_page(monkeypatch, tmp_path, api_url, prom)
            alerts = dashboard.dataframe[0].value
            assert "KillSwitchActivated" in set(alerts["alert"])
            dashboard.selectbox[0].set_value("cst_kill_switch_active").run()
            assert dashboard.get("plotly_chart"), "no history plotted from Prometheus"
        finally:
            stop(prometheus)
            stop(alertmanager)
