"""The strategy interface and the built-in strategies.

A strategy turns closed candles into a :class:`SignalFrame`: per bar, whether it is an entry
(buy) or an exit, and the entry's raw strength in [0, 1]. Bar t's signal uses bars 0..t only
(the indicators are causal), so a backtest over a whole history and the live loop over the
latest closed candles agree, and a signal never changes once its bar has closed. Signals in
a strategy's warm-up (``warmup`` bars) are dropped: its indicators have not settled yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from cryptosmarttrader.domain.candles import CandleSeries
from cryptosmarttrader.signals.indicators import (
    FloatArray,
    crossed_above,
    crossed_below,
    ema,
    log_return_std,
    prior_max,
    prior_min,
    rsi,
)

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SignalFrame:
    """One row per input candle."""

    entry: BoolArray
    exit: BoolArray
    strength: FloatArray
    """Raw strength of each entry in [0, 1]; 0 where there is none."""


class Strategy(Protocol):
    name: ClassVar[str]

    @property
    def warmup(self) -> int:
        """Bars at the start whose signals are ignored."""

    def signals(self, candles: CandleSeries) -> SignalFrame: ...


class StrategyError(ValueError):
    """An unknown strategy or a parameter it does not take or cannot use."""


def _frame(entry: BoolArray, exit_: BoolArray, raw: FloatArray, warmup: int) -> SignalFrame:
    entry = entry.copy()
    exit_ = exit_.copy()
    entry[:warmup] = False
    exit_[:warmup] = False
    strength = np.where(entry, np.clip(np.nan_to_num(raw, nan=0.0), 0.0, 1.0), 0.0)
    return SignalFrame(entry=entry, exit=exit_, strength=strength)


def _saturating(x: FloatArray) -> FloatArray:
    """0 at 0, towards 1 as x grows: x / (1 + x) for x >= 0."""
    x = np.maximum(np.nan_to_num(x, nan=0.0, posinf=0.0), 0.0)
    result: FloatArray = x / (1.0 + x)
    return result


@dataclass(frozen=True)
class EmaCross:
    """Entry on bar t when fast[t] > slow[t] and fast[t-1] <= slow[t-1]; exit on the opposite
    cross. EMAs are ``ewm(span=n, adjust=False)`` of the close. Strength: the gap between the
    EMAs in units of the return volatility over ``slow`` bars, squashed to [0, 1)."""

    name: ClassVar[str] = "ema_cross"
    fast: int = 12
    slow: int = 26

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow <= 10_000:
            raise StrategyError(f"ema_cross needs 1 <= fast < slow <= 10000, got {self}")

    @property
    def warmup(self) -> int:
        return self.slow

    def signals(self, candles: CandleSeries) -> SignalFrame:
        fast = ema(candles.close, self.fast)
        slow = ema(candles.close, self.slow)
        sigma = log_return_std(candles.close, self.slow)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = (fast - slow) / slow / sigma
        return _frame(
            crossed_above(fast, slow), crossed_below(fast, slow), _saturating(gap), self.warmup
        )


@dataclass(frozen=True)
class RsiReversion:
    """Entry on bar t when Wilder's RSI falls below ``low`` (rsi[t] < low <= rsi[t-1]); exit
    when it rises above ``high``. Strength: how far below ``low``, as a fraction of ``low``."""

    name: ClassVar[str] = "rsi_reversion"
    period: int = 14
    low: float = 30.0
    high: float = 70.0

    def __post_init__(self) -> None:
        if not (2 <= self.period <= 10_000 and 0 < self.low < self.high < 100):
            raise StrategyError(
                f"rsi_reversion needs 2 <= period <= 10000 and 0 < low < high < 100, got {self}"
            )

    @property
    def warmup(self) -> int:
        return self.period + 1

    def signals(self, candles: CandleSeries) -> SignalFrame:
        value = rsi(candles.close, self.period)
        low = np.full(value.shape, self.low)
        high = np.full(value.shape, self.high)
        return _frame(
            crossed_below(value, low),
            crossed_above(value, high),
            (self.low - value) / self.low,
            self.warmup,
        )


@dataclass(frozen=True)
class DonchianBreakout:
    """Entry on bar t when the close first rises above the highest high of the ``period``
    bars before it; exit when it first falls below their lowest low. Strength: how far above,
    as a fraction of the channel's width."""

    name: ClassVar[str] = "donchian_breakout"
    period: int = 20

    def __post_init__(self) -> None:
        if not 2 <= self.period <= 10_000:
            raise StrategyError(f"donchian_breakout needs 2 <= period <= 10000, got {self}")

    @property
    def warmup(self) -> int:
        return self.period

    def signals(self, candles: CandleSeries) -> SignalFrame:
        upper = prior_max(candles.high, self.period)
        lower = prior_min(candles.low, self.period)
        close = candles.close
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = (close - upper) / (upper - lower)
        return _frame(crossed_above(close, upper), crossed_below(close, lower), raw, self.warmup)


STRATEGIES: Mapping[str, type[EmaCross | RsiReversion | DonchianBreakout]] = {
    cls.name: cls for cls in (EmaCross, RsiReversion, DonchianBreakout)
}


def build_strategy(name: str, params: Mapping[str, str] | None = None) -> Strategy:
    """The strategy ``name`` with ``params`` given as text (``fast=12``); StrategyError on an
    unknown name or parameter, or a value of the wrong kind or out of range."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise StrategyError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, int | float] = {}
    for key, text in (params or {}).items():
        spec = fields.get(key)
        if spec is None:
            raise StrategyError(f"{name} takes no parameter {key!r}; it takes {', '.join(fields)}")
        kind = int if spec.type in (int, "int") else float
        try:
            value = kind(text)
        except ValueError:
            raise StrategyError(f"{name} {key}: expected {kind.__name__}, got {text!r}") from None
        if not np.isfinite(value):
            raise StrategyError(f"{name} {key}: expected a finite number, got {text!r}")
        values[key] = value
    strategy: Strategy = cls(**values)  # type: ignore[arg-type]
    return strategy
