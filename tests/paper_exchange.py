"""The paper exchange over real HTTP on loopback, and trading systems that use it via ccxt."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.config.settings import DataSettings, VenueSettings, explicit_settings
from cryptosmarttrader.domain.orders import OrderIntent, Side, TimeInForce
from cryptosmarttrader.exchanges.paper.binance_dialect import DEMO_API_KEY
from cryptosmarttrader.exchanges.paper.market import MarketModel, SimulatedMarket
from cryptosmarttrader.exchanges.paper.server import (
    PaperExchange,
    PaperExchangeConfig,
    RunningExchange,
    serve_in_thread,
)
from cryptosmarttrader.runtime.system import TradingSystem

FAST_VENUE = {
    "timeout_s": 1.0,
    "create_attempts": 3,
    "recv_window_s": 1.0,
    "send_window_s": 4.0,
    "clock_margin_s": 0.5,
    "client_throttle": False,  # the paper exchange enforces its own weight limit
}


@contextmanager
def running_exchange(market: MarketModel | None = None, **config: Any) -> Iterator[RunningExchange]:
    exchange = PaperExchange(market or SimulatedMarket(7), PaperExchangeConfig(**config))
    with serve_in_thread(exchange) as running:
        yield running


def http_settings(home: Path, db_url: str, url: str, **venue: Any) -> Any:
    return explicit_settings(
        home=home,
        database_url=db_url,
        venue="paper-exchange",
        exchange=VenueSettings(paper_exchange_url=url, **{**FAST_VENUE, **venue}),
        risk=RiskLimits(),
        execution=ExecutionLimits(),
        # Every snapshot asks the exchange: these tests change its answers between orders.
        data=DataSettings(snapshot_cache_ttl_s=0.0),
    )


def open_http_system(home: Path, db_url: str, url: str, **venue: Any) -> TradingSystem:
    return TradingSystem.open(http_settings(home, db_url, url, **venue))


def control(url: str, method: str, path: str, body: object | None = None) -> Any:
    """Call a /_paper control endpoint with the demo key."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URL built by the test
        f"{url}{path}", data=data, method=method, headers={"X-MBX-APIKEY": DEMO_API_KEY}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def venue_orders(url: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = control(url, "GET", "/_paper/orders")
    return orders


def taking_buy(system: TradingSystem, symbol: str, qty: float, signal: str) -> OrderIntent:
    snapshot = system.market_data.snapshot(symbol)
    assert snapshot is not None
    # A little above the ask: the real-time book may move before the order arrives.
    price = round(snapshot.ask * 1.003, 2)
    return OrderIntent(
        symbol, Side.BUY, qty, price=price, time_in_force=TimeInForce.IOC, signal_id=signal
    )


def resting_bid(system: TradingSystem, symbol: str, qty: float, signal: str) -> OrderIntent:
    snapshot = system.market_data.snapshot(symbol)
    assert snapshot is not None
    return OrderIntent(symbol, Side.BUY, qty, price=round(snapshot.bid * 0.99, 2), signal_id=signal)
