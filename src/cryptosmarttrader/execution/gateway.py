"""The OrderGateway: the one way an order reaches a venue.

``submit(intent)``:

1. fetch the market snapshot (outside any lock);
2. under the gateway lock and the database's state lock: bring the portfolio book up to date,
   run validation, the 8 RiskGuard gates and the 7 ExecutionPolicy gates, write the decision's
   audit row and, if approved, the order row in ``PENDING_SUBMIT`` (which is also the exposure
   reservation), then commit: nothing has been sent yet;
3. issue the :class:`ApprovedOrder` (only this module holds the seal) and ``broker.place()`` it;
4. record the venue's answer: state transition, fills, positions, audit.

A crash between 2 and 4 leaves a ``PENDING_SUBMIT`` row with its client order id, which is
exactly what restart reconciliation needs to find the order on the venue without re-sending.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeGuard

import structlog

from cryptosmarttrader.domain.clock import Clock
from cryptosmarttrader.domain.decisions import Decision
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderIntent, OrderStatus, Side, TimeInForce
from cryptosmarttrader.domain.portfolio import (
    AccountRecord,
    Mark,
    PendingOrder,
    PortfolioRecord,
    PortfolioState,
    Position,
)
from cryptosmarttrader.domain.ports import MarketDataSource
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.exchanges.broker import Broker, ExecutionReport, VenueOpenOrder
from cryptosmarttrader.exchanges.placement import ApprovedOrder, claim_issuer_seal
from cryptosmarttrader.execution.evaluation import Evaluation, OrderEvaluator
from cryptosmarttrader.execution.order_ledger import LedgerUpdate, apply_report
from cryptosmarttrader.execution.policy import ExecutionPolicy
from cryptosmarttrader.execution.reconciliation import Reconciler, ReconcileReport
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.logging import get_logger
from cryptosmarttrader.risk.book import PortfolioBook, utc_day, utc_day_start
from cryptosmarttrader.risk.gates import loss_kill_trigger
from cryptosmarttrader.risk.guard import RiskGuard
from cryptosmarttrader.risk.kill_switch import record_kill_switch
from cryptosmarttrader.store.state_store import (
    AuditRecord,
    OrderRecord,
    StateStore,
    StateTransaction,
    StoredOrder,
)

_SEAL = claim_issuer_seal()

DECISION_AUDIT_KIND = "DECISION"
RECONCILE_AUDIT_KIND = "RECONCILE"
IMPORTED_STRATEGY = "imported"
RISK_ACTOR = "risk_guard"

_log = get_logger("gateway")


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    state: PortfolioState
    positions: tuple[Position, ...]
    marks: Mapping[str, Mark]


class OutcomeNotRecordedError(RuntimeError):
    """The order was handed to the venue but its outcome could not be written down.

    The order row stays ``PENDING_SUBMIT``; reconciliation resolves it by client order id.
    """


@dataclass(frozen=True, slots=True)
class SubmitResult:
    decision: Decision
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    time_in_force: TimeInForce | None
    price: float | None
    status: OrderStatus | None
    """The order's state after the venue answered; None when nothing was sent."""
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    dry_run: bool = False
    message: str | None = None

    @property
    def sent(self) -> bool:
        return self.status is not None

    @property
    def status_label(self) -> str:
        """The order's state, or ``DRY_RUN`` / ``NOT_SENT`` when nothing went to the venue."""
        if self.status is not None:
            return self.status.value
        return "DRY_RUN" if self.dry_run else "NOT_SENT"

    def to_dict(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "decision": decision.verdict.value,
            "gate": decision.gate.value if decision.gate else None,
            "reason_code": decision.code.value,
            "message": decision.message,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.order_type,
            "time_in_force": self.time_in_force.value if self.time_in_force else None,
            "price": self.price,
            "requested_qty": decision.requested_qty,
            "qty": decision.approved_qty,
            "status": self.status_label,
            "filled_qty": self.filled_qty,
            "avg_fill_price": self.avg_fill_price,
            "dry_run": self.dry_run,
            "venue_message": self.message,
            "kill_switch_triggered": decision.kill_switch_trigger,
            "numbers": dict(decision.numbers),
        }


def _usable(snapshot: MarketSnapshot | None) -> TypeGuard[MarketSnapshot]:
    """Good enough to mark a position with: the same test the data gate applies."""
    return snapshot is not None and snapshot.defect is None


def _save_account_if_changed(tx: StateTransaction, book: PortfolioBook, now: float) -> None:
    if book.account_dirty:
        tx.save_account(book.account_record(), now)
        book.account_dirty = False


def _clip(value: object, length: int) -> str | None:
    if value is None:
        return None
    return str(value)[:length]


def _as_float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _count_decision(evaluation: Evaluation, seconds: float) -> None:
    decision = evaluation.decision
    metrics.DECISION_SECONDS.observe(seconds)
    metrics.ORDER_DECISIONS.labels(
        decision.verdict.value,
        decision.gate.value if decision.gate else "none",
        decision.code.value,
    ).inc()
    for outcome in decision.outcomes:
        metrics.GATE_OUTCOMES.labels(
            outcome.gate.value, outcome.verdict.value, outcome.code.value
        ).inc()
    if decision.approved and math.isfinite(evaluation.est_slippage_bps):
        metrics.SLIPPAGE_ESTIMATED_BPS.observe(evaluation.est_slippage_bps)


def _observe_realized_slippage(side: Side, reference: float, average: float | None) -> None:
    """Adverse move of the average fill from the decision's reference price, in bps."""
    if average is None or not (math.isfinite(reference) and reference > 0):
        return
    move = (average - reference) if side is Side.BUY else (reference - average)
    metrics.SLIPPAGE_REALIZED_BPS.observe(move / reference * 1e4)


class OrderGateway:
    def __init__(
        self,
        *,
        store: StateStore,
        broker: Broker,
        market_data: MarketDataSource,
        guard: RiskGuard,
        policy: ExecutionPolicy,
        clock: Clock,
        quote: str,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._market = market_data
        self._evaluator = OrderEvaluator(guard, policy)
        self._clock = clock
        self.quote = quote
        self.venue = broker.venue
        self._instruments: dict[str, Instrument] | None = (
            dict(instruments) if instruments is not None else None
        )
        self._lock = threading.Lock()
        self._book: PortfolioBook | None = None
        self._known_version: int | None = None
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self.last_reconcile: ReconcileReport | None = None
        """The newest reconciliation's report (None before the first)."""
        # This venue's series, looked up once rather than on every order.
        self._submitted = metrics.ORDERS_SUBMITTED.labels(self.venue)
        self._errors = metrics.ORDER_ERRORS.labels(self.venue)
        self._roundtrip = metrics.ORDER_ROUNDTRIP_SECONDS.labels(self.venue)
        metrics.DAILY_LOSS_LIMIT_FRACTION.set(guard.limits.daily_loss_limit)
        metrics.MAX_DRAWDOWN_FRACTION.set(guard.limits.max_drawdown)

    @property
    def instruments(self) -> dict[str, Instrument]:
        """The venue's listed symbols, asked once, when first needed (so that commands that
        never trade, like the kill switch, work while the venue is unreachable)."""
        if self._instruments is None:
            self._instruments = dict(self._broker.instruments())
        return self._instruments

    # --- start-up and reconciliation ----------------------------------------------------
    def start(self, *, wait_s: float = 0.0) -> ReconcileReport:
        """Load the portfolio (creating the account from the venue's balances on first use),
        then reconcile orders and holdings with the venue."""
        with self._lock, self._store.write() as tx:
            self._sync_book(tx, self._clock.now())
            version = tx.control.state_version
        self._known_version = version
        return self.reconcile(wait_s=wait_s)

    def reconcile(self, *, wait_s: float = 0.0) -> ReconcileReport:
        """Resolve every non-final order with the venue, import our orders the database lacks,
        re-sync positions and cash (see :mod:`execution.reconciliation`)."""
        report = Reconciler(self, self._broker, self._clock).run(wait_s=wait_s)
        self.last_reconcile = report
        return report

    # The reconciliation ledger (execution.reconciliation.Ledger) ----------------------
    @property
    def in_flight(self) -> frozenset[str]:
        with self._in_flight_lock:
            return frozenset(self._in_flight)

    @property
    def client_order_id_prefix(self) -> str:
        return self._evaluator.policy.limits.client_order_id_prefix

    def stored_open_orders(self) -> list[StoredOrder]:
        with self._store.read() as tx:
            return tx.open_orders()

    def order_known(self, client_order_id: str) -> bool:
        with self._store.read() as tx:
            return tx.order_exists(client_order_id)

    def apply_venue_report(self, client_order_id: str, report: ExecutionReport) -> LedgerUpdate:
        update = self._record_outcome(client_order_id, report, None)
        _log.info(
            "order.reconciled",
            client_order_id=client_order_id,
            status=update.status.value,
            filled_qty=update.filled_qty,
        )
        return update

    def close_absent_order(self, client_order_id: str) -> LedgerUpdate:
        report = ExecutionReport(
            client_order_id=client_order_id,
            status=OrderStatus.REJECTED,
            exchange_order_id=None,
            filled_qty=0.0,
            avg_price=None,
            reason="never reached the venue",
        )
        update = self._record_outcome(
            client_order_id, report, None, code=ReasonCode.ORDER_NOT_ON_VENUE
        )
        _log.warning("order.not_on_venue", client_order_id=client_order_id)
        return update

    def import_venue_order(self, order: VenueOpenOrder) -> LedgerUpdate:
        report = order.report
        coid = report.client_order_id
        with self._writing() as (tx, book, now):
            tx.insert_order(
                OrderRecord(
                    client_order_id=coid,
                    venue=self.venue,
                    symbol=order.symbol,
                    side=order.side.value,
                    order_type=order.order_type.value,
                    time_in_force=TimeInForce.GTC.value,
                    requested_qty=order.qty,
                    qty=order.qty,
                    price=order.price,
                    status=OrderStatus.PENDING_SUBMIT.value,
                    strategy=IMPORTED_STRATEGY,
                    signal_id="",
                    reduce_only=False,
                    reference_price=order.price or report.avg_price or 0.0,
                    est_slippage_bps=0.0,
                    est_slippage_quote=0.0,
                    created_at=now,
                )
            )
            book.reserve(PendingOrder(coid, order.symbol, order.side, order.qty))
            stored = tx.get_order(coid)
            assert stored is not None
            update = apply_report(
                tx, book, stored, report, error=None, now=now, code=ReasonCode.ORDER_IMPORTED
            )
        _log.warning("order.imported", client_order_id=coid, symbol=order.symbol)
        return update

    def open_orders_at_version(self) -> tuple[int, list[StoredOrder]]:
        """The non-final orders and the state version they belong to."""
        with self._store.read() as tx:
            return tx.control.state_version, tx.open_orders()

    def resync_holdings(
        self, balances: Mapping[str, float], *, expected_version: int
    ) -> list[tuple[str, float, float]] | None:
        """Set positions and cash to ``balances`` (the venue's) where they differ.

        Only if the trading state is still at ``expected_version``, the one the caller checked
        the balances against; otherwise nothing is changed and None is returned. A held asset
        that cannot be priced raises: its risk must not be left uncounted.
        """
        prices: dict[str, float] = {}
        with self._lock:
            book = self._book
            held = set() if book is None else set(book.positions)
        candidates = held | {
            f"{asset}/{self.quote}"
            for asset, qty in balances.items()
            if asset != self.quote and qty > 0 and f"{asset}/{self.quote}" in self.instruments
        }
        for symbol in sorted(candidates):
            snapshot = self._fetch(symbol)
            if _usable(snapshot):
                prices[symbol] = snapshot.mid
        changes: list[tuple[str, float, float]] = []
        with self._writing() as (tx, book, now):
            if tx.version_before != expected_version:
                return None
            for symbol in sorted(candidates):
                base = symbol.split("/")[0]
                ours = book.position(symbol).qty
                theirs = float(balances.get(base, 0.0))
                step = self.instruments[symbol].qty_step if symbol in self.instruments else 0.0
                if abs(theirs - ours) <= max(step / 2, 1e-12):
                    continue
                mark = book.marks.get(symbol)
                price = prices.get(symbol) or (mark.price if mark else None)
                if price is None:
                    raise RuntimeError(f"cannot price {symbol} to re-sync its holding")
                position = book.set_holding(symbol, theirs, price)
                tx.save_position(position, Mark(price, now), now)
                changes.append((base, ours, theirs))
            cash = float(balances.get(self.quote, 0.0))
            if abs(cash - book.cash) > max(1e-6, abs(cash) * 1e-9):
                changes.append((self.quote, book.cash, cash))
                book.set_cash(cash)
            for asset, before, after in changes:
                tx.insert_audit(
                    AuditRecord(
                        at=now,
                        kind=RECONCILE_AUDIT_KIND,
                        reason_code=ReasonCode.HOLDINGS_RESYNCED.value,
                        message=f"{asset}: {before:.10g} -> {after:.10g} (venue balance)",
                        details={"asset": asset, "before": before, "after": after},
                    )
                )
        for asset, before, after in changes:
            _log.warning("holdings.resynced", asset=asset, before=before, after=after)
        return changes

    def _bootstrap(self, tx: StateTransaction, now: float) -> PortfolioRecord:
        balances = self._broker.balances()
        cash = float(balances.get(self.quote, 0.0))
        positions: dict[str, Position] = {}
        marks: dict[str, Mark] = {}
        for asset, qty in sorted(balances.items()):
            symbol = f"{asset}/{self.quote}"
            if asset == self.quote or qty <= 0 or symbol not in self.instruments:
                continue
            snapshot = self._fetch(symbol)
            if not _usable(snapshot):
                continue  # an asset that cannot be priced is left out of the account entirely
            positions[symbol] = Position(symbol, float(qty), snapshot.mid, 0.0)
            marks[symbol] = Mark(snapshot.mid, snapshot.exchange_ts)
        equity = cash + sum(p.qty * marks[s].price for s, p in positions.items())
        account = AccountRecord(self.quote, cash, equity, utc_day(now), equity)
        tx.save_account(account, now)
        for symbol, position in positions.items():
            tx.save_position(position, marks[symbol], now)
        _log.info("account.bootstrapped", venue=self.venue, cash=cash, equity=equity)
        return PortfolioRecord(account, positions, {}, marks)

    def _sync_book(self, tx: StateTransaction, now: float) -> PortfolioBook:
        """Reload the book when another process (or a failed transaction) changed the state.

        After a reload, symbols that another process put in play may have no fresh mark; they
        are fetched here, inside the lock (the feed answers from its cache), so equity and
        exposure are never computed on a missing price.
        """
        book = self._book
        if book is None or self._known_version != tx.version_before:
            record = tx.load_portfolio(utc_day_start(now))
            if record is None:
                if not tx.write:
                    raise RuntimeError("the gateway must be started before a dry run")
                record = self._bootstrap(tx, now)
            if book is None:
                book = self._book = PortfolioBook(record)
            else:
                book.replace(record)
            max_age = self._evaluator.guard.limits.max_data_age_s
            for symbol in book.symbols_in_play():
                mark = book.marks.get(symbol)
                if mark is None or now - mark.ts > max_age:
                    snapshot = self._fetch(symbol)
                    if _usable(snapshot):
                        book.mark(symbol, snapshot.mid, snapshot.exchange_ts)
        return book

    # --- market data --------------------------------------------------------------------
    def _fetch(self, symbol: str) -> MarketSnapshot | None:
        try:
            return self._market.snapshot(symbol)
        except Exception as exc:  # noqa: BLE001 - a failing feed means "no data", never a pass
            _log.warning("market_data.error", symbol=symbol, error=f"{type(exc).__name__}: {exc}")
            return None

    def _refresh_marks(self, order_symbol: str) -> None:
        with self._lock:
            held = [] if self._book is None else self._book.symbols_in_play()
        fresh = []
        for symbol in held:
            if symbol == order_symbol:
                continue
            snapshot = self._fetch(symbol)
            if _usable(snapshot):
                fresh.append(snapshot)
        if fresh:
            with self._lock:
                if self._book is not None:
                    for snapshot in fresh:
                        self._book.mark(snapshot.symbol, snapshot.mid, snapshot.exchange_ts)

    # --- the order path -----------------------------------------------------------------
    def submit(self, intent: OrderIntent, *, dry_run: bool = False) -> SubmitResult:
        if self._book is None:
            self.start()
        symbol = intent.symbol if isinstance(intent.symbol, str) else ""
        instrument = self.instruments.get(symbol)
        snapshot = self._fetch(symbol) if instrument is not None else None
        self._refresh_marks(symbol)
        started = time.perf_counter()
        with self._lock:
            try:
                evaluation = self._decide(intent, instrument, snapshot, dry_run=dry_run)
            except BaseException:
                self._known_version = None
                raise
        decision = evaluation.decision
        if not dry_run:
            _count_decision(evaluation, time.perf_counter() - started)
        self._log_decision(intent, evaluation, dry_run)
        result = SubmitResult(
            decision=decision,
            client_order_id=evaluation.client_order_id,
            symbol=str(intent.symbol),
            side=str(intent.side),
            order_type=str(intent.order_type),
            time_in_force=evaluation.time_in_force,
            price=intent.price,
            status=None,
            dry_run=dry_run,
        )
        if dry_run or not decision.approved:
            return result
        assert evaluation.time_in_force is not None
        approved = ApprovedOrder(
            seal=_SEAL,
            client_order_id=evaluation.client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            order_type=intent.order_type,
            time_in_force=evaluation.time_in_force,
            qty=decision.approved_qty,
            price=intent.price,
            reduce_only=intent.reduce_only,
        )
        report: ExecutionReport | None
        error: str | None = None
        with self._in_flight_lock:
            self._in_flight.add(approved.client_order_id)
        self._submitted.inc()
        try:
            # Everything logged while the order is out (broker, ledger) carries its id.
            with structlog.contextvars.bound_contextvars(client_order_id=approved.client_order_id):
                sent = time.perf_counter()
                try:
                    report = self._broker.place(approved)
                except Exception as exc:  # noqa: BLE001 - the order may or may not be on the venue
                    report = None
                    error = f"{type(exc).__name__}: {exc}"
                    self._errors.inc()
                self._roundtrip.observe(time.perf_counter() - sent)
                update = self._record_outcome(evaluation.client_order_id, report, error)
        except Exception as exc:
            _log.critical(
                "order.outcome_not_recorded",
                client_order_id=evaluation.client_order_id,
                report=repr(report),
                error=f"{type(exc).__name__}: {exc}",
            )
            raise OutcomeNotRecordedError(
                f"order {evaluation.client_order_id} was sent but its outcome could not be "
                f"recorded ({type(exc).__name__}: {exc}); reconciliation will resolve it"
            ) from exc
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(approved.client_order_id)
        metrics.ORDER_RESULTS.labels(self.venue, update.status.value).inc()
        _observe_realized_slippage(intent.side, evaluation.reference_price, update.avg_fill_price)
        _log.info(
            "order.outcome",
            client_order_id=evaluation.client_order_id,
            symbol=intent.symbol,
            status=update.status.value,
            filled_qty=update.filled_qty,
            avg_fill_price=update.avg_fill_price,
            venue_message=update.reason,
        )
        return SubmitResult(
            decision=decision,
            client_order_id=evaluation.client_order_id,
            symbol=intent.symbol,
            side=intent.side.value,
            order_type=intent.order_type.value,
            time_in_force=evaluation.time_in_force,
            price=intent.price,
            status=update.status,
            filled_qty=update.filled_qty,
            avg_fill_price=update.avg_fill_price,
            message=update.reason,
        )

    def _decide(
        self,
        intent: OrderIntent,
        instrument: Instrument | None,
        snapshot: MarketSnapshot | None,
        *,
        dry_run: bool,
    ) -> Evaluation:
        now = self._clock.now()
        transaction = self._store.read() if dry_run else self._store.write()
        with transaction as tx:
            book = self._sync_book(tx, now)
            if _usable(snapshot) and snapshot.symbol == intent.symbol:
                book.mark(snapshot.symbol, snapshot.mid, snapshot.exchange_ts)
            book.roll(now)
            kill_switch = tx.control.kill_switch
            evaluation = self._evaluator.evaluate(
                intent,
                instrument=instrument,
                snapshot=snapshot,
                portfolio=book.state(now),
                kill_switch=kill_switch,
                now=now,
                id_taken=tx.order_exists,
            )
            if not dry_run:
                self._persist_decision(tx, book, intent, evaluation, kill_switch, now)
            version = tx.control.state_version
        self._known_version = version
        return evaluation

    def _persist_decision(
        self,
        tx: StateTransaction,
        book: PortfolioBook,
        intent: OrderIntent,
        evaluation: Evaluation,
        kill_switch: KillSwitchState,
        now: float,
    ) -> None:
        decision = evaluation.decision
        trigger = decision.kill_switch_trigger
        if trigger is not None and not kill_switch.active:
            record_kill_switch(tx, KillSwitchState(True, trigger, RISK_ACTOR, now))
        tx.insert_audit(self._decision_audit(intent, evaluation, now))
        if decision.approved:
            assert evaluation.time_in_force is not None
            tx.insert_order(
                OrderRecord(
                    client_order_id=evaluation.client_order_id,
                    venue=self.venue,
                    symbol=intent.symbol,
                    side=intent.side.value,
                    order_type=intent.order_type.value,
                    time_in_force=evaluation.time_in_force.value,
                    requested_qty=intent.qty,
                    qty=decision.approved_qty,
                    price=intent.price,
                    status=OrderStatus.PENDING_SUBMIT.value,
                    strategy=intent.strategy,
                    signal_id=intent.signal_id,
                    reduce_only=intent.reduce_only,
                    reference_price=evaluation.reference_price,
                    est_slippage_bps=evaluation.est_slippage_bps,
                    est_slippage_quote=evaluation.est_slippage_quote,
                    created_at=now,
                )
            )
            book.reserve(
                PendingOrder(
                    evaluation.client_order_id, intent.symbol, intent.side, decision.approved_qty
                )
            )
            book.slippage_spent_today += evaluation.est_slippage_quote
        _save_account_if_changed(tx, book, now)

    def _record_outcome(
        self,
        client_order_id: str,
        report: ExecutionReport | None,
        error: str | None,
        *,
        code: ReasonCode | None = None,
    ) -> LedgerUpdate:
        with self._writing() as (tx, book, now):
            stored = tx.get_order(client_order_id)
            if stored is None:
                raise RuntimeError(f"order {client_order_id} vanished from the database")
            return apply_report(tx, book, stored, report, error=error, now=now, code=code)

    @contextmanager
    def _writing(self) -> Iterator[tuple[StateTransaction, PortfolioBook, float]]:
        """Gateway lock, state transaction and an up-to-date book; the account is saved if it
        changed, and the book is marked stale if anything fails."""
        with self._lock:
            try:
                now = self._clock.now()
                with self._store.write() as tx:
                    book = self._sync_book(tx, now)
                    yield tx, book, now
                    _save_account_if_changed(tx, book, now)
                    version = tx.control.state_version
                self._known_version = version
            except BaseException:
                self._known_version = None
                raise

    # --- audit --------------------------------------------------------------------------
    def _decision_audit(
        self, intent: OrderIntent, evaluation: Evaluation, now: float
    ) -> AuditRecord:
        decision = evaluation.decision
        return AuditRecord(
            at=now,
            kind=DECISION_AUDIT_KIND,
            reason_code=decision.code.value,
            message=decision.message,
            client_order_id=evaluation.client_order_id,
            symbol=_clip(intent.symbol, 32),
            side=_clip(intent.side, 4),
            verdict=decision.verdict.value,
            gate=decision.gate.value if decision.gate else None,
            requested_qty=_as_float(intent.qty),
            approved_qty=decision.approved_qty,
            details={
                "order_type": str(intent.order_type),
                "price": _as_float(intent.price),
                "time_in_force": (
                    evaluation.time_in_force.value if evaluation.time_in_force else None
                ),
                "strategy": _clip(intent.strategy, 64),
                "signal_id": _clip(intent.signal_id, 64),
                "reduce_only": intent.reduce_only is True,
                "numbers": dict(decision.numbers),
                "steps": [
                    {
                        "gate": o.gate.value,
                        "verdict": o.verdict.value,
                        "code": o.code.value,
                        "qty": o.qty,
                        "message": o.message,
                    }
                    for o in decision.outcomes
                ],
                "kill_switch_trigger": decision.kill_switch_trigger,
            },
        )

    def _log_decision(self, intent: OrderIntent, evaluation: Evaluation, dry_run: bool) -> None:
        decision = evaluation.decision
        _log.info(
            "order.decision",
            client_order_id=evaluation.client_order_id,
            symbol=_clip(intent.symbol, 32),
            side=_clip(intent.side, 4),
            order_type=str(intent.order_type),
            strategy=_clip(intent.strategy, 64),
            signal_id=_clip(intent.signal_id, 64),
            verdict=decision.verdict.value,
            gate=decision.gate.value if decision.gate else None,
            reason_code=decision.code.value,
            requested_qty=_as_float(intent.qty),
            approved_qty=decision.approved_qty,
            message=decision.message,
            numbers=dict(decision.numbers),
            dry_run=dry_run,
        )

    def mark_to_market(self) -> PortfolioSnapshot:
        """Mark held symbols to fresh prices, roll the UTC day and the peak, and activate the
        kill switch when the daily loss or the drawdown has reached its threshold: what the
        next order would find, checked without waiting for one (the engine calls this on
        every loop). Returns the marked portfolio."""
        if self._book is None:
            self.start()
        self._refresh_marks("")
        with self._writing() as (tx, book, now):
            book.roll(now)
            state = book.state(now)
            if not tx.control.kill_switch.active:
                trigger = loss_kill_trigger(state, self._evaluator.guard.limits)
                if trigger is not None:
                    record_kill_switch(tx, KillSwitchState(True, trigger, RISK_ACTOR, now))
                    _log.warning("kill_switch.auto", reason=trigger)
            metrics.observe_portfolio(state, len(book.positions), tx.control.kill_switch.active)
            if all(map(math.isfinite, (state.equity, state.cash, state.gross_exposure))):
                tx.insert_equity_snapshot(state, len(book.positions))
            return PortfolioSnapshot(
                state=state,
                positions=tuple(book.positions[s] for s in sorted(book.positions)),
                marks=dict(book.marks),
            )

    # --- views --------------------------------------------------------------------------
    def portfolio(self) -> PortfolioSnapshot:
        """The current portfolio, refreshed from the database and marked to market."""
        if self._book is None:
            self.start()
        self._refresh_marks("")
        with self._lock:
            now = self._clock.now()
            with self._store.read() as tx:
                book = self._sync_book(tx, now)
                version = tx.control.state_version
            self._known_version = version
            return PortfolioSnapshot(
                state=book.state(now),
                positions=tuple(book.positions[s] for s in sorted(book.positions)),
                marks=dict(book.marks),
            )
