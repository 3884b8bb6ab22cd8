"""The eight RiskGuard gates, in evaluation order.

Every comparison is written so that NaN fails it: ``not (value <= limit)`` rejects a NaN,
where ``value > limit`` would silently pass it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cryptosmarttrader.config.limits import RiskLimits
from cryptosmarttrader.data.quality import assess_snapshot
from cryptosmarttrader.domain.clock import format_utc
from cryptosmarttrader.domain.decisions import Gate, GateName, GateOutcome, reject
from cryptosmarttrader.domain.portfolio import PortfolioState
from cryptosmarttrader.domain.reason_codes import ReasonCode
from cryptosmarttrader.risk.context import RiskContext, fit_to_cap


def _finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _finite(**numbers: float) -> dict[str, float]:
    """The audit trail stores numbers as JSON, which has no NaN or infinity."""
    return {name: value for name, value in numbers.items() if math.isfinite(value)}


class KillSwitchGate:
    name = GateName.KILL_SWITCH

    def check(self, ctx: RiskContext, qty: float) -> GateOutcome | None:
        state = ctx.kill_switch
        if state.active:
            return reject(
                self.name,
                ReasonCode.KILL_SWITCH_ACTIVE,
                f"kill switch active since {format_utc(state.changed_at)}: "
                f"{state.reason or 'no reason'}"
                f" (by {state.actor or 'unknown'})",
            )
        return None


class DataQualityGate:
    name = GateName.DATA_QUALITY

    def check(self, ctx: RiskContext, qty: float) -> GateOutcome | None:
        snap = ctx.snapshot
        limits = ctx.limits
        symbol = ctx.intent.symbol
        if snap is None:
            return reject(self.name, ReasonCode.DATA_STALE, f"no market data for {symbol}")
        report = assess_snapshot(
            snap,
            ctx.now,
            max_age_s=limits.max_data_age_s,
            max_clock_skew_s=limits.max_clock_skew_s,
            min_completeness=limits.min_data_completeness,
            symbol=symbol,
        )
        worst = report.worst
        if worst is not None:
            return reject(
                self.name,
                worst.reason,
                f"{symbol}: {worst.detail}",
                **_finite(
                    quality_score=report.score,
                    age_s=ctx.now - snap.exchange_ts,
                    completeness=snap.completeness,
                ),
            )
        if ctx.adds_exposure(qty):
            # Equity (and so every fraction-of-equity limit) rests on the marks of held positions.
            for other in ctx.portfolio.active:
                if other.symbol == symbol:
                    continue
                mark_age = ctx.now - other.mark_ts
                if not (_finite_positive(other.mark_price) and mark_age <= limits.max_data_age_s):
                    return reject(
                        self.name,
                        ReasonCode.DATA_STALE,
                        f"mark of held {other.symbol} is {mark_age:.1f}s old "
                        f"(max {limits.max_data_age_s:g}s)",
                        mark_age_s=mark_age,
                        max_age_s=limits.max_data_age_s,
                    )
        return None


def _check_portfolio(name: GateName, ctx: RiskContext) -> GateOutcome | None:
    p = ctx.portfolio
    for label, value in (
        ("equity", p.equity),
        ("start-of-day equity", p.start_of_day_equity),
        ("peak equity", p.peak_equity),
    ):
        if not _finite_positive(value):
            return reject(name, ReasonCode.PORTFOLIO_INVALID, f"{label} is {value!r}")
    return None


class LossLimitGate:
    """Gates 3 and 4: the loss from a reference equity (start of day, or peak).

    At ``limit`` orders that add exposure are refused and reducing ones pass; at
    ``kill_limit`` every order is refused and the kill switch activates itself.
    """

    def __init__(
        self,
        name: GateName,
        code: ReasonCode,
        label: str,
        reference: Callable[[PortfolioState], float],
        limits: Callable[[RiskLimits], tuple[float, float]],
    ) -> None:
        self.name = name
        self._code = code
        self._label = label
        self._reference = reference
        self._limits = limits

    def kill_trigger(self, portfolio: PortfolioState, limits: RiskLimits) -> str | None:
        """Why the kill switch must activate now, or None (the portfolio must be valid)."""
        reference = self._reference(portfolio)
        loss = (reference - portfolio.equity) / reference
        kill_limit = self._limits(limits)[1]
        if loss >= kill_limit:
            return f"{self._label} {loss:.2%} reached the kill switch threshold {kill_limit:.2%}"
        return None

    def check(self, ctx: RiskContext, qty: float) -> GateOutcome | None:
        invalid = _check_portfolio(self.name, ctx)
        if invalid is not None:
            return invalid
        reference = self._reference(ctx.portfolio)
        loss = (reference - ctx.portfolio.equity) / reference
        limit, kill_limit = self._limits(ctx.limits)
        trigger = self.kill_trigger(ctx.portfolio, ctx.limits)
        if trigger is not None:
            ctx.kill_switch_trigger = trigger
            return self._reject(ctx, loss, reference, kill_limit, "kill switch activated")
        if loss >= limit and ctx.adds_exposure(qty):
            return self._reject(ctx, loss, reference, limit, "only reducing orders")
        return None

    def _reject(
        self, ctx: RiskContext, loss: float, reference: float, crossed: float, consequence: str
    ) -> GateOutcome:
        limit, kill_limit = self._limits(ctx.limits)
        return reject(
            self.name,
            self._code,
            f"{self._label} {loss:.2%} >= {crossed:.2%}: {consequence}",
            loss_fraction=loss,
            limit=limit,
            kill_switch_limit=kill_limit,
            reference_equity=reference,
            equity=ctx.portfolio.equity,
        )


def daily_loss_gate() -> LossLimitGate:
    """Today's PnL (realized + unrealized) against start-of-day equity (UTC)."""
    return LossLimitGate(
        GateName.DAILY_LOSS,
        ReasonCode.DAILY_LOSS_LIMIT,
        "daily loss",
        lambda p: p.start_of_day_equity,
        lambda limits: (limits.daily_loss_limit, limits.kill_switch_daily_loss),
    )


def drawdown_gate() -> LossLimitGate:
    """Drawdown from peak equity."""
    return LossLimitGate(
        GateName.DRAWDOWN,
        ReasonCode.DRAWDOWN_LIMIT,
        "drawdown",
        lambda p: p.peak_equity,
        lambda limits: (limits.max_drawdown, limits.kill_switch_drawdown),
    )


def loss_kill_trigger(portfolio: PortfolioState, limits: RiskLimits) -> str | None:
    """Why the daily-loss or drawdown threshold requires the kill switch now, or None; None
    too for a portfolio whose equity cannot be judged (the gates refuse orders on it)."""
    for value in (portfolio.equity, portfolio.start_of_day_equity, portfolio.peak_equity):
        if not _finite_positive(value):
            return None
    for gate in (daily_loss_gate(), drawdown_gate()):
        trigger = gate.kill_trigger(portfolio, limits)
        if trigger is not None:
            return trigger
    return None


class PositionCountGate:
    name = GateName.POSITION_COUNT

    def check(self, ctx: RiskContext, qty: float) -> GateOutcome | None:
        if ctx.symbol_in_use or not ctx.adds_exposure(qty):
            return None
        in_use = ctx.portfolio.symbols_in_use
        maximum = ctx.limits.max_positions
        if in_use >= maximum:
            return reject(
                self.name,
                ReasonCode.MAX_POSITIONS,
                f"{in_use} positions open or pending (max {maximum}): no new position",
                positions_in_use=in_use,
                max_positions=maximum,
            )
        return None


class TotalExposureGate:
    name = GateName.TOTAL_EXPOSURE

    def check(self, ctx: RiskContext, qty: float) -> GateOutcome | None:
        if not ctx.adds_exposure(qty):
            return None
        limit = ctx.limits.max_total_exposure * ctx.portfolio.equity
        gross_other = ctx.gross_other
        if gross_other + ctx.exposure_after(qty) <= limit:
            return None

        def fits(q: float) -> bool:
            return gross_other + ctx.exposure_after(q) <= limit

        return fit_to_cap(
            ctx,
            qty,
            cap_quote=limit - gross_other,
            fits=fits,
            gate=self.name,
            code=ReasonCode.EXPOSURE_LIMIT,
            what="gross exposure",
            value_after=gross_other + ctx.exposure_after(qty),
            limit=limit,
        )


class SinglePositionGate:
    name = GateName.SINGLE_POSITION

    def check(self, ctx: RiskContext, qty: float) -> GateOutcome | None:
        adds = ctx.adds_exposure(qty)
        if ctx.intent.reduce_only and adds:
            return reject(
                self.name,
                ReasonCode.REDUCE_ONLY_VIOLATION,
                f"reduce-only {ctx.intent.side} of {qty:g} would increase the "
                f"{ctx.intent.symbol} position",
                position_qty=ctx.exposure.position_qty,
            )
        if not adds:
            return None
        limit = ctx.limits.max_position * ctx.portfolio.equity
        if ctx.exposure_after(qty) <= limit:
            return None

        def fits(q: float) -> bool:
            return ctx.exposure_after(q) <= limit

        return fit_to_cap(
            ctx,
            qty,
            cap_quote=limit,
            fits=fits,
            gate=self.name,
            code=ReasonCode.POSITION_SIZE_LIMIT,
            what=f"{ctx.intent.symbol} exposure",
            value_after=ctx.exposure_after(qty),
            limit=limit,
        )


class CorrelationGate:
    name = GateName.CORRELATION

    def check(self, ctx: RiskContext, qty: float) -> GateOutcome | None:
        if not ctx.adds_exposure(qty):
            return None
        symbol = ctx.intent.symbol
        threshold = ctx.limits.correlation_threshold
        correlated = 0.0
        count = 0
        unknown = 0
        notionals = ctx.portfolio.notionals
        for other in ctx.portfolio.active:
            if other.symbol == symbol:
                continue
            rho = ctx.correlations.correlation(symbol, other.symbol, ctx.now)
            if rho is None or not math.isfinite(rho):
                rho = 1.0  # unknown counts as perfectly correlated: fail closed
                unknown += 1
            if rho >= threshold:
                correlated += notionals[other.symbol]
                count += 1
        limit = ctx.limits.max_correlated_exposure * ctx.portfolio.equity
        if correlated + ctx.exposure_after(qty) <= limit:
            return None

        def fits(q: float) -> bool:
            return correlated + ctx.exposure_after(q) <= limit

        outcome = fit_to_cap(
            ctx,
            qty,
            cap_quote=limit - correlated,
            fits=fits,
            gate=self.name,
            code=ReasonCode.CORRELATION_LIMIT,
            what=f"exposure correlated with {symbol} ({count} held, {unknown} unknown)",
            value_after=correlated + ctx.exposure_after(qty),
            limit=limit,
        )
        numbers = dict(outcome.numbers)
        numbers.update(correlated_positions=count, unknown_correlations=unknown)
        return GateOutcome(
            outcome.gate, outcome.verdict, outcome.code, outcome.qty, outcome.message, numbers
        )


def risk_gates() -> tuple[Gate[RiskContext], ...]:
    """The eight gates in the order they must run."""
    return (
        KillSwitchGate(),
        DataQualityGate(),
        daily_loss_gate(),
        drawdown_gate(),
        PositionCountGate(),
        TotalExposureGate(),
        SinglePositionGate(),
        CorrelationGate(),
    )
