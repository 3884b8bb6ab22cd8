"""The HTTP API over a real trading system: health, metrics, the state views, the kill switch
with its bearer token, the server on a real socket, and schemathesis over the OpenAPI schema."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from prometheus_client import REGISTRY
from pydantic import SecretStr

from cryptosmarttrader.api.app import ApiContext, create_app
from cryptosmarttrader.api.server import ApiUnavailableError, BackgroundApi
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.engine.loop import Engine
from cryptosmarttrader.runtime.engine import open_engine
from cryptosmarttrader.runtime.health import ENGINE_MIN_STALL_S
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.state_store import StateStore
from tests.systems import open_system
from tests.test_cli import CST, assert_one_line_error, run

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[TradingSystem]:
    with open_system(tmp_path, f"sqlite:///{tmp_path / 'cst.sqlite'}") as opened:
        yield opened


def client(
    system: TradingSystem, token: str | None = TOKEN, engine: Engine | None = None
) -> TestClient:
    secret = SecretStr(token) if token is not None else None
    return TestClient(create_app(ApiContext(system, secret, engine, reuse_s=0.0)))


def buy_ioc(system: TradingSystem, qty: float, signal_id: str) -> OrderIntent:
    snapshot = system.market_data.snapshot("BTC/USDT")
    assert snapshot is not None
    return OrderIntent(
        "BTC/USDT",
        Side.BUY,
        qty,
        price=round(snapshot.ask * 1.001, 2),
        time_in_force=TimeInForce.IOC,
        strategy="test",
        signal_id=signal_id,
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_health_is_ok_on_a_fresh_system_and_names_every_component(system: TradingSystem) -> None:
    response = client(system).get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {
        "database",
        "kill_switch",
        "exchange",
        "cache",
        "engine",
        "reconciliation",
    }
    assert body["components"]["database"]["reachable"] is True
    assert body["components"]["engine"]["running"] is False


def test_health_degrades_with_the_kill_switch_and_unclean_reconciliation(
    system: TradingSystem,
) -> None:
    api = client(system)
    system.kill_switch.activate("drill", "test")
    body = api.get("/health").json()
    assert body["status"] == "degraded"
    assert body["components"]["kill_switch"]["active"] is True
    assert body["components"]["kill_switch"]["reason"] == "drill"
    report = system.gateway.start()
    assert report.clean
    assert api.get("/health").json()["components"]["reconciliation"]["clean"] is True


def test_a_stalled_engine_makes_health_unhealthy_with_503(system: TradingSystem) -> None:
    engine = open_engine(system)
    api = client(system, engine=engine)
    engine.started_at = time.time()
    assert api.get("/health").json()["components"]["engine"]["detail"].startswith("looping")
    engine.heartbeat = time.time() - ENGINE_MIN_STALL_S - 60
    response = api.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["components"]["engine"]["status"] == "unhealthy"


def test_an_unreachable_database_is_unhealthy(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/cst_api_health_missing"
    with open_system(tmp_path, f"sqlite:///{tmp_path / 'cst.sqlite'}") as system:
        api = client(system)
        system.store.close()
        system.database.dispose()
        # The same system pointed at a database that does not exist: every read fails.
        broken = Database(url)
        system.store = StateStore(broken)
        before = sample("cst_database_errors_total", operation="read")
        response = api.get("/health")
        assert response.status_code == 503
        assert response.json()["components"]["database"]["reachable"] is False
        assert sample("cst_database_errors_total", operation="read") == before + 1
        broken.dispose()


def test_views_show_orders_decisions_positions_and_status(system: TradingSystem) -> None:
    system.gateway.start()
    approved = system.gateway.submit(buy_ioc(system, 0.01, "a"))
    assert approved.decision.approved
    refused = system.gateway.submit(buy_ioc(system, -1.0, "b"))
    assert not refused.decision.approved
    api = client(system)
    orders = api.get("/api/v1/orders").json()
    assert [o["client_order_id"] for o in orders] == [approved.client_order_id]
    assert orders[0]["status"] == "FILLED"
    decisions = api.get("/api/v1/decisions", params={"limit": 10}).json()
    assert [d["verdict"] for d in decisions] == ["APPROVE", "REJECT"]
    assert decisions[1]["reason_code"] == refused.decision.code.value
    positions = api.get("/api/v1/positions").json()
    assert [p["symbol"] for p in positions["positions"]] == ["BTC/USDT"]
    assert positions["positions"][0]["qty"] == pytest.approx(0.01)
    status = api.get("/api/v1/status").json()
    assert status["venue"] == "paper"
    assert status["account"]["open_positions"] == 1
    assert status["kill_switch"]["active"] is False
    assert api.get("/api/v1/signals").json() == []
    assert api.get("/api/v1/orders", params={"limit": 0}).status_code == 422


def test_the_kill_switch_needs_the_bearer_token(system: TradingSystem) -> None:
    api = client(system)
    body = {"action": "activate", "reason": "API drill"}
    assert api.post("/api/v1/kill-switch", json=body).status_code == 401
    wrong = api.post("/api/v1/kill-switch", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert api.get("/api/v1/kill-switch").json()["active"] is False
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = sample("cst_kill_switch_activations_total", actor="api")
    done = api.post("/api/v1/kill-switch", json=body, headers=auth)
    assert done.status_code == 200
    assert done.json()["changed"] is True
    assert done.json()["actor"] == "api"
    assert api.get("/api/v1/kill-switch").json()["reason"] == "API drill"
    assert sample("cst_kill_switch_activations_total", actor="api") == before + 1
    assert "cst_kill_switch_active 1.0" in api.get("/metrics").text
    again = api.post("/api/v1/kill-switch", json=body, headers=auth)
    assert again.json()["changed"] is False  # already on: nothing to do
    off = api.post("/api/v1/kill-switch", json={"action": "deactivate"}, headers=auth)
    assert off.json()["changed"] is True
    # Activating needs a reason.
    empty = api.post("/api/v1/kill-switch", json={"action": "activate"}, headers=auth)
    assert empty.status_code == 422
    assert api.get("/api/v1/kill-switch").json()["active"] is False


def test_without_a_configured_token_control_is_refused(system: TradingSystem) -> None:
    api = client(system, token=None)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"action": "activate", "reason": "x"}
    assert api.post("/api/v1/kill-switch", json=body, headers=headers).status_code == 403
    assert api.post("/api/v1/kill-switch", json=body).status_code == 403
    assert system.kill_switch.status().active is False


def test_metrics_follow_the_kill_switch_another_process_set(system: TradingSystem) -> None:
    api = client(system)
    assert "cst_kill_switch_active 0.0" in api.get("/metrics").text
    with system.store.write() as tx:  # as `cst kill-switch on` in another process would
        tx.set_kill_switch(KillSwitchState(True, "elsewhere", "cli", 1.0))
    text = api.get("/metrics").text
    assert "cst_kill_switch_active 1.0" in text


def test_gateway_decisions_and_results_are_counted(system: TradingSystem) -> None:
    approved_before = sample(
        "cst_order_decisions_total", verdict="APPROVE", gate="none", reason_code="APPROVED"
    )
    submitted_before = sample("cst_orders_submitted_total", exchange="paper")
    filled_before = sample("cst_order_results_total", exchange="paper", status="FILLED")
    decisions_before = sample("cst_decision_seconds_count")
    rejected_before = sample(
        "cst_gate_outcomes_total", gate="validation", verdict="REJECT", reason_code="INVALID_ORDER"
    )
    system.gateway.submit(buy_ioc(system, 0.01, "a"))
    system.gateway.submit(buy_ioc(system, -1.0, "b"))
    system.gateway.submit(buy_ioc(system, 0.01, "c"), dry_run=True)
    assert (
        sample("cst_order_decisions_total", verdict="APPROVE", gate="none", reason_code="APPROVED")
        == approved_before + 1
    )
    assert sample("cst_orders_submitted_total", exchange="paper") == submitted_before + 1
    assert sample("cst_order_results_total", exchange="paper", status="FILLED") == filled_before + 1
    assert sample("cst_decision_seconds_count") == decisions_before + 2  # not the dry run
    assert (
        sample(
            "cst_gate_outcomes_total",
            gate="validation",
            verdict="REJECT",
            reason_code="INVALID_ORDER",
        )
        == rejected_before + 1
    )
    portfolio = system.gateway.mark_to_market()
    assert sample("cst_equity") == pytest.approx(portfolio.state.equity)
    assert sample("cst_open_positions") == 1


def test_the_api_serves_on_a_real_socket_and_refuses_a_taken_port(
    system: TradingSystem,
) -> None:
    app = create_app(ApiContext(system, SecretStr(TOKEN)))
    with BackgroundApi(app, "127.0.0.1", 0) as server:
        response = httpx.get(f"{server.url}/metrics", timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "cst_decision_seconds_bucket" in response.text
        assert "process_cpu_seconds_total" in response.text
        port = int(server.url.rsplit(":", 1)[1])
        with pytest.raises(ApiUnavailableError, match="address already in use"):
            BackgroundApi(app, "127.0.0.1", port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=2)
    # An address this host does not have (TEST-NET-1): refused with the system's reason.
    with pytest.raises(ApiUnavailableError, match=r"192\.0\.2\.1:0: Cannot assign"):
        BackgroundApi(app, "192.0.2.1", 0)


def test_no_generated_request_gets_a_server_error(system: TradingSystem) -> None:
    """schemathesis generates requests from the OpenAPI schema, with and without the token."""
    app = create_app(ApiContext(system, SecretStr(TOKEN)))
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            for headers in (None, {"Authorization": f"Bearer {TOKEN}"}):
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.path, response.text)

        no_server_error()


def test_cst_api_serves_until_sigterm_and_refuses_a_taken_port(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CST_HOME": str(tmp_path),
        "CST_API__PORT": "0",
        **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
    }
    process = subprocess.Popen(
        [CST, "api"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()  # printed once the socket listens
        url = banner.split("API on ", 1)[1].split(" ", 1)[0]
        health = httpx.get(f"{url}/health", timeout=10)
        assert health.status_code == 200
        assert health.json()["components"]["engine"]["running"] is False
        assert httpx.get(f"{url}/api/v1/status", timeout=10).json()["venue"] == "paper"
        port = url.rsplit(":", 1)[1]
        taken = run(tmp_path, "api", CST_API__PORT=port)
        line = assert_one_line_error(taken, 1)
        assert f"127.0.0.1:{port}: address already in use" in line
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
