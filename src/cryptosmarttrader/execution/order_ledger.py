"""Applying what a venue says about an order to the database and the portfolio book.

One implementation for every path that learns an order's outcome (the gateway after
``place()``, and reconciliation): transitions are checked, fills are recorded once per venue
trade id, positions, cash and the order's reservation move with them, and an audit row says
what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptosmarttrader.domain.orders import OrderStatus, check_transition
from cryptosmarttrader.domain.portfolio import Mark
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.domain.symbols import split_symbol
from cryptosmarttrader.exchanges.broker import ExecutionReport
from cryptosmarttrader.risk.book import PortfolioBook
from cryptosmarttrader.store.state_store import (
    AuditRecord,
    FillRecord,
    StateTransaction,
    StoredOrder,
)

AUDIT_KIND = "ORDER_RESULT"


@dataclass(frozen=True, slots=True)
class LedgerUpdate:
    client_order_id: str
    symbol: str
    status: OrderStatus
    filled_qty: float
    avg_fill_price: float | None
    new_fills: int
    reason: str | None


def apply_report(
    tx: StateTransaction,
    book: PortfolioBook,
    order: StoredOrder,
    report: ExecutionReport | None,
    *,
    error: str | None,
    now: float,
    code: ReasonCode | None = None,
) -> LedgerUpdate:
    """Record ``report`` (None: the outcome is unknown because of ``error``) for ``order``.

    ``code`` overrides the audit row's reason code (reconciliation says why it acted)."""
    if report is None:
        status = OrderStatus.UNKNOWN
        check_transition(order.status, status)
        tx.update_order(
            order.client_order_id,
            status=status,
            filled_qty=order.filled_qty,
            avg_fill_price=order.avg_fill_price,
            fee=order.fee,
            exchange_order_id=order.exchange_order_id,
            last_error=error,
            updated_at=now,
        )
        _audit(tx, order, status, ReasonCode.ORDER_OUTCOME_UNKNOWN, error, order.filled_qty, now)
        return LedgerUpdate(
            order.client_order_id,
            order.symbol,
            status,
            order.filled_qty,
            order.avg_fill_price,
            0,
            error,
        )

    if order.status.is_final and report.status is order.status:
        # The same final answer again (a retried lookup): already recorded, nothing to do.
        return LedgerUpdate(
            order.client_order_id,
            order.symbol,
            order.status,
            order.filled_qty,
            order.avg_fill_price,
            0,
            report.reason,
        )
    check_transition(order.status, report.status)
    base, quote = split_symbol(order.symbol)
    fee_total = order.fee
    new_fills = 0
    for fill in report.fills:
        recorded = tx.insert_fill(
            FillRecord(
                venue=order.venue,
                trade_id=fill.trade_id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side.value,
                qty=fill.qty,
                price=fill.price,
                fee=fill.fee,
                fee_asset=fill.fee_asset,
                at=fill.ts,
            )
        )
        if not recorded:
            continue
        new_fills += 1
        # A fee in quote leaves cash; a fee in base shrinks what was bought.
        fee_quote = fill.fee if fill.fee_asset == quote else 0.0
        position = book.apply_fill(
            order.symbol, order.side, fill.qty, fill.price, fee_quote, fill.ts
        )
        if fill.fee_asset == base and fill.fee > 0:
            position = book.apply_fee_in_base(order.symbol, fill.fee)
        fee_total += fee_quote
        tx.save_position(position, Mark(fill.price, fill.ts), now)
    if new_fills:
        book.account_dirty = True
    filled = max(report.filled_qty, order.filled_qty)
    if report.status.is_final:
        book.release(order.client_order_id)
    else:
        book.set_remaining(order.client_order_id, max(order.qty - filled, 0.0))
    tx.update_order(
        order.client_order_id,
        status=report.status,
        filled_qty=filled,
        avg_fill_price=report.avg_price,
        fee=fee_total,
        exchange_order_id=report.exchange_order_id,
        last_error=report.reason,
        updated_at=now,
    )
    if code is None:
        code = (
            ReasonCode.BROKER_REJECTED
            if report.status is OrderStatus.REJECTED
            else ReasonCode.ORDER_ACCEPTED
        )
    _audit(tx, order, report.status, code, report.reason, filled, now, report.avg_price)
    return LedgerUpdate(
        order.client_order_id,
        order.symbol,
        report.status,
        filled,
        report.avg_price,
        new_fills,
        report.reason,
    )


def _audit(
    tx: StateTransaction,
    order: StoredOrder,
    status: OrderStatus,
    code: ReasonCode,
    reason: str | None,
    filled: float,
    now: float,
    avg_price: float | None = None,
) -> None:
    message = f"{status}: filled {filled:g} of {order.qty:g}"
    if avg_price is not None:
        message += f" at {avg_price:.8g}"
    if reason:
        message += f" ({reason})"
    tx.insert_audit(
        AuditRecord(
            at=now,
            kind=AUDIT_KIND,
            reason_code=code.value,
            message=message,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side.value,
            approved_qty=order.qty,
            details={"status": status.value, "filled_qty": filled, "avg_fill_price": avg_price},
        )
    )
