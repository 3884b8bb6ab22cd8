"""Logs carry the client order id and never a registered secret; the health model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.exchanges.broker import Broker, ExecutionReport
from cryptosmarttrader.exchanges.placement import ApprovedOrder
from cryptosmarttrader.observability.health import ComponentHealth, HealthReport, HealthStatus
from cryptosmarttrader.observability.logging import (
    MASK,
    get_logger,
    redact_secrets,
    register_secret,
)
from cryptosmarttrader.runtime.health import check_health
from cryptosmarttrader.runtime.system import TradingSystem
from tests.systems import MARKET, open_system, settings_for

_log = get_logger("test_broker")


class LoggingBroker:
    """Delegates to the real broker and logs inside ``place``, as a venue adapter would."""

    def __init__(self, inner: Broker) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def place(self, order: ApprovedOrder) -> ExecutionReport:
        _log.info("test.placing", symbol=order.symbol)
        return self._inner.place(order)


def log_lines(path: Path, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line.get("event") == event]


def test_log_lines_of_an_order_at_the_venue_carry_its_client_order_id(
    tmp_path: Path, json_log: Path
) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'cst.sqlite'}")
    with TradingSystem.open(
        settings, market=MARKET, persist_paper_venue=False, wrap_broker=LoggingBroker
    ) as system:
        snapshot = system.market_data.snapshot("ETH/USDT")
        assert snapshot is not None
        result = system.gateway.submit(
            OrderIntent(
                "ETH/USDT",
                Side.BUY,
                0.1,
                price=round(snapshot.ask * 1.001, 2),
                time_in_force=TimeInForce.IOC,
                signal_id="correlated",
            )
        )
    assert result.sent
    placing = [
        line
        for line in log_lines(json_log, "test.placing")
        if line.get("client_order_id") == result.client_order_id
    ]
    assert len(placing) == 1
    assert placing[0]["component"] == "test_broker"
    assert placing[0]["timestamp"].endswith("Z")
    for event in ("order.decision", "order.outcome"):
        ids = {line.get("client_order_id") for line in log_lines(json_log, event)}
        assert result.client_order_id in ids, event
    # Outside the order the id is gone again.
    _log.info("test.after_order")
    (after,) = log_lines(json_log, "test.after_order")[-1:]
    assert "client_order_id" not in after


def test_registered_secrets_and_secret_fields_are_masked_everywhere() -> None:
    register_secret("s3cr3t-value-123")
    register_secret("short")  # too short to mask without masking noise
    event = redact_secrets(
        None,
        "info",
        {
            "event": "x",
            "note": "key s3cr3t-value-123 in text",
            "nested": {"list": ["a s3cr3t-value-123", 1], "Authorization": "Bearer abc"},
            "api_secret": "anything",
            "plain": "short and sweet",
        },
    )
    assert event["note"] == f"key {MASK} in text"
    assert event["nested"]["list"] == [f"a {MASK}", 1]
    assert event["nested"]["Authorization"] == MASK
    assert event["api_secret"] == MASK
    assert event["plain"] == "short and sweet"


def test_the_worst_component_decides_the_health_status() -> None:
    ok = ComponentHealth("a", HealthStatus.OK, "fine")
    degraded = ComponentHealth("b", HealthStatus.DEGRADED, "slow")
    unhealthy = ComponentHealth("c", HealthStatus.UNHEALTHY, "down")
    assert HealthReport((ok,)).status is HealthStatus.OK
    assert HealthReport((ok, degraded)).status is HealthStatus.DEGRADED
    assert HealthReport((unhealthy, degraded, ok)).status is HealthStatus.UNHEALTHY
    assert HealthReport((ok, degraded)).to_dict() == {
        "status": "degraded",
        "components": {
            "a": {"status": "ok", "detail": "fine"},
            "b": {"status": "degraded", "detail": "slow"},
        },
    }


def test_an_open_system_reports_every_component(tmp_path: Path) -> None:
    with open_system(tmp_path, f"sqlite:///{tmp_path / 'cst.sqlite'}") as system:
        report = check_health(system, None)
    assert report.status is HealthStatus.OK
    assert [c.name for c in report.components] == [
        "database",
        "kill_switch",
        "exchange",
        "cache",
        "engine",
        "reconciliation",
    ]
