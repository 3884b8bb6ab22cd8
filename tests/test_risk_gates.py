"""Every RiskGuard gate at, just inside and just outside its boundary; order; fail-closed."""

from __future__ import annotations

import math

import pytest

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.domain.decisions import GateName, Verdict
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.orders import OrderType, Side
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.risk.guard import RiskAssessment, RiskGuard
from tests.factories import (
    BTC,
    T0,
    FixedCorrelations,
    assess,
    exposure,
    intent,
    portfolio,
    risk_limits,
    snapshot,
)


def rejected_with(result: RiskAssessment, gate: GateName, code: ReasonCode) -> None:
    outcome = result.result.rejected
    assert outcome is not None, f"expected a rejection by {gate}, got {result.result.outcomes}"
    assert (outcome.gate, outcome.code) == (gate, code), outcome.message


def passed(result: RiskAssessment) -> None:
    assert result.result.outcomes == (), result.result.outcomes


def test_the_eight_gates_run_in_the_documented_order() -> None:
    guard = RiskGuard(RiskLimits(), FixedCorrelations())
    assert guard.chain.names == (
        "kill_switch",
        "data_quality",
        "daily_loss",
        "drawdown",
        "position_count",
        "total_exposure",
        "single_position",
        "correlation",
    )


# --- 1. kill switch -------------------------------------------------------------------------


def test_kill_switch_rejects_every_order_even_reducing_ones() -> None:
    active = KillSwitchState(True, "manual stop", "ops", T0)
    held = portfolio(exposures=[exposure("BTC/USDT", 0.05)])
    for order in (intent(), intent(side=Side.SELL, qty=0.01, price=50_005.0, reduce_only=True)):
        result = assess(order, kill_switch=active, state=held)
        rejected_with(result, GateName.KILL_SWITCH, ReasonCode.KILL_SWITCH_ACTIVE)
        assert "manual stop" in result.result.outcomes[-1].message


def test_inactive_kill_switch_passes() -> None:
    passed(assess(intent(), kill_switch=KillSwitchState(False, "resumed", "ops", T0)))


# --- 2. data quality ------------------------------------------------------------------------


def test_missing_snapshot_is_stale() -> None:
    rejected_with(assess(intent(), snap=None), GateName.DATA_QUALITY, ReasonCode.DATA_STALE)


@pytest.mark.parametrize(("age", "ok"), [(0.0, True), (59.9, True), (60.0, True), (60.01, False)])
def test_data_age_boundary(age: float, ok: bool) -> None:
    result = assess(intent(), snap=snapshot(ts=T0 - age))
    if ok:
        passed(result)
    else:
        rejected_with(result, GateName.DATA_QUALITY, ReasonCode.DATA_STALE)
        assert result.result.outcomes[-1].numbers["age_s"] == pytest.approx(age)


@pytest.mark.parametrize(("ahead", "ok"), [(5.0, True), (5.01, False)])
def test_timestamps_from_the_future_beyond_skew_are_invalid(ahead: float, ok: bool) -> None:
    result = assess(intent(), snap=snapshot(ts=T0 + ahead))
    if ok:
        passed(result)
    else:
        rejected_with(result, GateName.DATA_QUALITY, ReasonCode.DATA_INVALID)


@pytest.mark.parametrize(
    "bad",
    [
        {"bid": math.nan},
        {"ask": math.inf},
        {"bid": -1.0},
        {"last": 0.0},
        {"bid": 50_010.0},  # crossed
        {"bid": 50_005.0},  # locked
        {"volume": math.nan},
        {"volume": -1.0},
        {"completeness": math.nan},
        {"completeness": 1.5},
        {"level_qty": 0.0},
    ],
)
def test_invalid_market_data_is_rejected(bad: dict[str, float]) -> None:
    result = assess(intent(), snap=snapshot(**bad))  # type: ignore[arg-type]
    rejected_with(result, GateName.DATA_QUALITY, ReasonCode.DATA_INVALID)


def test_snapshot_of_another_symbol_is_invalid() -> None:
    result = assess(intent(), snap=snapshot("ETH/USDT"))
    rejected_with(result, GateName.DATA_QUALITY, ReasonCode.DATA_INVALID)


@pytest.mark.parametrize(("completeness", "ok"), [(0.95, True), (0.9499, False)])
def test_completeness_boundary(completeness: float, ok: bool) -> None:
    result = assess(intent(), snap=snapshot(completeness=completeness))
    if ok:
        passed(result)
    else:
        rejected_with(result, GateName.DATA_QUALITY, ReasonCode.DATA_INCOMPLETE)


def test_stale_mark_of_a_held_position_blocks_adding_but_not_reducing() -> None:
    state = portfolio(
        exposures=[
            exposure("ETH/USDT", 1.0, mark=3_200.0, ts=T0 - 61),
            exposure("BTC/USDT", 0.02),
        ]
    )
    rejected_with(assess(intent(), state=state), GateName.DATA_QUALITY, ReasonCode.DATA_STALE)
    reducing = intent(side=Side.SELL, qty=0.01, price=50_005.0)
    passed(assess(reducing, state=state))
    fresh = portfolio(exposures=[exposure("ETH/USDT", 1.0, mark=3_200.0, ts=T0 - 60)])
    passed(assess(intent(), state=fresh))


# --- 3. daily loss --------------------------------------------------------------------------

DAILY = risk_limits(daily_loss_limit=0.05, kill_switch_daily_loss=0.08)


@pytest.mark.parametrize(("equity", "ok"), [(9_500.5, True), (9_500.0, False), (9_300.0, False)])
def test_daily_loss_boundary_for_orders_adding_exposure(equity: float, ok: bool) -> None:
    state = portfolio(equity, start_of_day=10_000.0, peak=10_000.0)
    result = assess(intent(), limits=DAILY, state=state)
    if ok:
        passed(result)
    else:
        rejected_with(result, GateName.DAILY_LOSS, ReasonCode.DAILY_LOSS_LIMIT)
        assert result.kill_switch_trigger is None


def test_daily_loss_lets_reducing_orders_through() -> None:
    state = portfolio(9_500.0, start_of_day=10_000.0, exposures=[exposure("BTC/USDT", 0.05)])
    sell = intent(side=Side.SELL, qty=0.02, price=50_005.0)
    passed(assess(sell, limits=DAILY, state=state))
    passed(
        assess(
            intent(side=Side.SELL, qty=0.02, price=50_005.0, reduce_only=True),
            limits=DAILY,
            state=state,
        )
    )


@pytest.mark.parametrize(("equity", "kill"), [(9_200.5, False), (9_200.0, True), (5_000.0, True)])
def test_daily_loss_kill_switch_threshold(equity: float, kill: bool) -> None:
    state = portfolio(equity, start_of_day=10_000.0, exposures=[exposure("BTC/USDT", 0.05)])
    sell = intent(side=Side.SELL, qty=0.02, price=50_005.0)
    result = assess(sell, limits=DAILY, state=state)
    if kill:
        rejected_with(result, GateName.DAILY_LOSS, ReasonCode.DAILY_LOSS_LIMIT)
        assert result.kill_switch_trigger is not None
        assert "daily loss" in result.kill_switch_trigger
    else:
        passed(result)
        assert result.kill_switch_trigger is None


def test_a_profit_never_blocks() -> None:
    state = portfolio(30_000.0, start_of_day=10_000.0, peak=30_000.0)
    passed(assess(intent(), limits=DAILY, state=state))


@pytest.mark.parametrize(
    "bad", [{"equity": math.nan}, {"equity": 0.0}, {"start_of_day": 0.0}, {"peak": -1.0}]
)
def test_invalid_portfolio_fails_closed(bad: dict[str, float]) -> None:
    state = portfolio(**bad)  # type: ignore[arg-type]
    rejected_with(assess(intent(), state=state), GateName.DAILY_LOSS, ReasonCode.PORTFOLIO_INVALID)


# --- 4. drawdown ----------------------------------------------------------------------------

DRAWDOWN = risk_limits(max_drawdown=0.10, kill_switch_drawdown=0.15)


@pytest.mark.parametrize(("equity", "ok"), [(9_000.5, True), (9_000.0, False)])
def test_drawdown_boundary(equity: float, ok: bool) -> None:
    state = portfolio(equity, peak=10_000.0)
    result = assess(intent(), limits=DRAWDOWN, state=state)
    if ok:
        passed(result)
    else:
        rejected_with(result, GateName.DRAWDOWN, ReasonCode.DRAWDOWN_LIMIT)
        assert result.kill_switch_trigger is None


def test_drawdown_lets_reducing_orders_through_and_kills_at_its_threshold() -> None:
    held = [exposure("BTC/USDT", 0.05)]
    sell = intent(side=Side.SELL, qty=0.02, price=50_005.0)
    passed(assess(sell, limits=DRAWDOWN, state=portfolio(9_000.0, peak=10_000.0, exposures=held)))
    passed(assess(sell, limits=DRAWDOWN, state=portfolio(8_500.5, peak=10_000.0, exposures=held)))
    result = assess(sell, limits=DRAWDOWN, state=portfolio(8_500.0, peak=10_000.0, exposures=held))
    rejected_with(result, GateName.DRAWDOWN, ReasonCode.DRAWDOWN_LIMIT)
    assert result.kill_switch_trigger is not None
    assert "drawdown" in result.kill_switch_trigger


# --- 5. position count ----------------------------------------------------------------------

COUNT = risk_limits(max_positions=3)
THREE_HELD = [
    exposure("ETH/USDT", 0.1, mark=3_200.0),
    exposure("XRP/USDT", 100.0, mark=0.5),
    exposure("ADA/USDT", pending_buy=50.0, mark=0.4),  # a pending opening order holds a slot
]


def test_opening_a_new_position_at_the_maximum_is_rejected() -> None:
    result = assess(intent(), limits=COUNT, state=portfolio(exposures=THREE_HELD))
    rejected_with(result, GateName.POSITION_COUNT, ReasonCode.MAX_POSITIONS)
    assert result.result.outcomes[-1].numbers["positions_in_use"] == 3


def test_position_count_just_inside_and_for_held_symbols() -> None:
    passed(assess(intent(), limits=COUNT, state=portfolio(exposures=THREE_HELD[:2])))
    held_btc = [*THREE_HELD[:2], exposure("BTC/USDT", 0.01)]
    passed(assess(intent(), limits=COUNT, state=portfolio(exposures=held_btc)))


# --- 6. total exposure ----------------------------------------------------------------------

TOTAL = risk_limits(max_total_exposure=1.0, min_order_notional=10.0, min_reduce_fraction=0.10)
ETH_8000 = exposure("ETH/USDT", 2.5, mark=3_200.0)


def test_total_exposure_exactly_at_the_limit_passes() -> None:
    assert 8_000.0 + 0.04 * 50_000.0 == 10_000.0
    passed(assess(intent(qty=0.04), limits=TOTAL, state=portfolio(exposures=[ETH_8000])))


def test_total_exposure_over_the_limit_reduces_to_fit() -> None:
    result = assess(intent(qty=0.05), limits=TOTAL, state=portfolio(exposures=[ETH_8000]))
    (outcome,) = result.result.outcomes
    assert (outcome.verdict, outcome.gate, outcome.code) == (
        Verdict.REDUCE,
        GateName.TOTAL_EXPOSURE,
        ReasonCode.EXPOSURE_LIMIT,
    )
    assert result.qty == pytest.approx(0.04)
    assert outcome.numbers["limit"] == 10_000.0
    assert outcome.numbers["value_after"] == pytest.approx(10_500.0)


def test_total_exposure_counts_pending_orders() -> None:
    pending = exposure("ETH/USDT", pending_buy=2.5, mark=3_200.0)
    result = assess(intent(qty=0.05), limits=TOTAL, state=portfolio(exposures=[pending]))
    assert result.result.outcomes[-1].verdict is Verdict.REDUCE
    assert result.qty == pytest.approx(0.04)


def test_reduction_below_min_notional_or_ten_percent_is_rejected() -> None:
    almost_full = exposure("ETH/USDT", 9_995.0 / 3_200.0, mark=3_200.0)
    result = assess(intent(qty=0.05), limits=TOTAL, state=portfolio(exposures=[almost_full]))
    rejected_with(result, GateName.TOTAL_EXPOSURE, ReasonCode.EXPOSURE_LIMIT)
    nine_tenths = exposure("ETH/USDT", 9_000.0 / 3_200.0, mark=3_200.0)
    # 1,000 of room is 0.02 BTC: worth more than 10 USDT but less than 10% of 0.5 BTC.
    result = assess(intent(qty=0.5), limits=TOTAL, state=portfolio(exposures=[nine_tenths]))
    rejected_with(result, GateName.TOTAL_EXPOSURE, ReasonCode.EXPOSURE_LIMIT)
    result = assess(intent(qty=0.2), limits=TOTAL, state=portfolio(exposures=[nine_tenths]))
    assert result.result.outcomes[-1].verdict is Verdict.REDUCE
    assert result.qty == pytest.approx(0.02)


def test_orders_that_reduce_exposure_pass_even_over_the_limit() -> None:
    over = [exposure("ETH/USDT", 3.75, mark=3_200.0), exposure("BTC/USDT", 0.02)]
    sell = intent(side=Side.SELL, qty=0.01, price=50_005.0)
    passed(assess(sell, limits=TOTAL, state=portfolio(exposures=over)))


# --- 7. single position ---------------------------------------------------------------------

SINGLE = risk_limits(max_position=0.2, min_order_notional=10.0, min_reduce_fraction=0.10)


def test_single_position_boundary_and_reduction() -> None:
    held = portfolio(exposures=[exposure("BTC/USDT", 0.02)])
    passed(assess(intent(qty=0.02), limits=SINGLE, state=held))
    result = assess(intent(qty=0.03), limits=SINGLE, state=held)
    (outcome,) = result.result.outcomes
    assert (outcome.verdict, outcome.gate, outcome.code) == (
        Verdict.REDUCE,
        GateName.SINGLE_POSITION,
        ReasonCode.POSITION_SIZE_LIMIT,
    )
    assert result.qty == pytest.approx(0.02)


def test_reduce_only_must_reduce() -> None:
    held = portfolio(exposures=[exposure("BTC/USDT", 0.02)])
    buy = intent(qty=0.01, reduce_only=True)
    rejected_with(
        assess(buy, limits=SINGLE, state=held),
        GateName.SINGLE_POSITION,
        ReasonCode.REDUCE_ONLY_VIOLATION,
    )
    flip = intent(side=Side.SELL, qty=0.05, price=50_005.0, reduce_only=True)
    rejected_with(
        assess(flip, limits=SINGLE, state=held),
        GateName.SINGLE_POSITION,
        ReasonCode.REDUCE_ONLY_VIOLATION,
    )
    close = intent(side=Side.SELL, qty=0.02, price=50_005.0, reduce_only=True)
    passed(assess(close, limits=SINGLE, state=held))


def test_reductions_compose_across_gates() -> None:
    limits = risk_limits(max_total_exposure=1.0, max_position=0.2)
    result = assess(intent(qty=0.1), limits=limits, state=portfolio(exposures=[ETH_8000]))
    gates = [(o.gate, o.verdict) for o in result.result.outcomes]
    assert gates == [(GateName.TOTAL_EXPOSURE, Verdict.REDUCE)]
    assert result.qty == pytest.approx(0.04)
    result = assess(intent(qty=0.1), limits=limits, state=portfolio())
    assert [o.gate for o in result.result.outcomes] == [GateName.SINGLE_POSITION]
    assert result.qty == pytest.approx(0.04)


# --- 8. correlation -------------------------------------------------------------------------

CORR = risk_limits(max_correlated_exposure=0.4, correlation_threshold=0.7)
ETH_2437_5 = exposure("ETH/USDT", 0.76171875, mark=3_200.0)  # 2,437.5 USDT


@pytest.mark.parametrize(("rho", "counted"), [(0.7, True), (0.95, True), (0.69, False)])
def test_correlation_threshold(rho: float, counted: bool) -> None:
    correlations = FixedCorrelations({("BTC/USDT", "ETH/USDT"): rho})
    state = portfolio(exposures=[ETH_2437_5])
    assert 2_437.5 + 0.03125 * 50_000.0 == 4_000.0
    passed(assess(intent(qty=0.03125), limits=CORR, state=state, correlations=correlations))
    result = assess(intent(qty=0.05), limits=CORR, state=state, correlations=correlations)
    if counted:
        (outcome,) = result.result.outcomes
        assert (outcome.verdict, outcome.gate, outcome.code) == (
            Verdict.REDUCE,
            GateName.CORRELATION,
            ReasonCode.CORRELATION_LIMIT,
        )
        assert result.qty == pytest.approx(0.03125)
    else:
        passed(result)


@pytest.mark.parametrize("rho", [None, math.nan])
def test_unknown_correlation_counts_as_one(rho: float | None) -> None:
    correlations = FixedCorrelations()
    if rho is not None:
        correlations = FixedCorrelations({("BTC/USDT", "ETH/USDT"): rho})
    state = portfolio(exposures=[ETH_2437_5])
    result = assess(intent(qty=0.05), limits=CORR, state=state, correlations=correlations)
    outcome = result.result.outcomes[-1]
    assert outcome.code is ReasonCode.CORRELATION_LIMIT
    assert outcome.numbers["unknown_correlations"] == 1


# --- order of gates and failing closed ------------------------------------------------------


def test_first_failing_gate_wins() -> None:
    kill = KillSwitchState(True, "stop", "ops", T0)
    stale = snapshot(ts=T0 - 600)
    losing = portfolio(9_000.0, start_of_day=10_000.0, peak=10_000.0, exposures=THREE_HELD)
    limits = risk_limits(
        daily_loss_limit=0.05, kill_switch_daily_loss=0.5, max_drawdown=0.05, max_positions=3
    )
    order = intent()
    rejected_with(
        assess(order, limits=limits, snap=stale, state=losing, kill_switch=kill),
        GateName.KILL_SWITCH,
        ReasonCode.KILL_SWITCH_ACTIVE,
    )
    rejected_with(
        assess(order, limits=limits, snap=stale, state=losing),
        GateName.DATA_QUALITY,
        ReasonCode.DATA_STALE,
    )
    rejected_with(
        assess(order, limits=limits, state=losing), GateName.DAILY_LOSS, ReasonCode.DAILY_LOSS_LIMIT
    )
    no_daily = limits.model_copy(update={"daily_loss_limit": 0.5})
    rejected_with(
        assess(order, limits=no_daily, state=losing), GateName.DRAWDOWN, ReasonCode.DRAWDOWN_LIMIT
    )


class ExplodingCorrelations:
    def correlation(self, a: str, b: str, now: float) -> float | None:
        raise RuntimeError("correlation service down")


def test_an_exception_inside_a_gate_is_a_gate_error_rejection() -> None:
    guard = RiskGuard(CORR, ExplodingCorrelations())
    result = guard.evaluate(
        intent(),
        instrument=BTC,
        snapshot=snapshot(),
        portfolio=portfolio(exposures=[ETH_2437_5]),
        kill_switch=KillSwitchState(False),
        now=T0,
    )
    rejected_with(result, GateName.CORRELATION, ReasonCode.GATE_ERROR)
    assert "correlation service down" in result.result.outcomes[-1].message


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"qty": math.nan}, ReasonCode.INVALID_ORDER),
        ({"qty": -0.01}, ReasonCode.INVALID_ORDER),
        ({"qty": 0.0}, ReasonCode.INVALID_ORDER),
        ({"price": math.inf}, ReasonCode.INVALID_ORDER),
        ({"price": 0.0}, ReasonCode.INVALID_ORDER),
        ({"price": None}, ReasonCode.INVALID_ORDER),
        ({"symbol": "BTCUSDT"}, ReasonCode.INVALID_ORDER),
        ({"symbol": "DOGE/USDT"}, ReasonCode.UNKNOWN_SYMBOL),
        ({"qty": 0.000015}, ReasonCode.INVALID_ORDER),
        ({"price": 49_995.005}, ReasonCode.INVALID_ORDER),
        ({"order_type": OrderType.MARKET}, ReasonCode.INVALID_ORDER),
        ({"client_order_id": "x" * 19}, ReasonCode.INVALID_ORDER),
    ],
)
def test_invalid_intents_are_rejected_before_any_gate(
    change: dict[str, object], code: ReasonCode
) -> None:
    kwargs: dict[str, object] = {"qty": 0.01, "price": 49_995.0, **change}
    order = intent(**kwargs)  # type: ignore[arg-type]
    kill = KillSwitchState(True, "stop", "ops", T0)
    result = assess(order, kill_switch=kill)
    rejected_with(result, GateName.VALIDATION, code)
    assert result.context is None
