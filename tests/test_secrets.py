"""A canary API key, secret and API token: orders (filled, refused, failing), the API and
the config command run with them, and the canary appears in no log line, audit row, metric,
HTTP response or printed report."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest
from pydantic import SecretStr
from sqlalchemy import select

from cryptosmarttrader.api.app import ApiContext, create_app
from cryptosmarttrader.config.settings import explicit_settings
from cryptosmarttrader.domain.orders import OrderIntent, Side
from cryptosmarttrader.exchanges.broker import BrokerError
from cryptosmarttrader.observability.logging import MASK, get_logger
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.schema import audit_events, orders
from tests.paper_exchange import http_settings, running_exchange, taking_buy
from tests.test_cli import run

KEY = "CANARYKEY-7f3a9c1e5b2d"
SECRET = "CANARYSECRET-2d8e6f4a0c1b"
WRONG_SECRET = "CANARYWRONG-9e8d7c6b5a4f"
TOKEN = "CANARYTOKEN-9b1d3f5e7a0c"
CANARIES = ("CANARY",)


def assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"a canary leaked into {where}"


def open_canary_system(home: Path, url: str, secret: str) -> TradingSystem:
    base = http_settings(home, f"sqlite:///{home / 'cst.sqlite'}", url)
    settings = explicit_settings(
        **{
            **base.model_dump(),
            "api_key": SecretStr(KEY),
            "api_secret": SecretStr(secret),
            "api_token": SecretStr(TOKEN),
        }
    )
    return TradingSystem.open(settings)


@pytest.mark.slow
def test_canary_secrets_reach_no_log_audit_metric_response_or_report(
    tmp_path: Path, json_log: Path
) -> None:
    responses: list[str] = []
    with running_exchange(api_key=KEY, api_secret=SECRET) as exchange:
        good = tmp_path / "good"
        with open_canary_system(good, exchange.url, SECRET) as system:
            system.gateway.start()
            filled = system.gateway.submit(taking_buy(system, "BTC/USDT", 0.001, "canary-1"))
            assert filled.decision.approved
            assert filled.filled_qty > 0
            refused = system.gateway.submit(OrderIntent("BTC/USDT", Side.BUY, -1.0, price=1.0))
            assert not refused.decision.approved
            # A careless log call with the secret in it: the processor masks it.
            get_logger("test").warning("careless", note=f"secret={SECRET}", api_key=KEY)
            api = TestClient(create_app(ApiContext(system, SecretStr(TOKEN))))
            auth = {"Authorization": f"Bearer {TOKEN}"}
            for path in (
                "/health",
                "/metrics",
                "/api/v1/status",
                "/api/v1/orders",
                "/api/v1/decisions",
                "/api/v1/signals",
                "/api/v1/positions",
                "/api/v1/kill-switch",
                "/openapi.json",
            ):
                answer = api.get(path, headers=auth)
                responses.append(f"{answer.headers}\n{answer.text}")
            wrong = api.post(
                "/api/v1/kill-switch",
                json={"action": "activate", "reason": "canary"},
                headers={"Authorization": "Bearer wrong"},
            )
            responses.append(f"{wrong.headers}\n{wrong.text}")
            done = api.post(
                "/api/v1/kill-switch", json={"action": "activate", "reason": "canary"}, headers=auth
            )
            assert done.status_code == 200
            responses.append(f"{done.headers}\n{done.text}")
            with system.database.engine.connect() as conn:
                audit = conn.execute(select(audit_events)).all()
                stored = conn.execute(select(orders)).all()
        # The venue refuses a wrong signature: the error path logs the exchange's answer.
        bad = tmp_path / "bad"
        with (
            open_canary_system(bad, exchange.url, WRONG_SECRET) as system,
            pytest.raises(BrokerError, match="Signature") as failure,
        ):
            system.gateway.submit(taking_buy(system, "BTC/USDT", 0.001, "canary-2"))
        responses.append(str(failure.value))
    config = run(tmp_path, "config", CST_API_KEY=KEY, CST_API_SECRET=SECRET, CST_API_TOKEN=TOKEN)
    assert config.returncode == 0, config.stderr
    log_text = json_log.read_text()
    assert MASK in log_text
    assert "careless" in log_text
    assert_clean("the JSON log", log_text)
    assert len(audit) >= 3
    assert_clean("the audit trail", "\n".join(str(tuple(row)) for row in audit))
    assert_clean("the orders table", "\n".join(str(tuple(row)) for row in stored))
    assert_clean("the metrics", generate_latest(REGISTRY).decode())
    assert_clean("the API's responses", "\n".join(responses))
    assert_clean("cst config", config.stdout + config.stderr)
    for home in (tmp_path / "good", tmp_path / "bad"):
        for written in home.rglob("*"):
            if written.is_file() and written.suffix in {".json", ".jsonl", ".html", ".toml"}:
                assert_clean(str(written), written.read_text(errors="replace"))
