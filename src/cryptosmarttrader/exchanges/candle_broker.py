"""The backtest's venue: fills each order at once at the price trading now.

"Now" is the replay's: the open of the candle being entered, so a signal on bar t fills at
bar t+1's open. An order fills in full or not at all (a limit that the price does not reach
expires, as an IOC would; a sale beyond the holding or a purchase beyond the cash is
rejected). The fee is a fraction of the fill's notional, taken from what the order receives:
base for a purchase, quote for a sale, as spot exchanges do.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

from cryptosmarttrader.domain.clock import Clock
from cryptosmarttrader.domain.orders import OrderStatus, Side
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.broker import BrokerFill, ExecutionReport, VenueOpenOrder
from cryptosmarttrader.exchanges.placement import ApprovedOrder, require_approved

# Tolerance for "cash covers the purchase": quantity flooring leaves the notional a few ulps
# either side of the cash it was sized from.
_CASH_EPSILON = 1e-9


class CandleFillBroker:
    venue = "backtest"
    absent_final_after_s = 0.0  # place() answers synchronously; nothing is ever in flight

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        *,
        price_now: Callable[[str], float],
        clock: Clock,
        cash: float,
        fee_rate: float,
    ) -> None:
        if not 0 <= fee_rate < 1:
            raise ValueError(f"fee must be in [0, 1), got {fee_rate}")
        self._instruments = dict(instruments)
        self._price_now = price_now
        self._clock = clock
        self.fee_rate = fee_rate
        quotes = {i.quote for i in self._instruments.values()}
        if len(quotes) != 1:
            raise ValueError("a backtest trades symbols of one quote currency")
        self.quote = quotes.pop()
        self._balances: dict[str, float] = {self.quote: cash}
        self._orders: dict[str, ExecutionReport] = {}
        self._trade_ids = itertools.count(1)

    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    def balances(self) -> dict[str, float]:
        return dict(self._balances)

    def balance(self, asset: str) -> float:
        return self._balances.get(asset, 0.0)

    def place(self, order: ApprovedOrder) -> ExecutionReport:
        approved = require_approved(order)
        instrument = self._instruments[approved.symbol]
        price = self._price_now(approved.symbol)
        limit = approved.price
        buy = approved.side is Side.BUY
        if limit is not None and (price > limit if buy else price < limit):
            return self._final(approved, OrderStatus.EXPIRED, "the price did not reach the limit")
        qty = approved.qty
        notional = qty * price
        base, quote = instrument.base, instrument.quote
        if buy and notional > self.balance(quote) * (1 + _CASH_EPSILON):
            return self._final(approved, OrderStatus.REJECTED, "insufficient balance")
        if not buy and qty > self.balance(base) * (1 + _CASH_EPSILON):
            return self._final(approved, OrderStatus.REJECTED, "insufficient balance")
        if buy:
            fee, fee_asset = qty * self.fee_rate, base
            self._balances[quote] = max(self.balance(quote) - notional, 0.0)
            self._balances[base] = self.balance(base) + qty - fee
        else:
            fee, fee_asset = notional * self.fee_rate, quote
            self._balances[base] = max(self.balance(base) - qty, 0.0)
            self._balances[quote] = self.balance(quote) + notional - fee
        fill = BrokerFill(
            trade_id=str(next(self._trade_ids)),
            qty=qty,
            price=price,
            fee=fee,
            fee_asset=fee_asset,
            ts=self._clock.now(),
        )
        report = ExecutionReport(
            client_order_id=approved.client_order_id,
            status=OrderStatus.FILLED,
            exchange_order_id=approved.client_order_id,
            filled_qty=qty,
            avg_price=price,
            fills=(fill,),
        )
        self._orders[approved.client_order_id] = report
        return report

    def _final(self, order: ApprovedOrder, status: OrderStatus, reason: str) -> ExecutionReport:
        report = ExecutionReport(
            client_order_id=order.client_order_id,
            status=status,
            exchange_order_id=order.client_order_id,
            filled_qty=0.0,
            avg_price=None,
            reason=reason,
        )
        self._orders[order.client_order_id] = report
        return report

    def fetch_order(self, symbol: str, client_order_id: str) -> ExecutionReport | None:
        return self._orders.get(client_order_id)

    def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        report = self._orders.get(client_order_id)
        if report is None:
            raise KeyError(f"unknown order {client_order_id}")
        return report  # every order is final the moment it is placed

    def open_orders(self) -> list[VenueOpenOrder]:
        return []

    def close(self) -> None:
        """Nothing to release."""
