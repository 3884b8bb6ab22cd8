"""The state store: one lock for every writer, rollback on failure, fills recorded once."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest

from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.portfolio import AccountRecord, Mark, Position
from cryptosmarttrader.store.database import Database, DatabaseError
from cryptosmarttrader.store.schema import audit_events, positions
from cryptosmarttrader.store.state_store import AuditRecord, FillRecord, StateStore
from tests.factories import T0
from tests.systems import count, rows


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    db.create_schema()
    db.create_schema()  # idempotent
    yield db
    db.dispose()


@pytest.fixture
def store(database: Database) -> Iterator[StateStore]:
    state = StateStore(database)
    yield state
    state.close()


def audit(message: str, qty: float | None = None) -> AuditRecord:
    return AuditRecord(
        at=T0, kind="TEST", reason_code="APPROVED", message=message, requested_qty=qty
    )


def test_writes_bump_the_version_and_reads_do_not(store: StateStore) -> None:
    with store.read() as tx:
        start = tx.control.state_version
        assert not tx.control.kill_switch.active
    with store.write() as tx:
        assert tx.control.state_version == start + 1
        assert tx.version_before == start
    with store.read() as tx:
        assert tx.control.state_version == start + 1
        assert tx.version_before == start + 1


def test_a_failed_transaction_leaves_nothing_behind(store: StateStore, database: Database) -> None:
    with store.read() as tx:
        start = tx.control.state_version

    def fail_inside_a_transaction() -> None:
        with store.write() as tx:
            tx.insert_audit(audit("lost"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside_a_transaction()
    assert count(database, audit_events) == 0
    with store.write() as tx:
        assert tx.control.state_version == start + 1
        tx.insert_audit(audit("kept", qty=math.nan))
    (row,) = rows(database, audit_events)
    assert row.message == "kept"
    assert row.requested_qty is None or math.isnan(row.requested_qty)


def test_fills_are_recorded_once_per_venue_trade(store: StateStore) -> None:
    fill = FillRecord("paper", "T1", "cst1", "ETH/USDT", "buy", 0.1, 3_000.0, 0.3, "USDT", T0)
    with store.write() as tx:
        assert tx.insert_fill(fill) is True
        assert tx.insert_fill(fill) is False
        other_venue = FillRecord(
            "kraken", "T1", "cst1", "ETH/USDT", "buy", 0.1, 1.0, 0.0, "USD", T0
        )
        assert tx.insert_fill(other_venue) is True


def test_positions_account_and_kill_switch_round_trip(
    store: StateStore, database: Database
) -> None:
    with store.write() as tx:
        assert tx.load_portfolio(0.0) is None
        tx.save_account(AccountRecord("USDT", 900.0, 1_000.0, "2026-01-05", 1_050.0), T0)
        tx.save_position(Position("ETH/USDT", 0.1, 3_000.0), Mark(3_100.0, T0), T0)
        tx.save_position(Position("ETH/USDT", 0.2, 3_050.0, 5.0), Mark(3_200.0, T0 + 1), T0)
        tx.set_kill_switch(KillSwitchState(True, "why", "who", T0))
    with store.read() as tx:
        record = tx.load_portfolio(0.0)
        assert tx.control.kill_switch == KillSwitchState(True, "why", "who", T0)
    assert record is not None
    assert record.account == AccountRecord("USDT", 900.0, 1_000.0, "2026-01-05", 1_050.0)
    assert record.positions["ETH/USDT"] == Position("ETH/USDT", 0.2, 3_050.0, 5.0)
    assert record.marks["ETH/USDT"] == Mark(3_200.0, T0 + 1)
    assert len(rows(database, positions)) == 1


def test_a_second_writer_waits_for_the_first(database: Database) -> None:
    first, second = StateStore(database), StateStore(database)
    seen: list[int] = []
    try:
        with first.write() as tx:
            held = tx.control.state_version

            def write_again() -> None:
                with second.write() as other:
                    seen.append(other.control.state_version)

            waiter = threading.Thread(target=write_again)
            waiter.start()
            waiter.join(timeout=0.5)
            assert waiter.is_alive(), "the second writer got in while the first held the lock"
            assert seen == []
        waiter.join(timeout=30)
        assert seen == [held + 1]
    finally:
        first.close()
        second.close()


def test_unusable_urls_are_clear_errors(tmp_path: object) -> None:
    with pytest.raises(DatabaseError, match="unsupported database"):
        Database("mysql://root@127.0.0.1/x")
    with pytest.raises(DatabaseError, match="invalid database URL"):
        Database("not a url")
    unreachable = Database("postgresql+psycopg://u:secret@127.0.0.1:1/x")
    with pytest.raises(DatabaseError) as error:
        unreachable.create_schema()
    assert "secret" not in str(error.value)
    assert "***" in str(error.value)
