"""Orders that take the book at once: an immediate-or-cancel limit at the touch, as the engine
and the backtest send them."""

from __future__ import annotations

from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.symbols import Instrument, ceil_to_grid, floor_to_grid


def touch_limit(instrument: Instrument, snapshot: MarketSnapshot, side: Side) -> float:
    """The best price an order of ``side`` takes, on the tick and still marketable: the ask
    rounded up for a purchase, the bid rounded down for a sale."""
    if side is Side.BUY:
        return ceil_to_grid(snapshot.ask, instrument.price_tick)
    return floor_to_grid(snapshot.bid, instrument.price_tick)


def marketable_ioc(
    instrument: Instrument,
    side: Side,
    qty: float,
    limit: float,
    *,
    strategy: str,
    signal_id: str,
) -> OrderIntent | None:
    """An IOC limit for ``qty`` floored to the step; None below the minimum quantity. A sale
    is reduce-only: it closes what is held, never opens a short."""
    qty = instrument.floor_qty(qty)
    if qty < instrument.min_qty:
        return None
    return OrderIntent(
        symbol=instrument.symbol,
        side=side,
        qty=qty,
        order_type=OrderType.LIMIT,
        price=limit,
        time_in_force=TimeInForce.IOC,
        strategy=strategy,
        signal_id=signal_id,
        reduce_only=side is Side.SELL,
    )
