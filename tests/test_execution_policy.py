"""Every ExecutionPolicy gate at, just inside and just outside its boundary."""

from __future__ import annotations

import math

import pytest

from cryptosmarttrader.config.limits import ExecutionLimits
from cryptosmarttrader.domain.decisions import ChainResult, GateName
from cryptosmarttrader.domain.market import BPS, MarketSnapshot
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, Side, TimeInForce
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.execution.policy import (
    DepthGate,
    ExecutionContext,
    ExecutionPolicy,
    SlippageGate,
    VolumeGate,
    effective_time_in_force,
)
from tests.factories import execution_limits, intent, snapshot

SNAP = snapshot()  # bid 49,995 / ask 50,005: mid 50,000, spread 2 bps; 10 levels of 4 BTC


def evaluate(
    order: OrderIntent,
    *,
    limits: ExecutionLimits | None = None,
    snap: MarketSnapshot = SNAP,
    qty: float | None = None,
    taken: bool = False,
    spent: float = 0.0,
) -> ChainResult:
    policy = ExecutionPolicy(limits or execution_limits())
    reference = order.price if order.price is not None else snap.ask
    result, _ = policy.evaluate(
        order,
        order.qty if qty is None else qty,
        snapshot=snap,
        client_order_id="cst0123456789abcde",
        id_taken=lambda _: taken,
        reference_price=reference,
        slippage_spent_today_quote=spent,
    )
    return result


def rejected_with(result: ChainResult, gate: GateName, code: ReasonCode) -> None:
    outcome = result.rejected
    assert outcome is not None, "expected a rejection"
    assert (outcome.gate, outcome.code) == (gate, code), outcome.message


def passed(result: ChainResult) -> None:
    assert result.outcomes == (), result.outcomes


def test_the_seven_gates_run_in_the_documented_order() -> None:
    assert ExecutionPolicy(ExecutionLimits()).chain.names == (
        "idempotency",
        "spread",
        "depth",
        "volume",
        "slippage",
        "time_in_force",
        "price_band",
    )


def test_a_taken_client_order_id_is_a_duplicate() -> None:
    rejected_with(evaluate(intent(), taken=True), GateName.IDEMPOTENCY, ReasonCode.DUPLICATE_ORDER)
    passed(evaluate(intent(), taken=False))


def test_spread_boundary() -> None:
    at_limit = snapshot(bid=49_875.0, ask=50_125.0)
    assert at_limit.spread_bps == 50.0
    limits = execution_limits(max_spread_bps=50.0)
    passed(evaluate(intent(price=49_875.0), limits=limits, snap=at_limit))
    wider = snapshot(bid=49_875.0, ask=50_126.0)
    rejected_with(
        evaluate(intent(price=49_875.0), limits=limits, snap=wider),
        GateName.SPREAD,
        ReasonCode.SPREAD_TOO_WIDE,
    )


def test_depth_boundary_uses_the_side_the_order_consumes() -> None:
    depth = SNAP.ask_depth_quote
    assert depth == SNAP.depth_quote(Side.BUY, 50.0)
    passed(evaluate(intent(), limits=execution_limits(min_depth_quote=depth)))
    rejected_with(
        evaluate(intent(), limits=execution_limits(min_depth_quote=depth + 1)),
        GateName.DEPTH,
        ReasonCode.INSUFFICIENT_DEPTH,
    )
    thin_asks = snapshot(levels=1)
    sell = intent(side=Side.SELL, price=50_005.0)
    limits = execution_limits(min_depth_quote=thin_asks.bid_depth_quote)
    passed(evaluate(sell, limits=limits, snap=thin_asks))


def test_depth_scales_with_the_order() -> None:
    # 3 x notional must rest within the band: 0.5 BTC needs 75,000 of asks.
    limits = execution_limits(depth_multiple=3.0, min_depth_quote=0.0)
    thin = snapshot(levels=1, level_qty=1.5)
    passed(evaluate(intent(qty=0.5, price=49_995.0), limits=limits, snap=thin))
    rejected_with(
        evaluate(intent(qty=0.51, price=49_995.0), limits=limits, snap=thin),
        GateName.DEPTH,
        ReasonCode.INSUFFICIENT_DEPTH,
    )


def test_volume_boundary() -> None:
    snap = snapshot(volume=1_000_000.0)
    passed(evaluate(intent(), limits=execution_limits(min_volume_24h_quote=1e6), snap=snap))
    rejected_with(
        evaluate(intent(), limits=execution_limits(min_volume_24h_quote=1e6 + 1), snap=snap),
        GateName.VOLUME,
        ReasonCode.INSUFFICIENT_VOLUME,
    )


@pytest.mark.parametrize(
    ("side", "qty", "expected_bps"),
    [(Side.BUY, 4.0, 1.0), (Side.BUY, 8.0, 2.0), (Side.SELL, 4.0, 1.0), (Side.SELL, 8.0, 2.0)],
)
def test_slippage_walks_the_book_against_mid(side: Side, qty: float, expected_bps: float) -> None:
    price = 50_100.0 if side is Side.BUY else 49_900.0
    order = intent(side=side, qty=qty, price=price, tif=TimeInForce.IOC)
    passed(evaluate(order, limits=execution_limits(max_slippage_bps=expected_bps)))
    rejected_with(
        evaluate(order, limits=execution_limits(max_slippage_bps=expected_bps - 0.01)),
        GateName.SLIPPAGE,
        ReasonCode.SLIPPAGE_BUDGET_EXCEEDED,
    )


def test_an_order_larger_than_the_book_is_rejected() -> None:
    order = intent(qty=41.0, price=50_100.0, tif=TimeInForce.IOC)
    result = evaluate(order)
    rejected_with(result, GateName.SLIPPAGE, ReasonCode.SLIPPAGE_BUDGET_EXCEEDED)
    assert result.outcomes[-1].numbers["est_slippage_bps"] == math.inf


def test_daily_slippage_budget() -> None:
    order = intent(qty=0.5, price=50_100.0, tif=TimeInForce.IOC)
    cost = 1.0 / BPS * 0.5 * 50_000.0  # 1 bps on 25,000 of notional
    limits = execution_limits(daily_slippage_budget_quote=10.0)
    passed(evaluate(order, limits=limits, spent=10.0 - cost))
    rejected_with(
        evaluate(order, limits=limits, spent=10.0 - cost + 0.01),
        GateName.SLIPPAGE,
        ReasonCode.SLIPPAGE_BUDGET_EXCEEDED,
    )


def test_limit_orders_default_to_post_only_and_market_orders_to_ioc() -> None:
    assert effective_time_in_force(intent()) is TimeInForce.POST_ONLY
    market = intent(order_type=OrderType.MARKET, price=None)
    assert effective_time_in_force(market) is TimeInForce.IOC


def test_market_orders_need_to_be_allowed() -> None:
    market = intent(order_type=OrderType.MARKET, price=None)
    rejected_with(
        evaluate(market, limits=execution_limits(allow_market_orders=False)),
        GateName.TIME_IN_FORCE,
        ReasonCode.TIF_NOT_ALLOWED,
    )
    passed(evaluate(market, limits=execution_limits(allow_market_orders=True)))
    for resting in (TimeInForce.GTC, TimeInForce.POST_ONLY):
        order = intent(order_type=OrderType.MARKET, price=None, tif=resting)
        rejected_with(evaluate(order), GateName.TIME_IN_FORCE, ReasonCode.TIF_NOT_ALLOWED)


@pytest.mark.parametrize(
    ("side", "price", "takes"),
    [
        (Side.BUY, 50_004.99, False),
        (Side.BUY, 50_005.0, True),
        (Side.SELL, 49_995.01, False),
        (Side.SELL, 49_995.0, True),
    ],
)
def test_post_only_that_would_take_is_rejected(side: Side, price: float, takes: bool) -> None:
    result = evaluate(intent(side=side, price=price))
    if takes:
        rejected_with(result, GateName.TIME_IN_FORCE, ReasonCode.POST_ONLY_WOULD_TAKE)
    else:
        passed(result)


def test_price_band_boundary() -> None:
    limits = execution_limits(max_price_deviation_bps=200.0)
    assert abs(49_000.0 - SNAP.mid) / SNAP.mid * BPS == 200.0
    passed(evaluate(intent(price=49_000.0, tif=TimeInForce.GTC), limits=limits))
    rejected_with(
        evaluate(intent(price=48_999.99, tif=TimeInForce.GTC), limits=limits),
        GateName.PRICE_BAND,
        ReasonCode.PRICE_OUT_OF_BAND,
    )
    rejected_with(
        evaluate(intent(side=Side.SELL, price=51_000.01, tif=TimeInForce.GTC), limits=limits),
        GateName.PRICE_BAND,
        ReasonCode.PRICE_OUT_OF_BAND,
    )


def test_resting_orders_may_not_cross_but_taking_orders_may() -> None:
    limits = execution_limits(max_price_deviation_bps=200.0)
    rejected_with(
        evaluate(intent(price=50_006.0, tif=TimeInForce.GTC), limits=limits),
        GateName.PRICE_BAND,
        ReasonCode.PRICE_OUT_OF_BAND,
    )
    rejected_with(
        evaluate(intent(side=Side.SELL, price=49_994.0, tif=TimeInForce.GTC), limits=limits),
        GateName.PRICE_BAND,
        ReasonCode.PRICE_OUT_OF_BAND,
    )
    passed(evaluate(intent(price=50_006.0, tif=TimeInForce.IOC), limits=limits))
    passed(evaluate(intent(price=50_005.0, tif=TimeInForce.GTC), limits=limits))


def test_nan_market_values_fail_closed_in_the_policy_too() -> None:
    broken = MarketSnapshot(
        symbol="BTC/USDT",
        bid=math.nan,
        ask=50_005.0,
        last=50_000.0,
        bid_depth_quote=math.nan,
        ask_depth_quote=math.nan,
        depth_band_bps=50.0,
        volume_24h_quote=math.nan,
        exchange_ts=0.0,
        source="test",
        asks=((math.nan, 1.0),),
    )
    rejected_with(evaluate(intent(), snap=broken), GateName.SPREAD, ReasonCode.SPREAD_TOO_WIDE)
    ctx = ExecutionContext(
        intent=intent(),
        snapshot=broken,
        limits=execution_limits(),
        client_order_id="cst0123456789abcde",
        id_taken=lambda _: False,
        time_in_force=TimeInForce.POST_ONLY,
        reference_price=50_000.0,
        slippage_spent_today_quote=0.0,
    )
    for gate in (DepthGate(), VolumeGate(), SlippageGate()):
        outcome = gate.check(ctx, 0.01)
        assert outcome is not None, gate.name
        assert outcome.verdict.value == "REJECT"
