"""The ccxt broker through the gateway against the paper exchange: every fault, one order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cryptosmarttrader.config.settings import ConfigError, explicit_settings
from cryptosmarttrader.domain.orders import OrderStatus
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.exchanges.broker import BrokerError
from cryptosmarttrader.exchanges.paper.server import RunningExchange
from cryptosmarttrader.runtime.system import LiveTradingNotConfirmedError, TradingSystem
from cryptosmarttrader.store.schema import audit_events, fills, orders, positions
from tests.paper_exchange import (
    control,
    open_http_system,
    resting_bid,
    running_exchange,
    taking_buy,
    venue_orders,
)
from tests.systems import rows
from tests.test_paper_exchange import ccxt_client


@pytest.fixture
def exchange() -> Iterator[RunningExchange]:
    with running_exchange() as running:
        yield running


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cst.sqlite'}"


def settle(url: str) -> dict[str, Any]:
    """Wait until the exchange has finished every request it holds (a hung one, say)."""
    deadline = time.monotonic() + 30
    while True:
        stats: dict[str, Any] = control(url, "GET", "/_paper/stats")
        if stats["in_flight"] == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def add_fault(url: str, **rule: object) -> None:
    control(url, "POST", "/_paper/faults", rule)


ORDER = {"path": "/api/v3/order", "method": "POST"}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_500", "count": 1},
        {"kind": "http_502", "count": 1},
        {"kind": "http_503", "count": 2},
        {"kind": "http_429", "count": 1},
        {"kind": "http_418", "count": 1},
        {"kind": "reset", "count": 1},
        {"kind": "response_lost", "count": 1},
        {"kind": "truncated", "count": 1},
        {"kind": "garbage", "count": 1},
        {"kind": "latency", "param": 300, "count": 1},
        {"kind": "slow_response", "param": 2.5, "count": 1},  # placed; answer after the timeout
        {"kind": "hang", "param": 2.5, "count": 1},  # arrives after its receive window: refused
    ],
    ids=lambda f: str(f["kind"]),
)
def test_a_faulty_create_ends_as_exactly_one_filled_order(
    exchange: RunningExchange, tmp_path: Path, fault: dict[str, object]
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        add_fault(exchange.url, **ORDER, **fault)
        result = system.gateway.submit(taking_buy(system, "ETH/USDT", 0.5, "f1"))
        stats = settle(exchange.url)
        assert result.status is OrderStatus.FILLED, result.message
        assert stats["faults_injected"] == {fault["kind"]: fault.get("count", 1)}
        (venue_order,) = venue_orders(exchange.url)
        assert venue_order["client_order_id"] == result.client_order_id
        assert (venue_order["status"], venue_order["filled_qty"]) == ("FILLED", 0.5)
        (stored,) = rows(system.database, orders)
        assert (stored.status, stored.filled_qty) == ("FILLED", 0.5)
        assert sorted(f.trade_id for f in rows(system.database, fills)) == sorted(
            venue_order["fills"]
        )
        (position,) = rows(system.database, positions)
        assert position.qty == pytest.approx(0.5)
        assert system.gateway.reconcile().holdings == ()  # the book matches the venue


def test_an_unresolvable_outcome_stays_unknown_until_reconciliation_finds_it(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        add_fault(exchange.url, **ORDER, kind="response_lost", count=1)
        add_fault(exchange.url, path="/api/v3/order", method="GET", kind="http_503", count=3)
        intent = taking_buy(system, "ETH/USDT", 0.2, "u1")
        result = system.gateway.submit(intent)
        assert result.status is OrderStatus.UNKNOWN
        assert len(venue_orders(exchange.url)) == 1  # it did arrive
        again = system.gateway.submit(intent)
        assert again.decision.code is ReasonCode.DUPLICATE_ORDER  # never re-sent blindly
        report = system.gateway.reconcile()
        (change,) = report.changed
        assert (change.before, change.after, change.filled_qty) == ("UNKNOWN", "FILLED", 0.2)
        assert report.clean
        assert [p.qty for p in rows(system.database, positions)] == [pytest.approx(0.2)]
        assert len(venue_orders(exchange.url)) == 1


def test_an_order_that_never_arrived_is_closed_once_no_request_can_arrive(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    windows = {"send_window_s": 1.0, "recv_window_s": 1.0, "clock_margin_s": 0.2}
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url, **windows) as system:
        system.gateway.start()
        add_fault(exchange.url, **ORDER, kind="http_503", count=10)
        result = system.gateway.submit(taking_buy(system, "ETH/USDT", 0.2, "n1"))
        assert result.status is OrderStatus.UNKNOWN
        control(exchange.url, "DELETE", "/_paper/faults")
        early = system.gateway.reconcile()
        (pending,) = early.pending
        assert pending.client_order_id == result.client_order_id
        assert not early.clean
        late = system.gateway.reconcile(wait_s=10)
        (change,) = late.changed
        assert (change.before, change.after) == ("UNKNOWN", "REJECTED")
        assert late.clean
        assert venue_orders(exchange.url) == []
        codes = [a.reason_code for a in rows(system.database, audit_events)]
        assert codes[-1] == ReasonCode.ORDER_NOT_ON_VENUE.value
        # The reservation is gone: nothing is open, nothing is exposed.
        assert system.gateway.stored_open_orders() == []
        assert system.gateway.portfolio().state.gross_exposure == 0.0


def test_refused_every_time_means_rejected_without_a_lookup(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        add_fault(exchange.url, **ORDER, kind="http_429")
        result = system.gateway.submit(taking_buy(system, "ETH/USDT", 0.2, "r1"))
        stats = settle(exchange.url)
    assert result.status is OrderStatus.REJECTED
    assert result.message is not None
    assert "refused" in result.message
    assert stats["requests"]["POST /api/v3/order"] == 3
    assert "GET /api/v3/order" not in stats["requests"]


def test_frozen_market_data_stops_orders_before_the_venue(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        intent = taking_buy(system, "ETH/USDT", 0.2, "z1")
        add_fault(exchange.url, kind="frozen", param=120)
        frozen = system.gateway.submit(intent)
        control(exchange.url, "DELETE", "/_paper/faults")
        healed = system.gateway.submit(taking_buy(system, "ETH/USDT", 0.2, "z2"))
    assert frozen.decision.code is ReasonCode.DATA_STALE
    assert not frozen.sent
    assert healed.status is OrderStatus.FILLED


def test_reconciliation_imports_our_foreign_orders_and_resyncs_holdings(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        bid = resting_bid(system, "ETH/USDT", 0.3, "x")
        assert bid.price is not None
        price = round(bid.price * 0.99, 2)

        async def outside_trades(client: Any) -> None:
            await client.load_markets()
            # Ours, but unknown to this database (say, written by a lost commit):
            await client.create_order(
                "ETH/USDT", "limit", "buy", 0.3, price, {"clientOrderId": "cst0123456789abcde"}
            )
            # Not ours: a manual trade on the same account.
            await client.create_order(
                "SOL/USDT", "market", "buy", 2.0, None, {"clientOrderId": "manual-1"}
            )

        async def main() -> None:
            client = ccxt_client(exchange.url)
            try:
                await outside_trades(client)
            finally:
                await client.close()

        asyncio.run(main())
        report = system.gateway.reconcile()
        (imported,) = report.imported
        assert (imported.client_order_id, imported.after) == ("cst0123456789abcde", "OPEN")
        assert {h.asset for h in report.holdings} == {"SOL", "USDT"}
        sol = next(h for h in report.holdings if h.asset == "SOL")
        assert (sol.before, sol.after) == (0.0, 2.0)
        stored = rows(system.database, orders, client_order_id="cst0123456789abcde")
        assert [(o.strategy, o.status) for o in stored] == [("imported", "OPEN")]
        (still_open,) = system.gateway.stored_open_orders()
        assert still_open.client_order_id == "cst0123456789abcde"
        eth = system.gateway.portfolio().state.exposures["ETH/USDT"]
        assert eth.pending_buy_qty == pytest.approx(0.3)  # reserved like any order of ours
        assert system.gateway.reconcile().holdings == ()  # settled: nothing more to change


def test_real_venues_need_live_and_keys(tmp_path: Path) -> None:
    base = {"home": tmp_path, "database_url": sqlite(tmp_path)}
    with pytest.raises(LiveTradingNotConfirmedError, match="--live"):
        TradingSystem.open(explicit_settings(venue="binance", **base))
    with pytest.raises(ConfigError, match="CST_API_KEY"):
        TradingSystem.open(explicit_settings(venue="kraken", quote="USD", **base), live=True)
    assert not (tmp_path / "cst.sqlite").exists()


def test_a_retry_after_past_the_send_window_ends_placing_unprocessed(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        # Asked to come back in 30 s, past the 4 s send window: no second attempt, no lookup.
        add_fault(exchange.url, **ORDER, kind="http_429", param=30, count=1)
        result = system.gateway.submit(taking_buy(system, "ETH/USDT", 0.2, "ra1"))
        stats = settle(exchange.url)
        assert system.gateway.stored_open_orders() == []
    assert result.status is OrderStatus.REJECTED
    assert result.message is not None
    assert "refused" in result.message
    assert "retry after 30 s" in result.message
    assert stats["requests"]["POST /api/v3/order"] == 1
    assert "GET /api/v3/order" not in stats["requests"]
    assert venue_orders(exchange.url) == []


def test_a_refusal_after_an_open_outcome_is_not_taken_as_final(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    windows = {"send_window_s": 1.0, "recv_window_s": 1.0, "clock_margin_s": 0.2}
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url, **windows) as system:
        system.gateway.start()
        add_fault(exchange.url, **ORDER, kind="http_503", count=1)  # outcome open
        add_fault(exchange.url, **ORDER, kind="http_429", count=5)  # then refused
        result = system.gateway.submit(taking_buy(system, "ETH/USDT", 0.2, "o1"))
        assert result.status is OrderStatus.UNKNOWN  # the first request might still land
        control(exchange.url, "DELETE", "/_paper/faults")
        (change,) = system.gateway.reconcile(wait_s=10).changed
        assert (change.before, change.after) == ("UNKNOWN", "REJECTED")
        assert venue_orders(exchange.url) == []


def test_cancel_by_client_order_id(exchange: RunningExchange, tmp_path: Path) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        resting = system.gateway.submit(resting_bid(system, "ETH/USDT", 0.1, "c1"))
        assert resting.status is OrderStatus.OPEN
        canceled = system.broker.cancel("ETH/USDT", resting.client_order_id)
        assert canceled.status is OrderStatus.CANCELED
        again = system.broker.cancel("ETH/USDT", resting.client_order_id)  # already final
        assert again.status is OrderStatus.CANCELED
        with pytest.raises(KeyError):
            system.broker.cancel("ETH/USDT", "cst000000000000000")
        (change,) = system.gateway.reconcile().changed
        assert (change.before, change.after) == ("OPEN", "CANCELED")
        assert system.gateway.stored_open_orders() == []


def test_a_balance_answer_that_is_not_json_never_zeroes_the_account(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        before = system.gateway.portfolio().state.cash
        add_fault(exchange.url, kind="garbage", path="/api/v3/account")
        report = system.gateway.reconcile()
        assert report.holdings == ()
        assert any("balance answer was not a balance" in e for e in report.errors)
        assert system.gateway.portfolio().state.cash == before == 10_000.0


def test_a_catalog_that_is_not_json_is_refused_and_not_kept(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    add_fault(exchange.url, kind="garbage", path="/api/v3/exchangeInfo", count=1)
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        with pytest.raises(BrokerError, match="no tradable spot market"):
            system.gateway.instruments  # noqa: B018 - the first use loads the catalog
        assert "ETH/USDT" in system.gateway.instruments  # the next answer is good, and kept


def test_a_fill_list_that_is_not_json_never_records_a_fill_less_status(
    exchange: RunningExchange, tmp_path: Path
) -> None:
    with open_http_system(tmp_path, sqlite(tmp_path), exchange.url) as system:
        system.gateway.start()
        # The create answers without fills (ACK-like garbage), and every fill lookup is garbage.
        add_fault(exchange.url, **ORDER, kind="garbage", count=1)
        add_fault(exchange.url, path="/api/v3/myTrades", kind="garbage")
        result = system.gateway.submit(taking_buy(system, "ETH/USDT", 0.2, "g1"))
        assert result.status is OrderStatus.UNKNOWN  # filled on the venue, fills not known yet
        assert rows(system.database, fills) == []
        control(exchange.url, "DELETE", "/_paper/faults")
        (change,) = system.gateway.reconcile().changed
        assert (change.after, change.filled_qty, change.new_fills) == ("FILLED", 0.2, 1)
        assert [p.qty for p in rows(system.database, positions)] == [pytest.approx(0.2)]
