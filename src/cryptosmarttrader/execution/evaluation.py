"""One evaluation of an intent: validation, the 8 risk gates, then the 7 execution gates."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from cryptosmarttrader.domain.decisions import Decision
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderIntent, OrderType, TimeInForce
from cryptosmarttrader.domain.portfolio import PortfolioState
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.execution.client_order_id import client_order_id_for
from cryptosmarttrader.execution.policy import ExecutionPolicy, effective_time_in_force
from cryptosmarttrader.risk.guard import RiskGuard


class Evaluation(NamedTuple):
    decision: Decision
    client_order_id: str
    time_in_force: TimeInForce | None
    reference_price: float
    est_slippage_bps: float
    est_slippage_quote: float


class OrderEvaluator:
    """Runs the RiskGuard and then the ExecutionPolicy; pure apart from ``id_taken``."""

    def __init__(self, guard: RiskGuard, policy: ExecutionPolicy) -> None:
        self.guard = guard
        self.policy = policy

    def evaluate(
        self,
        intent: OrderIntent,
        *,
        instrument: Instrument | None,
        snapshot: MarketSnapshot | None,
        portfolio: PortfolioState,
        kill_switch: KillSwitchState,
        now: float,
        id_taken: Callable[[str], bool],
    ) -> Evaluation:
        client_order_id = client_order_id_for(self.policy.limits.client_order_id_prefix, intent)
        risk = self.guard.evaluate(
            intent,
            instrument=instrument,
            snapshot=snapshot,
            portfolio=portfolio,
            kill_switch=kill_switch,
            now=now,
        )
        ctx = risk.context
        if risk.rejected or ctx is None or snapshot is None:
            decision = Decision.from_outcomes(
                intent.qty,
                risk.result.outcomes,
                approve_numbers={},
                kill_switch_trigger=risk.kill_switch_trigger,
            )
            tif = (
                effective_time_in_force(intent)
                if isinstance(intent.order_type, OrderType)
                and (intent.time_in_force is None or isinstance(intent.time_in_force, TimeInForce))
                else None
            )
            return Evaluation(decision, client_order_id, tif, math.nan, math.nan, 0.0)
        policy_result, exec_ctx = self.policy.evaluate(
            intent,
            risk.qty,
            snapshot=snapshot,
            client_order_id=client_order_id,
            id_taken=id_taken,
            reference_price=ctx.reference_price,
            slippage_spent_today_quote=portfolio.slippage_spent_today_quote,
        )
        outcomes = risk.result.outcomes + policy_result.outcomes
        approve_numbers: dict[str, float] = {}
        if policy_result.rejected is None:
            qty = policy_result.qty
            equity = portfolio.equity
            symbol_after = ctx.exposure_after(qty)
            approve_numbers = {
                "equity": equity,
                "notional": qty * ctx.reference_price,
                "symbol_exposure_after": symbol_after,
                "gross_exposure_after": ctx.gross_other + symbol_after,
                "est_slippage_bps": exec_ctx.est_slippage_bps,
            }
        decision = Decision.from_outcomes(
            intent.qty,
            outcomes,
            approve_numbers=approve_numbers,
            kill_switch_trigger=risk.kill_switch_trigger,
        )
        return Evaluation(
            decision,
            client_order_id,
            exec_ctx.time_in_force,
            ctx.reference_price,
            exec_ctx.est_slippage_bps,
            exec_ctx.est_slippage_quote,
        )
