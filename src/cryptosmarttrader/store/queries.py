"""Read-only views of the store for the faces (CLI now; API and dashboard later)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, select

from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import account, audit_events, orders, positions


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    kind: str
    client_order_id: str | None
    symbol: str | None
    side: str | None
    verdict: str | None
    gate: str | None
    reason_code: str
    requested_qty: float | None
    approved_qty: float | None
    message: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def recent_audit(database: Database, limit: int, kind: str | None = None) -> list[AuditEntry]:
    """The newest ``limit`` audit rows (of ``kind`` if given), oldest first."""
    a = audit_events.c
    query = select(audit_events).order_by(desc(a.id)).limit(limit)
    if kind is not None:
        query = query.where(a.kind == kind)
    with database.engine.connect() as conn:
        rows = conn.execute(query).all()
    entries = [
        AuditEntry(
            id=row.id,
            at=row.at,
            kind=row.kind,
            client_order_id=row.client_order_id,
            symbol=row.symbol,
            side=row.side,
            verdict=row.verdict,
            gate=row.gate,
            reason_code=row.reason_code,
            requested_qty=row.requested_qty,
            approved_qty=row.approved_qty,
            message=row.message,
            details=json.loads(row.details),
        )
        for row in rows
    ]
    entries.reverse()
    return entries


def recent_orders(database: Database, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` orders with their state, newest first."""
    query = select(orders).order_by(desc(orders.c.id)).limit(limit)
    with database.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account and its positions as last persisted, each position at its last mark."""

    quote: str
    cash: float
    equity: float
    start_of_day_equity: float
    peak_equity: float
    day: str
    updated_at: float
    positions: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def account_view(database: Database) -> AccountView | None:
    """None before the account was first opened."""
    with database.engine.connect() as conn:
        row = conn.execute(select(account)).first()
        held = [
            dict(r._mapping)
            for r in conn.execute(select(positions).order_by(positions.c.symbol))
            if r.qty != 0
        ]
    if row is None:
        return None
    for position in held:
        position["notional"] = position["qty"] * position["mark_price"]
        position["unrealized_pnl"] = position["qty"] * (
            position["mark_price"] - position["avg_price"]
        )
    return AccountView(
        quote=row.quote,
        cash=row.cash,
        equity=row.cash + sum(p["notional"] for p in held),
        start_of_day_equity=row.start_of_day_equity,
        peak_equity=row.peak_equity,
        day=row.day,
        updated_at=row.updated_at,
        positions=tuple(held),
    )
