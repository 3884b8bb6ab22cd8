"""The OrderGateway end to end on a real database (SQLite and PostgreSQL) and the paper venue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.data.correlation import RollingCorrelationProvider
from cryptosmarttrader.domain.clock import ManualClock
from cryptosmarttrader.domain.decisions import GateName, Verdict
from cryptosmarttrader.domain.orders import (
    IllegalTransitionError,
    OrderIntent,
    OrderStatus,
    Side,
    TimeInForce,
)
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.broker import BrokerError, ExecutionReport, VenueOpenOrder
from cryptosmarttrader.exchanges.paper.market import PriceShock, SimulatedMarket
from cryptosmarttrader.exchanges.placement import ApprovedOrder
from cryptosmarttrader.exchanges.simulated import SimulatedBroker
from cryptosmarttrader.execution import gateway as gateway_module
from cryptosmarttrader.execution.gateway import OrderGateway, OutcomeNotRecordedError
from cryptosmarttrader.execution.order_ledger import apply_report
from cryptosmarttrader.execution.policy import ExecutionPolicy
from cryptosmarttrader.execution.reconciliation import Reconciler
from cryptosmarttrader.risk.book import PortfolioBook
from cryptosmarttrader.risk.guard import RiskGuard
from cryptosmarttrader.risk.kill_switch import KillSwitch
from cryptosmarttrader.runtime.system import TradingSystem
from cryptosmarttrader.store.schema import audit_events, fills, orders, positions
from cryptosmarttrader.store.state_store import StateStore
from tests.factories import T0
from tests.systems import count, open_system, rows


class SpyBroker:
    """The paper broker, noting what the database held at the moment ``place()`` was called."""

    def __init__(self, system: TradingSystem, *, fail: bool = False) -> None:
        self.inner = system.broker
        self.database = system.database
        self.venue = self.inner.venue
        self.absent_final_after_s = self.inner.absent_final_after_s
        self.fail = fail
        self.seen: list[tuple[list[str], list[str]]] = []

    def instruments(self) -> Mapping[str, Instrument]:
        return self.inner.instruments()

    def balances(self) -> Mapping[str, float]:
        return self.inner.balances()

    def open_orders(self) -> list[VenueOpenOrder]:
        return self.inner.open_orders()

    def close(self) -> None:
        self.inner.close()

    def place(self, order: ApprovedOrder) -> ExecutionReport:
        coid = order.client_order_id
        self.seen.append(
            (
                [r.status for r in rows(self.database, orders, client_order_id=coid)],
                [r.kind for r in rows(self.database, audit_events, client_order_id=coid)],
            )
        )
        if self.fail:
            raise BrokerError("connection reset after sending")
        return self.inner.place(order)

    def fetch_order(self, symbol: str, client_order_id: str) -> ExecutionReport | None:
        return self.inner.fetch_order(symbol, client_order_id)

    def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        return self.inner.cancel(symbol, client_order_id)


def gateway_with(system: TradingSystem, broker: SpyBroker) -> OrderGateway:
    settings = system.settings
    return OrderGateway(
        store=system.store,
        broker=broker,
        market_data=system.market_data,
        guard=RiskGuard(settings.risk, RollingCorrelationProvider(system.market)),
        policy=ExecutionPolicy(settings.execution),
        clock=system.clock,
        quote="USDT",
    )


def touch(system: TradingSystem, symbol: str, side: Side) -> float:
    snapshot = system.market_data.snapshot(symbol)
    assert snapshot is not None
    return snapshot.ask if side is Side.BUY else snapshot.bid


def post_only_bid(system: TradingSystem, symbol: str, qty: float, **extra: object) -> OrderIntent:
    return OrderIntent(symbol, Side.BUY, qty, price=touch(system, symbol, Side.SELL), **extra)  # type: ignore[arg-type]


def ioc(system: TradingSystem, symbol: str, side: Side, qty: float, **extra: object) -> OrderIntent:
    return OrderIntent(
        symbol,
        side,
        qty,
        price=touch(system, symbol, side),
        time_in_force=TimeInForce.IOC,
        **extra,  # type: ignore[arg-type]
    )


def test_order_and_decision_are_committed_before_the_venue_is_called(
    db_url: str, tmp_path: Path
) -> None:
    with open_system(tmp_path, db_url) as system:
        spy = SpyBroker(system)
        result = gateway_with(system, spy).submit(post_only_bid(system, "BTC/USDT", 0.001))
        assert result.decision.verdict is Verdict.APPROVE
        assert result.status is OrderStatus.OPEN
        assert spy.seen == [(["PENDING_SUBMIT"], ["DECISION"])]
        coid = result.client_order_id
        assert [r.status for r in rows(system.database, orders, client_order_id=coid)] == ["OPEN"]
        audit = rows(system.database, audit_events, client_order_id=coid)
        assert [(a.kind, a.reason_code) for a in audit] == [
            ("DECISION", "APPROVED"),
            ("ORDER_RESULT", "ORDER_ACCEPTED"),
        ]
        details = json.loads(audit[0].details)
        assert details["numbers"]["equity"] == pytest.approx(10_000.0)
        assert details["time_in_force"] == "POST_ONLY"


def test_a_rejection_is_audited_but_creates_no_order(db_url: str, tmp_path: Path) -> None:
    with open_system(tmp_path, db_url) as system:
        result = system.gateway.submit(ioc(system, "MEME/USDT", Side.BUY, 50_000))
        assert (result.decision.verdict, result.decision.code) == (
            Verdict.REJECT,
            ReasonCode.SPREAD_TOO_WIDE,
        )
        assert result.status is None
        assert count(system.database, orders) == 0
        (audit,) = rows(system.database, audit_events)
        assert (audit.verdict, audit.gate, audit.reason_code) == (
            "REJECT",
            "spread",
            "SPREAD_TOO_WIDE",
        )
        assert json.loads(audit.details)["numbers"]["spread_bps"] > 50
        assert system.venue.open_orders() == []


def test_every_decision_is_a_json_log_line(db_url: str, tmp_path: Path, json_log: Path) -> None:
    with open_system(tmp_path, db_url) as system:
        unique = uuid.uuid4().hex[:12]
        result = system.gateway.submit(ioc(system, "MEME/USDT", Side.BUY, 50_000, signal_id=unique))
    lines = [json.loads(line) for line in json_log.read_text().splitlines()]
    (logged,) = [
        line
        for line in lines
        if line.get("event") == "order.decision"
        and line.get("client_order_id") == result.client_order_id
    ]
    assert logged["reason_code"] == "SPREAD_TOO_WIDE"
    assert logged["verdict"] == "REJECT"
    assert logged["component"] == "gateway"
    assert logged["timestamp"].endswith("Z")


def test_dry_run_evaluates_but_stores_and_sends_nothing(db_url: str, tmp_path: Path) -> None:
    with open_system(tmp_path, db_url) as system:
        system.gateway.start()
        audit_before = count(system.database, audit_events)
        with system.store.read() as tx:
            version_before = tx.control.state_version
        result = system.gateway.submit(post_only_bid(system, "BTC/USDT", 0.001), dry_run=True)
        assert result.decision.verdict is Verdict.APPROVE
        assert result.dry_run
        assert result.status is None
        assert count(system.database, orders) == 0
        assert count(system.database, audit_events) == audit_before
        with system.store.read() as tx:
            assert tx.control.state_version == version_before
        assert system.venue.open_orders() == []
        # Nothing was reserved: the real order gets the same id and is not a duplicate.
        real = system.gateway.submit(post_only_bid(system, "BTC/USDT", 0.001))
        assert real.client_order_id == result.client_order_id
        assert real.status is OrderStatus.OPEN


def test_unknown_outcome_keeps_the_order_reserved_and_unknown(db_url: str, tmp_path: Path) -> None:
    risk = RiskLimits(max_position=1.0, max_total_exposure=0.3, max_correlated_exposure=1.0)
    with open_system(tmp_path, db_url, risk=risk) as system:
        gateway = gateway_with(system, SpyBroker(system, fail=True))
        first = gateway.submit(post_only_bid(system, "BTC/USDT", 0.04))  # ~2,450 of 3,000
        assert first.status is OrderStatus.UNKNOWN
        (stored,) = rows(system.database, orders)
        assert stored.status == "UNKNOWN"
        assert "connection reset" in stored.last_error
        audit = rows(system.database, audit_events, client_order_id=first.client_order_id)
        assert [a.reason_code for a in audit] == ["APPROVED", "ORDER_OUTCOME_UNKNOWN"]
        # The unresolved order still counts: the next one only gets what is left.
        second = gateway.submit(post_only_bid(system, "ETH/USDT", 0.5))
        assert second.decision.verdict is Verdict.REDUCE
        assert second.decision.gate is GateName.TOTAL_EXPOSURE
        # Balances are not compared with the venue while an outcome is open.
        report = gateway.reconcile()
        assert report.holdings_skipped == "an order's outcome is not known yet"
        assert {p.client_order_id for p in report.pending} == {
            first.client_order_id,
            second.client_order_id,
        }


def test_a_venue_rejection_releases_the_reservation(db_url: str, tmp_path: Path) -> None:
    risk = RiskLimits(max_total_exposure=0.3, max_position=1.0, max_correlated_exposure=1.0)
    with open_system(tmp_path, db_url, risk=risk) as system:
        # Nothing to sell on a spot venue: the gates allow a short, the venue refuses it.
        rejected = system.gateway.submit(ioc(system, "BTC/USDT", Side.SELL, 0.04))
        assert rejected.decision.verdict is Verdict.APPROVE
        assert rejected.status is OrderStatus.REJECTED
        assert rejected.message is not None
        assert "insufficient balance" in rejected.message
        audit = rows(system.database, audit_events, client_order_id=rejected.client_order_id)
        assert audit[-1].reason_code == "BROKER_REJECTED"
        follow_up = system.gateway.submit(post_only_bid(system, "BTC/USDT", 0.04))
        assert follow_up.decision.verdict is Verdict.APPROVE


def test_fills_move_position_and_cash_exactly_once(db_url: str, tmp_path: Path) -> None:
    with open_system(tmp_path, db_url) as system:
        result = system.gateway.submit(ioc(system, "ETH/USDT", Side.BUY, 0.5))
        assert result.status is OrderStatus.FILLED
        assert result.avg_fill_price is not None
        (position,) = rows(system.database, positions)
        assert (position.symbol, position.qty) == ("ETH/USDT", 0.5)
        assert position.avg_price == result.avg_fill_price
        (fill,) = rows(system.database, fills)
        cost = 0.5 * result.avg_fill_price
        assert fill.fee == pytest.approx(cost * 0.001)
        snapshot = system.gateway.portfolio()
        assert snapshot.state.cash == pytest.approx(10_000.0 - cost - fill.fee)

        report = system.broker.fetch_order("ETH/USDT", result.client_order_id)
        assert report is not None
        store = StateStore(system.database)
        try:
            with store.write() as tx:
                stored = tx.get_order(result.client_order_id)
                record = tx.load_portfolio(0.0)
                assert stored is not None
                assert record is not None
                book = PortfolioBook(record)
                update = apply_report(tx, book, stored, report, error=None, now=T0)
            assert update.new_fills == 0
            assert book.position("ETH/USDT").qty == 0.5
        finally:
            store.close()
        assert count(system.database, fills) == 1


def test_illegal_transitions_raise() -> None:
    from cryptosmarttrader.domain.orders import check_transition

    check_transition(OrderStatus.PENDING_SUBMIT, OrderStatus.OPEN)
    check_transition(OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
    check_transition(OrderStatus.UNKNOWN, OrderStatus.REJECTED)
    check_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED)
    for old, new in [
        (OrderStatus.FILLED, OrderStatus.OPEN),
        (OrderStatus.CANCELED, OrderStatus.FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.OPEN),
        (OrderStatus.OPEN, OrderStatus.PENDING_SUBMIT),
        (OrderStatus.FILLED, OrderStatus.FILLED),
    ]:
        with pytest.raises(IllegalTransitionError):
            check_transition(old, new)


def test_a_duplicate_id_is_refused_after_a_restart(db_url: str, tmp_path: Path) -> None:
    with open_system(tmp_path, db_url) as system:
        intent = post_only_bid(system, "BTC/USDT", 0.001, client_order_id="my-order-1")
        assert system.gateway.submit(intent).status is OrderStatus.OPEN
    with open_system(tmp_path, db_url) as restarted:
        again = restarted.gateway.submit(intent)
        assert (again.decision.verdict, again.decision.code) == (
            Verdict.REJECT,
            ReasonCode.DUPLICATE_ORDER,
        )
        assert count(restarted.database, orders) == 1


def test_an_outcome_that_cannot_be_recorded_is_loud(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    with open_system(tmp_path, db_url) as system:
        monkeypatch.setattr(gateway_module, "apply_report", broken)
        with pytest.raises(OutcomeNotRecordedError, match="reconciliation"):
            system.gateway.submit(post_only_bid(system, "BTC/USDT", 0.001))
        (stored,) = rows(system.database, orders)
        assert stored.status == "PENDING_SUBMIT"  # what reconciliation starts from
        assert len(system.venue.open_orders()) == 1


def test_the_daily_loss_kill_switch_activates_and_persists(db_url: str, tmp_path: Path) -> None:
    crash = SimulatedMarket(7, shocks=[PriceShock(T0 + 60, -0.5, "SOL/USDT")])
    clock = ManualClock(T0)
    with open_system(tmp_path, db_url, clock=clock, market=crash) as system:
        bought = system.gateway.submit(ioc(system, "SOL/USDT", Side.BUY, 11.0))  # ~1,870
        assert bought.status is OrderStatus.FILLED
        clock.set(T0 + 120)
        result = system.gateway.submit(ioc(system, "SOL/USDT", Side.SELL, 1.0))
        assert result.decision.code is ReasonCode.DAILY_LOSS_LIMIT
        assert result.decision.kill_switch_trigger is not None
        assert result.status is None
    with open_system(tmp_path, db_url, clock=clock, market=crash) as restarted:
        state = KillSwitch(restarted.store, clock).status()
        assert state.active
        assert state.actor == "risk_guard"
        assert state.reason is not None
        assert "daily loss" in state.reason
        audit = rows(restarted.database, audit_events, kind="KILL_SWITCH")
        assert [a.reason_code for a in audit] == ["KILL_SWITCH_ACTIVATED"]
        blocked = restarted.gateway.submit(ioc(restarted, "PAXG/USDT", Side.BUY, 0.1))
        assert blocked.decision.code is ReasonCode.KILL_SWITCH_ACTIVE


def test_reservations_of_another_process_are_respected(db_url: str, tmp_path: Path) -> None:
    risk = RiskLimits(max_total_exposure=0.3, max_position=1.0, max_correlated_exposure=1.0)
    with (
        open_system(tmp_path / "a", db_url, risk=risk) as first,
        open_system(tmp_path / "b", db_url, risk=risk) as second,
    ):
        second.gateway.start()
        taken = first.gateway.submit(post_only_bid(first, "BTC/USDT", 0.04))  # ~2,450 of 3,000
        assert taken.status is OrderStatus.OPEN
        result = second.gateway.submit(post_only_bid(second, "XRP/USDT", 2_000.0))  # ~1,030
        assert result.decision.verdict is Verdict.REDUCE
        assert result.decision.gate is GateName.TOTAL_EXPOSURE
        gross = result.decision.numbers["gross_exposure_after"]
        assert gross <= 3_000.0


def test_resting_orders_that_fill_later_are_recorded_by_sync(db_url: str, tmp_path: Path) -> None:
    drop = SimulatedMarket(7, shocks=[PriceShock(T0 + 30, -0.02, "BTC/USDT")])
    clock = ManualClock(T0)
    with open_system(tmp_path, db_url, clock=clock, market=drop) as system:
        resting = system.gateway.submit(post_only_bid(system, "BTC/USDT", 0.002))
        assert resting.status is OrderStatus.OPEN
        clock.set(T0 + 60)
        report = system.gateway.reconcile()
        (change,) = report.changed
        assert (change.client_order_id, change.before, change.after) == (
            resting.client_order_id,
            "OPEN",
            "FILLED",
        )
        assert report.holdings == ()  # the fill moved the book exactly as it moved the venue
        again = system.gateway.reconcile()
        assert (again.changed, again.checked) == ((), 0)
        (position,) = rows(system.database, positions)
        assert position.qty == 0.002
        assert position.avg_price == resting.price


def test_simulated_broker_refuses_anything_but_an_approved_order(tmp_path: Path) -> None:
    with open_system(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite'}") as system:
        broker = system.broker
        assert isinstance(broker, SimulatedBroker)
        with pytest.raises(PermissionError):
            broker.place(object())  # type: ignore[arg-type]


def test_partial_fills_are_recorded_once_each_until_the_order_fills(
    db_url: str, tmp_path: Path
) -> None:
    drop = SimulatedMarket(7, shocks=[PriceShock(T0 + 30, -0.02, "ETH/USDT")])
    clock = ManualClock(T0)
    risk = RiskLimits(max_position=0.8, max_total_exposure=0.9, max_correlated_exposure=0.9)
    with open_system(tmp_path, db_url, clock=clock, market=drop, risk=risk) as system:
        below = round(touch(system, "ETH/USDT", Side.SELL) * 0.995, 2)  # reached after the drop
        resting = system.gateway.submit(OrderIntent("ETH/USDT", Side.BUY, 2.0, price=below))
        assert resting.status is OrderStatus.OPEN
        clock.set(T0 + 30)  # the first second below the bid: part of the order fills
        (first,) = system.gateway.reconcile().changed
        assert (first.before, first.after) == ("OPEN", "PARTIALLY_FILLED")
        assert 0 < first.filled_qty < 2.0
        clock.set(T0 + 31)
        (second,) = system.gateway.reconcile().changed
        assert (second.before, second.after) == ("PARTIALLY_FILLED", "PARTIALLY_FILLED")
        assert second.filled_qty > first.filled_qty
        assert second.new_fills == 1  # the earlier fill is not recorded again
        clock.set(T0 + 120)
        (last,) = system.gateway.reconcile().changed
        assert (last.after, last.filled_qty) == ("FILLED", 2.0)
        recorded = rows(system.database, fills, client_order_id=resting.client_order_id)
        venue_order = system.venue.order(resting.client_order_id)
        assert venue_order is not None
        assert sorted(f.trade_id for f in recorded) == sorted(f.trade_id for f in venue_order.fills)
        assert sum(f.qty for f in recorded) == pytest.approx(2.0)
        (position,) = rows(system.database, positions)
        assert position.qty == pytest.approx(2.0)
        assert system.gateway.reconcile().holdings == ()


def test_reconciliation_waits_until_a_missing_order_can_no_longer_arrive(
    db_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    with open_system(tmp_path, db_url, clock=clock) as system:
        spy = SpyBroker(system, fail=True)  # raises before the venue sees anything
        gateway = gateway_with(system, spy)
        lost = gateway.submit(post_only_bid(system, "BTC/USDT", 0.001))
        assert lost.status is OrderStatus.UNKNOWN
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock.advance(seconds)

        reconciler = Reconciler(gateway, spy, clock, sleep=sleep)
        impatient = reconciler.run()
        assert [p.resolves_at for p in impatient.pending] == [T0 + spy.absent_final_after_s]
        patient = reconciler.run(wait_s=30)
        (change,) = patient.changed
        assert (change.before, change.after, change.note) == (
            "UNKNOWN",
            "REJECTED",
            "never reached the venue",
        )
        assert patient.clean
        assert sum(slept) == pytest.approx(spy.absent_final_after_s + 0.05)
        assert gateway.stored_open_orders() == []
