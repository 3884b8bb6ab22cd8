"""Replaying candles through the strategy and the same OrderGateway as live trading.

The strategy computes its signals over the whole history at once (its indicators are causal,
so bar t's signal is what live trading would have seen when bar t closed). Then, for each
signal in time order, the replay moves to the open of the next bar and the order goes through
``OrderGateway.submit``: validation, the 8 RiskGuard gates, the 7 ExecutionPolicy gates, the
decision and order committed to a database, then the backtest broker, which fills at that
open (:mod:`cryptosmarttrader.exchanges.candle_broker`). Entries are long only: an entry
signal while holding and an exit signal while flat are ignored. Between orders nothing needs
the gateway, so the equity curve is computed afterwards from the fills, marked at each close.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from cryptosmarttrader.backtest.replay import CandleReplay
from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.data.correlation import RollingCorrelationProvider
from cryptosmarttrader.domain.candles import CandleSeries, price_decimals
from cryptosmarttrader.domain.decisions import Verdict
from cryptosmarttrader.domain.marketable import marketable_ioc, touch_limit
from cryptosmarttrader.domain.orders import OrderIntent, OrderStatus, Side
from cryptosmarttrader.domain.symbols import Instrument, split_symbol
from cryptosmarttrader.exchanges.candle_broker import CandleFillBroker
from cryptosmarttrader.execution.gateway import OrderGateway, SubmitResult
from cryptosmarttrader.execution.policy import ExecutionPolicy
from cryptosmarttrader.risk.guard import RiskGuard
from cryptosmarttrader.signals.strategy import SignalFrame, Strategy
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.state_store import StateStore

QTY_STEP = 1e-8
_MEMORY_DB = "mode=memory&cache=shared&uri=true"
_SECONDS_PER_YEAR = 365.0 * 86_400.0

Progress = Callable[[int, int], None]
"""Called with (bars replayed, bars in total) now and then during a run."""


class Sizing(StrEnum):
    ALL_IN = "all-in"
    """Every entry spends all the cash."""
    FRACTION = "fraction"
    """Every entry spends ``fraction`` of equity scaled by the signal's confidence."""


@dataclass(frozen=True)
class BacktestConfig:
    strategy: Strategy
    risk: RiskLimits
    execution: ExecutionLimits
    cash: float = 10_000.0
    fee: float = 0.001
    sizing: Sizing = Sizing.ALL_IN
    fraction: float = 0.1
    spread_bps: float = 1.0
    """The synthesized spread around each open (see :mod:`.replay`); fills are at the open."""

    def __post_init__(self) -> None:
        if not (0 < self.cash < 1e15):
            raise ValueError(f"cash must be positive, got {self.cash}")
        if not (0 <= self.fee < 1):
            raise ValueError(f"fee must be in [0, 1), got {self.fee}")
        if not (0 < self.fraction <= 1):
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")


@dataclass(frozen=True)
class Fill:
    bar: int
    """The bar at whose open the order filled."""
    side: Side
    qty: float
    price: float


@dataclass(frozen=True)
class BacktestResult:
    symbol: str
    strategy: str
    candles: int
    fills: tuple[Fill, ...]
    equity: np.ndarray
    """Equity at each bar's close."""
    trades: int
    final_equity: float
    return_pct: float
    max_drawdown_pct: float
    sharpe: float
    win_rate: float | None
    orders_evaluated: int
    rejections: dict[str, int] = field(default_factory=dict)
    """Refused orders by reason code."""
    rejections_by_gate: dict[str, int] = field(default_factory=dict)
    reductions_by_gate: dict[str, int] = field(default_factory=dict)
    """Orders a gate let through smaller than asked."""
    elapsed_s: float = 0.0

    @property
    def candles_per_s(self) -> float:
        return self.candles / self.elapsed_s if self.elapsed_s > 0 else math.inf

    def summary(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "strategy": self.strategy,
            "candles": self.candles,
            "trades": self.trades,
            "final_equity": self.final_equity,
            "return_pct": self.return_pct,
            "max_drawdown_pct": self.max_drawdown_pct,
            "sharpe": self.sharpe,
            "win_rate": self.win_rate,
            "orders_evaluated": self.orders_evaluated,
            "rejections": dict(self.rejections),
            "rejections_by_gate": dict(self.rejections_by_gate),
            "reductions_by_gate": dict(self.reductions_by_gate),
            "elapsed_s": self.elapsed_s,
            "candles_per_s": self.candles_per_s,
        }


@dataclass
class _Tally:
    fills: list[Fill] = field(default_factory=list)
    evaluated: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    rejections_by_gate: Counter[str] = field(default_factory=Counter)
    reductions_by_gate: Counter[str] = field(default_factory=Counter)

    def record(self, result: SubmitResult, bar: int, side: Side) -> None:
        self.evaluated += 1
        decision = result.decision
        if decision.verdict is Verdict.REJECT:
            self.rejections[decision.code.value] += 1
            gate = decision.gate.value if decision.gate is not None else "validation"
            self.rejections_by_gate[gate] += 1
            return
        for outcome in decision.outcomes:
            if outcome.verdict is Verdict.REDUCE:
                self.reductions_by_gate[outcome.gate.value] += 1
        if result.status is OrderStatus.FILLED and result.avg_fill_price is not None:
            self.fills.append(Fill(bar, side, result.filled_qty, result.avg_fill_price))
        else:
            self.rejections[f"VENUE_{result.status_label}"] += 1
            self.rejections_by_gate["venue"] += 1


def backtest_instrument(series: CandleSeries) -> Instrument:
    """The symbol as the backtest's venue lists it: the data's own price decimals as tick,
    a fine quantity step so that sizing is not distorted, no minimum notional."""
    base, quote = split_symbol(series.symbol)
    decimals = price_decimals(np.concatenate([series.open[:2000], series.close[:2000]]))
    return Instrument(
        symbol=series.symbol,
        base=base,
        quote=quote,
        price_tick=10.0**-decimals,
        qty_step=QTY_STEP,
        min_qty=QTY_STEP,
        min_notional=0.0,
    )


def run_backtest(
    series: CandleSeries, config: BacktestConfig, *, progress: Progress | None = None
) -> BacktestResult:
    if len(series) < 2:
        raise ValueError("a backtest needs at least two candles")
    started = time.perf_counter()
    frame = config.strategy.signals(series)
    instrument = backtest_instrument(series)
    replay = CandleReplay(
        series, spread_bps=config.spread_bps, depth_band_bps=config.execution.depth_band_bps
    )
    broker = CandleFillBroker(
        {series.symbol: instrument},
        price_now=replay.price,
        clock=replay,
        cash=config.cash,
        fee_rate=config.fee,
    )
    # The gateway's state (orders, fills, audit) lives in a database of the run's own, in
    # memory: it ends with the run, and skipping the file makes each order ~30% cheaper.
    database = Database(f"sqlite:///file:cst-backtest-{uuid.uuid4().hex}?{_MEMORY_DB}")
    try:
        database.create_schema()
        store = StateStore(database)
        try:
            gateway = OrderGateway(
                store=store,
                broker=broker,
                market_data=replay,
                guard=RiskGuard(config.risk, RollingCorrelationProvider(replay)),
                policy=ExecutionPolicy(config.execution),
                clock=replay,
                quote=instrument.quote,
                instruments={series.symbol: instrument},
            )
            tally = _replay(gateway, replay, broker, instrument, frame, config, progress)
        finally:
            store.close()
    finally:
        database.dispose()
    if progress is not None:
        progress(len(series), len(series))
    return _result(series, config, tally, broker, started)


def _replay(
    gateway: OrderGateway,
    replay: CandleReplay,
    broker: CandleFillBroker,
    instrument: Instrument,
    frame: SignalFrame,
    config: BacktestConfig,
    progress: Progress | None,
) -> _Tally:
    """Every acted-on signal through the gateway."""
    n = len(replay.series)
    tally = _Tally()
    replay.at(0)
    gateway.start()
    candidates = np.flatnonzero(frame.entry | frame.exit)
    candidates = candidates[candidates + 1 < n]
    report_every = max(len(candidates) // 100, 1)
    for done, t in enumerate(candidates.tolist()):
        if progress is not None and done % report_every == 0:
            progress(t, n)
        holding = broker.balance(instrument.base) >= instrument.min_qty
        if not (frame.exit[t] if holding else frame.entry[t]):
            continue  # an entry while holding, or an exit while flat
        replay.at(t + 1)
        intent = _intent(config, instrument, replay, broker, frame.strength[t], t, holding)
        if intent is None:
            continue
        tally.record(gateway.submit(intent), t + 1, intent.side)
    return tally


def _intent(
    config: BacktestConfig,
    instrument: Instrument,
    replay: CandleReplay,
    broker: CandleFillBroker,
    strength: float,
    bar: int,
    holding: bool,
) -> OrderIntent | None:
    snapshot = replay.snapshot(instrument.symbol)
    assert snapshot is not None
    price = replay.price(instrument.symbol)
    if holding:
        side, qty = Side.SELL, broker.balance(instrument.base)
    else:
        cash = broker.balance(instrument.quote)
        if config.sizing is Sizing.ALL_IN:
            spend = cash
        else:
            equity = cash + broker.balance(instrument.base) * price
            spend = min(cash, equity * config.fraction * strength)
        side, qty = Side.BUY, spend / price
    return marketable_ioc(
        instrument,
        side,
        qty,
        touch_limit(instrument, snapshot, side),
        strategy=config.strategy.name,
        signal_id=f"bar-{int(replay.series.open_ts[bar] * 1000)}",
    )


def _result(
    series: CandleSeries,
    config: BacktestConfig,
    tally: _Tally,
    broker: CandleFillBroker,
    started: float,
) -> BacktestResult:
    fills = tally.fills
    n = len(series)
    cash = np.empty(len(fills) + 1)
    held = np.empty(len(fills) + 1)
    cash[0], held[0] = config.cash, 0.0
    fee = config.fee
    for k, fill in enumerate(fills, start=1):
        if fill.side is Side.BUY:
            cash[k] = cash[k - 1] - fill.qty * fill.price
            held[k] = held[k - 1] + fill.qty * (1.0 - fee)
        else:
            cash[k] = cash[k - 1] + fill.qty * fill.price * (1.0 - fee)
            held[k] = held[k - 1] - fill.qty
    # State in force at each bar's close: after every fill at that bar's open or earlier.
    fill_bars = np.array([f.bar for f in fills], dtype=np.int64)
    state = np.searchsorted(fill_bars, np.arange(n), side="right")
    equity = cash[state] + held[state] * series.close
    peak = np.maximum.accumulate(equity)
    drawdown = float(np.max((peak - equity) / peak)) if n else 0.0
    returns = np.diff(equity) / equity[:-1]
    spread = float(np.std(returns))
    periods = _SECONDS_PER_YEAR / series.interval_s
    sharpe = float(np.mean(returns)) / spread * math.sqrt(periods) if spread > 0 else 0.0
    buys = [f for f in fills if f.side is Side.BUY]
    sells = [f for f in fills if f.side is Side.SELL]
    outcomes = [
        s.qty * s.price * (1.0 - fee) > b.qty * b.price for b, s in zip(buys, sells, strict=False)
    ]
    final = float(equity[-1])
    # The broker's own balances must agree with the curve built from the fills.
    base, quote = split_symbol(series.symbol)
    venue_equity = broker.balance(quote) + broker.balance(base) * float(series.close[-1])
    if not math.isclose(venue_equity, final, rel_tol=1e-9, abs_tol=1e-9):
        raise RuntimeError(f"equity from fills {final} differs from the venue's {venue_equity}")
    return BacktestResult(
        symbol=series.symbol,
        strategy=config.strategy.name,
        candles=n,
        fills=tuple(fills),
        equity=equity,
        trades=len(buys),
        final_equity=final,
        return_pct=(final / config.cash - 1.0) * 100.0,
        max_drawdown_pct=drawdown * 100.0,
        sharpe=sharpe,
        win_rate=sum(outcomes) / len(outcomes) if outcomes else None,
        orders_evaluated=tally.evaluated,
        rejections=dict(sorted(tally.rejections.items())),
        rejections_by_gate=dict(sorted(tally.rejections_by_gate.items())),
        reductions_by_gate=dict(sorted(tally.reductions_by_gate.items())),
        elapsed_s=time.perf_counter() - started,
    )
