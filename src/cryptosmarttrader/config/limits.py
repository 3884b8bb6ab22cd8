"""Risk and execution limits: frozen, range-checked, with the documented defaults.

Each field's bounds are its widest *valid* value; a looser "unrestricted" profile (later) sets
every limit to that bound, so every gate still runs.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class RiskLimits(BaseModel):
    """The eight RiskGuard gates. Fractions are of current equity unless stated otherwise."""

    model_config = _FROZEN

    max_data_age_s: float = Field(
        60.0, gt=0, le=86_400, description="seconds; older snapshots or marks are stale"
    )
    max_clock_skew_s: float = Field(
        5.0, ge=0, le=3_600, description="seconds a snapshot may be stamped in the future"
    )
    min_data_completeness: float = Field(
        0.95, ge=0, le=1, description="fraction of expected fields the source delivered"
    )
    daily_loss_limit: float = Field(
        0.05, gt=0, le=1, description="fraction of start-of-day equity; blocks adding orders"
    )
    kill_switch_daily_loss: float = Field(
        0.08, gt=0, le=1, description="fraction of start-of-day equity; activates the kill switch"
    )
    max_drawdown: float = Field(
        0.10, gt=0, le=1, description="fraction of peak equity; blocks adding orders"
    )
    kill_switch_drawdown: float = Field(
        0.15, gt=0, le=1, description="fraction of peak equity; activates the kill switch"
    )
    max_positions: int = Field(
        10, ge=1, le=10_000, description="symbols with a position or pending opening orders"
    )
    max_total_exposure: float = Field(
        1.0, gt=0, le=100, description="gross worst-case exposure, fraction of equity"
    )
    max_position: float = Field(
        0.20, gt=0, le=100, description="one symbol's worst-case exposure, fraction of equity"
    )
    correlation_threshold: float = Field(
        0.7, ge=-1, le=1, description="return correlation at or above which positions count"
    )
    max_correlated_exposure: float = Field(
        0.40, gt=0, le=100, description="correlated positions plus the order, fraction of equity"
    )
    min_order_notional: float = Field(
        10.0, ge=0, le=1e12, description="quote; smallest size a reduction may leave"
    )
    min_reduce_fraction: float = Field(
        0.10, ge=0, le=1, description="smallest fraction of the request a reduction may leave"
    )

    @model_validator(mode="after")
    def _kill_switch_beyond_limit(self) -> Self:
        if self.kill_switch_daily_loss < self.daily_loss_limit:
            raise ValueError("kill_switch_daily_loss must be >= daily_loss_limit")
        if self.kill_switch_drawdown < self.max_drawdown:
            raise ValueError("kill_switch_drawdown must be >= max_drawdown")
        return self


class ExecutionLimits(BaseModel):
    """The seven ExecutionPolicy gates."""

    model_config = _FROZEN

    client_order_id_prefix: str = Field(
        "cst", pattern=r"^[a-z0-9]{1,6}$", description="prefix of derived client order ids"
    )
    max_spread_bps: float = Field(50.0, gt=0, le=10_000, description="basis points of mid")
    depth_band_bps: float = Field(
        50.0, gt=0, le=10_000, description="band around mid in which depth counts, bps"
    )
    min_depth_quote: float = Field(
        10_000.0, ge=0, le=1e15, description="quote resting on the side the order consumes"
    )
    depth_multiple: float = Field(
        3.0, ge=0, le=1_000, description="depth needed as a multiple of the order's notional"
    )
    min_volume_24h_quote: float = Field(
        1_000_000.0, ge=0, le=1e15, description="quote traded in the last 24 hours"
    )
    max_slippage_bps: float = Field(
        25.0, gt=0, le=10_000, description="estimated cost of walking the book, bps of mid"
    )
    daily_slippage_budget_quote: float | None = Field(
        None, gt=0, description="optional cap on today's estimated slippage cost, quote"
    )
    allow_market_orders: bool = Field(False, description="market orders are refused unless true")
    max_price_deviation_bps: float = Field(
        200.0, gt=0, le=10_000, description="how far a limit price may be from mid, bps"
    )


def unrestricted_limits() -> tuple[RiskLimits, ExecutionLimits]:
    """Every limit at its widest valid value: nothing the limits can forbid is forbidden, yet
    every gate still runs (the kill switch, invalid data and invalid orders still stop)."""
    risk = RiskLimits(
        max_data_age_s=86_400,
        max_clock_skew_s=3_600,
        min_data_completeness=0,
        daily_loss_limit=1,
        kill_switch_daily_loss=1,
        max_drawdown=1,
        kill_switch_drawdown=1,
        max_positions=10_000,
        max_total_exposure=100,
        max_position=100,
        correlation_threshold=1,
        max_correlated_exposure=100,
        min_order_notional=0,
        min_reduce_fraction=0,
    )
    execution = ExecutionLimits(
        max_spread_bps=10_000,
        depth_band_bps=10_000,
        min_depth_quote=0,
        depth_multiple=0,
        min_volume_24h_quote=0,
        max_slippage_bps=10_000,
        daily_slippage_budget_quote=None,
        allow_market_orders=True,
        max_price_deviation_bps=10_000,
    )
    return risk, execution
