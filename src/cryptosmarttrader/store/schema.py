"""Database schema. Times are UTC epoch seconds (double precision); money is in quote currency."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

CONTROL_ROW_ID = 1

# One row. Every transaction that changes trading state starts by incrementing state_version:
# that statement takes the database's write lock (SQLite) or the row lock (PostgreSQL), which
# serializes reservations across processes, and lets each process see whether anyone else
# wrote since its last transaction.
trading_control = Table(
    "trading_control",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("state_version", BigInteger, nullable=False),
    Column("kill_active", Boolean, nullable=False),
    Column("kill_reason", Text),
    Column("kill_actor", String(128)),
    Column("kill_changed_at", Float),
)

kill_switch_events = Table(
    "kill_switch_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("reason", Text),
    Column("actor", String(128), nullable=False),
)

account = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("quote", String(16), nullable=False),
    Column("cash", Float, nullable=False),
    Column("start_of_day_equity", Float, nullable=False),
    Column("day", String(10), nullable=False),
    Column("peak_equity", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

positions = Table(
    "positions",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("qty", Float, nullable=False),
    Column("avg_price", Float, nullable=False),
    Column("realized_pnl", Float, nullable=False),
    Column("mark_price", Float, nullable=False),
    Column("mark_ts", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_order_id", String(36), nullable=False, unique=True),
    Column("venue", String(32), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("order_type", String(8), nullable=False),
    Column("time_in_force", String(12), nullable=False),
    Column("requested_qty", Float, nullable=False),
    Column("qty", Float, nullable=False),
    Column("price", Float),
    Column("status", String(20), nullable=False),
    Column("filled_qty", Float, nullable=False),
    Column("avg_fill_price", Float),
    Column("fee", Float, nullable=False),
    Column("exchange_order_id", String(64)),
    Column("strategy", String(64), nullable=False),
    Column("signal_id", String(64), nullable=False),
    Column("reduce_only", Boolean, nullable=False),
    Column("reference_price", Float, nullable=False),
    Column("est_slippage_bps", Float, nullable=False),
    Column("est_slippage_quote", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_error", Text),
    Index("ix_orders_status", "status"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("venue", String(32), nullable=False),
    Column("trade_id", String(64), nullable=False),
    Column("client_order_id", String(36), nullable=False, index=True),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("qty", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("fee", Float, nullable=False),
    Column("fee_asset", String(16), nullable=False),
    Column("at", Float, nullable=False),
    UniqueConstraint("venue", "trade_id", name="uq_fills_venue_trade"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("client_order_id", String(36), index=True),
    Column("symbol", String(32)),
    Column("side", String(4)),
    Column("verdict", String(8)),
    Column("gate", String(24)),
    Column("reason_code", String(32), nullable=False),
    Column("requested_qty", Float),
    Column("approved_qty", Float),
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),
)

# The account marked to market once per engine loop: the equity curve of the dashboard.
equity_snapshots = Table(
    "equity_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("equity", Float, nullable=False),
    Column("cash", Float, nullable=False),
    Column("gross_exposure", Float, nullable=False),
    Column("start_of_day_equity", Float, nullable=False),
    Column("peak_equity", Float, nullable=False),
    Column("open_positions", Integer, nullable=False),
)

# Candle history: one row per (source, symbol, timeframe, open time). The primary key is
# what makes every import and download idempotent; gaps are found from the open times.
candles = Table(
    "candles",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("open_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
)
