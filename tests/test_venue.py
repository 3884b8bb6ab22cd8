"""The paper venue's matching, balances and persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptosmarttrader.domain.clock import ManualClock
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.symbols import floor_to_grid
from cryptosmarttrader.exchanges.paper.market import PriceShock, SimulatedMarket
from cryptosmarttrader.exchanges.paper.venue import PaperVenue, VenueOrder
from tests.factories import T0
from tests.systems import MARKET


def _book(symbol: str) -> MarketSnapshot:
    snapshot = MARKET.snapshot(symbol, T0)
    assert snapshot is not None
    return snapshot


BOOK = _book("ETH/USDT")


def venue(
    *, balances: dict[str, float] | None = None, market: SimulatedMarket = MARKET, **kw: object
) -> tuple[PaperVenue, ManualClock]:
    clock = ManualClock(T0)
    return PaperVenue(market, clock, initial_balances=balances or {"USDT": 10_000.0}, **kw), clock  # type: ignore[arg-type]


def submit(
    v: PaperVenue, coid: str, side: Side, qty: float, price: float | None, tif: TimeInForce
) -> VenueOrder:
    return v.submit(
        client_order_id=coid,
        symbol="ETH/USDT",
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        time_in_force=tif,
        qty=qty,
        price=price,
    )


def test_post_only_that_would_take_is_rejected_and_one_that_rests_locks_funds() -> None:
    v, _ = venue()
    taking = submit(v, "a", Side.BUY, 0.1, BOOK.ask, TimeInForce.POST_ONLY)
    assert taking.status is OrderStatus.REJECTED
    assert taking.reason == "order would immediately match and take"
    resting = submit(v, "b", Side.BUY, 0.1, BOOK.bid, TimeInForce.POST_ONLY)
    assert resting.status is OrderStatus.OPEN
    usdt = v.balances()["USDT"]
    assert usdt.locked == pytest.approx(0.1 * BOOK.bid * 1.001)
    assert usdt.free + usdt.locked == pytest.approx(10_000.0)
    canceled = v.cancel("b")
    assert canceled is not None
    assert canceled.status is OrderStatus.CANCELED
    assert v.balances()["USDT"].locked == pytest.approx(0.0)


def test_ioc_takes_level_by_level_and_expires_the_rest() -> None:
    v, _ = venue(balances={"USDT": 10_000_000.0})
    first_level_qty = BOOK.asks[0][1]
    order = submit(v, "c", Side.BUY, first_level_qty + 1.0, BOOK.ask, TimeInForce.IOC)
    assert order.status is OrderStatus.EXPIRED
    assert order.filled_qty == first_level_qty
    assert [f.price for f in order.fills] == [BOOK.ask]
    sweep = submit(v, "d", Side.BUY, first_level_qty + 1.0, BOOK.asks[2][0], TimeInForce.IOC)
    assert sweep.status is OrderStatus.FILLED
    assert len(sweep.fills) >= 2
    assert sweep.avg_price is not None
    assert BOOK.ask <= sweep.avg_price <= BOOK.asks[2][0]


def test_fill_or_kill_and_market_orders() -> None:
    v, _ = venue(balances={"USDT": 10_000_000.0})
    killed = submit(v, "e", Side.BUY, BOOK.asks[0][1] + 1.0, BOOK.ask, TimeInForce.FOK)
    assert (killed.status, killed.filled_qty) == (OrderStatus.EXPIRED, 0.0)
    market = submit(v, "f", Side.BUY, 1.0, None, TimeInForce.IOC)
    assert market.status is OrderStatus.FILLED


def test_balances_are_checked_and_moved_with_fees() -> None:
    v, _ = venue()
    short = submit(v, "g", Side.SELL, 0.1, BOOK.bid, TimeInForce.IOC)
    assert short.status is OrderStatus.REJECTED
    assert short.reason is not None
    assert "insufficient balance" in short.reason
    too_big = submit(v, "h", Side.BUY, 10.0, BOOK.ask, TimeInForce.IOC)
    assert too_big.status is OrderStatus.REJECTED
    bought = submit(v, "i", Side.BUY, 1.0, BOOK.ask, TimeInForce.IOC)
    assert bought.status is OrderStatus.FILLED
    balances = v.balances()
    assert balances["ETH"].free == 1.0
    assert balances["USDT"].free == pytest.approx(10_000.0 - BOOK.ask * 1.001)
    assert bought.fee == pytest.approx(BOOK.ask * 0.001)


def test_filters_and_unique_client_ids() -> None:
    v, _ = venue()
    off_step = submit(v, "j", Side.BUY, 0.00001, BOOK.bid, TimeInForce.GTC)
    assert off_step.status is OrderStatus.REJECTED
    assert off_step.reason is not None
    assert "filter failure" in off_step.reason
    first = submit(v, "k", Side.BUY, 0.01, BOOK.bid, TimeInForce.GTC)
    duplicate = submit(v, "k", Side.BUY, 0.01, BOOK.bid, TimeInForce.GTC)
    assert first.status is OrderStatus.OPEN
    assert (duplicate.status, duplicate.reason) == (
        OrderStatus.REJECTED,
        "duplicate client order id",
    )
    assert [o.client_order_id for o in v.open_orders()] == ["k"]


def test_resting_orders_fill_when_the_price_trades_through() -> None:
    falling = SimulatedMarket(7, shocks=[PriceShock(T0 + 10, -0.01, "ETH/USDT")])
    v, clock = venue(market=falling)
    order = submit(v, "l", Side.BUY, 0.5, BOOK.bid, TimeInForce.GTC)
    assert order.status is OrderStatus.OPEN
    clock.set(T0 + 30)
    filled = v.order("l")
    assert filled is not None
    assert (filled.status, filled.filled_qty, filled.avg_price) == (
        OrderStatus.FILLED,
        0.5,
        BOOK.bid,
    )
    balances = v.balances()
    assert balances["ETH"].free == 0.5
    assert balances["USDT"].locked == pytest.approx(0.0)


def test_state_outlives_the_process_through_its_file(tmp_path: Path) -> None:
    state = tmp_path / "venue.json"
    v, _ = venue(state_file=state)
    submit(v, "m", Side.BUY, 0.2, BOOK.ask, TimeInForce.IOC)
    submit(v, "n", Side.BUY, 0.1, BOOK.bid, TimeInForce.GTC)
    again, _ = venue(state_file=state)
    assert again.balances()["ETH"].free == 0.2
    resting = again.order("n")
    assert resting is not None
    assert resting.status is OrderStatus.OPEN
    duplicate = submit(again, "m", Side.BUY, 0.2, BOOK.ask, TimeInForce.IOC)
    assert duplicate.status is OrderStatus.REJECTED


def test_large_resting_orders_fill_partially_second_by_second() -> None:
    falling = SimulatedMarket(7, shocks=[PriceShock(T0 + 10, -0.01, "ETH/USDT")])
    v, clock = venue(market=falling)
    limit = floor_to_grid(BOOK.bid * 0.995, 0.01)  # reached only after the shock
    order = submit(v, "big", Side.BUY, 2.0, limit, TimeInForce.GTC)
    assert order.status is OrderStatus.OPEN
    per_second = falling.trade_capacity_quote("ETH/USDT") / limit
    clock.set(T0 + 10)  # the first second beyond the limit
    first = v.order("big")
    assert first is not None
    assert first.status is OrderStatus.PARTIALLY_FILLED
    assert first.filled_qty == pytest.approx(per_second, abs=0.0001)
    assert len(first.fills) == 1
    clock.set(T0 + 11)
    second = v.order("big")
    assert second is not None
    assert second.filled_qty == pytest.approx(2 * per_second, abs=0.0002)
    assert v.balances()["USDT"].locked > 0  # the unfilled rest stays locked
    clock.set(T0 + 30)
    done = v.order("big")
    assert done is not None
    assert (done.status, done.filled_qty, done.avg_price) == (OrderStatus.FILLED, 2.0, limit)
    assert len({fill.trade_id for fill in done.fills}) == len(done.fills) > 2
    assert v.balances()["USDT"].locked == pytest.approx(0.0)
    assert v.balances()["ETH"].free == pytest.approx(2.0)
