"""The single writer of trading state: orders, fills, positions, account, kill switch, audit.

Statements are built with SQLAlchemy Core and compiled once for the database's dialect, then
run on one DBAPI connection. SQLAlchemy's per-statement execution overhead (about 25 µs,
measured in docs/performance.md) would otherwise cap the order gateway well below its
throughput goal. The connection is guarded by a lock; callers never share cursors.

Every write transaction begins by incrementing ``trading_control.state_version``. That one
statement takes SQLite's write lock (``BEGIN IMMEDIATE``) or PostgreSQL's row lock, so
reservations from several processes are serialized by the database itself.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ClauseElement, bindparam, func, insert, select, update
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.orders import FINAL_STATUSES, OrderStatus, Side
from cryptosmarttrader.domain.portfolio import (
    AccountRecord,
    Mark,
    PendingOrder,
    PortfolioRecord,
    PortfolioState,
    Position,
)
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import (
    CONTROL_ROW_ID,
    account,
    audit_events,
    equity_snapshots,
    fills,
    kill_switch_events,
    orders,
    positions,
    trading_control,
)

ACCOUNT_ROW_ID = 1
_FINAL = sorted(status.value for status in FINAL_STATUSES)


@dataclass(frozen=True, slots=True)
class ControlRow:
    state_version: int
    kill_switch: KillSwitchState


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: str
    venue: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    requested_qty: float
    qty: float
    price: float | None
    status: str
    strategy: str
    signal_id: str
    reduce_only: bool
    reference_price: float
    est_slippage_bps: float
    est_slippage_quote: float
    created_at: float
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    fee: float = 0.0
    exchange_order_id: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """The parts of a persisted order that applying an execution report needs."""

    client_order_id: str
    venue: str
    symbol: str
    side: Side
    qty: float
    status: OrderStatus
    filled_qty: float
    avg_fill_price: float | None
    fee: float
    exchange_order_id: str | None
    est_slippage_quote: float
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class FillRecord:
    venue: str
    trade_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    fee_asset: str
    at: float


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: float
    kind: str
    reason_code: str
    message: str
    client_order_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    verdict: str | None = None
    gate: str | None = None
    requested_qty: float | None = None
    approved_qty: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class _Compiled:
    """A Core statement compiled for one dialect, bound by name, executed on a DBAPI cursor."""

    __slots__ = ("defaults", "pick", "sql")

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, *, literal: bool = False
    ) -> None:
        kwargs = {"literal_binds": True} if literal else {}
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, compile_kwargs=kwargs))
        self.sql = str(compiled)
        self.defaults = dict(compiled.params)
        order = compiled.positiontup
        # Positional drivers (sqlite3) take a tuple in placeholder order; named ones a dict.
        self.pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
        if order:
            getter = itemgetter(*order)
            self.pick = getter if len(order) > 1 else (lambda values: (getter(values),))

    def bind(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        merged = {**self.defaults, **values} if self.defaults else values
        return merged if self.pick is None else self.pick(merged)


def _binds(table_columns: Sequence[Any], prefix: str = "") -> dict[str, Any]:
    return {column.name: bindparam(prefix + column.name) for column in table_columns}


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        ctl = trading_control.c
        control_columns = (
            ctl.state_version,
            ctl.kill_active,
            ctl.kill_reason,
            ctl.kill_actor,
            ctl.kill_changed_at,
        )
        self.bump = _Compiled(
            update(trading_control)
            .where(ctl.id == CONTROL_ROW_ID)
            .values(state_version=ctl.state_version + 1)
            .returning(*control_columns),
            dialect,
        )
        self.read_control = _Compiled(
            select(*control_columns).where(ctl.id == CONTROL_ROW_ID), dialect
        )
        self.set_kill = _Compiled(
            update(trading_control)
            .where(ctl.id == CONTROL_ROW_ID)
            .values(
                kill_active=bindparam("p_active"),
                kill_reason=bindparam("p_reason"),
                kill_actor=bindparam("p_actor"),
                kill_changed_at=bindparam("p_at"),
            ),
            dialect,
        )
        self.insert_kill_event = _Compiled(
            insert(kill_switch_events).values(
                _binds([c for c in kill_switch_events.c if c.name != "id"])
            ),
            dialect,
        )
        o = orders.c
        self.order_exists = _Compiled(
            select(o.id).where(o.client_order_id == bindparam("coid")), dialect
        )
        stored_columns = (
            o.client_order_id,
            o.venue,
            o.symbol,
            o.side,
            o.qty,
            o.status,
            o.filled_qty,
            o.avg_fill_price,
            o.fee,
            o.exchange_order_id,
            o.est_slippage_quote,
            o.created_at,
            o.updated_at,
        )
        self.get_order = _Compiled(
            select(*stored_columns).where(o.client_order_id == bindparam("coid")), dialect
        )
        self.open_orders = _Compiled(
            select(*stored_columns).where(o.status.not_in(_FINAL)).order_by(o.id),
            dialect,
            literal=True,
        )
        self.insert_order = _Compiled(
            insert(orders).values(_binds([c for c in orders.c if c.name != "id"])), dialect
        )
        self.update_order = _Compiled(
            update(orders)
            .where(o.client_order_id == bindparam("coid"))
            .values(
                status=bindparam("p_status"),
                filled_qty=bindparam("p_filled_qty"),
                avg_fill_price=bindparam("p_avg_fill_price"),
                fee=bindparam("p_fee"),
                exchange_order_id=bindparam("p_exchange_order_id"),
                last_error=bindparam("p_last_error"),
                updated_at=bindparam("p_updated_at"),
            ),
            dialect,
        )
        self.pending_orders = _Compiled(
            select(
                o.client_order_id,
                o.symbol,
                o.side,
                o.qty,
                o.filled_qty,
                o.reference_price,
            )
            .where(o.status.not_in(_FINAL))
            .order_by(o.id),
            dialect,
            literal=True,
        )
        self.slippage_since = _Compiled(
            select(func.sum(o.est_slippage_quote)).where(o.created_at >= bindparam("since")),
            dialect,
        )
        f = fills.c
        self.fill_exists = _Compiled(
            select(f.id).where(f.venue == bindparam("venue"), f.trade_id == bindparam("trade_id")),
            dialect,
        )
        self.insert_fill = _Compiled(
            insert(fills).values(_binds([c for c in fills.c if c.name != "id"])), dialect
        )
        p = positions.c
        self.all_positions = _Compiled(
            select(p.symbol, p.qty, p.avg_price, p.realized_pnl, p.mark_price, p.mark_ts), dialect
        )
        self.update_position = _Compiled(
            update(positions)
            .where(p.symbol == bindparam("key"))
            .values({c.name: bindparam("p_" + c.name) for c in positions.c if c.name != "symbol"}),
            dialect,
        )
        self.insert_position = _Compiled(
            insert(positions).values(_binds(list(positions.c))), dialect
        )
        a = account.c
        self.get_account = _Compiled(
            select(
                a.quote,
                a.cash,
                a.start_of_day_equity,
                a.day,
                a.peak_equity,
            ).where(a.id == ACCOUNT_ROW_ID),
            dialect,
        )
        self.update_account = _Compiled(
            update(account)
            .where(a.id == ACCOUNT_ROW_ID)
            .values({c.name: bindparam("p_" + c.name) for c in account.c if c.name != "id"}),
            dialect,
        )
        self.insert_account = _Compiled(insert(account).values(_binds(list(account.c))), dialect)
        self.insert_equity = _Compiled(
            insert(equity_snapshots).values(
                _binds([c for c in equity_snapshots.c if c.name != "id"])
            ),
            dialect,
        )
        self.insert_audit = _Compiled(
            insert(audit_events).values(_binds([c for c in audit_events.c if c.name != "id"])),
            dialect,
        )


def _stored_order(row: Sequence[Any]) -> StoredOrder:
    return StoredOrder(
        client_order_id=row[0],
        venue=row[1],
        symbol=row[2],
        side=Side(row[3]),
        qty=row[4],
        status=OrderStatus(row[5]),
        filled_qty=row[6],
        avg_fill_price=row[7],
        fee=row[8],
        exchange_order_id=row[9],
        est_slippage_quote=row[10],
        created_at=row[11],
        updated_at=row[12],
    )


def _kill_state(row: Sequence[Any]) -> KillSwitchState:
    return KillSwitchState(active=bool(row[1]), reason=row[2], actor=row[3], changed_at=row[4])


class StateTransaction:
    """One database transaction on the state store. Obtain it from :class:`StateStore`."""

    def __init__(
        self, cursor: Any, statements: _Statements, control: ControlRow, *, write: bool
    ) -> None:
        self._cursor = cursor
        self._s = statements
        self.control = control
        self.write = write

    @property
    def version_before(self) -> int:
        """The state version other writers left; a write transaction has bumped it by one."""
        return self.control.state_version - 1 if self.write else self.control.state_version

    def _run(self, statement: _Compiled, values: Mapping[str, Any] | None = None) -> Any:
        self._cursor.execute(statement.sql, statement.bind(values or {}))
        return self._cursor

    # --- orders -------------------------------------------------------------------------
    def order_exists(self, client_order_id: str) -> bool:
        return self._run(self._s.order_exists, {"coid": client_order_id}).fetchone() is not None

    def get_order(self, client_order_id: str) -> StoredOrder | None:
        row = self._run(self._s.get_order, {"coid": client_order_id}).fetchone()
        return None if row is None else _stored_order(row)

    def open_orders(self) -> list[StoredOrder]:
        """Every order not yet in a final state, oldest first."""
        return [_stored_order(row) for row in self._run(self._s.open_orders).fetchall()]

    def insert_order(self, record: OrderRecord) -> None:
        values = {name: getattr(record, name) for name in OrderRecord.__slots__}
        values["updated_at"] = record.created_at
        self._run(self._s.insert_order, values)

    def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus,
        filled_qty: float,
        avg_fill_price: float | None,
        fee: float,
        exchange_order_id: str | None,
        last_error: str | None,
        updated_at: float,
    ) -> None:
        self._run(
            self._s.update_order,
            {
                "coid": client_order_id,
                "p_status": status.value,
                "p_filled_qty": filled_qty,
                "p_avg_fill_price": avg_fill_price,
                "p_fee": fee,
                "p_exchange_order_id": exchange_order_id,
                "p_last_error": last_error,
                "p_updated_at": updated_at,
            },
        )

    # --- fills and positions ------------------------------------------------------------
    def insert_fill(self, record: FillRecord) -> bool:
        """Record a fill once; False when this venue trade id is already recorded."""
        key = {"venue": record.venue, "trade_id": record.trade_id}
        if self._run(self._s.fill_exists, key).fetchone() is not None:
            return False
        self._run(
            self._s.insert_fill, {name: getattr(record, name) for name in FillRecord.__slots__}
        )
        return True

    def save_position(self, position: Position, mark: Mark, updated_at: float) -> None:
        values = {
            "qty": position.qty,
            "avg_price": position.avg_price,
            "realized_pnl": position.realized_pnl,
            "mark_price": mark.price,
            "mark_ts": mark.ts,
            "updated_at": updated_at,
        }
        cursor = self._run(
            self._s.update_position,
            {"key": position.symbol, **{"p_" + k: v for k, v in values.items()}},
        )
        if cursor.rowcount == 0:
            self._run(self._s.insert_position, {"symbol": position.symbol, **values})

    # --- account ------------------------------------------------------------------------
    def save_account(self, record: AccountRecord, updated_at: float) -> None:
        values = {
            "quote": record.quote,
            "cash": record.cash,
            "start_of_day_equity": record.start_of_day_equity,
            "day": record.day,
            "peak_equity": record.peak_equity,
            "updated_at": updated_at,
        }
        cursor = self._run(self._s.update_account, {"p_" + k: v for k, v in values.items()})
        if cursor.rowcount == 0:
            self._run(self._s.insert_account, {"id": ACCOUNT_ROW_ID, **values})

    def load_portfolio(self, day_start: float) -> PortfolioRecord | None:
        """The persisted portfolio, or None before the account was first initialized.

        ``day_start`` (UTC midnight, epoch seconds) bounds today's estimated slippage spend.
        """
        row = self._run(self._s.get_account).fetchone()
        if row is None:
            return None
        record = AccountRecord(
            quote=row[0],
            cash=row[1],
            start_of_day_equity=row[2],
            day=row[3],
            peak_equity=row[4],
        )
        held: dict[str, Position] = {}
        marks: dict[str, Mark] = {}
        for symbol, qty, avg, realized, mark_price, mark_ts in self._run(
            self._s.all_positions
        ).fetchall():
            held[symbol] = Position(symbol, qty, avg, realized)
            marks[symbol] = Mark(mark_price, mark_ts)
        pending: dict[str, PendingOrder] = {}
        for coid, symbol, side, qty, filled, reference in self._run(
            self._s.pending_orders
        ).fetchall():
            pending[coid] = PendingOrder(coid, symbol, Side(side), max(qty - filled, 0.0))
            # A symbol with only pending orders has no persisted mark. Its order price keeps
            # exposure finite, stamped as infinitely old: the gateway must replace it with a
            # live quote, and until then the data gate refuses orders that add exposure.
            if symbol not in marks:
                marks[symbol] = Mark(reference, -math.inf)
        spent_row = self._run(self._s.slippage_since, {"since": day_start}).fetchone()
        spent = float(spent_row[0]) if spent_row is not None and spent_row[0] is not None else 0.0
        return PortfolioRecord(record, held, pending, marks, spent)

    # --- kill switch and audit ----------------------------------------------------------
    def set_kill_switch(self, state: KillSwitchState) -> None:
        at = state.changed_at if state.changed_at is not None else 0.0
        self._run(
            self._s.set_kill,
            {
                "p_active": state.active,
                "p_reason": state.reason,
                "p_actor": state.actor,
                "p_at": at,
            },
        )
        self._run(
            self._s.insert_kill_event,
            {"at": at, "active": state.active, "reason": state.reason, "actor": state.actor or "?"},
        )
        self.control = ControlRow(self.control.state_version, state)

    def insert_equity_snapshot(self, state: PortfolioState, open_positions: int) -> None:
        self._run(
            self._s.insert_equity,
            {
                "at": state.as_of,
                "equity": state.equity,
                "cash": state.cash,
                "gross_exposure": state.gross_exposure,
                "start_of_day_equity": state.start_of_day_equity,
                "peak_equity": state.peak_equity,
                "open_positions": open_positions,
            },
        )

    def insert_audit(self, record: AuditRecord) -> None:
        self._run(
            self._s.insert_audit,
            {
                "at": record.at,
                "kind": record.kind,
                "client_order_id": record.client_order_id,
                "symbol": record.symbol,
                "side": record.side,
                "verdict": record.verdict,
                "gate": record.gate,
                "reason_code": record.reason_code,
                "requested_qty": record.requested_qty,
                "approved_qty": record.approved_qty,
                "message": record.message,
                "details": json.dumps(record.details, separators=(",", ":"), default=str),
            },
        )


class StateStore:
    """Owns one DBAPI connection; one transaction at a time, from any thread."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._sqlite = database.dialect == "sqlite"
        self._statements = _Statements(database.engine.dialect)
        self._lock = threading.RLock()
        self._raw: Any = None
        dbapi: Any = database.engine.dialect.dbapi
        self._driver_error: type[Exception] = dbapi.Error

    def _connection(self) -> Any:
        if self._raw is None:
            self._raw = self._db.engine.raw_connection()
        return self._raw.driver_connection

    def _discard_connection(self) -> None:
        if self._raw is not None:
            try:
                self._raw.invalidate()
            finally:
                self._raw = None

    @contextmanager
    def write(self) -> Iterator[StateTransaction]:
        """A transaction holding the cross-process state lock; commits on success."""
        with self._transaction(write=True) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[StateTransaction]:
        """A consistent read-only snapshot; takes no lock and writes nothing."""
        with self._transaction(write=False) as tx:
            yield tx

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[StateTransaction]:
        with self._lock:
            try:
                conn = self._connection()
                cursor = conn.cursor()
            except self._driver_error:
                self._count_error(write)
                raise
            try:
                if self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                elif not write:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                statement = self._statements.bump if write else self._statements.read_control
                cursor.execute(statement.sql, statement.bind({}))
                row = cursor.fetchone()
                if row is None:
                    raise RuntimeError("trading_control row missing: run create_schema() first")
                tx = StateTransaction(
                    cursor,
                    self._statements,
                    ControlRow(int(row[0]), _kill_state(row)),
                    write=write,
                )
                yield tx
                if write:
                    self._commit(conn, cursor)
                else:
                    self._rollback(conn, cursor)
            except BaseException as exc:
                if isinstance(exc, self._driver_error):
                    self._count_error(write)
                try:
                    self._rollback(conn, cursor)
                except Exception:  # noqa: BLE001 - the connection is broken; drop it below
                    self._discard_connection()
                else:
                    cursor.close()
                raise
            else:
                cursor.close()

    @staticmethod
    def _count_error(write: bool) -> None:
        metrics.DATABASE_ERRORS.labels("write" if write else "read").inc()

    def _commit(self, conn: Any, cursor: Any) -> None:
        if self._sqlite:
            cursor.execute("COMMIT")
        else:
            conn.commit()

    def _rollback(self, conn: Any, cursor: Any) -> None:
        if self._sqlite:
            if conn.in_transaction:
                cursor.execute("ROLLBACK")
        else:
            conn.rollback()

    def close(self) -> None:
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None
