"""Builders for domain objects in tests, with numbers chosen to be exact in binary floats."""

from __future__ import annotations

from collections.abc import Iterable

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.domain.kill_switch import KILL_SWITCH_OFF, KillSwitchState
from cryptosmarttrader.domain.market import MarketSnapshot, depth_within
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.portfolio import PortfolioState, SymbolExposure
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.risk.guard import RiskAssessment, RiskGuard

T0 = 1_767_614_400.0  # 2026-01-05T12:00:00Z

BTC = Instrument("BTC/USDT", "BTC", "USDT", 0.01, 0.00001, 0.00001, 5.0)
ETH = Instrument("ETH/USDT", "ETH", "USDT", 0.01, 0.0001, 0.0001, 5.0)
SOL = Instrument("SOL/USDT", "SOL", "USDT", 0.01, 0.001, 0.001, 5.0)
INSTRUMENTS = {i.symbol: i for i in (BTC, ETH, SOL)}

# Limits that never bind, to test one gate at a time.
LOOSE_RISK = RiskLimits(
    max_positions=10_000,
    max_total_exposure=100,
    max_position=100,
    max_correlated_exposure=100,
    daily_loss_limit=1,
    kill_switch_daily_loss=1,
    max_drawdown=1,
    kill_switch_drawdown=1,
    min_order_notional=0,
    min_reduce_fraction=0,
)
LOOSE_EXECUTION = ExecutionLimits(
    max_spread_bps=10_000,
    min_depth_quote=0,
    depth_multiple=0,
    min_volume_24h_quote=0,
    max_slippage_bps=10_000,
    allow_market_orders=True,
    max_price_deviation_bps=10_000,
)


def risk_limits(**overrides: object) -> RiskLimits:
    return RiskLimits.model_validate({**LOOSE_RISK.model_dump(), **overrides})


def execution_limits(**overrides: object) -> ExecutionLimits:
    return ExecutionLimits.model_validate({**LOOSE_EXECUTION.model_dump(), **overrides})


def snapshot(
    symbol: str = "BTC/USDT",
    *,
    bid: float = 49_995.0,
    ask: float = 50_005.0,
    last: float | None = None,
    ts: float = T0,
    levels: int = 10,
    level_qty: float = 4.0,
    level_gap: float = 10.0,
    volume: float = 1e9,
    completeness: float = 1.0,
    band_bps: float = 50.0,
) -> MarketSnapshot:
    bids = tuple((bid - k * level_gap, level_qty) for k in range(levels))
    asks = tuple((ask + k * level_gap, level_qty) for k in range(levels))
    mid = (bid + ask) / 2
    return MarketSnapshot(
        symbol=symbol,
        bid=bid,
        ask=ask,
        last=last if last is not None else mid,
        bid_depth_quote=depth_within(bids, mid, band_bps),
        ask_depth_quote=depth_within(asks, mid, band_bps),
        depth_band_bps=band_bps,
        volume_24h_quote=volume,
        exchange_ts=ts,
        source="test",
        bids=bids,
        asks=asks,
        completeness=completeness,
    )


def exposure(
    symbol: str,
    qty: float = 0.0,
    *,
    pending_buy: float = 0.0,
    pending_sell: float = 0.0,
    mark: float = 50_000.0,
    ts: float = T0,
) -> SymbolExposure:
    return SymbolExposure(symbol, qty, pending_buy, pending_sell, mark, ts)


def portfolio(
    equity: float = 10_000.0,
    *,
    start_of_day: float | None = None,
    peak: float | None = None,
    exposures: Iterable[SymbolExposure] = (),
    slippage_spent: float = 0.0,
) -> PortfolioState:
    return PortfolioState.build(
        equity=equity,
        cash=equity,
        start_of_day_equity=equity if start_of_day is None else start_of_day,
        peak_equity=equity if peak is None else peak,
        exposures={e.symbol: e for e in exposures},
        as_of=T0,
        slippage_spent_today_quote=slippage_spent,
    )


def intent(
    symbol: str = "BTC/USDT",
    side: Side = Side.BUY,
    qty: float = 0.01,
    *,
    price: float | None = 49_995.0,
    order_type: OrderType = OrderType.LIMIT,
    tif: TimeInForce | None = None,
    reduce_only: bool = False,
    signal_id: str = "s1",
    client_order_id: str | None = None,
) -> OrderIntent:
    return OrderIntent(
        symbol=symbol,
        side=side,
        qty=qty,
        order_type=order_type,
        price=price,
        time_in_force=tif,
        strategy="test",
        signal_id=signal_id,
        reduce_only=reduce_only,
        client_order_id=client_order_id,
    )


class FixedCorrelations:
    """Correlations from a table; pairs not in it are unknown (None)."""

    def __init__(self, table: dict[tuple[str, str], float] | None = None) -> None:
        self.table = {frozenset(k): v for k, v in (table or {}).items()}
        self.calls = 0

    def correlation(self, a: str, b: str, now: float) -> float | None:
        self.calls += 1
        if a == b:
            return 1.0
        return self.table.get(frozenset((a, b)))


_DEFAULT_SNAPSHOT = snapshot()


def assess(
    order: OrderIntent,
    *,
    limits: RiskLimits = LOOSE_RISK,
    snap: MarketSnapshot | None = _DEFAULT_SNAPSHOT,
    state: PortfolioState | None = None,
    kill_switch: KillSwitchState = KILL_SWITCH_OFF,
    correlations: FixedCorrelations | None = None,
    now: float = T0,
) -> RiskAssessment:
    guard = RiskGuard(limits, correlations or FixedCorrelations())
    return guard.evaluate(
        order,
        instrument=INSTRUMENTS.get(order.symbol) if isinstance(order.symbol, str) else None,
        snapshot=snapshot(order.symbol) if snap is _DEFAULT_SNAPSHOT else snap,
        portfolio=state if state is not None else portfolio(),
        kill_switch=kill_switch,
        now=now,
    )
