"""What the risk gates look at for one intent, computed once per evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.domain.decisions import GateName, GateOutcome, reduce, reject
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, Side
from cryptosmarttrader.domain.portfolio import PortfolioState, SymbolExposure, flat_exposure
from cryptosmarttrader.domain.ports import CorrelationProvider
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.domain.symbols import Instrument

_ADD_EPSILON = 1e-12
# Slack on minimum-size checks, so that "at least 10% of 0.2" accepts 0.02 although
# 0.1 * 0.2 is 0.020000000000000004 in binary. The reduced size already fits the limit.
_MINIMUM_SLACK = 1.0 - 1e-9


@dataclass(slots=True)
class RiskContext:
    intent: OrderIntent
    instrument: Instrument
    snapshot: MarketSnapshot | None
    portfolio: PortfolioState
    kill_switch: KillSwitchState
    limits: RiskLimits
    correlations: CorrelationProvider
    now: float
    exposure: SymbolExposure
    """The order symbol's position and pending quantities (priced at ``mark``, not its own)."""
    mark: float
    reference_price: float
    """Price used for the order's notional: the limit price, else the touch it would take."""
    gross_other: float
    """Gross exposure of every symbol but the order's."""
    symbol_in_use: bool
    """The order's symbol already holds a position slot (position or pending orders)."""
    worst_before: float
    """The symbol's worst-case position before this order."""
    kill_switch_trigger: str | None = None
    """Set by a gate whose threshold activates the kill switch."""
    _worst_qty: float = field(default=math.nan, init=False, repr=False)
    _worst_after: float = field(default=math.nan, init=False, repr=False)

    @classmethod
    def build(
        cls,
        *,
        intent: OrderIntent,
        instrument: Instrument,
        snapshot: MarketSnapshot | None,
        portfolio: PortfolioState,
        kill_switch: KillSwitchState,
        limits: RiskLimits,
        correlations: CorrelationProvider,
        now: float,
    ) -> RiskContext:
        held = portfolio.exposures.get(intent.symbol)
        if snapshot is not None and snapshot.bid > 0 and snapshot.ask > 0:
            mark = snapshot.mid
            mark_ts = snapshot.exchange_ts
        elif held is not None:
            mark, mark_ts = held.mark_price, held.mark_ts
        else:
            mark, mark_ts = math.nan, math.nan
        held_notional = portfolio.notionals.get(intent.symbol)
        gross_other = portfolio.gross_exposure - (held_notional or 0.0)
        exposure = held if held is not None else flat_exposure(intent.symbol, mark, mark_ts)
        if intent.order_type is OrderType.LIMIT and intent.price is not None:
            reference = intent.price
        elif snapshot is not None:
            reference = snapshot.ask if intent.side is Side.BUY else snapshot.bid
        else:
            reference = mark
        return cls(
            intent=intent,
            instrument=instrument,
            snapshot=snapshot,
            portfolio=portfolio,
            kill_switch=kill_switch,
            limits=limits,
            correlations=correlations,
            now=now,
            exposure=exposure,
            mark=mark,
            reference_price=reference,
            gross_other=gross_other,
            symbol_in_use=held_notional is not None,
            worst_before=exposure.worst_case_qty(),
        )

    def _worst_case_after(self, qty: float) -> float:
        # Seven gates ask about the same size; remember the last answer.
        if qty != self._worst_qty:
            self._worst_after = self.exposure.worst_case_after(self.intent.side, qty)
            self._worst_qty = qty
        return self._worst_after

    def adds_exposure(self, qty: float) -> bool:
        """Whether filling ``qty`` would raise the symbol's worst-case position."""
        return self._worst_case_after(qty) > self.worst_before + _ADD_EPSILON

    def exposure_after(self, qty: float) -> float:
        """Quote exposure of the order's symbol if this order (and every pending one) fills."""
        return self.mark * self._worst_case_after(qty)


def max_qty_within(exposure: SymbolExposure, side: Side, cap_qty: float) -> float:
    """Largest q >= 0 such that ``exposure.worst_case_after(side, q) <= cap_qty``.

    Returns 0 when even q = 0 does not fit: the other side's worst case already exceeds it.
    """
    if side is Side.BUY:
        toward = exposure.position_qty + exposure.pending_buy_qty
        other = abs(exposure.position_qty - exposure.pending_sell_qty)
    else:
        toward = exposure.pending_sell_qty - exposure.position_qty
        other = abs(exposure.position_qty + exposure.pending_buy_qty)
    if other > cap_qty:
        return 0.0
    return max(0.0, cap_qty - toward)


def fit_to_cap(
    ctx: RiskContext,
    qty: float,
    *,
    cap_quote: float,
    fits: Callable[[float], bool],
    gate: GateName,
    code: ReasonCode,
    what: str,
    value_after: float,
    limit: float,
) -> GateOutcome:
    """REDUCE ``qty`` to the largest size on the instrument's grid that ``fits``, or REJECT.

    The reduced size is checked with the gate's own ``fits`` predicate, so float rounding can
    never approve a size that the gate itself would refuse.
    """
    instrument = ctx.instrument
    limits = ctx.limits
    side = ctx.intent.side
    fitted = 0.0
    if cap_quote > 0 and ctx.mark > 0:
        fitted = min(qty, max_qty_within(ctx.exposure, side, cap_quote / ctx.mark))
        fitted = instrument.floor_qty(fitted) if fitted > 0 else 0.0
    for _ in range(4):
        if fitted <= 0 or fits(fitted):
            break
        fitted = instrument.floor_qty(fitted - instrument.qty_step)
    else:
        fitted = 0.0
    notional = fitted * ctx.reference_price
    numbers = {
        "requested_qty": ctx.intent.qty,
        "qty_in": qty,
        "fitted_qty": fitted,
        "value_after": value_after,
        "limit": limit,
        "equity": ctx.portfolio.equity,
    }
    too_small = (
        fitted <= 0
        or fitted < instrument.min_qty
        or notional < limits.min_order_notional * _MINIMUM_SLACK
        or fitted < limits.min_reduce_fraction * ctx.intent.qty * _MINIMUM_SLACK
        or not fits(fitted)
    )
    if too_small:
        return reject(
            gate,
            code,
            f"{what} {value_after:,.2f} would exceed {limit:,.2f}; the size that fits "
            f"({fitted:g}) is below the minimum order",
            **numbers,
        )
    return reduce(
        gate,
        code,
        fitted,
        f"{what} {value_after:,.2f} would exceed {limit:,.2f}: reduced {qty:g} -> {fitted:g}",
        **numbers,
    )
