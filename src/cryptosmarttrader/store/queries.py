"""Read-only views of the store for the faces (CLI now; API and dashboard later)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, select

from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import audit_events


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


def recent_audit(database: Database, limit: int) -> list[AuditEntry]:
    """The newest ``limit`` audit rows, oldest first."""
    a = audit_events.c
    query = select(audit_events).order_by(desc(a.id)).limit(limit)
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
