"""Engine set-up for SQLite (default, WAL) and PostgreSQL, and schema creation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool

from cryptosmarttrader.store.schema import CONTROL_ROW_ID, metadata, trading_control

SqliteSync = Literal["NORMAL", "FULL"]


class DatabaseError(Exception):
    """The database cannot be opened or used; the message is safe to show (no password)."""


def first_line(error: BaseException | None) -> str:
    text = str(error) if error is not None else "unknown error"
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class Database:
    """One engine per process. SQLite runs in WAL mode with explicit transactions.

    ``sqlite_synchronous="NORMAL"`` survives a killed process (what the crash tests exercise);
    ``"FULL"`` also survives power loss at about twice the commit cost.
    """

    def __init__(self, url: str, *, sqlite_synchronous: SqliteSync = "NORMAL") -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise DatabaseError(f"invalid database URL {redact_url(url)}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect not in {"sqlite", "postgresql"}:
            raise DatabaseError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            in_memory = parsed.query.get("mode") == "memory"
            if parsed.database and parsed.database != ":memory:" and not in_memory:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30.0, "check_same_thread": False}
            if in_memory:
                # A shared in-memory database (``file:NAME?mode=memory&cache=shared&uri=true``)
                # lives while a connection is open: the pool keeps its connections open, and
                # the state store's connection is a separate one, as with a file.
                kwargs["poolclass"] = QueuePool
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, sqlite_synchronous)

    def create_schema(self) -> None:
        """Create missing tables and the control row; safe to run concurrently from processes."""
        try:
            for attempt in (1, 2):
                try:
                    metadata.create_all(self.engine)
                    break
                except DBAPIError as exc:
                    # Two processes may both see a table missing and both create it.
                    if attempt == 2 or "already exists" not in str(exc).lower():
                        raise
            with self.engine.begin() as conn:
                exists = conn.execute(
                    select(trading_control.c.id).where(trading_control.c.id == CONTROL_ROW_ID)
                ).first()
            if exists is None:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(
                            insert(trading_control).values(
                                id=CONTROL_ROW_ID, state_version=0, kill_active=False
                            )
                        )
                except IntegrityError:
                    pass  # another process created it first
        except DBAPIError as exc:
            raise DatabaseError(
                f"cannot open database {redact_url(self.url)}: {first_line(exc.orig)}"
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine, synchronous: SqliteSync) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (and the state store) issue BEGIN themselves; pysqlite's implicit
        # transactions would otherwise run SELECTs outside any transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Checkpoints (which fsync) every ~40 MB of WAL instead of every 4 MB; the WAL file
        # is truncated back to 64 MB at most after each one.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")
