"""The RiskGuard: intent validation, then the eight risk gates, for every order from every path."""

from __future__ import annotations

from typing import NamedTuple

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.domain.decisions import ChainResult, GateChain, GateName, reject
from cryptosmarttrader.domain.kill_switch import KillSwitchState
from cryptosmarttrader.domain.market import MarketSnapshot
from cryptosmarttrader.domain.orders import OrderIntent
from cryptosmarttrader.domain.portfolio import PortfolioState
from cryptosmarttrader.domain.ports import CorrelationProvider
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.domain.symbols import Instrument
from cryptosmarttrader.domain.validation import validate_intent
from cryptosmarttrader.risk.context import RiskContext
from cryptosmarttrader.risk.gates import risk_gates


class RiskAssessment(NamedTuple):
    result: ChainResult
    context: RiskContext | None
    """None when the intent failed validation and no gate ran."""
    kill_switch_trigger: str | None = None

    @property
    def qty(self) -> float:
        return self.result.qty

    @property
    def rejected(self) -> bool:
        return self.result.rejected is not None


class RiskGuard:
    def __init__(self, limits: RiskLimits, correlations: CorrelationProvider) -> None:
        self.limits = limits
        self.correlations = correlations
        self.chain: GateChain[RiskContext] = GateChain(risk_gates())

    def evaluate(
        self,
        intent: OrderIntent,
        *,
        instrument: Instrument | None,
        snapshot: MarketSnapshot | None,
        portfolio: PortfolioState,
        kill_switch: KillSwitchState,
        now: float,
    ) -> RiskAssessment:
        try:
            invalid = validate_intent(intent, instrument)
            if invalid is not None or instrument is None:
                assert invalid is not None
                return RiskAssessment(ChainResult(0.0, (invalid,)), None)
            ctx = RiskContext.build(
                intent=intent,
                instrument=instrument,
                snapshot=snapshot,
                portfolio=portfolio,
                kill_switch=kill_switch,
                limits=self.limits,
                correlations=self.correlations,
                now=now,
            )
        except Exception as exc:  # noqa: BLE001 - fail closed, exactly like a gate
            outcome = reject(
                GateName.VALIDATION, ReasonCode.GATE_ERROR, f"{type(exc).__name__}: {exc}"
            )
            return RiskAssessment(ChainResult(0.0, (outcome,)), None)
        result = self.chain.run(ctx, intent.qty)
        return RiskAssessment(result, ctx, ctx.kill_switch_trigger)
