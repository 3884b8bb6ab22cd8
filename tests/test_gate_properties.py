"""Hypothesis: whatever the intent, state and market, the 15 gates never approve something unsafe.

Two families of cases: *wild* ones mix in NaN, infinities, negative and absurd numbers,
missing or stale data and an active kill switch; *plausible* ones are valid and fresh, so
that most of them reach the limit arithmetic and many are approved or reduced. The limits
are re-computed here from first principles (worst-case exposure per symbol), not through the
code under test, so a bug in the production arithmetic cannot hide itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.domain.decisions import Verdict
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.market import MarketSnapshot, depth_within
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.portfolio import PortfolioState, SymbolExposure
from cryptosmarttrader.execution.evaluation import OrderEvaluator
from cryptosmarttrader.execution.policy import ExecutionPolicy
from cryptosmarttrader.risk.guard import RiskGuard
from tests.factories import INSTRUMENTS, T0, FixedCorrelations

MARKS = {"BTC/USDT": 50_000.0, "ETH/USDT": 3_000.0, "SOL/USDT": 150.0, "XRP/USDT": 0.5}
LISTED = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
TOLERANCE = 1e-9

adversarial = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf, 1e-300, 1e300]),
)


def value(
    draw: st.DrawFn,
    sane: st.SearchStrategy[float],
    wild: bool,
    bad: st.SearchStrategy[float] = adversarial,
) -> float:
    """A sane value; in wild cases possibly a bad one."""
    return draw(st.one_of(sane, bad) if wild else sane)


@st.composite
def risk_limits(draw: st.DrawFn) -> RiskLimits:
    daily = draw(st.floats(0.01, 0.5))
    drawdown = draw(st.floats(0.01, 0.5))
    return RiskLimits(
        max_data_age_s=draw(st.floats(10, 300)),
        daily_loss_limit=daily,
        kill_switch_daily_loss=daily + draw(st.floats(0, 0.5)),
        max_drawdown=drawdown,
        kill_switch_drawdown=drawdown + draw(st.floats(0, 0.5)),
        max_positions=draw(st.integers(1, 6)),
        max_total_exposure=draw(st.floats(0.05, 3)),
        max_position=draw(st.floats(0.01, 2)),
        correlation_threshold=draw(st.floats(-1, 1)),
        max_correlated_exposure=draw(st.floats(0.01, 3)),
        min_order_notional=draw(st.floats(0, 100)),
        min_reduce_fraction=draw(st.floats(0, 0.5)),
    )


@st.composite
def exposures(draw: st.DrawFn, equity: float) -> dict[str, SymbolExposure]:
    symbols = draw(st.lists(st.sampled_from(sorted(MARKS)), unique=True, max_size=4))
    result = {}
    for symbol in symbols:
        scale = equity * draw(st.floats(0.01, 0.6)) / MARKS[symbol]
        result[symbol] = SymbolExposure(
            symbol,
            draw(st.floats(-scale, scale)),
            draw(st.floats(0, scale)),
            draw(st.floats(0, scale)),
            MARKS[symbol] * draw(st.floats(0.5, 1.5)),
            T0 - draw(st.floats(0, 9)),
        )
    return result


@st.composite
def portfolios(draw: st.DrawFn, wild: bool) -> PortfolioState:
    equity = value(draw, st.floats(1_000, 1e6), wild, st.sampled_from([0.0, -5.0, math.nan]))
    base = equity if math.isfinite(equity) and equity > 0 else 1_000.0
    return PortfolioState.build(
        equity=equity,
        cash=equity,
        start_of_day_equity=base * draw(st.floats(0.8, 1.3)),
        peak_equity=base * draw(st.floats(0.9, 1.4)),
        exposures=draw(exposures(base)),
        as_of=T0,
    )


@st.composite
def snapshots(draw: st.DrawFn, symbol: str, wild: bool) -> MarketSnapshot | None:
    if wild and draw(st.booleans()):
        return None
    mid = MARKS.get(symbol, 1.0) * draw(st.floats(0.99, 1.01))
    half = mid * draw(st.floats(0.00001, 0.002))
    step = mid * draw(st.floats(0.00001, 0.002))
    size = value(draw, st.floats(10_000.0, 1e7), wild, st.floats(0.0001, 10_000.0)) / mid
    bids = tuple((mid - half - k * step, size) for k in range(10))
    asks = tuple((mid + half + k * step, size) for k in range(10))
    return MarketSnapshot(
        symbol=symbol,
        bid=value(draw, st.just(mid - half), wild),
        ask=value(draw, st.just(mid + half), wild),
        last=value(draw, st.just(mid), wild),
        bid_depth_quote=depth_within(bids, mid, 50.0),
        ask_depth_quote=depth_within(asks, mid, 50.0),
        depth_band_bps=50.0,
        volume_24h_quote=value(draw, st.just(1e9), wild),
        exchange_ts=T0 - value(draw, st.floats(0, 9), wild, st.floats(-10, 400)),
        source="hypothesis",
        bids=bids,
        asks=asks,
        completeness=value(draw, st.just(1.0), wild, st.floats(0, 1)),
    )


@st.composite
def intents(draw: st.DrawFn, wild: bool, target_notional: float = 6_000.0) -> OrderIntent:
    symbol = draw(st.sampled_from([*LISTED, "XRP/USDT", "bad"] if wild else LISTED))
    order_type = draw(st.sampled_from(OrderType))
    mark = MARKS.get(symbol, 1.0)
    step = INSTRUMENTS[symbol].qty_step if symbol in INSTRUMENTS else 0.01
    units = max(1, round(target_notional / mark / step))
    qty = value(draw, st.just(round(units * step, 10)), wild)
    price: float | None = None
    if order_type is OrderType.LIMIT or (wild and draw(st.booleans())):
        near = st.floats(mark * 0.985, mark * 1.015).map(lambda p: round(p, 2))
        price = value(draw, near, wild)
    return OrderIntent(
        symbol=symbol,
        side=draw(st.sampled_from(Side)),
        qty=qty,
        order_type=order_type,
        price=price,
        time_in_force=draw(
            st.sampled_from([None, TimeInForce.IOC, TimeInForce.GTC, TimeInForce.FOK])
        ),
        strategy="prop",
        signal_id="p",
        reduce_only=draw(st.booleans()),
    )


@dataclass(frozen=True)
class Case:
    intent: OrderIntent
    limits: RiskLimits
    portfolio: PortfolioState
    snapshot: MarketSnapshot | None
    correlations: FixedCorrelations
    kill_switch: KillSwitchState


@st.composite
def cases(draw: st.DrawFn, wild: bool) -> Case:
    limits = draw(risk_limits())
    state = draw(portfolios(wild))
    # Size orders around the limits, where a wrong comparison would show.
    equity = state.equity if math.isfinite(state.equity) and state.equity > 0 else 1_000.0
    cap = draw(
        st.sampled_from(
            [limits.max_position, limits.max_total_exposure, limits.max_correlated_exposure]
        )
    )
    order = draw(intents(wild, target_notional=equity * cap * draw(st.floats(0.05, 3.0))))
    table: dict[tuple[str, str], float] = {}
    for other in MARKS:
        if draw(st.booleans()):
            # Around the threshold, where counting a correlation or not changes the outcome.
            near = limits.correlation_threshold + draw(st.floats(-0.3, 0.3))
            table[(order.symbol, other)] = min(1.0, max(-1.0, near))
    return Case(
        intent=order,
        limits=limits,
        portfolio=state,
        snapshot=draw(snapshots(order.symbol, wild)),
        correlations=FixedCorrelations(table),
        kill_switch=KillSwitchState(wild and draw(st.booleans()), "stop", "t", T0),
    )


def worst(position: float, pending_buy: float, pending_sell: float) -> float:
    return max(abs(position + pending_buy), abs(position - pending_sell))


def exposure_worst(e: SymbolExposure) -> float:
    return worst(e.position_qty, e.pending_buy_qty, e.pending_sell_qty)


EXECUTION = ExecutionLimits(allow_market_orders=True, max_spread_bps=10_000)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(wild=True))
def test_adversarial_inputs_are_never_approved_unsafely(case: Case) -> None:
    check_case(case)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(wild=False))
def test_approved_sizes_never_exceed_any_limit(case: Case) -> None:
    check_case(case)


def check_case(case: Case) -> None:
    """Run the 15 gates on ``case`` and verify any approval against independent arithmetic."""
    evaluator = OrderEvaluator(
        RiskGuard(case.limits, case.correlations), ExecutionPolicy(EXECUTION)
    )
    decision = evaluator.evaluate(
        case.intent,
        instrument=INSTRUMENTS.get(case.intent.symbol),
        snapshot=case.snapshot,
        portfolio=case.portfolio,
        kill_switch=case.kill_switch,
        now=T0,
        id_taken=lambda _: False,
    ).decision
    event(f"{decision.verdict.value} {decision.gate.value if decision.gate else ''}")
    if decision.verdict is Verdict.REJECT:
        assert decision.approved_qty == 0.0
        return
    order, limits, state, snap = case.intent, case.limits, case.portfolio, case.snapshot

    # Nothing non-finite or non-positive gets through.
    assert not case.kill_switch.active
    assert math.isfinite(order.qty)
    assert order.qty > 0
    assert math.isfinite(decision.approved_qty)
    assert 0 < decision.approved_qty <= order.qty
    if decision.verdict is Verdict.REDUCE:
        assert decision.approved_qty < order.qty
    if order.order_type is OrderType.LIMIT:
        assert order.price is not None
        assert math.isfinite(order.price)
        assert order.price > 0
    assert snap is not None
    for field_value in (snap.bid, snap.ask, snap.last):
        assert math.isfinite(field_value)
        assert field_value > 0
    assert snap.bid < snap.ask
    assert T0 - snap.exchange_ts <= limits.max_data_age_s
    assert math.isfinite(state.equity)
    assert state.equity > 0

    # Recompute every limit independently.
    qty = decision.approved_qty
    mark = (snap.bid + snap.ask) / 2
    held = state.exposures.get(order.symbol)
    position = held.position_qty if held else 0.0
    pending_buy = held.pending_buy_qty if held else 0.0
    pending_sell = held.pending_sell_qty if held else 0.0
    before = worst(position, pending_buy, pending_sell)
    if order.side is Side.BUY:
        after = worst(position, pending_buy + qty, pending_sell)
    else:
        after = worst(position, pending_buy, pending_sell + qty)
    adds = after > before + 1e-12
    if order.reduce_only:
        assert not adds
    if not adds:
        return
    equity = state.equity
    slack = 1 + TOLERANCE
    others = [e for s, e in state.exposures.items() if s != order.symbol]
    gross_others = sum(exposure_worst(e) * e.mark_price for e in others)
    assert gross_others + after * mark <= limits.max_total_exposure * equity * slack
    assert after * mark <= limits.max_position * equity * slack
    correlated = 0.0
    for e in others:
        rho = case.correlations.table.get(frozenset((order.symbol, e.symbol)))
        rho = 1.0 if rho is None or math.isnan(rho) else rho
        if rho >= limits.correlation_threshold and exposure_worst(e) > 1e-12:
            correlated += exposure_worst(e) * e.mark_price
    assert correlated + after * mark <= limits.max_correlated_exposure * equity * slack
    daily_pnl = (equity - state.start_of_day_equity) / state.start_of_day_equity
    assert daily_pnl > -limits.daily_loss_limit
    drawdown = (state.peak_equity - equity) / state.peak_equity
    assert drawdown < limits.max_drawdown
    if before <= 1e-12:
        assert state.symbols_in_use < limits.max_positions


@settings(max_examples=300, deadline=None)
@given(
    st.floats(10, 20_000).flatmap(lambda notional: intents(wild=False, target_notional=notional))
)
def test_reduced_sizes_are_on_the_instrument_grid(order: OrderIntent) -> None:
    evaluator = OrderEvaluator(
        RiskGuard(RiskLimits(min_order_notional=0, min_reduce_fraction=0), FixedCorrelations()),
        ExecutionPolicy(EXECUTION),
    )
    mark = MARKS[order.symbol]
    half = mark * 0.0001
    asks = tuple((mark + half + k, 1e9 / mark) for k in range(5))
    bids = tuple((mark - half - k, 1e9 / mark) for k in range(5))
    snap = MarketSnapshot(
        order.symbol, mark - half, mark + half, mark, 1e12, 1e12, 50.0, 1e12, T0, "t", bids, asks
    )
    empty = PortfolioState.build(
        equity=10_000.0,
        cash=10_000.0,
        start_of_day_equity=10_000.0,
        peak_equity=10_000.0,
        exposures={},
        as_of=T0,
    )
    decision = evaluator.evaluate(
        order,
        instrument=INSTRUMENTS[order.symbol],
        snapshot=snap,
        portfolio=empty,
        kill_switch=KillSwitchState(False),
        now=T0,
        id_taken=lambda _: False,
    ).decision
    event(decision.verdict.value)
    if decision.verdict is Verdict.REDUCE:
        assert INSTRUMENTS[order.symbol].qty_on_step(decision.approved_qty)
