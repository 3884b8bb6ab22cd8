"""The ExecutionPolicy: seven hard gates on how an approved size may meet the market.

They run after the RiskGuard, on the size it settled on. Comparisons are written so that NaN
fails them (see ``risk.gates``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from cryptosmarttrader.config.limits import ExecutionLimits
from cryptosmarttrader.domain.decisions import (
    ChainResult,
    Gate,
    GateChain,
    GateName,
    GateOutcome,
    reject,
)
from cryptosmarttrader.domain.market import BPS, MarketSnapshot, walk_book
from cryptosmarttrader.domain.orders import (
    RESTING_TIME_IN_FORCE,
    OrderIntent,
    OrderType,
    Side,
    TimeInForce,
)
from cryptosmarttrader.domain.reason_codes import ReasonCode


def effective_time_in_force(intent: OrderIntent) -> TimeInForce:
    """Limit orders default to POST_ONLY (never pay the spread by accident), market to IOC."""
    if intent.time_in_force is not None:
        return intent.time_in_force
    return TimeInForce.POST_ONLY if intent.order_type is OrderType.LIMIT else TimeInForce.IOC


@dataclass(slots=True)
class ExecutionContext:
    intent: OrderIntent
    snapshot: MarketSnapshot
    limits: ExecutionLimits
    client_order_id: str
    id_taken: Callable[[str], bool]
    time_in_force: TimeInForce
    reference_price: float
    slippage_spent_today_quote: float
    est_slippage_bps: float = math.nan
    est_slippage_quote: float = 0.0


class IdempotencyGate:
    name = GateName.IDEMPOTENCY

    def check(self, ctx: ExecutionContext, qty: float) -> GateOutcome | None:
        if ctx.id_taken(ctx.client_order_id):
            return reject(
                self.name,
                ReasonCode.DUPLICATE_ORDER,
                f"client order id {ctx.client_order_id} was already accepted",
            )
        return None


class SpreadGate:
    name = GateName.SPREAD

    def check(self, ctx: ExecutionContext, qty: float) -> GateOutcome | None:
        spread = ctx.snapshot.spread_bps
        maximum = ctx.limits.max_spread_bps
        if not (spread <= maximum):
            return reject(
                self.name,
                ReasonCode.SPREAD_TOO_WIDE,
                f"spread {spread:.1f} bps > max {maximum:g} bps",
                spread_bps=spread,
                max_spread_bps=maximum,
            )
        return None


class DepthGate:
    name = GateName.DEPTH

    def check(self, ctx: ExecutionContext, qty: float) -> GateOutcome | None:
        limits = ctx.limits
        side = ctx.intent.side
        depth = ctx.snapshot.depth_quote(side, limits.depth_band_bps)
        notional = qty * ctx.reference_price
        needed = max(limits.min_depth_quote, limits.depth_multiple * notional)
        if not (depth >= needed):
            book_side = "ask" if side is Side.BUY else "bid"
            return reject(
                self.name,
                ReasonCode.INSUFFICIENT_DEPTH,
                f"{book_side} depth {depth:,.0f} within {limits.depth_band_bps:g} bps < needed "
                f"{needed:,.0f}",
                depth_quote=depth,
                needed_quote=needed,
                order_notional=notional,
            )
        return None


class VolumeGate:
    name = GateName.VOLUME

    def check(self, ctx: ExecutionContext, qty: float) -> GateOutcome | None:
        volume = ctx.snapshot.volume_24h_quote
        minimum = ctx.limits.min_volume_24h_quote
        if not (volume >= minimum):
            return reject(
                self.name,
                ReasonCode.INSUFFICIENT_VOLUME,
                f"24h volume {volume:,.0f} < min {minimum:,.0f}",
                volume_24h_quote=volume,
                min_volume_24h_quote=minimum,
            )
        return None


class SlippageGate:
    name = GateName.SLIPPAGE

    def check(self, ctx: ExecutionContext, qty: float) -> GateOutcome | None:
        snap = ctx.snapshot
        side = ctx.intent.side
        mid = snap.mid
        vwap = walk_book(snap.levels_taken_by(side), qty)
        slippage = (vwap - mid) / mid * BPS * side.sign
        ctx.est_slippage_bps = slippage
        maximum = ctx.limits.max_slippage_bps
        if not (slippage <= maximum):
            shown = "the book cannot fill it" if math.isinf(slippage) else f"{slippage:.1f} bps"
            return reject(
                self.name,
                ReasonCode.SLIPPAGE_BUDGET_EXCEEDED,
                f"estimated slippage {shown} > max {maximum:g} bps",
                est_slippage_bps=slippage,
                max_slippage_bps=maximum,
            )
        cost = max(slippage, 0.0) / BPS * qty * mid
        ctx.est_slippage_quote = cost
        budget = ctx.limits.daily_slippage_budget_quote
        if budget is not None and not (ctx.slippage_spent_today_quote + cost <= budget):
            return reject(
                self.name,
                ReasonCode.SLIPPAGE_BUDGET_EXCEEDED,
                f"today's estimated slippage {ctx.slippage_spent_today_quote + cost:,.2f} would "
                f"exceed the daily budget {budget:,.2f}",
                slippage_spent_today_quote=ctx.slippage_spent_today_quote,
                est_slippage_quote=cost,
                daily_slippage_budget_quote=budget,
            )
        return None


class TimeInForceGate:
    name = GateName.TIME_IN_FORCE

    def check(self, ctx: ExecutionContext, qty: float) -> GateOutcome | None:
        intent = ctx.intent
        tif = ctx.time_in_force
        if intent.order_type is OrderType.MARKET:
            if not ctx.limits.allow_market_orders:
                return reject(
                    self.name,
                    ReasonCode.TIF_NOT_ALLOWED,
                    "market orders are disabled (execution.allow_market_orders = false)",
                )
            if tif in RESTING_TIME_IN_FORCE:
                return reject(
                    self.name, ReasonCode.TIF_NOT_ALLOWED, f"a market order cannot be {tif}"
                )
            return None
        if tif is TimeInForce.POST_ONLY:
            assert intent.price is not None
            snap = ctx.snapshot
            takes = (
                intent.price >= snap.ask if intent.side is Side.BUY else intent.price <= snap.bid
            )
            if takes:
                touch = snap.ask if intent.side is Side.BUY else snap.bid
                return reject(
                    self.name,
                    ReasonCode.POST_ONLY_WOULD_TAKE,
                    f"post-only {intent.side} at {intent.price} would take the "
                    f"{'ask' if intent.side is Side.BUY else 'bid'} {touch}",
                    price=intent.price,
                    bid=snap.bid,
                    ask=snap.ask,
                )
        return None


class PriceBandGate:
    name = GateName.PRICE_BAND

    def check(self, ctx: ExecutionContext, qty: float) -> GateOutcome | None:
        intent = ctx.intent
        if intent.order_type is OrderType.MARKET:
            return None
        assert intent.price is not None
        snap = ctx.snapshot
        mid = snap.mid
        deviation = abs(intent.price - mid) / mid * BPS
        maximum = ctx.limits.max_price_deviation_bps
        if not (deviation <= maximum):
            return reject(
                self.name,
                ReasonCode.PRICE_OUT_OF_BAND,
                f"limit {intent.price} is {deviation:.0f} bps from mid {mid:.8g} (max {maximum:g})",
                price=intent.price,
                mid=mid,
                deviation_bps=deviation,
                max_price_deviation_bps=maximum,
            )
        if ctx.time_in_force in RESTING_TIME_IN_FORCE:
            crosses = (
                intent.price > snap.ask if intent.side is Side.BUY else intent.price < snap.bid
            )
            if crosses:
                return reject(
                    self.name,
                    ReasonCode.PRICE_OUT_OF_BAND,
                    f"resting {intent.side} at {intent.price} crosses the book "
                    f"(bid {snap.bid}, ask {snap.ask})",
                    price=intent.price,
                    bid=snap.bid,
                    ask=snap.ask,
                )
        return None


def execution_gates() -> tuple[Gate[ExecutionContext], ...]:
    """The seven gates in the order they must run."""
    return (
        IdempotencyGate(),
        SpreadGate(),
        DepthGate(),
        VolumeGate(),
        SlippageGate(),
        TimeInForceGate(),
        PriceBandGate(),
    )


class ExecutionPolicy:
    def __init__(self, limits: ExecutionLimits) -> None:
        self.limits = limits
        self.chain: GateChain[ExecutionContext] = GateChain(execution_gates())

    def evaluate(
        self,
        intent: OrderIntent,
        qty: float,
        *,
        snapshot: MarketSnapshot,
        client_order_id: str,
        id_taken: Callable[[str], bool],
        reference_price: float,
        slippage_spent_today_quote: float,
    ) -> tuple[ChainResult, ExecutionContext]:
        ctx = ExecutionContext(
            intent=intent,
            snapshot=snapshot,
            limits=self.limits,
            client_order_id=client_order_id,
            id_taken=id_taken,
            time_in_force=effective_time_in_force(intent),
            reference_price=reference_price,
            slippage_spent_today_quote=slippage_spent_today_quote,
        )
        return self.chain.run(ctx, qty), ctx
