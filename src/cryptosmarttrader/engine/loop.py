"""The trading engine: closed candles in, signals judged, orders through the gateway.

Each loop (``step``):

1. marks held positions to market, rolls the UTC day and the peak, and lets the kill switch
   trip on the daily loss or drawdown (``OrderGateway.mark_to_market``); while the kill switch
   is on, signals are still judged and recorded but no order is sent;
2. sells positions that hit their stop-loss or take-profit (reduce-only, IOC at the bid);
3. for each symbol with a newly closed candle: reads the last closed candles, checks their
   quality, computes the strategy over them (the same vectorized code as the backtest),
   calibrates confidence on the entries in that history whose outcome is known, and judges
   the newest bar's signal. A signal on bad data, or an entry below ``min_confidence``, is
   suppressed; every judged signal is an audit row with its reason code. An entry while flat
   buys ``equity x position_fraction x confidence`` (IOC at the ask; the RiskGuard may
   reduce it); an exit while holding sells the position.

Every order goes through ``OrderGateway.submit``; the engine never talks to a venue.

A loop that fails (the database unreachable, an order sent whose outcome could not be
recorded, a venue error in reconciliation) ends that loop, not the engine: it is logged and
counted, the heartbeat is not renewed, and the next loop first reconciles with the venue (an
order left ``PENDING_SUBMIT`` is resolved by its client order id before anything new is
decided). After ``engine.max_failed_loops`` failures in a row ``run`` raises
:class:`EngineFailedError`: a restart, which reconciles, is then the remedy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.config.settings import EngineSettings
from cryptosmarttrader.data.quality import assess_candles
from cryptosmarttrader.domain.candles import TIMEFRAME_SECONDS
from cryptosmarttrader.domain.clock import Clock
from cryptosmarttrader.domain.marketable import marketable_ioc, touch_limit
from cryptosmarttrader.domain.orders import OrderIntent, Side
from cryptosmarttrader.domain.ports import CandleSource, MarketDataSource
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.execution.gateway import OrderGateway, PortfolioSnapshot, SubmitResult
from cryptosmarttrader.observability import metrics
from cryptosmarttrader.observability.logging import get_logger
from cryptosmarttrader.risk.kill_switch import KillSwitch
from cryptosmarttrader.signals.calibration import Calibration
from cryptosmarttrader.signals.strategy import Strategy
from cryptosmarttrader.signals.validation import forward_returns
from cryptosmarttrader.store.database import first_line
from cryptosmarttrader.store.state_store import AuditRecord, StateStore

_log = get_logger("engine")

SIGNAL_AUDIT_KIND = "SIGNAL"


class EngineFailedError(RuntimeError):
    """Too many loops in a row failed; the engine stopped."""


class SignalKind(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


@dataclass(frozen=True)
class SignalView:
    """The newest closed candle of one symbol, judged."""

    symbol: str
    bar_ts: float
    """Open time of the candle the signal is on."""
    kind: SignalKind | None
    """None: the strategy said nothing on that candle."""
    code: ReasonCode | None
    """What became of the signal; None without one."""
    strength: float
    confidence: float
    quality_score: float
    findings: tuple[str, ...]
    price: float
    """The candle's close."""

    @property
    def acted_on(self) -> bool:
        return self.kind is not None and self.code is ReasonCode.SIGNAL_EMITTED

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "bar_ts": self.bar_ts,
            "signal": self.kind.value if self.kind else None,
            "code": self.code.value if self.code else None,
            "strength": self.strength,
            "confidence": self.confidence,
            "quality_score": self.quality_score,
            "findings": list(self.findings),
            "price": self.price,
        }


@dataclass(frozen=True)
class StepReport:
    at: float
    signals: tuple[SignalView, ...]
    orders: tuple[SubmitResult, ...]
    portfolio: PortfolioSnapshot
    kill_switch: bool = False
    """On during this loop: signals were judged, no order was sent."""
    errors: tuple[str, ...] = ()


@dataclass
class EngineTotals:
    steps: int = 0
    signals: Counter[str] = field(default_factory=Counter)
    """Judged signals by reason code."""
    orders: Counter[str] = field(default_factory=Counter)
    """Orders by decision reason code."""
    errors: int = 0


class Engine:
    def __init__(
        self,
        *,
        gateway: OrderGateway,
        candles: CandleSource,
        market: MarketDataSource,
        store: StateStore,
        clock: Clock,
        strategy: Strategy,
        settings: EngineSettings,
        risk: RiskLimits,
        fee: float,
    ) -> None:
        self.gateway = gateway
        self.candles = candles
        self.market = market
        self.store = store
        self.clock = clock
        self.strategy = strategy
        self.settings = settings
        self.risk = risk
        self.fee = fee
        self.interval_s = TIMEFRAME_SECONDS[settings.timeframe]
        self.totals = EngineTotals()
        self._last_bar: dict[str, float] = {}
        self._kill_switch = KillSwitch(store, clock)
        self.started_at: float | None = None
        """Wall-clock time at which ``run`` began (None while not running)."""
        self.heartbeat: float | None = None
        """Wall-clock time at which the last loop ended (None before the first)."""
        self.failed_in_a_row = 0
        """Loops failed since the last good one (``run`` counts them)."""

    # --- judging signals ------------------------------------------------------------------
    def judge(self, symbol: str) -> SignalView:
        """The newest closed candle's signal for ``symbol``; ValueError without candles."""
        series = self.candles.candles(
            symbol, self.settings.timeframe, self.settings.history_candles
        )
        if len(series) == 0:
            raise ValueError(f"no closed candles of {symbol}")
        now = self.clock.now()
        quality = assess_candles(series, now, max_age_s=self.interval_s + self.risk.max_data_age_s)
        frame = self.strategy.signals(series)
        last = len(series) - 1
        kind = (
            SignalKind.ENTRY if frame.entry[last] else SignalKind.EXIT if frame.exit[last] else None
        )
        strength = float(frame.strength[last])
        confidence = 0.0
        if kind is SignalKind.ENTRY:
            returns = forward_returns(series, self.settings.horizon, self.fee)
            known = frame.entry & np.isfinite(returns)
            calibration = Calibration.fit(frame.strength[known], returns[known] > 0)
            confidence = float(calibration(np.array([strength]))[0])
        code: ReasonCode | None
        if kind is None:
            code = None
        elif not quality.ok:
            code = ReasonCode.SIGNAL_BAD_DATA
        elif kind is SignalKind.ENTRY and confidence < self.settings.min_confidence:
            code = ReasonCode.SIGNAL_LOW_CONFIDENCE
        else:
            code = ReasonCode.SIGNAL_EMITTED
        return SignalView(
            symbol=symbol,
            bar_ts=float(series.open_ts[last]),
            kind=kind,
            code=code,
            strength=strength,
            confidence=confidence,
            quality_score=quality.score,
            findings=tuple(f"{f.flag}: {f.detail}" for f in quality.findings),
            price=float(series.close[last]),
        )

    # --- the loop -----------------------------------------------------------------------
    def step(self) -> StepReport:
        started = time.perf_counter()
        if self.failed_in_a_row:
            # The failed loop may have sent an order whose outcome was never recorded.
            self.gateway.reconcile()
        report = self._step()
        self._count(report)
        metrics.ENGINE_LOOP_SECONDS.observe(time.perf_counter() - started)
        self.heartbeat = time.time()
        metrics.ENGINE_HEARTBEAT.set(self.heartbeat)
        return report

    def _step(self) -> StepReport:
        orders: list[SubmitResult] = []
        signals: list[SignalView] = []
        errors: list[str] = []
        portfolio = self.gateway.mark_to_market()
        # With the kill switch on every order would be refused: judge and record, send nothing.
        halted = self._kill_switch.status().active
        held = {p.symbol: p for p in portfolio.positions if p.qty > 0}
        exited: set[str] = set()  # no second order for a symbol in the same loop
        for position in list(held.values()) if not halted else ():
            exit_code = self._risk_exit(position.symbol, position.avg_price, portfolio)
            if exit_code is None:
                continue
            self._audit_exit(position.symbol, exit_code, position.avg_price, portfolio)
            exited.add(position.symbol)
            result = self._sell(position.symbol, position.qty, exit_code.value.lower())
            if result is not None:
                orders.append(result)
        for symbol in self.settings.symbols:
            try:
                view = self.judge(symbol)
            except ValueError as exc:
                errors.append(str(exc))
                _log.warning("engine.no_candles", symbol=symbol, error=str(exc))
                continue
            if self._last_bar.get(symbol) == view.bar_ts:
                continue  # this candle was judged already
            self._last_bar[symbol] = view.bar_ts
            if view.kind is None:
                continue
            signals.append(view)
            self._audit(view)
            if halted or not view.acted_on or symbol in exited:
                continue
            holding = symbol in held
            if view.kind is SignalKind.ENTRY and not holding:
                result = self._buy(symbol, view, portfolio)
            elif view.kind is SignalKind.EXIT and holding:
                result = self._sell(symbol, held[symbol].qty, "signal")
            else:
                result = None
            if result is not None:
                orders.append(result)
        return StepReport(
            at=self.clock.now(),
            signals=tuple(signals),
            orders=tuple(orders),
            portfolio=self.gateway.portfolio() if orders else portfolio,
            kill_switch=halted,
            errors=tuple(errors),
        )

    def run(
        self,
        stop: threading.Event,
        *,
        max_steps: int | None = None,
        on_step: Callable[[StepReport], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> EngineTotals:
        """Loop until ``stop`` is set (a signal handler sets it) or ``max_steps`` ran. A step
        is never interrupted halfway: an order is recorded before the loop can end. A failed
        loop is reported to ``on_failure`` and the engine carries on, up to
        ``engine.max_failed_loops`` in a row (then :class:`EngineFailedError`)."""
        self.started_at = time.time()
        metrics.ENGINE_STARTED.set(self.started_at)
        metrics.ENGINE_POLL_SECONDS.set(self.settings.poll_s)
        while not stop.is_set():
            try:
                report = self.step()
            except Exception as exc:  # one failed loop must not end trading
                message = self._loop_failed(exc)
                if on_failure is not None:
                    on_failure(message)
                if self.failed_in_a_row >= self.settings.max_failed_loops:
                    raise EngineFailedError(
                        f"the engine stopped after {self.failed_in_a_row} failed loops in a "
                        f"row; the last: {message}"
                    ) from exc
            else:
                self.failed_in_a_row = 0
                if on_step is not None:
                    on_step(report)
            if max_steps is not None and self.totals.steps >= max_steps:
                break
            if stop.wait(self.settings.poll_s):
                break
        return self.totals

    def _loop_failed(self, exc: Exception) -> str:
        self.failed_in_a_row += 1
        self.totals.steps += 1
        self.totals.errors += 1
        metrics.ENGINE_LOOP_ERRORS.inc()
        message = f"{type(exc).__name__}: {first_line(exc)}"
        _log.error(
            "engine.loop_failed",
            error=message,
            failed_in_a_row=self.failed_in_a_row,
            max_failed_loops=self.settings.max_failed_loops,
            exc_info=exc,
        )
        return message

    # --- orders -------------------------------------------------------------------------
    def _risk_exit(
        self, symbol: str, entry_price: float, portfolio: PortfolioSnapshot
    ) -> ReasonCode | None:
        mark = portfolio.marks.get(symbol)
        if mark is None or not (entry_price > 0 and math.isfinite(mark.price)):
            return None
        if mark.price <= entry_price * (1.0 - self.settings.stop_loss):
            return ReasonCode.STOP_LOSS
        if mark.price >= entry_price * (1.0 + self.settings.take_profit):
            return ReasonCode.TAKE_PROFIT
        return None

    def _instrument(self, symbol: str) -> Instrument | None:
        return self.gateway.instruments.get(symbol)

    def _buy(
        self, symbol: str, view: SignalView, portfolio: PortfolioSnapshot
    ) -> SubmitResult | None:
        intent = self._entry_intent(symbol, view, portfolio)
        return None if intent is None else self.gateway.submit(intent)

    def _sell(self, symbol: str, qty: float, why: str) -> SubmitResult | None:
        intent = self._exit_intent(symbol, qty, why)
        return None if intent is None else self.gateway.submit(intent)

    def _entry_intent(
        self, symbol: str, view: SignalView, portfolio: PortfolioSnapshot
    ) -> OrderIntent | None:
        instrument = self._instrument(symbol)
        snapshot = self.market.snapshot(symbol)
        if instrument is None or snapshot is None or not snapshot.ask > 0:
            return None
        limit = touch_limit(instrument, snapshot, Side.BUY)
        spend = portfolio.state.equity * self.settings.position_fraction * view.confidence
        return marketable_ioc(
            instrument,
            Side.BUY,
            spend / limit if math.isfinite(spend) else 0.0,
            limit,
            strategy=self.strategy.name,
            signal_id=f"{symbol}-{int(view.bar_ts * 1000)}-entry",
        )

    def _exit_intent(self, symbol: str, qty: float, why: str) -> OrderIntent | None:
        instrument = self._instrument(symbol)
        snapshot = self.market.snapshot(symbol)
        if instrument is None or snapshot is None or not snapshot.bid > 0:
            return None
        return marketable_ioc(
            instrument,
            Side.SELL,
            qty,
            touch_limit(instrument, snapshot, Side.SELL),
            strategy=self.strategy.name,
            signal_id=f"{symbol}-{int(self.clock.now() * 1000)}-{why}",
        )

    def preview(self, symbol: str) -> tuple[SignalView, SubmitResult | None]:
        """The newest signal of ``symbol`` and what the gates would say to the order the
        engine would send for it (a dry run: nothing is stored or sent)."""
        view = self.judge(symbol)
        if view.kind is None:
            return view, None
        portfolio = self.gateway.portfolio()
        held = {p.symbol: p.qty for p in portfolio.positions if p.qty > 0}
        if view.kind is SignalKind.ENTRY:
            intent = self._entry_intent(symbol, view, portfolio)
        elif symbol in held:
            intent = self._exit_intent(symbol, held[symbol], "signal")
        else:
            intent = None
        return view, None if intent is None else self.gateway.submit(intent, dry_run=True)

    # --- records ------------------------------------------------------------------------
    def _audit(self, view: SignalView) -> None:
        self._record(
            view.symbol,
            view.code,
            "buy" if view.kind is SignalKind.ENTRY else "sell",
            f"{view.kind} {view.symbol} strength {view.strength:.3f} confidence "
            f"{view.confidence:.3f} quality {view.quality_score:.2f}",
            {**view.to_dict(), "strategy": self.strategy.name},
        )
        _log.info("engine.signal", **view.to_dict())

    def _audit_exit(
        self, symbol: str, code: ReasonCode, entry_price: float, portfolio: PortfolioSnapshot
    ) -> None:
        mark = portfolio.marks[symbol].price
        self._record(
            symbol,
            code,
            "sell",
            f"{code} {symbol}: mark {mark:.8g} against entry {entry_price:.8g}",
            {"mark": mark, "entry_price": entry_price},
        )
        _log.info("engine.exit", symbol=symbol, code=code.value, mark=mark, entry=entry_price)

    def _record(
        self,
        symbol: str,
        code: ReasonCode | None,
        side: str,
        message: str,
        details: dict[str, object],
    ) -> None:
        """One audit row of the engine's, in a transaction of its own."""
        with self.store.write() as tx:
            tx.insert_audit(
                AuditRecord(
                    at=self.clock.now(),
                    kind=SIGNAL_AUDIT_KIND,
                    reason_code=str(code),
                    message=message,
                    symbol=symbol,
                    side=side,
                    details=details,
                )
            )

    def _count(self, report: StepReport) -> None:
        totals = self.totals
        totals.steps += 1
        totals.errors += len(report.errors)
        if report.errors:
            metrics.ENGINE_LOOP_ERRORS.inc(len(report.errors))
        for view in report.signals:
            totals.signals[str(view.code)] += 1
            metrics.SIGNALS.labels(str(view.kind), str(view.code)).inc()
            if view.acted_on:
                metrics.LAST_SIGNAL_TIMESTAMP.set(time.time())
        for result in report.orders:
            totals.orders[result.decision.code.value] += 1
