"""A broker that trades in-process on the paper venue; no network, no keys."""

from __future__ import annotations

from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.broker import ExecutionReport, VenueOpenOrder
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
    # place() runs in-process and cannot leave a request behind; the margin covers another
    # process between its database commit and its (instant) call into the shared venue.
    absent_final_after_s = 5.0

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

    def open_orders(self) -> list[VenueOpenOrder]:
        return [
            VenueOpenOrder(
                symbol=order.symbol,
                side=order.side,
                order_type=order.order_type,
                qty=order.qty,
                price=order.price,
                report=_report(order),
            )
            for order in self._venue.open_orders()
        ]

    def close(self) -> None:
        """Nothing to release: the venue lives in this process (or in its state file)."""
