"""Why the state store runs compiled SQL on the DBAPI connection.

The same reservation transaction (take the state lock, check the client order id, insert the
order and its audit row, commit) executed three ways on SQLite in WAL mode:

* SQLAlchemy Core ``Connection.execute()`` with cached statements;
* the state store (statements compiled once by SQLAlchemy, run on the DBAPI cursor);
* the bare ``sqlite3`` module with hand-written SQL, the floor.

Run: ``python bench/bench_store.py``. Prints microseconds per transaction.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update

from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import CONTROL_ROW_ID, audit_events, orders, trading_control
from cryptosmarttrader.store.state_store import AuditRecord, OrderRecord, StateStore

COUNT = 3_000
T0 = 1_767_614_400.0


def order(n: int) -> OrderRecord:
    return OrderRecord(
        client_order_id=f"cst{n:015d}",
        venue="paper",
        symbol="BTC/USDT",
        side="buy",
        order_type="limit",
        time_in_force="POST_ONLY",
        requested_qty=0.01,
        qty=0.01,
        price=60_000.0,
        status="PENDING_SUBMIT",
        strategy="bench",
        signal_id=f"s{n}",
        reduce_only=False,
        reference_price=60_000.0,
        est_slippage_bps=0.5,
        est_slippage_quote=0.03,
        created_at=T0,
    )


def audit(n: int) -> AuditRecord:
    return AuditRecord(
        at=T0, kind="DECISION", reason_code="APPROVED", message="ok", client_order_id=f"cst{n:015d}"
    )


def per_transaction(run: Callable[[int], None]) -> float:
    start = time.perf_counter()
    for n in range(COUNT):
        run(n)
    return (time.perf_counter() - start) / COUNT * 1e6


def with_core(db: Database) -> Callable[[int], None]:
    ctl = trading_control.c
    bump = (
        update(trading_control)
        .where(ctl.id == CONTROL_ROW_ID)
        .values(state_version=ctl.state_version + 1)
        .returning(ctl.state_version, ctl.kill_active)
    )
    exists = select(orders.c.id).where(orders.c.client_order_id == bindparam("coid"))
    conn = db.engine.connect()

    def run(n: int) -> None:
        record, row = order(n + 10_000_000), audit(n + 10_000_000)
        values = {name: getattr(record, name) for name in OrderRecord.__slots__}
        values["updated_at"] = record.created_at
        with conn.begin():
            conn.execute(bump).one()
            conn.execute(exists, {"coid": record.client_order_id}).first()
            conn.execute(insert(orders), values)
            conn.execute(
                insert(audit_events),
                {
                    "at": row.at,
                    "kind": row.kind,
                    "client_order_id": row.client_order_id,
                    "reason_code": row.reason_code,
                    "message": row.message,
                    "details": "{}",
                },
            )

    return run


def with_state_store(store: StateStore) -> Callable[[int], None]:
    def run(n: int) -> None:
        with store.write() as tx:
            record = order(n)
            tx.order_exists(record.client_order_id)
            tx.insert_order(record)
            tx.insert_audit(audit(n))

    return run


def with_sqlite3(path: Path) -> Callable[[int], None]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")

    def run(n: int) -> None:
        coid = f"raw{n:015d}"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE trading_control SET state_version = state_version + 1 WHERE id = 1 "
            "RETURNING state_version, kill_active"
        ).fetchone()
        conn.execute("SELECT id FROM orders WHERE client_order_id = ?", (coid,)).fetchone()
        conn.execute(
            "INSERT INTO orders (client_order_id, venue, symbol, side, order_type, time_in_force,"
            " requested_qty, qty, price, status, filled_qty, fee, strategy, signal_id,"
            " reduce_only, reference_price, est_slippage_bps, est_slippage_quote, created_at,"
            " updated_at) VALUES (?, 'paper', 'BTC/USDT', 'buy', 'limit', 'POST_ONLY', 0.01, 0.01,"
            " 60000, 'PENDING_SUBMIT', 0, 0, 'bench', ?, 0, 60000, 0.5, 0.03, ?, ?)",
            (coid, f"s{n}", T0, T0),
        )
        conn.execute(
            "INSERT INTO audit_events (at, kind, client_order_id, reason_code, message, details)"
            " VALUES (?, 'DECISION', ?, 'APPROVED', 'ok', '{}')",
            (T0, coid),
        )
        conn.execute("COMMIT")

    return run


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        db = Database(f"sqlite:///{path}")
        db.create_schema()
        store = StateStore(db)
        rows = [
            ("SQLAlchemy Core Connection.execute()", per_transaction(with_core(db))),
            (
                "state store (compiled SQL on the DBAPI cursor)",
                per_transaction(with_state_store(store)),
            ),
            ("bare sqlite3, hand-written SQL (floor)", per_transaction(with_sqlite3(path))),
        ]
        store.close()
        db.dispose()
    print(f"reservation transaction on SQLite (WAL, synchronous=NORMAL), {COUNT} runs each")
    print(f"| {'path':48} | {'us/transaction':>14} |")
    print(f"|{'-' * 50}|{'-' * 15}:|")
    for label, micros in rows:
        print(f"| {label:48} | {micros:>14.1f} |")


if __name__ == "__main__":
    main()
