"""Position arithmetic, the portfolio book's reservations, day roll and peak."""

from __future__ import annotations

import pytest

from cryptosmarttrader.domain.orders import Side
from cryptosmarttrader.domain.portfolio import (
    AccountRecord,
    Mark,
    PendingOrder,
    PortfolioRecord,
    Position,
    position_after_fill,
)
from cryptosmarttrader.risk.book import PortfolioBook, utc_day, utc_day_start
from tests.factories import T0


def test_buying_more_averages_the_price() -> None:
    p = position_after_fill(Position("X/USDT", 0.0, 0.0), Side.BUY, 2.0, 100.0)
    p = position_after_fill(p, Side.BUY, 2.0, 110.0)
    assert (p.qty, p.avg_price, p.realized_pnl) == (4.0, 105.0, 0.0)


def test_selling_realizes_pnl_and_keeps_the_average() -> None:
    p = position_after_fill(Position("X/USDT", 4.0, 105.0), Side.SELL, 1.0, 125.0)
    assert (p.qty, p.avg_price, p.realized_pnl) == (3.0, 105.0, 20.0)
    closed = position_after_fill(p, Side.SELL, 3.0, 95.0)
    assert (closed.qty, closed.avg_price, closed.realized_pnl) == (0.0, 0.0, -10.0)


def test_a_flip_opens_the_remainder_at_the_fill_price() -> None:
    p = position_after_fill(Position("X/USDT", 1.0, 100.0), Side.SELL, 3.0, 120.0)
    assert (p.qty, p.avg_price, p.realized_pnl) == (-2.0, 120.0, 20.0)
    back = position_after_fill(p, Side.BUY, 2.0, 110.0)
    assert (back.qty, back.realized_pnl) == (0.0, 40.0)


def record(**overrides: object) -> PortfolioRecord:
    account = AccountRecord("USDT", 1_000.0, 1_000.0, utc_day(T0), 1_000.0)
    values: dict[str, object] = {"account": account, **overrides}
    return PortfolioRecord(**values)  # type: ignore[arg-type]


def test_reservations_add_up_per_symbol_and_release_cleanly() -> None:
    book = PortfolioBook(record())
    book.mark("ETH/USDT", 3_000.0, T0)
    book.reserve(PendingOrder("a", "ETH/USDT", Side.BUY, 0.1))
    book.reserve(PendingOrder("b", "ETH/USDT", Side.BUY, 0.2))
    book.reserve(PendingOrder("c", "ETH/USDT", Side.SELL, 0.05))
    exposure = book.state(T0).exposures["ETH/USDT"]
    assert exposure.pending_buy_qty == pytest.approx(0.3)
    assert exposure.pending_sell_qty == 0.05
    book.set_remaining("a", 0.04)
    assert book.state(T0).exposures["ETH/USDT"].pending_buy_qty == pytest.approx(0.24)
    for coid in ("a", "b", "c", "c"):
        book.release(coid)
    assert book.state(T0).exposures == {}
    assert book.symbols_in_play() == []


def test_equity_day_roll_and_peak() -> None:
    book = PortfolioBook(record(positions={"ETH/USDT": Position("ETH/USDT", 0.5, 2_000.0)}))
    book.mark("ETH/USDT", 2_400.0, T0)
    assert book.equity() == pytest.approx(1_000.0 + 1_200.0)
    book.roll(T0)
    assert book.peak_equity == pytest.approx(2_200.0)
    assert book.start_of_day_equity == 1_000.0  # same day: unchanged
    assert book.account_dirty
    tomorrow = utc_day_start(T0) + 86_400 + 5
    book.mark("ETH/USDT", 2_000.0, tomorrow)
    book.roll(tomorrow)
    assert book.day == utc_day(tomorrow)
    assert book.start_of_day_equity == pytest.approx(2_000.0)
    assert book.peak_equity == pytest.approx(2_200.0)


def test_a_fill_moves_cash_and_the_mark() -> None:
    book = PortfolioBook(record())
    position = book.apply_fill("ETH/USDT", Side.BUY, 0.1, 3_000.0, 0.3, T0)
    assert position.qty == 0.1
    assert book.cash == pytest.approx(1_000.0 - 300.0 - 0.3)
    assert book.marks["ETH/USDT"] == Mark(3_000.0, T0)
    book.apply_fill("ETH/USDT", Side.SELL, 0.1, 3_100.0, 0.31, T0 + 1)
    assert "ETH/USDT" not in book.positions
    assert book.cash == pytest.approx(1_000.0 - 300.3 + 310.0 - 0.31)


def test_reload_keeps_newer_live_marks() -> None:
    book = PortfolioBook(record())
    book.mark("BTC/USDT", 60_000.0, T0 + 10)
    book.replace(record(marks={"BTC/USDT": Mark(50_000.0, T0)}))
    assert book.marks["BTC/USDT"] == Mark(60_000.0, T0 + 10)
