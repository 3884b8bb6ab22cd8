"""Portfolio state as the risk gates see it, and the arithmetic of applying a fill."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptosmarttrader.domain.orders import Side

# Quantities below this are treated as zero: they are float residue of closing a position.
QTY_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class SymbolExposure:
    """Position and pending (non-final) order quantities of one symbol, marked at one price.

    Exposure is measured on the worst case: as if every pending order on the side that grows
    the position filled. A pending sell that closes a long therefore never adds exposure.
    """

    symbol: str
    position_qty: float
    pending_buy_qty: float
    pending_sell_qty: float
    mark_price: float
    mark_ts: float

    def worst_case_qty(self, buy: float = 0.0, sell: float = 0.0) -> float:
        """Largest absolute position reachable if the pending orders plus ``buy``/``sell`` fill."""
        up = abs(self.position_qty + self.pending_buy_qty + buy)
        down = abs(self.position_qty - self.pending_sell_qty - sell)
        return up if up > down else down

    def worst_case_after(self, side: Side, qty: float) -> float:
        if side is Side.BUY:
            return self.worst_case_qty(buy=qty)
        return self.worst_case_qty(sell=qty)

    @property
    def notional(self) -> float:
        return self.worst_case_qty() * self.mark_price

    @property
    def in_use(self) -> bool:
        """Holds a position or has pending orders that would open one: it takes a position slot."""
        return self.worst_case_qty() > QTY_EPSILON


def flat_exposure(symbol: str, mark_price: float, mark_ts: float) -> SymbolExposure:
    return SymbolExposure(symbol, 0.0, 0.0, 0.0, mark_price, mark_ts)


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """Everything the RiskGuard needs to know about the account, at one instant."""

    equity: float
    cash: float
    start_of_day_equity: float
    peak_equity: float
    exposures: Mapping[str, SymbolExposure]
    gross_exposure: float
    symbols_in_use: int
    as_of: float
    slippage_spent_today_quote: float = 0.0
    active: tuple[SymbolExposure, ...] = ()
    """The exposures that are in use (a position or pending orders), in symbol order."""
    notionals: Mapping[str, float] = field(default_factory=dict)
    """Worst-case quote exposure of each active symbol."""

    @classmethod
    def build(
        cls,
        *,
        equity: float,
        cash: float,
        start_of_day_equity: float,
        peak_equity: float,
        exposures: Mapping[str, SymbolExposure],
        as_of: float,
        slippage_spent_today_quote: float = 0.0,
    ) -> PortfolioState:
        active = tuple(exposures[s] for s in sorted(exposures) if exposures[s].in_use)
        notionals = {e.symbol: e.notional for e in active}
        return cls(
            equity=equity,
            cash=cash,
            start_of_day_equity=start_of_day_equity,
            peak_equity=peak_equity,
            exposures=exposures,
            gross_exposure=sum(notionals.values()),
            symbols_in_use=len(active),
            as_of=as_of,
            slippage_spent_today_quote=slippage_spent_today_quote,
            active=active,
            notionals=notionals,
        )


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    qty: float
    avg_price: float
    realized_pnl: float = 0.0


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """The unfilled remainder of an accepted, non-final order: reserved exposure."""

    client_order_id: str
    symbol: str
    side: Side
    remaining_qty: float


@dataclass(frozen=True, slots=True)
class Mark:
    price: float
    ts: float


@dataclass(frozen=True, slots=True)
class AccountRecord:
    quote: str
    cash: float
    start_of_day_equity: float
    day: str
    peak_equity: float


@dataclass(frozen=True, slots=True)
class PortfolioRecord:
    """The persisted portfolio, as loaded from the database."""

    account: AccountRecord
    positions: Mapping[str, Position] = field(default_factory=dict)
    pending: Mapping[str, PendingOrder] = field(default_factory=dict)
    marks: Mapping[str, Mark] = field(default_factory=dict)
    slippage_spent_today_quote: float = 0.0


def position_after_fill(position: Position, side: Side, qty: float, price: float) -> Position:
    """Apply a fill to a position: weighted average on increase, realized PnL on decrease."""
    signed = qty * side.sign
    old = position.qty
    new_qty = old + signed
    if abs(new_qty) <= QTY_EPSILON:
        new_qty = 0.0
    realized = position.realized_pnl
    if old == 0.0 or (old > 0) == (signed > 0):
        avg = (abs(old) * position.avg_price + qty * price) / (abs(old) + qty)
        return Position(position.symbol, new_qty, avg, realized)
    closed = min(abs(old), qty)
    realized += closed * (price - position.avg_price) * (1 if old > 0 else -1)
    if new_qty == 0.0:
        avg = 0.0
    elif (new_qty > 0) == (old > 0):
        avg = position.avg_price
    else:
        avg = price  # flipped: the remainder was opened at this fill's price
    return Position(position.symbol, new_qty, avg, realized)
