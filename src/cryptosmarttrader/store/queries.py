"""Read-only views of the store for the faces: the CLI, the API and the dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from math import nan
from typing import Any

import pandas as pd
from sqlalchemy import Select, desc, func, select

from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import (
    CONTROL_ROW_ID,
    account,
    audit_events,
    equity_snapshots,
    kill_switch_events,
    orders,
    positions,
    trading_control,
)


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
    """The account and its positions as last persisted.

    ``equity`` is the engine's last mark-to-market (its newest equity snapshot) when that is
    newer than the last fill; otherwise cash plus each position at the price of its last fill.
    """

    quote: str
    cash: float
    equity: float
    start_of_day_equity: float
    peak_equity: float
    gross_exposure: float
    day: str
    updated_at: float
    marked_at: float
    positions: tuple[dict[str, Any], ...]

    @property
    def day_pnl_fraction(self) -> float:
        """Equity against the start of the UTC day, minus one (NaN without a start)."""
        return self.equity / self.start_of_day_equity - 1 if self.start_of_day_equity else nan

    @property
    def drawdown_fraction(self) -> float:
        """Fall of equity from its peak, as a fraction of the peak (NaN without a peak)."""
        return 1 - self.equity / self.peak_equity if self.peak_equity else nan

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def account_view(database: Database) -> AccountView | None:
    """None before the account was first opened."""
    e = equity_snapshots.c
    with database.engine.connect() as conn:
        row = conn.execute(select(account)).first()
        held = [
            dict(r._mapping)
            for r in conn.execute(select(positions).order_by(positions.c.symbol))
            if r.qty != 0
        ]
        marked = conn.execute(select(equity_snapshots).order_by(desc(e.id)).limit(1)).first()
    if row is None:
        return None
    for position in held:
        position["notional"] = position["qty"] * position["mark_price"]
        position["unrealized_pnl"] = position["qty"] * (
            position["mark_price"] - position["avg_price"]
        )
    if marked is not None and marked.at >= row.updated_at:
        equity, gross, at = marked.equity, marked.gross_exposure, marked.at
        start, peak = marked.start_of_day_equity, marked.peak_equity
    else:
        equity = row.cash + sum(p["notional"] for p in held)
        gross = sum(abs(p["notional"]) for p in held)
        at, start, peak = row.updated_at, row.start_of_day_equity, row.peak_equity
    return AccountView(
        quote=row.quote,
        cash=row.cash,
        equity=equity,
        start_of_day_equity=start,
        peak_equity=peak,
        gross_exposure=gross,
        day=row.day,
        updated_at=row.updated_at,
        marked_at=at,
        positions=tuple(held),
    )


def _frame(database: Database, query: Select[Any]) -> pd.DataFrame:
    with database.engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def equity_history(database: Database, limit: int = 20_000) -> pd.DataFrame:
    """The newest ``limit`` equity snapshots (one per engine loop), oldest first."""
    e = equity_snapshots.c
    newest = select(equity_snapshots).order_by(desc(e.id)).limit(limit).subquery()
    return _frame(database, select(newest).order_by(newest.c.id))


def decision_history(database: Database, limit: int = 200_000) -> pd.DataFrame:
    """When each of the newest ``limit`` gate decisions was made, its verdict, gate and reason
    code (no details: this is for counting over time)."""
    a = audit_events.c
    newest = (
        select(a.id, a.at, a.verdict, a.gate, a.reason_code, a.symbol)
        .where(a.kind == "DECISION")
        .order_by(desc(a.id))
        .limit(limit)
        .subquery()
    )
    return _frame(database, select(newest).order_by(newest.c.id))


def audit_counts(database: Database, kind: str) -> pd.DataFrame:
    """Audit rows of ``kind`` counted by verdict, gate and reason code."""
    a = audit_events.c
    query = (
        select(a.verdict, a.gate, a.reason_code, func.count().label("count"))
        .where(a.kind == kind)
        .group_by(a.verdict, a.gate, a.reason_code)
    )
    return _frame(database, query)


def kill_switch_state(database: Database) -> KillSwitchState:
    """The kill switch as the trading state holds it (the row every order checks)."""
    t = trading_control.c
    query = select(t.kill_active, t.kill_reason, t.kill_actor, t.kill_changed_at).where(
        t.id == CONTROL_ROW_ID
    )
    with database.engine.connect() as conn:
        row = conn.execute(query).one()
    return KillSwitchState(bool(row[0]), row[1], row[2], row[3])


def kill_switch_history(database: Database, limit: int = 100) -> pd.DataFrame:
    """The newest ``limit`` kill switch changes, newest first."""
    k = kill_switch_events.c
    return _frame(database, select(kill_switch_events).order_by(desc(k.id)).limit(limit))


def order_frame(database: Database, limit: int = 20_000) -> pd.DataFrame:
    """The newest ``limit`` orders with what the execution views need, oldest first."""
    o = orders.c
    newest = (
        select(
            o.id,
            o.client_order_id,
            o.created_at,
            o.updated_at,
            o.symbol,
            o.side,
            o.status,
            o.qty,
            o.filled_qty,
            o.price,
            o.avg_fill_price,
            o.reference_price,
            o.est_slippage_bps,
            o.strategy,
        )
        .order_by(desc(o.id))
        .limit(limit)
        .subquery()
    )
    return _frame(database, select(newest).order_by(newest.c.id))


def signal_history(database: Database, limit: int = 5_000) -> pd.DataFrame:
    """The newest ``limit`` judged signals, oldest first, with the engine's details spread
    into columns (signal, strength, confidence, quality_score, price, bar_ts, strategy)."""
    entries = recent_audit(database, limit, "SIGNAL")
    rows = []
    for entry in entries:
        details = entry.details
        rows.append(
            {
                "at": entry.at,
                "symbol": entry.symbol,
                "reason_code": entry.reason_code,
                "signal": details.get("signal"),
                "strength": details.get("strength"),
                "confidence": details.get("confidence"),
                "quality_score": details.get("quality_score"),
                "price": details.get("price"),
                "bar_ts": details.get("bar_ts"),
                "strategy": details.get("strategy"),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "at",
            "symbol",
            "reason_code",
            "signal",
            "strength",
            "confidence",
            "quality_score",
            "price",
            "bar_ts",
            "strategy",
        ],
    )
