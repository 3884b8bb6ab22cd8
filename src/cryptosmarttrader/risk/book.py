"""The in-memory portfolio book: the persisted portfolio plus live marks, kept by the gateway.

The database is the source of truth. The gateway mutates the book inside its state
transaction and, if that transaction fails, throws the book away and reloads it, so the book
can never drift from what was committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from cryptosmarttrader.domain.orders import Side
from cryptosmarttrader.domain.portfolio import (
    QTY_EPSILON,
    AccountRecord,
    Mark,
    PendingOrder,
    PortfolioRecord,
    PortfolioState,
    Position,
    SymbolExposure,
    position_after_fill,
)

DAY_S = 86_400.0


@lru_cache(maxsize=8)
def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def utc_day_start(ts: float) -> float:
    return ts - (ts % DAY_S)


class PortfolioBook:
    def __init__(self, record: PortfolioRecord) -> None:
        self.marks: dict[str, Mark] = {}
        self._day_start = float("-inf")
        self._load(record)

    def _load(self, record: PortfolioRecord) -> None:
        account = record.account
        self.quote = account.quote
        self.cash = account.cash
        self.start_of_day_equity = account.start_of_day_equity
        self.day = account.day
        self.peak_equity = account.peak_equity
        self.slippage_spent_today = record.slippage_spent_today_quote
        self.positions: dict[str, Position] = {
            s: p for s, p in record.positions.items() if p.qty != 0.0
        }
        self.pending: dict[str, PendingOrder] = {}
        self._pending_qty: dict[str, list[float]] = {}
        for order in record.pending.values():
            self.reserve(order)
        for symbol, mark in record.marks.items():
            self.mark(symbol, mark.price, mark.ts)
        self.account_dirty = False

    def replace(self, record: PortfolioRecord) -> None:
        """Reload from the database, keeping any live mark newer than the persisted one."""
        self._load(record)

    # --- marks and equity ---------------------------------------------------------------
    def mark(self, symbol: str, price: float, ts: float) -> None:
        current = self.marks.get(symbol)
        if current is None or ts >= current.ts:
            self.marks[symbol] = Mark(price, ts)

    def equity(self) -> float:
        total = self.cash
        for symbol, position in self.positions.items():
            mark = self.marks.get(symbol)
            price = mark.price if mark is not None else position.avg_price
            total += position.qty * price
        return total

    def roll(self, now: float) -> None:
        """Start a new UTC day at the current equity, and raise the peak when exceeded."""
        equity = self.equity()
        if not self._day_start <= now < self._day_start + DAY_S:
            self._day_start = utc_day_start(now)
        today = utc_day(self._day_start)
        if today != self.day:
            self.day = today
            self.start_of_day_equity = equity
            self.slippage_spent_today = 0.0
            self.account_dirty = True
        if equity > self.peak_equity:
            self.peak_equity = equity
            self.account_dirty = True

    def account_record(self) -> AccountRecord:
        return AccountRecord(
            quote=self.quote,
            cash=self.cash,
            start_of_day_equity=self.start_of_day_equity,
            day=self.day,
            peak_equity=self.peak_equity,
        )

    # --- the view the gates get ---------------------------------------------------------
    def symbols_in_play(self) -> list[str]:
        return sorted(set(self.positions) | set(self._pending_qty))

    def state(self, now: float) -> PortfolioState:
        exposures: dict[str, SymbolExposure] = {}
        for symbol in set(self.positions) | set(self._pending_qty):
            position = self.positions.get(symbol)
            pending = self._pending_qty.get(symbol, (0.0, 0.0, 0.0))
            mark = self.marks.get(symbol)
            if mark is None:
                price = position.avg_price if position is not None else float("nan")
                mark = Mark(price, float("-inf"))
            exposures[symbol] = SymbolExposure(
                symbol,
                position.qty if position is not None else 0.0,
                pending[0],
                pending[1],
                mark.price,
                mark.ts,
            )
        return PortfolioState.build(
            equity=self.equity(),
            cash=self.cash,
            start_of_day_equity=self.start_of_day_equity,
            peak_equity=self.peak_equity,
            exposures=exposures,
            as_of=now,
            slippage_spent_today_quote=self.slippage_spent_today,
        )

    # --- reservations and fills ---------------------------------------------------------
    def reserve(self, order: PendingOrder) -> None:
        self.release(order.client_order_id)
        if order.remaining_qty <= QTY_EPSILON:
            return
        self.pending[order.client_order_id] = order
        # [pending buy qty, pending sell qty, number of pending orders]
        totals = self._pending_qty.setdefault(order.symbol, [0.0, 0.0, 0.0])
        totals[0 if order.side is Side.BUY else 1] += order.remaining_qty
        totals[2] += 1

    def release(self, client_order_id: str) -> None:
        order = self.pending.pop(client_order_id, None)
        if order is None:
            return
        totals = self._pending_qty[order.symbol]
        index = 0 if order.side is Side.BUY else 1
        totals[index] = max(0.0, totals[index] - order.remaining_qty)
        totals[2] -= 1
        if totals[2] <= 0:
            del self._pending_qty[order.symbol]

    def set_remaining(self, client_order_id: str, remaining: float) -> None:
        order = self.pending.get(client_order_id)
        if order is None:
            return
        self.reserve(PendingOrder(order.client_order_id, order.symbol, order.side, remaining))

    def position(self, symbol: str) -> Position:
        return self.positions.get(symbol) or Position(symbol, 0.0, 0.0, 0.0)

    def apply_fill(
        self, symbol: str, side: Side, qty: float, price: float, fee: float, ts: float
    ) -> Position:
        updated = position_after_fill(self.position(symbol), side, qty, price)
        if updated.qty == 0.0:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = updated
        self.cash -= side.sign * qty * price + fee
        self.mark(symbol, price, ts)
        return updated

    def set_holding(self, symbol: str, qty: float, price: float) -> Position:
        """Overwrite a position's size with what the venue holds (reconciliation)."""
        current = self.position(symbol)
        avg = current.avg_price if current.qty != 0.0 and current.avg_price > 0 else price
        updated = Position(symbol, qty, avg, current.realized_pnl)
        if abs(qty) <= QTY_EPSILON:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = updated
        self.account_dirty = True
        return updated

    def set_cash(self, cash: float) -> None:
        self.cash = cash
        self.account_dirty = True

    def apply_fee_in_base(self, symbol: str, fee: float) -> Position:
        """A venue that charges the fee in the base asset delivers that much less of it."""
        current = self.position(symbol)
        updated = Position(symbol, current.qty - fee, current.avg_price, current.realized_pnl)
        if abs(updated.qty) <= QTY_EPSILON:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = updated
        return updated
