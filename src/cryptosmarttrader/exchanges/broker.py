"""The broker interface every venue adapter implements (simulated, paper over HTTP, ccxt)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cryptosmarttrader.domain.orders import OrderStatus, OrderType, Side
from cryptosmarttrader.domain.symbols import Instrument

if TYPE_CHECKING:
    from cryptosmarttrader.exchanges.placement import ApprovedOrder


@dataclass(frozen=True, slots=True)
class BrokerFill:
    trade_id: str
    qty: float
    price: float
    fee: float
    fee_asset: str
    ts: float
    maker: bool = False


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """The venue's view of one order. ``fills`` lists every fill so far (cumulative)."""

    client_order_id: str
    status: OrderStatus
    exchange_order_id: str | None
    filled_qty: float
    avg_price: float | None
    fills: tuple[BrokerFill, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class VenueOpenOrder:
    """An order open on the venue, as reconciliation sees it (to import what it lacks)."""

    symbol: str
    side: Side
    order_type: OrderType
    qty: float
    price: float | None
    report: ExecutionReport


class BrokerError(Exception):
    """A venue call failed; whether the order reached the venue is not known."""


class Broker(Protocol):
    venue: str
    absent_final_after_s: float
    """How long after an order was written down a venue that does not know it never will:
    no request for it can still arrive (send window + receive window + clock margin)."""

    def instruments(self) -> Mapping[str, Instrument]:
        """Every listed symbol with its price tick, quantity step and minimums."""

    def balances(self) -> Mapping[str, float]:
        """Total (free + locked) balance per asset."""

    def place(self, order: ApprovedOrder) -> ExecutionReport:
        """Send a gateway-approved order; :class:`BrokerError` when the outcome is unknown."""

    def fetch_order(self, symbol: str, client_order_id: str) -> ExecutionReport | None:
        """Look an order up by our client order id; None when the venue has never seen it."""

    def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        """Cancel an open order by client order id."""

    def open_orders(self) -> list[VenueOpenOrder]:
        """Every order open on the venue, ours or not."""

    def close(self) -> None:
        """Release connections and threads."""
