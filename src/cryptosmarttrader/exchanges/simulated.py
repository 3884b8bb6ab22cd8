"""A broker that trades in-process on the paper venue; no network, no keys."""

from __future__ import annotations

from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.broker import ExecutionReport
from cryptosmarttrader.exchanges.paper.venue import PaperVenue, VenueOrder
from cryptosmarttrader.exchanges.placement import ApprovedOrder, require_approved


def _report(order: VenueOrder) -> ExecutionReport:
    return ExecutionReport(
        client_order_id=order.client_order_id,
        status=order.status,
        exchange_order_id=order.exchange_order_id,
        filled_qty=order.filled_qty,
        avg_price=order.avg_price,
        fills=tuple(order.fills),
        reason=order.reason,
    )


class SimulatedBroker:
    venue = "paper"

    def __init__(self, paper_venue: PaperVenue) -> None:
        self._venue = paper_venue

    def instruments(self) -> dict[str, Instrument]:
        return self._venue.instruments()

    def balances(self) -> dict[str, float]:
        return {asset: b.free + b.locked for asset, b in self._venue.balances().items()}

    def place(self, order: ApprovedOrder) -> ExecutionReport:
        approved = require_approved(order)
        placed = self._venue.submit(
            client_order_id=approved.client_order_id,
            symbol=approved.symbol,
            side=approved.side,
            order_type=approved.order_type,
            time_in_force=approved.time_in_force,
            qty=approved.qty,
            price=approved.price,
        )
        return _report(placed)

    def fetch_order(self, symbol: str, client_order_id: str) -> ExecutionReport | None:
        order = self._venue.order(client_order_id)
        return None if order is None else _report(order)

    def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        order = self._venue.cancel(client_order_id)
        if order is None:
            raise KeyError(f"unknown order {client_order_id}")
        return _report(order)
