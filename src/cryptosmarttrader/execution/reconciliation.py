"""Restart reconciliation: make the database agree with the venue, and say what changed.

1. Every non-final order in the database is looked up on the venue by client order id.
   Found: its state and fills are recorded through the order ledger. Not found: if the order
   is older than the broker's ``absent_final_after_s`` no request for it can still arrive,
   so it is closed as REJECTED (``ORDER_NOT_ON_VENUE``); younger, it stays pending (with its
   reservation) until it is old enough. Orders this process is sending right now are skipped.
2. Open venue orders that carry our client order id prefix but are unknown to the database
   are imported (``ORDER_IMPORTED``).
3. Positions and cash are set to the venue's balances where they differ
   (``HOLDINGS_RESYNCED``), but only on a quiet book: no order being sent or unresolved,
   every open order unchanged on a second look after the balances were read, and no write
   to the trading state in between. Otherwise a fill that the venue's balance already holds
   and the database does not yet (or the reverse) would be counted twice; the step is
   skipped and says why, and the next run tries again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from cryptosmarttrader.domain.clock import Clock
from cryptosmarttrader.domain.orders import OrderStatus
from cryptosmarttrader.exchanges.broker import Broker, ExecutionReport, VenueOpenOrder
from cryptosmarttrader.execution.order_ledger import LedgerUpdate
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.logging import get_logger
from cryptosmarttrader.store.state_store import StoredOrder

_log = get_logger("reconciliation")


@dataclass(frozen=True, slots=True)
class OrderChange:
    client_order_id: str
    symbol: str
    before: str
    after: str
    filled_qty: float
    new_fills: int
    note: str


@dataclass(frozen=True, slots=True)
class UnresolvedOrder:
    client_order_id: str
    status: str
    reason: str
    resolves_at: float | None


@dataclass(frozen=True, slots=True)
class HoldingChange:
    asset: str
    before: float
    after: float


@dataclass(frozen=True)
class ReconcileReport:
    checked: int = 0
    unchanged: int = 0
    changed: tuple[OrderChange, ...] = ()
    imported: tuple[OrderChange, ...] = ()
    pending: tuple[UnresolvedOrder, ...] = ()
    holdings: tuple[HoldingChange, ...] = ()
    holdings_skipped: str | None = None
    """Why positions and cash were not compared with the venue this time, if they were not."""
    errors: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """Nothing left unresolved and nothing failed."""
        return not self.pending and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "unchanged": self.unchanged,
            "changed": [asdict(c) for c in self.changed],
            "imported": [asdict(c) for c in self.imported],
            "pending": [asdict(p) for p in self.pending],
            "holdings": [asdict(h) for h in self.holdings],
            "holdings_skipped": self.holdings_skipped,
            "errors": list(self.errors),
            "clean": self.clean,
        }


class Ledger(Protocol):
    """What reconciliation needs from the order gateway (which owns the book and the lock)."""

    @property
    def in_flight(self) -> frozenset[str]: ...

    @property
    def client_order_id_prefix(self) -> str: ...

    def stored_open_orders(self) -> list[StoredOrder]: ...

    def order_known(self, client_order_id: str) -> bool: ...

    def apply_venue_report(self, client_order_id: str, report: ExecutionReport) -> LedgerUpdate: ...

    def close_absent_order(self, client_order_id: str) -> LedgerUpdate: ...

    def import_venue_order(self, order: VenueOpenOrder) -> LedgerUpdate: ...

    def open_orders_at_version(self) -> tuple[int, list[StoredOrder]]: ...

    def resync_holdings(
        self, balances: Mapping[str, float], *, expected_version: int
    ) -> list[tuple[str, float, float]] | None: ...


@dataclass
class _Pass:
    unchanged: int = 0
    changed: list[OrderChange] = field(default_factory=list)
    pending: list[UnresolvedOrder] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        clock: Clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ledger = ledger
        self._broker = broker
        self._clock = clock
        self._sleep = sleep

    def run(self, *, wait_s: float = 0.0) -> ReconcileReport:
        """Reconcile once; with ``wait_s`` > 0, wait (up to that long) for young absent orders
        to become old enough to resolve, and look them up again."""
        give_up = self._clock.now() + wait_s
        real_give_up = time.monotonic() + wait_s  # also bounded in real time (manual clocks)
        orders = self._ledger.stored_open_orders()
        checked = len(orders)
        result = self._pass(orders)
        unchanged = result.unchanged
        changed = list(result.changed)
        errors = list(result.errors)
        while result.pending and time.monotonic() < real_give_up:
            waits = [p.resolves_at for p in result.pending if p.resolves_at is not None]
            if not waits or min(waits) > give_up:
                break
            self._sleep(min(max(0.0, min(waits) - self._clock.now()) + 0.05, wait_s))
            again = {p.client_order_id for p in result.pending}
            result = self._pass(
                [o for o in self._ledger.stored_open_orders() if o.client_order_id in again]
            )
            unchanged += result.unchanged
            changed += result.changed
            errors += result.errors
        imported, import_errors = self._import_foreign()
        holdings: list[HoldingChange] = []
        skipped: str | None = None
        try:
            changes, skipped = self._resync_holdings()
            holdings = [HoldingChange(*change) for change in changes]
        except Exception as exc:  # noqa: BLE001 - reported; the next run tries again
            errors.append(f"holdings: {type(exc).__name__}: {exc}")
        report = ReconcileReport(
            checked=checked,
            unchanged=unchanged,
            changed=tuple(changed),
            imported=tuple(imported),
            pending=tuple(result.pending),
            holdings=tuple(holdings),
            holdings_skipped=skipped,
            errors=tuple(errors + import_errors),
        )
        _count_reconciliation(report)
        _log.info(
            "reconcile.done",
            checked=report.checked,
            changed=len(report.changed),
            imported=len(report.imported),
            pending=len(report.pending),
            holdings=len(report.holdings),
            errors=len(report.errors),
        )
        return report

    def _pass(self, orders: Sequence[StoredOrder]) -> _Pass:
        result = _Pass()
        in_flight = self._ledger.in_flight
        for order in orders:
            coid = order.client_order_id
            if coid in in_flight:
                result.pending.append(
                    UnresolvedOrder(coid, order.status.value, "being sent by this process", None)
                )
                continue
            try:
                report = self._broker.fetch_order(order.symbol, coid)
            except Exception as exc:  # noqa: BLE001 - unknown stays unknown; reported
                result.errors.append(f"{coid}: lookup failed: {type(exc).__name__}: {exc}")
                continue
            if report is None:
                self._absent(order, result)
                continue
            if _unchanged(order, report):
                result.unchanged += 1
                continue
            try:
                update = self._ledger.apply_venue_report(coid, report)
            except Exception as exc:  # noqa: BLE001 - e.g. an illegal transition: reported
                result.errors.append(f"{coid}: {type(exc).__name__}: {exc}")
                continue
            result.changed.append(_change(order, update, "venue state recorded"))
        return result

    def _absent(self, order: StoredOrder, result: _Pass) -> None:
        resolves_at = order.created_at + self._broker.absent_final_after_s
        if self._clock.now() < resolves_at:
            result.pending.append(
                UnresolvedOrder(
                    order.client_order_id,
                    order.status.value,
                    "not on the venue yet; a request may still arrive",
                    resolves_at,
                )
            )
            return
        update = self._ledger.close_absent_order(order.client_order_id)
        result.changed.append(_change(order, update, "never reached the venue"))

    def _resync_holdings(self) -> tuple[list[tuple[str, float, float]], str | None]:
        if self._ledger.in_flight:
            return [], "an order is being sent"
        version, open_orders = self._ledger.open_orders_at_version()
        if any(o.status in (OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN) for o in open_orders):
            return [], "an order's outcome is not known yet"
        balances = self._broker.balances()
        for order in open_orders:
            report = self._broker.fetch_order(order.symbol, order.client_order_id)
            if report is None or not _unchanged(order, report):
                return [], f"order {order.client_order_id} changed while balances were read"
        changes = self._ledger.resync_holdings(balances, expected_version=version)
        if changes is None:
            return [], "the trading state changed while balances were read"
        return changes, None

    def _import_foreign(self) -> tuple[list[OrderChange], list[str]]:
        prefix = self._ledger.client_order_id_prefix
        try:
            venue_orders = self._broker.open_orders()
        except Exception as exc:  # noqa: BLE001 - reported; the next run tries again
            return [], [f"open orders: {type(exc).__name__}: {exc}"]
        imported = []
        errors = []
        for venue_order in venue_orders:
            coid = venue_order.report.client_order_id
            if not coid.startswith(prefix) or self._ledger.order_known(coid):
                continue
            try:
                update = self._ledger.import_venue_order(venue_order)
            except Exception as exc:  # noqa: BLE001 - reported
                errors.append(f"{coid}: import failed: {type(exc).__name__}: {exc}")
                continue
            imported.append(
                OrderChange(
                    coid,
                    venue_order.symbol,
                    "absent",
                    update.status.value,
                    update.filled_qty,
                    update.new_fills,
                    "imported from the venue",
                )
            )
        return imported, errors


def _unchanged(order: StoredOrder, report: ExecutionReport) -> bool:
    """The venue says what the database already holds about this order."""
    return report.status is order.status and report.filled_qty == order.filled_qty


def _change(order: StoredOrder, update: LedgerUpdate, note: str) -> OrderChange:
    return OrderChange(
        order.client_order_id,
        order.symbol,
        order.status.value,
        update.status.value,
        update.filled_qty,
        update.new_fills,
        note,
    )


def _count_reconciliation(report: ReconcileReport) -> None:
    metrics.RECONCILIATION_RUNS.inc()
    for kind, count in (
        ("order_changed", len(report.changed)),
        ("order_imported", len(report.imported)),
        ("order_pending", len(report.pending)),
        ("holding_resynced", len(report.holdings)),
        ("error", len(report.errors)),
    ):
        if count:
            metrics.RECONCILIATION_MISMATCHES.labels(kind).inc(count)
